"""Deterministic seeded tenant data: machines, alerts, machine actions.

Generation uses plain loops over one ``random.Random(seed)``: 100,000 alerts
take well under the budget of a few seconds. Evidence is generated lazily
(only for ``$expand=evidence`` and GET by id), and each alert's JSON encoding
is cached until the alert changes, so a 10,000-alert page is a string join.

Timestamps are relative to an ``anchor`` (default: today's UTC midnight), so the
data is identical for a given seed within a day and always "recent".
"""

import datetime as _dt
import gc
import hashlib
import json
import random
import time
import uuid

from emulator_odata import datetime_key

DAY = 86400.0
_TICKS_OFFSET = 62135596800  # seconds from 0001-01-01 to the Unix epoch (.NET ticks)

SEVERITIES = ["UnSpecified", "Informational", "Low", "Medium", "High"]
SEVERITY_WEIGHTS = [1, 10, 30, 35, 24]
ALERT_STATUSES = ["Unknown", "New", "InProgress", "Resolved"]
PATCH_STATUSES = ["New", "InProgress", "Resolved"]
CLASSIFICATIONS = ["TruePositive", "InformationalExpectedActivity", "FalsePositive"]
DETERMINATIONS = [
    "MultiStagedAttack", "MaliciousUserActivity", "CompromisedUser", "Malware", "Phishing", "UnwantedSoftware",
    "Other", "SecurityTesting", "LineOfBusinessApplication", "ConfirmedUserActivity", "Clean", "InsufficientData",
    "ConfirmedActivity", "NotMalicious", "NoEnoughDataToValidate", "CompromisedAccount",
]
CATEGORIES = [
    "General", "CommandAndControl", "Collection", "CredentialAccess", "DefenseEvasion", "Discovery", "Exfiltration",
    "Exploit", "Execution", "InitialAccess", "LateralMovement", "Malware", "Persistence", "PrivilegeEscalation",
    "Ransomware", "SuspiciousActivity",
]
DETECTION_SOURCES = ["WindowsDefenderAtp", "WindowsDefenderAv", "CustomDetection", "AutomatedInvestigation",
                     "SmartScreen", "CustomerTI"]
INVESTIGATION_STATES = ["Unknown", "Terminated", "SuccessfullyRemediated", "Benign", "Failed", "PartiallyRemediated",
                        "Running", "PendingApproval", "Queued", "UnsupportedAlertType", "SuppressedAlert"]
THREATS = [("Meterpreter", "Suspicious 'Meterpreter' behavior was detected"),
           ("Mimikatz", "'Mimikatz' credential theft tool"),
           (None, "Suspicious PowerShell command line"),
           (None, "Suspicious process injection observed"),
           ("Emotet", "'Emotet' malware was detected"),
           (None, "Anomalous account lookups"),
           (None, "Suspicious scheduled task"),
           ("CobaltStrike", "'CobaltStrike' command and control detected")]
MITRE = ["T1059.001", "T1064", "T1085", "T1220", "T1055", "T1003", "T1053.005", "T1071", "T1105", "T1087"]
# Detector ids are per detection rule, so a small fixed pool is realistic.
DETECTOR_IDS = [str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4)) for i in range(16)]
MITRE_SETS = [(), ("T1064", "T1085", "T1220"), ("T1059.001",), ("T1055", "T1003"), ("T1053.005",),
              ("T1071", "T1105"), ("T1087",), ()]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
ANALYSTS = ["secop1@contoso.com", "secop2@contoso.com", "analyst@contoso.com"]
OS = [("Windows11", "22H2", 22621), ("Windows10", "22H2", 19045), ("Windows10", "1809", 17763),
      ("WindowsServer2022", "21H2", 20348), ("WindowsServer2019", "1809", 17763), ("Linux", None, None),
      ("macOS", None, None)]
HEALTH = ["Active"] * 8 + ["Inactive", "ImpairedCommunication", "NoSensorData"]
RISK = ["None", "Informational", "Low", "Medium", "High"]
EXPOSURE = ["None", "Low", "Medium", "High"]
DEVICE_VALUE = ["Normal"] * 6 + ["Low", "High"]
RBAC = [(43, "The-A-Team"), (52, "Servers"), (67, "Workstations"), (71, "MiddleEast")]
TAGS = ["prod", "test", "finance", "hr", "vip", "server", "kiosk", "lab"]
NAME_PREFIXES = ["desktop", "laptop", "srv", "ws", "kiosk", "dev"]

ALERT_FIELDS = [
    "id", "incidentId", "investigationId", "assignedTo", "severity", "status", "classification", "determination",
    "investigationState", "detectionSource", "detectorId", "category", "threatFamilyName", "threatName", "title",
    "description", "alertCreationTime", "firstEventTime", "lastEventTime", "lastUpdateTime", "resolvedTime",
    "machineId", "computerDnsName", "rbacGroupName", "aadTenantId", "mitreTechniques", "relatedUser", "loggedOnUsers",
    "comments", "evidence",
]
MACHINE_FIELDS = [
    "id", "computerDnsName", "firstSeen", "lastSeen", "osPlatform", "osVersion", "osProcessor", "version",
    "lastIpAddress", "lastExternalIpAddress", "agentVersion", "osBuild", "healthStatus", "deviceValue", "rbacGroupId",
    "rbacGroupName", "riskScore", "exposureLevel", "isAadJoined", "aadDeviceId", "machineTags", "defenderAvStatus",
    "onboardingStatus", "osArchitecture", "managedBy", "managedByStatus", "ipAddresses", "vmMetadata",
    "isPotentialDuplication", "mergedIntoMachineId", "isExcluded", "exclusionReason",
]
ACTION_FIELDS = [
    "id", "type", "title", "requestor", "requestorComment", "status", "machineId", "computerDnsName",
    "creationDateTimeUtc", "lastUpdateDateTimeUtc", "cancellationRequestor", "cancellationComment",
    "cancellationDateTimeUtc", "errorHResult", "scope", "externalId", "requestSource", "relatedFileInfo", "commands",
    "troubleshootInfo",
]
ACTION_ALIASES = {"lastUpdateTimeUtc": "lastUpdateDateTimeUtc"}

# What the API documents as filterable, per entity (Microsoft's api/get-alerts, api/get-machines and
# api/get-machineactions-collection pages). The API answers 400 for anything else, and so does the emulator: a test cannot
# pass on a capability the service does not document. Operators: comparisons, and/or/not and parentheses;
# startswith() is the one function the samples show; "in (...)", tolower() and any()/all() are not documented.
FILTER_FIELDS = {
    "alerts": ["alertCreationTime", "lastUpdateTime", "incidentId", "investigationId", "id", "assignedTo",
               "detectionSource", "lastEventTime", "status", "severity", "category"],
    "machines": ["computerDnsName", "id", "version", "deviceValue", "aadDeviceId", "machineTags", "lastSeen",
                 "exposureLevel", "onboardingStatus", "lastIpAddress", "healthStatus", "osPlatform", "riskScore",
                 "rbacGroupId"],
    "machineactions": ["id", "status", "machineId", "type", "requestor", "creationDateTimeUtc"],
}
FILTER_FUNCTIONS = ("startswith",)
FINAL_ACTION_STATES = ("Succeeded", "Failed", "TimeOut", "Cancelled")


_DAY_PREFIX = {}


def iso(ts):
    """Epoch seconds -> ``2020-07-20T10:53:48.7657932Z`` (7 fractional digits, like MDE)."""
    ticks = int(ts * 10_000_000)  # 100 ns units, floor
    secs, frac = divmod(ticks, 10_000_000)
    day, sod = divmod(secs, 86400)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:  # one gmtime per distinct day keeps this cheap
        t = time.gmtime(day * 86400)
        prefix = _DAY_PREFIX[day] = "%04d-%02d-%02dT" % (t[0], t[1], t[2])
    hh, rem = divmod(sod, 3600)
    mm, ss = divmod(rem, 60)
    return "%s%02d:%02d:%02d.%07dZ" % (prefix, hh, mm, ss, frac)


def default_anchor():
    now = time.time()
    return now - (now % DAY)


class Store:
    """The tenant's objects. Callers hold ``lock`` around reads and writes."""

    def __init__(self, seed=1, alerts=1000, machines=100, anchor=None, tenant_id=""):
        self.seed = seed
        self.anchor = float(anchor) if anchor is not None else default_anchor()
        self.tenant_id = tenant_id
        self.alerts = []          # default order: alertCreationTime, then id
        self.alerts_by_id = {}
        self.alert_json = {}      # id -> cached JSON (without evidence)
        self.graph_json = {}      # (id, prefer unknown enum members) -> cached Graph alerts_v2 JSON
        self.graph_overrides = {}  # id -> Graph-only values set through the control interface (e.g. serviceSource)
        self.evidence = {}        # id -> explicitly set evidence (else generated)
        self.machines = []
        self.machines_by_id = {}
        self.machines_by_name = {}  # lower-case name -> [machine]
        self.ip_history = {}      # machine id -> [(ip, from_ts, to_ts)]
        self.actions = []         # internal action records, creation order
        self.actions_by_id = {}
        self.rng = random.Random(seed)
        self.specials = {}
        # Millions of small dicts: the cyclic GC would rescan them repeatedly (~25% of the time).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._gen_machines(machines)
            self._gen_alerts(alerts)
            self._seed_actions()
        finally:
            if was_enabled:
                gc.enable()

    # --- machines -----------------------------------------------------------------

    def _machine_id(self, i):
        return hashlib.sha1(f"{self.seed}:machine:{i}".encode()).hexdigest()

    def new_machine(self, i, name=None, **over):
        rng = self.rng
        os_platform, version, build = OS[rng.randrange(len(OS))]
        rbac_id, rbac_name = RBAC[rng.randrange(len(RBAC))]
        first = self.anchor - rng.uniform(60, 400) * DAY
        last = self.anchor - rng.uniform(0, 3) * DAY + rng.uniform(0, 3600)
        ip = f"10.{rng.randrange(1, 255)}.{rng.randrange(0, 255)}.{rng.randrange(2, 254)}"
        mac = "".join(f"{rng.randrange(256):02X}" for _octet in range(6))
        name = name or f"{NAME_PREFIXES[i % len(NAME_PREFIXES)]}-{i:05d}.contoso.com"
        tags = sorted(rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2])))
        m = {
            "id": self._machine_id(i),
            "computerDnsName": name,
            "firstSeen": iso(first),
            "lastSeen": iso(last),
            "osPlatform": os_platform,
            "osVersion": None,
            "osProcessor": "x64",
            "version": version,
            "lastIpAddress": ip,
            "lastExternalIpAddress": f"203.0.113.{rng.randrange(1, 255)}",
            "agentVersion": "10.8760.19045.4529",
            "osBuild": build,
            "healthStatus": HEALTH[rng.randrange(len(HEALTH))],
            "deviceValue": DEVICE_VALUE[rng.randrange(len(DEVICE_VALUE))],
            "rbacGroupId": rbac_id,
            "rbacGroupName": rbac_name,
            "riskScore": RISK[rng.randrange(len(RISK))],
            "exposureLevel": EXPOSURE[rng.randrange(len(EXPOSURE))],
            "isAadJoined": rng.random() < 0.7,
            "aadDeviceId": str(uuid.UUID(int=rng.getrandbits(128), version=4)) if rng.random() < 0.7 else None,
            "machineTags": tags,
            "defenderAvStatus": "Updated",
            "onboardingStatus": "Onboarded",
            "osArchitecture": "64-bit",
            "managedBy": "Intune",
            "managedByStatus": "Success",
            "ipAddresses": [
                {"ipAddress": ip, "macAddress": mac, "type": "Ethernet", "operationalStatus": "Up"},
                {"ipAddress": "127.0.0.1", "macAddress": None, "type": "SoftwareLoopback", "operationalStatus": "Up"},
            ],
            "vmMetadata": None,
            "isPotentialDuplication": False,
            "mergedIntoMachineId": None,
            "isExcluded": False,
            "exclusionReason": None,
        }
        m.update(over)
        return m

    def add_machine(self, m, ip_history=None):
        self.machines.append(m)
        self.machines_by_id[m["id"]] = m
        self.machines_by_name.setdefault(m["computerDnsName"].lower(), []).append(m)
        first, last = _epoch(m["firstSeen"]), _epoch(m["lastSeen"])
        self.ip_history[m["id"]] = ip_history or [(m["lastIpAddress"], first, last)]

    def _gen_machines(self, count):
        a = self.anchor
        specials = []
        fresh = self.new_machine(0, "shared-01.contoso.com", healthStatus="Active", lastSeen=iso(a - 3600))
        stale = self.new_machine(1, "shared-01.contoso.com", healthStatus="Inactive", lastSeen=iso(a - 20 * DAY),
                                 isPotentialDuplication=True, mergedIntoMachineId=fresh["id"])
        specials += [("shared_fresh", fresh), ("shared_stale", stale)]
        specials.append(("ambiguous_a", self.new_machine(2, "ambiguous-01.contoso.com", healthStatus="Active",
                                                         lastSeen=iso(a - 2 * 3600))))
        specials.append(("ambiguous_b", self.new_machine(3, "ambiguous-01.contoso.com", healthStatus="Active",
                                                         lastSeen=iso(a - 5 * 3600))))
        specials.append(("quote", self.new_machine(4, "o'brien-laptop.contoso.com", healthStatus="Active")))
        specials.append(("unicode", self.new_machine(5, "zoë-wüst-ws01.contoso.com", healthStatus="Active")))
        specials.append(("percent", self.new_machine(6, "100%-build.contoso.com", healthStatus="Active")))
        specials.append(("mixed_case", self.new_machine(7, "Desktop-MIXED.Contoso.com", healthStatus="Active")))
        specials.append(("isolated", self.new_machine(8, "isolated-01.contoso.com", healthStatus="Active")))
        # Two machines that held the same IP at different times (DHCP reuse) for findbyip.
        ip_old = self.new_machine(9, "dhcp-old.contoso.com", healthStatus="Active", lastIpAddress="10.99.99.99")
        ip_new = self.new_machine(10, "dhcp-new.contoso.com", healthStatus="Active", lastIpAddress="10.99.99.99")
        specials += [("dhcp_old", ip_old), ("dhcp_new", ip_new)]
        # Device discovery lists devices that are not onboarded (no sensor: no agent version, no tags); Microsoft
        # advises filtering them out on onboardingStatus. One of them shares its name with an onboarded machine.
        unmanaged = dict(agentVersion=None, defenderAvStatus=None, managedBy=None, managedByStatus=None,
                         healthStatus="Inactive", machineTags=[], isAadJoined=False, aadDeviceId=None)
        specials.append(("unmanaged_printer", self.new_machine(11, "printer-3f.contoso.com", osPlatform="Linux",
                                                               onboardingStatus="CanBeOnboarded", **unmanaged)))
        specials.append(("unmanaged_router", self.new_machine(12, "edge-router-01.contoso.com", osPlatform="Other",
                                                              onboardingStatus="Unsupported", **unmanaged)))
        specials.append(("unmanaged_twin", self.new_machine(13, "twin-01.contoso.com", lastSeen=iso(a - 3 * 3600),
                                                            onboardingStatus="CanBeOnboarded", **unmanaged)))
        specials.append(("onboarded_twin", self.new_machine(14, "twin-01.contoso.com", healthStatus="Active",
                                                            lastSeen=iso(a - 4 * 3600))))
        # Onboarded machines whose names point at the controller when used as an inventory host name.
        specials.append(("named_localhost", self.new_machine(15, "localhost", healthStatus="Active")))
        specials.append(("named_loopback", self.new_machine(16, "127.0.0.1", healthStatus="Active")))
        # A potential duplicate not (yet) merged, beside the live record of the same name.
        specials.append(("duplicate_live", self.new_machine(17, "dup-01.contoso.com", healthStatus="Active",
                                                            lastSeen=iso(a - 3600))))
        specials.append(("duplicate_flagged", self.new_machine(18, "dup-01.contoso.com", healthStatus="Inactive",
                                                               lastSeen=iso(a - 2 * DAY), isPotentialDuplication=True)))
        for key, m in specials:
            hist = None
            if key == "dhcp_old":
                hist = [("10.99.99.99", a - 10 * DAY, a - 5 * DAY), ("10.1.1.10", a - 5 * DAY, _epoch(m["lastSeen"]))]
                m["lastIpAddress"] = "10.1.1.10"
            elif key == "dhcp_new":
                hist = [("10.99.99.99", a - 5 * DAY + 3600, _epoch(m["lastSeen"]))]
            if hist:
                m["ipAddresses"][0]["ipAddress"] = m["lastIpAddress"]
            self.add_machine(m, hist)
            self.specials[key] = m["id"]
        for i in range(len(specials), max(count, len(specials))):
            self.add_machine(self.new_machine(i))

    # --- alerts ---------------------------------------------------------------------

    def new_alert(self, created, machine, rng=None, **over):
        # Hot path (100k calls): use rng.random() arithmetic instead of randrange/choices/uuid.
        r = (rng or self.rng).random
        x = r()
        sev = "UnSpecified" if x < 0.01 else "Informational" if x < 0.11 else "Low" if x < 0.41 else \
            "Medium" if x < 0.76 else "High"
        x = r()
        status = "New" if x < 0.55 else "InProgress" if x < 0.75 else "Resolved" if x < 0.99 else "Unknown"
        family, title = THREATS[int(r() * len(THREATS))]
        updated = created + (r() * 3 * DAY if status != "New" else r() * 120) + 1
        updated = min(updated, self.anchor)
        resolved = status == "Resolved"
        user = USERS[int(r() * len(USERS))]
        updated_s = iso(updated)
        a = {
            "id": f"da{int((created + _TICKS_OFFSET) * 10_000_000)}_{int(r() * 2**32) - 2**31}",
            "incidentId": 1000 + int(r() * 98999),
            "investigationId": 100000 + int(r() * 899999) if r() < 0.6 else None,
            "assignedTo": ANALYSTS[int(r() * len(ANALYSTS))] if status != "New" else None,
            "severity": sev,
            "status": status,
            "classification": CLASSIFICATIONS[int(r() * 3)] if resolved else None,
            "determination": DETERMINATIONS[int(r() * 7)] if resolved else None,
            "investigationState": INVESTIGATION_STATES[int(r() * len(INVESTIGATION_STATES))],
            "detectionSource": DETECTION_SOURCES[int(r() * len(DETECTION_SOURCES))],
            "detectorId": DETECTOR_IDS[int(r() * len(DETECTOR_IDS))],
            "category": CATEGORIES[int(r() * len(CATEGORIES))],
            "threatFamilyName": family,
            "threatName": None,
            "title": title,
            "description": f"{title} on {machine['computerDnsName']}.",
            "alertCreationTime": iso(created),
            "firstEventTime": iso(created - 5 - r() * 600),
            "lastEventTime": iso(created - r() * 5),
            "lastUpdateTime": updated_s,
            "resolvedTime": updated_s if resolved else None,
            "machineId": machine["id"],
            "computerDnsName": machine["computerDnsName"],
            "rbacGroupName": machine["rbacGroupName"],
            "aadTenantId": self.tenant_id,
            "mitreTechniques": list(MITRE_SETS[int(r() * len(MITRE_SETS))]),
            "relatedUser": {"userName": user, "domainName": "CONTOSO"},
            "loggedOnUsers": [{"accountName": user, "domainName": "CONTOSO"}],
            "comments": [],
        }
        if over:
            a.update(over)
        return a

    def _gen_alerts(self, count):
        rng = self.rng
        machines = self.machines
        # Alerts land on live machines mostly; stale duplicates keep a few.
        times = sorted(self.anchor - rng.random() * 30 * DAY for _item in range(count))
        alerts = [self.new_alert(t, machines[rng.randrange(len(machines))]) for t in times]
        alerts.sort(key=_alert_order)
        self.alerts = alerts
        self.alerts_by_id = {a["id"]: a for a in alerts}

    def add_alerts(self, partials):
        created = []
        now = time.time()
        for p in partials:
            mid = p.get("machineId")
            machine = self.machines_by_id.get(mid) if mid else self.machines[self.rng.randrange(len(self.machines))]
            if machine is None:
                raise KeyError(f"machine {mid} not found")
            ts = _epoch(p["alertCreationTime"]) if p.get("alertCreationTime") else now
            fields = {k: v for k, v in p.items() if k != "evidence"}
            alert = self.new_alert(ts, machine, **fields)
            if "lastUpdateTime" not in p:
                alert["lastUpdateTime"] = alert["alertCreationTime"]
            if "evidence" in p:
                self.evidence[alert["id"]] = p["evidence"]
            self.alerts.append(alert)
            self.alerts_by_id[alert["id"]] = alert
            created.append(alert)
        self.alerts.sort(key=_alert_order)
        return created

    def alert_changed(self, alert_id_):
        self.alert_json.pop(alert_id_, None)
        self.graph_json.pop((alert_id_, False), None)
        self.graph_json.pop((alert_id_, True), None)

    def alert_to_json(self, alert, with_evidence=False):
        if with_evidence:
            d = dict(alert)
            d["evidence"] = self.alert_evidence(alert)
            return json.dumps(d, ensure_ascii=False)
        s = self.alert_json.get(alert["id"])
        if s is None:
            d = dict(alert)
            d["evidence"] = []
            s = json.dumps(d, ensure_ascii=False)
            self.alert_json[alert["id"]] = s
        return s

    def alert_public(self, alert, with_evidence=True):
        d = dict(alert)
        d["evidence"] = self.alert_evidence(alert) if with_evidence else []
        return d

    def alert_evidence(self, alert):
        if alert["id"] in self.evidence:
            return self.evidence[alert["id"]]
        rng = random.Random(f"{self.seed}:evidence:{alert['id']}")
        created = alert["alertCreationTime"]
        user = alert["relatedUser"]["userName"]
        sha1 = "%040x" % rng.getrandbits(160)
        sha256 = "%064x" % rng.getrandbits(256)
        blank = {k: None for k in (
            "sha1", "sha256", "fileName", "filePath", "processId", "processCommandLine", "processCreationTime",
            "parentProcessId", "parentProcessCreationTime", "parentProcessFileName", "parentProcessFilePath",
            "ipAddress", "url", "registryKey", "registryHive", "registryValueType", "registryValue", "accountName",
            "domainName", "userSid", "aadUserId", "userPrincipalName", "detectionStatus")}
        ev = [
            dict(blank, entityType="User", evidenceCreationTime=created, accountName=user, domainName="CONTOSO",
                 userSid=f"S-1-5-21-{rng.randrange(10**9)}-{rng.randrange(10**9)}-1001",
                 aadUserId=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                 userPrincipalName=f"{user}@contoso.com"),
            dict(blank, entityType="Process", evidenceCreationTime=created, sha1=sha1, sha256=sha256,
                 fileName="powershell.exe", filePath="C:\\Windows\\System32\\WindowsPowerShell\\v1.0",
                 processId=rng.randrange(100, 30000), processCommandLine="powershell.exe -nop -w hidden -enc ...",
                 processCreationTime=created, parentProcessId=rng.randrange(100, 30000),
                 parentProcessCreationTime=created, parentProcessFileName="explorer.exe",
                 parentProcessFilePath="C:\\Windows", detectionStatus="Detected"),
        ]
        return ev

    # --- machine actions ------------------------------------------------------------

    def add_action(self, machine, type_, requestor, comment, scope, created, t_progress, t_done, outcome):
        rec = {
            "obj": {
                "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "type": type_,
                "title": f"{type_} machine {machine['computerDnsName']}" if type_ in ("Isolate", "Unisolate")
                else f"{type_} on {machine['computerDnsName']}",
                "requestor": requestor,
                "requestorComment": comment,
                "machineId": machine["id"],
                "computerDnsName": machine["computerDnsName"],
                "creationDateTimeUtc": iso(created),
                "cancellationRequestor": None,
                "cancellationComment": None,
                "cancellationDateTimeUtc": None,
                "errorHResult": 0,
                "scope": scope,
                "externalId": None,
                "requestSource": "PublicApi",
                "relatedFileInfo": None,
                "commands": [],
                "troubleshootInfo": None,
            },
            "created": created, "t_progress": t_progress, "t_done": t_done, "outcome": outcome,
            "cancelled_at": None,
        }
        self.actions.append(rec)
        self.actions_by_id[rec["obj"]["id"]] = rec
        return rec

    def _seed_actions(self):
        m = self.machines_by_id[self.specials["isolated"]]
        t = self.anchor - 2 * DAY
        self.add_action(m, "Isolate", "secop1@contoso.com", "Seeded: contained during incident 4242", "Full",
                        t, t + 20, t + 60, "Succeeded")

    @staticmethod
    def action_status(rec, now):
        if rec["cancelled_at"] is not None:
            return "Cancelled", rec["cancelled_at"]
        if now < rec["t_progress"]:
            return "Pending", rec["created"]
        if now < rec["t_done"]:
            return "InProgress", rec["t_progress"]
        return rec["outcome"], rec["t_done"]

    def action_public(self, rec, now):
        status, updated = self.action_status(rec, now)
        d = dict(rec["obj"])
        d["status"] = status
        d["lastUpdateDateTimeUtc"] = iso(updated)
        if rec.get("commands_view"):  # live response: each command's status at ``now``
            d["commands"] = rec["commands_view"](rec, status, now)
        return {k: d.get(k) for k in ACTION_FIELDS}

    def machine_actions(self, machine_id):
        return [r for r in self.actions if r["obj"]["machineId"] == machine_id]

    def isolation_state(self, machine_id, now):
        """Effect of the succeeded Isolate/Unisolate actions, applied in completion order."""
        done = [r for r in self.machine_actions(machine_id)
                if r["obj"]["type"] in ("Isolate", "Unisolate") and self.action_status(r, now)[0] == "Succeeded"]
        if not done:
            return "unknown"
        last = max(done, key=lambda r: (r["t_done"], r["created"]))
        return "isolated" if last["obj"]["type"] == "Isolate" else "released"

    def find_machine(self, key):
        """By 40-hex id, else by computer name (case-insensitive; the most recently seen non-merged one)."""
        m = self.machines_by_id.get(key.lower())
        if m is not None:
            return m
        cands = self.machines_by_name.get(key.lower())
        if not cands:
            return None
        return max(cands, key=lambda c: (c["mergedIntoMachineId"] is None, c["lastSeen"]))


def _alert_order(a):
    return (a["alertCreationTime"], a["id"])


def _epoch(text):
    key = datetime_key(text)
    if key is None:
        raise ValueError(f"not an ISO-8601 datetime: {text!r}")
    return _dt.datetime.fromisoformat(key).replace(tzinfo=_dt.timezone.utc).timestamp()
