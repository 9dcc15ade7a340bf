"""Microsoft Graph security incidents (``/v1.0/security/incidents``) and the Graph alert shape.

Microsoft's pages: https://learn.microsoft.com/en-us/graph/api/resources/security-incident and
.../resources/security-alert. Incidents are built from the emulator's one alert set: every
MDE alert belongs to the incident named by its ``incidentId``, and the Graph alert shape (``to_graph_alert``) is the
one alerts_v2 also serves. What the emulator imitates:

- ``GET /security/incidents``: ``$filter`` on the documented fields only (assignedTo, classification,
  createdDateTime, determination, lastUpdateDateTime, severity, status), ``$top`` at most 50 (else 400 with an empty
  ``code`` and the observed message), ``$skip``, ``$orderby`` (observed to work), ``$count``, ``$expand=alerts``;
  ``@odata.nextLink`` (with ``$skip``) whenever more remain, ``$top`` given or not; newest first by default.
- ``$expand=alerts`` answers 500 when the config ``incidents_expand_fails`` is true (what large tenants see);
  ``GET /security/incidents/{id}/alerts`` still works.
- ``GET /security/incidents/{id}``, ``PATCH`` (the documented keys only, ``Content-Type: application/json``; 200 with
  the whole incident), ``POST .../comments`` (``@odata.type`` + ``comment``; 200 with every comment); comments cannot
  be edited or deleted (405).
- Enum members added after ``unknownFutureValue`` (``awaitingAction``) read as ``unknownFutureValue`` unless the
  request sends ``Prefer: include-unknown-enum-members``.
- Permissions per call: SecurityIncident.Read.All or SecurityIncident.ReadWrite.All to read, ReadWrite to change.

Modelling choices (the documentation is silent): an incident's derived status is ``resolved`` when all its alerts
are, ``inProgress`` when one is, else ``active``; its severity is the highest of its alerts; resolving an incident
resolves its alerts (as the portal does); enum values in PATCH bodies are matched case-insensitively and stored in
camelCase; ``lastModifiedBy`` and a comment's author are ``API-App:<client id>``.
"""

import json
import time
import urllib.parse

import api
import data as D
from emulator_odata import ODataError, datetime_key, parse_filter

INCIDENT_READ = ("SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All")
INCIDENT_WRITE = ("SecurityIncident.ReadWrite.All",)
INCIDENT_MAX_TOP = 50
INCIDENT_FILTER_FIELDS = ["assignedTo", "classification", "createdDateTime", "determination", "lastUpdateDateTime",
                          "severity", "status"]
INCIDENT_ORDER_FIELDS = ["createdDateTime", "lastUpdateDateTime", "id", "severity", "status"]
INCIDENT_PATCH_KEYS = ("assignedTo", "classification", "customTags", "description", "determination", "displayName",
                       "severity", "status", "summary")
INCIDENT_STATUSES_READ = ("active", "resolved", "inProgress", "redirected", "unknownFutureValue", "awaitingAction")
INCIDENT_STATUSES_PATCH = ("active", "resolved", "redirected")
SEVERITIES = ("unknown", "informational", "low", "medium", "high")
CLASSIFICATIONS = ("unknown", "falsePositive", "truePositive", "informationalExpectedActivity")
# Both spellings of the documented determination lists (the pages conflict: resources/security-alert and
# resources/security-incident).
DETERMINATIONS = ("unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
                  "multiStagedAttack", "compromisedUser", "compromisedAccount", "phishing", "maliciousUserActivity",
                  "clean", "notMalicious", "insufficientData", "notEnoughDataToValidate", "confirmedUserActivity",
                  "confirmedActivity", "lineOfBusinessApplication")
# Members declared after unknownFutureValue: hidden without the Prefer header.
EVOLVABLE = {"status": ("awaitingAction",), "serviceSource": ("microsoftDefenderForCloud", "microsoftSentinel"),
             "detectionSource": ("microsoftSentinel", "scheduledAlerts", "nrtAlerts", "microsoftDefenderForCloud",
                                 "microsoftInsiderRiskManagement", "builtInMl", "microsoftThreatIntelligence")}
PREFER_UNKNOWN = "include-unknown-enum-members"
PORTAL = "https://security.microsoft.com"

_SEVERITY = {"UnSpecified": "unknown", "Informational": "informational", "Low": "low", "Medium": "medium",
             "High": "high"}
_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_STATUS = {"Unknown": "unknown", "New": "new", "InProgress": "inProgress", "Resolved": "resolved"}
_DETECTION_SOURCE = {"WindowsDefenderAtp": "microsoftDefenderForEndpoint", "WindowsDefenderAv": "antivirus",
                     "CustomDetection": "customDetection", "AutomatedInvestigation": "automatedInvestigation",
                     "SmartScreen": "smartScreen", "CustomerTI": "customTi"}
_DETERMINATION = {"NoEnoughDataToValidate": "notEnoughDataToValidate"}


class GraphCallError(Exception):
    """An error reply in Graph's envelope (graph.py turns it into one)."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def camel(value):
    """``TruePositive`` -> ``truePositive`` (None stays None)."""
    if not value:
        return value
    return _DETERMINATION.get(value) or value[0].lower() + value[1:]


# --- the Graph alert shape (alerts_v2 and an incident's alerts) ---------------------------------------------------

def _graph_evidence(store, alert):
    machine = store.machines_by_id.get(alert["machineId"]) or {}
    created = alert["alertCreationTime"]
    common = {"createdDateTime": created, "verdict": "suspicious", "remediationStatus": "none",
              "remediationStatusDetails": None, "roles": [], "detailedRoles": [], "tags": []}
    out = [dict(common, **{
        "@odata.type": "#microsoft.graph.security.deviceEvidence", "roles": [], "firstSeenDateTime":
        machine.get("firstSeen"), "mdeDeviceId": alert["machineId"], "azureAdDeviceId": machine.get("aadDeviceId"),
        "deviceDnsName": alert["computerDnsName"], "osPlatform": machine.get("osPlatform"),
        "osBuild": machine.get("osBuild"), "version": machine.get("version"), "healthStatus":
        camel(machine.get("healthStatus")), "riskScore": camel(machine.get("riskScore")),
        "rbacGroupId": machine.get("rbacGroupId"), "rbacGroupName": machine.get("rbacGroupName"),
        "onboardingStatus": camel(machine.get("onboardingStatus")), "defenderAvStatus":
        camel(machine.get("defenderAvStatus")), "loggedOnUsers": [
            {"accountName": u.get("accountName"), "domainName": u.get("domainName")}
            for u in alert.get("loggedOnUsers") or []], "ipInterfaces": [
            i["ipAddress"] for i in machine.get("ipAddresses") or [] if i.get("ipAddress")],
        "vmMetadata": None})]
    for ev in store.alert_evidence(alert):
        kind = ev.get("entityType")
        at = ev.get("evidenceCreationTime") or created
        details = {"sha1": ev.get("sha1"), "sha256": ev.get("sha256"), "fileName": ev.get("fileName"),
                   "filePath": ev.get("filePath"), "fileSize": None, "filePublisher": None, "signer": None,
                   "issuer": None}
        account = {"accountName": ev.get("accountName"), "domainName": ev.get("domainName"),
                   "userSid": ev.get("userSid"), "azureAdUserId": ev.get("aadUserId"),
                   "userPrincipalName": ev.get("userPrincipalName"), "displayName": ev.get("accountName")}
        if kind == "User":
            out.append(dict(common, createdDateTime=at, roles=["compromised"], **{
                "@odata.type": "#microsoft.graph.security.userEvidence", "userAccount": account}))
        elif kind == "Process":
            out.append(dict(common, createdDateTime=at, **{
                "@odata.type": "#microsoft.graph.security.processEvidence", "processId": ev.get("processId"),
                "parentProcessId": ev.get("parentProcessId"), "processCommandLine": ev.get("processCommandLine"),
                "processCreationDateTime": ev.get("processCreationTime"), "parentProcessCreationDateTime":
                ev.get("parentProcessCreationTime"), "detectionStatus": camel(ev.get("detectionStatus")),
                "mdeDeviceId": alert["machineId"], "imageFile": details, "parentProcessImageFile": {
                    "sha1": None, "sha256": None, "fileName": ev.get("parentProcessFileName"),
                    "filePath": ev.get("parentProcessFilePath"), "fileSize": None, "filePublisher": None,
                    "signer": None, "issuer": None}, "userAccount": None}))
        elif kind == "File":
            out.append(dict(common, createdDateTime=at, **{
                "@odata.type": "#microsoft.graph.security.fileEvidence", "fileDetails": details,
                "detectionStatus": camel(ev.get("detectionStatus")), "mdeDeviceId": alert["machineId"]}))
        elif kind == "Ip":
            out.append(dict(common, createdDateTime=at, **{
                "@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": ev.get("ipAddress")}))
        elif kind == "Url":
            out.append(dict(common, createdDateTime=at, **{
                "@odata.type": "#microsoft.graph.security.urlEvidence", "url": ev.get("url")}))
        elif kind == "RegistryKey":
            out.append(dict(common, createdDateTime=at, **{
                "@odata.type": "#microsoft.graph.security.registryKeyEvidence",
                "registryKey": ev.get("registryKey"), "registryHive": ev.get("registryHive")}))
    return out


def to_graph_alert(store, alert, prefer_unknown=True):
    """The Graph ``microsoft.graph.security.alert`` for one of the emulator's alerts (resources/security-alert)."""
    incident = str(alert["incidentId"]) if alert.get("incidentId") is not None else None
    tid = store.tenant_id
    comments = [{"@odata.type": "microsoft.graph.security.alertComment", "comment": c.get("comment"),
                 "createdByDisplayName": c.get("createdBy"), "createdDateTime": c.get("createdTime")}
                for c in alert.get("comments") or []]
    return {
        "@odata.type": "#microsoft.graph.security.alert",
        "id": alert["id"], "providerAlertId": alert["id"], "incidentId": incident,
        "status": _STATUS.get(alert["status"], "unknown"),
        "severity": _SEVERITY.get(alert["severity"], "unknown"),
        "classification": camel(alert.get("classification")) or "unknown",
        "determination": camel(alert.get("determination")) or "unknown",
        "serviceSource": "microsoftDefenderForEndpoint",
        "detectionSource": _DETECTION_SOURCE.get(alert.get("detectionSource"), "unknown"),
        "productName": "Microsoft Defender for Endpoint",
        "detectorId": alert.get("detectorId"), "tenantId": tid, "title": alert["title"],
        "description": alert.get("description"), "recommendedActions": "", "category": alert.get("category"),
        "assignedTo": alert.get("assignedTo"),
        "alertWebUrl": f"{PORTAL}/alerts/{alert['id']}?tid={tid}",
        "incidentWebUrl": f"{PORTAL}/incidents/{incident}?tid={tid}" if incident else None,
        "actorDisplayName": None, "threatDisplayName": alert.get("threatName"),
        "threatFamilyName": alert.get("threatFamilyName"), "mitreTechniques": list(alert.get("mitreTechniques") or []),
        "createdDateTime": alert["alertCreationTime"], "lastUpdateDateTime": alert["lastUpdateTime"],
        "resolvedDateTime": alert.get("resolvedTime"), "firstActivityDateTime": alert.get("firstEventTime"),
        "lastActivityDateTime": alert.get("lastEventTime"), "alertPolicyId": None, "additionalData": {},
        "systemTags": [], "comments": comments, "evidence": _graph_evidence(store, alert),
        # Graph-only values given through the control interface (POST /_emulator/alerts [{"graph": {...}}])
        **(getattr(store, "graph_overrides", {}).get(alert["id"]) or {}),
    }


# --- incidents --------------------------------------------------------------------------------------------------

class IncidentBook:
    """Incidents of one Store: alerts grouped by ``incidentId`` plus what was changed through Graph."""

    def __init__(self, store):
        self.store = store
        self.changes = {}       # incident id -> {field: value} set by PATCH, comments, control
        self._alerts_seen = -1
        self._members = {}
        self._order = []

    def _index(self):
        store = self.store
        if self._alerts_seen == len(store.alerts):
            return
        members = {}
        for a in store.alerts:
            if a.get("incidentId") is not None:
                members.setdefault(str(a["incidentId"]), []).append(a)
        self._members = members
        # Default order: newest first (the documented "most recent at the top"), then id.
        self._order = sorted(members, key=lambda i: (members[i][0]["alertCreationTime"], int(i) if i.isdigit()
                                                     else 0, i), reverse=True)
        self._alerts_seen = len(store.alerts)

    def ids(self):
        self._index()
        return self._order

    def alerts(self, incident_id):
        self._index()
        return self._members.get(incident_id)

    def incident(self, incident_id):
        alerts = self.alerts(incident_id)
        if alerts is None:
            return None
        store = self.store
        own = self.changes.get(incident_id, {})
        first = alerts[0]
        statuses = {a["status"] for a in alerts}
        status = "resolved" if statuses == {"Resolved"} else "inProgress" if "InProgress" in statuses else "active"
        severity = max((_SEVERITY.get(a["severity"], "unknown") for a in alerts), key=_SEVERITY_RANK.get)
        machines = {a["machineId"] for a in alerts}
        if len(alerts) == 1:
            name = f"{first['title']} on one endpoint"
        else:
            name = f"Multi-stage incident involving {first['category']} on " + (
                "one endpoint" if len(machines) == 1 else "multiple endpoints")
        resolved = [a for a in alerts if a.get("classification")]
        updated = max(a["lastUpdateTime"] for a in alerts)
        if own.get("lastUpdateDateTime") and datetime_key(own["lastUpdateDateTime"]) > datetime_key(updated):
            updated = own["lastUpdateDateTime"]
        tid = store.tenant_id
        out = {
            "@odata.type": "#microsoft.graph.security.incident",
            "id": incident_id, "tenantId": tid, "displayName": name,
            "createdDateTime": min(a["alertCreationTime"] for a in alerts), "lastUpdateDateTime": updated,
            "assignedTo": next((a["assignedTo"] for a in alerts if a.get("assignedTo")), None),
            "classification": camel(resolved[0]["classification"]) if resolved else "unknown",
            "determination": camel(resolved[0]["determination"]) if resolved else "unknown",
            "status": status, "severity": severity,
            "incidentWebUrl": f"{PORTAL}/incidents/{incident_id}?tid={tid}", "redirectIncidentId": None,
            "customTags": [], "systemTags": [], "description": None, "summary": None, "resolvingComment": None,
            "lastModifiedBy": None, "comments": [],
        }
        for key, value in own.items():
            if key != "lastUpdateDateTime":
                out[key] = json.loads(json.dumps(value))
        return out


def book(store):
    b = getattr(store, "graph_incidents", None)
    if b is None:
        b = store.graph_incidents = IncidentBook(store)
    return b


def hide_unknown(obj, prefer_unknown):
    if not prefer_unknown:
        for key, members in EVOLVABLE.items():
            if obj.get(key) in members:
                obj[key] = "unknownFutureValue"
    return obj


def _incident_view(core, b, incident_id, prefer_unknown, expand):
    inc = hide_unknown(b.incident(incident_id), prefer_unknown)
    if expand:
        inc["alerts"] = [hide_unknown(to_graph_alert(core.store, a), prefer_unknown) for a in b.alerts(incident_id)]
    return inc


# --- the handlers -----------------------------------------------------------------------------------------------

def _require(claims, roles):
    held = claims.get("roles") or []
    if not any(r in held for r in roles):
        raise GraphCallError(403, "Forbidden", "Insufficient privileges to complete the operation. Missing "
                                               f"application permission: one of {', '.join(roles)} "
                                               f"(application roles: {', '.join(held) or 'none'}).")


def _int(query, name):
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise GraphCallError(400, "BadRequest", f"Invalid value '{raw}' for query option '{name}'.")
    return value


def _query(pairs):
    query = {}
    for k, v in pairs:
        if k in query:
            raise GraphCallError(400, "BadRequest", f"Query option '{k}' was specified more than once.")
        query[k] = v
    allowed = ("$filter", "$top", "$skip", "$count", "$expand", "$orderby", "$select")
    for k in query:
        if k.startswith("$") and k not in allowed:
            raise GraphCallError(400, "BadRequest", f"Query option '{k}' is not allowed.")
    return query


def _expand(core, query):
    text = (query.get("$expand") or "").strip()
    if not text:
        return False
    if text.lower() != "alerts":
        raise GraphCallError(400, "BadRequest", f"Could not find a property named '{text}' on type "
                                                "'microsoft.graph.security.incident'.")
    with core.lock:
        fails = bool(core.config.get("incidents_expand_fails"))
    if fails:
        # Observed on large tenants (elastic/integrations#18144): a persistent 500 for $expand=alerts.
        raise GraphCallError(500, "InternalServerError", "An error has occurred.")
    return True


def _orderby(text, items):
    lookup = {f.lower(): f for f in INCIDENT_ORDER_FIELDS}
    keys = []
    for part in text.split(","):
        bits = part.split()
        if not bits or len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
            raise GraphCallError(400, "BadRequest", f"Invalid $orderby clause '{text}'.")
        name = lookup.get(bits[0].lower())
        if name is None:
            raise GraphCallError(400, "BadRequest", f"Could not find a property named '{bits[0]}' on type "
                                                    "'microsoft.graph.security.incident'.")
        keys.append((name, len(bits) == 2 and bits[1].lower() == "desc"))
    for name, desc in reversed(keys):
        if name.endswith("DateTime"):
            items.sort(key=lambda x, n=name: datetime_key(x[n]) or "", reverse=desc)
        elif name == "id":
            items.sort(key=lambda x: (len(x["id"]), x["id"]), reverse=desc)
        else:
            items.sort(key=lambda x, n=name: x.get(n) or "", reverse=desc)
    return items


def list_incidents(core, claims, path, query, prefer_unknown):
    _require(claims, INCIDENT_READ)
    top = _int(query, "$top")
    skip = _int(query, "$skip") or 0
    if top is not None and top > INCIDENT_MAX_TOP:
        # The observed answer, code empty (wazuh/wazuh#28070).
        raise GraphCallError(400, "", "The query specified in the URI is not valid. The limit of '50' for Top query "
                                      f"has been exceeded. The value from the incoming request is '{top}'.")
    pred = None
    text = query.get("$filter")
    if text is not None and text.strip():
        try:
            pred = parse_filter(text, fields=INCIDENT_FILTER_FIELDS, functions=(), allow_in=False,
                                allow_lambda=False)
        except ODataError as exc:
            raise GraphCallError(400, "BadRequest", f"Invalid filter clause: {exc}".replace(
                "microsoft.windowsDefenderATP.api.PublicEntity", "microsoft.graph.security.incident"))
    expand = _expand(core, query)
    size = top if top is not None else INCIDENT_MAX_TOP
    with core.lock:
        b = book(core.store)
        ids = b.ids()
        orderby = query.get("$orderby")
        if pred is None and not orderby:
            chosen = ids
            total = len(ids)
            page_ids = ids[skip: skip + size]
            page = [_incident_view(core, b, i, prefer_unknown, expand) for i in page_ids]
        else:
            # Filter on what the caller would read (hidden enum members included).
            items = [hide_unknown(b.incident(i), prefer_unknown) for i in ids]
            if pred is not None:
                items = [x for x in items if pred(x)]
            if orderby:
                items = _orderby(orderby, items)
            chosen = items
            total = len(items)
            page = [_incident_view(core, b, x["id"], prefer_unknown, expand) for x in items[skip: skip + size]]
    out = {"@odata.context": f"{core.graph_url}/v1.0/$metadata#security/incidents"}
    if (query.get("$count") or "").lower() == "true":
        out["@odata.count"] = total
    if skip + size < len(chosen):
        pairs = [(k, v) for k, v in query.items() if k != "$skip"] + [("$skip", str(skip + size))]
        qs = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote, safe="$'(),:")
        out["@odata.nextLink"] = f"{core.graph_url}{urllib.parse.quote(path)}?{qs}"
    out["value"] = page
    return api.Reply(200, out)


def _lookup(core, incident_id):
    b = book(core.store)
    if b.alerts(incident_id) is None:
        raise GraphCallError(404, "NotFound", f"Incident {incident_id} was not found.")
    return b


def get_incident(core, claims, incident_id, query, prefer_unknown):
    _require(claims, INCIDENT_READ)
    expand = _expand(core, query)
    with core.lock:
        b = _lookup(core, incident_id)
        inc = _incident_view(core, b, incident_id, prefer_unknown, expand)
    inc["@odata.context"] = f"{core.graph_url}/v1.0/$metadata#security/incidents/$entity"
    return api.Reply(200, inc)


def incident_alerts(core, claims, path, incident_id, query, prefer_unknown):
    _require(claims, INCIDENT_READ)
    top = _int(query, "$top")
    skip = _int(query, "$skip") or 0
    with core.lock:
        b = _lookup(core, incident_id)
        alerts = b.alerts(incident_id)
        size = top if top is not None else 1000
        page = [hide_unknown(to_graph_alert(core.store, a), prefer_unknown) for a in alerts[skip: skip + size]]
        more = skip + size < len(alerts)
    out = {"@odata.context": f"{core.graph_url}/v1.0/$metadata#security/incidents('{incident_id}')/alerts"}
    if more:
        pairs = [(k, v) for k, v in query.items() if k != "$skip"] + [("$skip", str(skip + size))]
        out["@odata.nextLink"] = f"{core.graph_url}{urllib.parse.quote(path)}?{urllib.parse.urlencode(pairs)}"
    out["value"] = page
    return api.Reply(200, out)


def _json(headers, body):
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise GraphCallError(415, "BadRequest", "A supported MIME type could not be found that matches the content "
                                                "type of the response.")
    try:
        payload = json.loads(body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        raise GraphCallError(400, "BadRequest", "Invalid request body: not JSON.")
    if not isinstance(payload, dict):
        raise GraphCallError(400, "BadRequest", "Invalid request body.")
    return payload


def _enum(key, value, allowed):
    if not isinstance(value, str):
        raise GraphCallError(400, "BadRequest", f"Invalid value for property '{key}'.")
    for a in allowed:
        if a.lower() == value.lower():
            return a
    raise GraphCallError(400, "BadRequest", f"Requested value '{value}' was not found for property '{key}'.")


def patch_incident(core, claims, incident_id, headers, body, prefer_unknown, entry):
    _require(claims, INCIDENT_WRITE)
    payload = _json(headers, body)
    entry["body"] = payload
    for key in payload:
        if key not in INCIDENT_PATCH_KEYS:
            raise GraphCallError(400, "BadRequest", f"The property '{key}' does not exist on type "
                                                    "'microsoft.graph.security.incident' or cannot be updated.")
    change = {}
    for key, value in payload.items():
        if key == "status":
            change[key] = _enum(key, value, INCIDENT_STATUSES_PATCH)
        elif key == "severity":
            change[key] = _enum(key, value, SEVERITIES)
        elif key == "classification":
            change[key] = _enum(key, value, CLASSIFICATIONS)
        elif key == "determination":
            change[key] = _enum(key, value, DETERMINATIONS)
        elif key == "customTags":
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise GraphCallError(400, "BadRequest", "customTags must be a list of strings.")
            change[key] = list(value)
        elif value is not None and not isinstance(value, str):
            raise GraphCallError(400, "BadRequest", f"Invalid value for property '{key}'.")
        else:
            change[key] = value
    now = D.iso(time.time())
    with core.lock:
        b = _lookup(core, incident_id)
        own = b.changes.setdefault(incident_id, {})
        own.update(change)
        own["lastUpdateDateTime"] = now
        own["lastModifiedBy"] = f"API-App:{claims['appid']}"
        if change.get("status") == "resolved":
            for a in b.alerts(incident_id):
                if a["status"] != "Resolved":
                    a["status"], a["resolvedTime"], a["lastUpdateTime"] = "Resolved", now, now
                    core.store.alert_changed(a["id"])
        inc = _incident_view(core, b, incident_id, prefer_unknown, False)
    inc["@odata.context"] = f"{core.graph_url}/v1.0/$metadata#security/incidents/$entity"
    return api.Reply(200, inc)


def post_comment(core, claims, incident_id, headers, body, entry):
    _require(claims, INCIDENT_WRITE)
    payload = _json(headers, body)
    entry["body"] = payload
    unknown = [k for k in payload if k not in ("@odata.type", "comment")]
    if unknown:
        raise GraphCallError(400, "BadRequest", f"The property '{unknown[0]}' does not exist on type "
                                                "'microsoft.graph.security.alertComment'.")
    odata_type = payload.get("@odata.type")
    if odata_type is not None and odata_type.lstrip("#") != "microsoft.graph.security.alertComment":
        raise GraphCallError(400, "BadRequest", f"Invalid @odata.type '{odata_type}'.")
    text = payload.get("comment")
    if not isinstance(text, str) or not text.strip():
        raise GraphCallError(400, "BadRequest", "The comment is required.")
    now = D.iso(time.time())
    with core.lock:
        b = _lookup(core, incident_id)
        own = b.changes.setdefault(incident_id, {})
        comments = own.setdefault("comments", [])
        comments.append({"@odata.type": "microsoft.graph.security.alertComment", "comment": text,
                         "createdByDisplayName": f"API-App:{claims['appid']}", "createdDateTime": now})
        own["lastUpdateDateTime"] = now
        value = json.loads(json.dumps(comments))
    return api.Reply(200, {"@odata.context": f"{core.graph_url}/v1.0/$metadata#security/incidents('{incident_id}')"
                                             "/comments", "value": value})


def handle(core, method, parts, path, headers, body, pairs, claims, entry):
    """``parts``: the path's segments after ``/v1.0/security/incidents``."""
    query = _query(pairs)
    prefer = ",".join(headers.get_all("Prefer") or []) if hasattr(headers, "get_all") else headers.get("Prefer", "")
    prefer_unknown = PREFER_UNKNOWN in (prefer or "").lower()
    if not parts:
        if method != "GET":
            raise GraphCallError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed.")
        return list_incidents(core, claims, path, query, prefer_unknown)
    incident_id = parts[0]
    if len(parts) == 1:
        if method == "GET":
            return get_incident(core, claims, incident_id, query, prefer_unknown)
        if method == "PATCH":
            return patch_incident(core, claims, incident_id, headers, body, prefer_unknown, entry)
        raise GraphCallError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed.")
    if len(parts) == 2 and parts[1] == "alerts" and method == "GET":
        return incident_alerts(core, claims, path, incident_id, query, prefer_unknown)
    if len(parts) == 2 and parts[1] == "comments":
        if method == "POST":
            return post_comment(core, claims, incident_id, headers, body, entry)
        # No edit or delete API for comments (security-alert-post-comments documents POST only).
        raise GraphCallError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed for comments.")
    raise GraphCallError(400, "BadRequest", f"Resource not found for the segment '{parts[-1]}'.")
