"""Vulnerability management (TVM): vulnerabilities, software, recommendations, machine x CVE rows and the
assessment exports, derived from the store's machines (Microsoft's pages under defender-endpoint/api/:
get-all-vulnerabilities, get-all-vulnerabilities-by-machines, get-discovered-vulnerabilities, get-software,
get-all-recommendations, get-assessment-software-vulnerabilities; the files' gzip JSON Lines and the expired
link's 403 as Elastic's integration observed them, elastic/integrations packages/m365_defender).

The catalogue of products and CVEs is fixed (the same for every seed), so tests and docs can name CVEs; which
machine has which of them depends on the seed. Rows are kept as small tuples and turned into API objects only
when served, so 500,000 rows stay cheap. A machine "patched" through the control interface
(``POST /_emulator/vulnerabilities/fix``) loses its rows, its software moves to the current version, and the
delta export reports the rows as ``Fixed``.
"""

import base64
import gzip
import hashlib
import hmac
import io
import json
import random
import time
import urllib.parse

import api as A
import data as D

SEVERITIES = ("Low", "Medium", "High", "Critical")
# Documented $filter fields (DD get-all-vulnerabilities.md, get-all-vulnerabilities-by-machines.md, get-software.md,
# get-all-recommendations.md); anything else is a 400, as on the service.
VULN_FILTER = ["id", "name", "description", "cvssV3", "publishedOn", "severity", "updatedOn"]
ROW_FILTER = ["id", "cveId", "machineId", "fixingKbId", "productName", "productVersion", "severity", "productVendor"]
SOFTWARE_FILTER = ["id", "name", "vendor"]
RECOMMENDATION_FILTER = ["id", "productName", "vendor", "recommendedVersion", "recommendationCategory", "subCategory",
                         "severityScore", "remediationType", "recommendedProgram", "recommendedVendor", "status"]
VULN_MAX_TOP = 8000          # GET /api/vulnerabilities: "$top max 8,000"
EXPORT_MAX_PAGE = 200000     # SoftwareVulnerabilitiesByMachine: pageSize default 50,000, max 200,000
EXPORT_DEFAULT_PAGE = 50000
SAS_MAX_HOURS = 6
DELTA_MAX_DAYS = 14
EXPORT_PREFIX = "/tvmexport/"  # the files export's "blob" host path (same HTTPS origin in the emulator)

VULN_READ = ["Vulnerability.Read.All"]
SOFTWARE_READ = ["Software.Read.All"]
RECOMMENDATION_READ = ["SecurityRecommendation.Read.All"]

# (name, vendor, family, current version, older versions, category, KB numbers for its CVEs or None)
PRODUCTS = [
    ("windows_11", "microsoft", "Windows11", "10.0.22621.3007", ["10.0.22621.2861", "10.0.22621.2715"], "OS", 5034123),
    ("windows_10", "microsoft", "Windows10", "10.0.19045.3930", ["10.0.19045.3803", "10.0.17763.5206"], "OS", 5034122),
    ("windows_server_2022", "microsoft", "WindowsServer2022", "10.0.20348.2227", ["10.0.20348.2159"], "OS", 5034129),
    ("windows_server_2019", "microsoft", "WindowsServer2019", "10.0.17763.5329", ["10.0.17763.5206"], "OS", 5034127),
    ("edge", "microsoft", "win", "120.0.2210.133", ["119.0.2151.97", "118.0.2088.76"], "Application", None),
    ("office", "microsoft", "win", "16.0.17126.20132", ["16.0.16924.20150"], "Application", 5002537),
    ("7-zip", "7-zip", "win", "23.01", ["22.01", "19.00"], "Application", None),
    ("jre", "oracle", "win", "8.0.3910.13", ["8.0.3810.9"], "Application", None),
    ("chrome", "google", "any", "120.0.6099.225", ["119.0.6045.199", "118.0.5993.117"], "Application", None),
    ("git", "git-scm", "any", "2.43.0", ["2.40.1", "2.39.2"], "Application", None),
    ("openssl", "openssl", "Linux", "3.0.13", ["3.0.2", "1.1.1w"], "Application", None),
    ("openssh", "openbsd", "Linux", "9.6p1", ["8.9p1", "8.2p1"], "Application", None),
    ("linux_kernel", "linux", "Linux", "6.5.0.15", ["5.15.0.91", "5.15.0.88"], "OS", None),
    ("sudo", "sudo_project", "Linux", "1.9.15p5", ["1.9.9", "1.8.31"], "Application", None),
    ("macos", "apple", "macOS", "14.2.1", ["13.6.3", "13.5.2"], "OS", None),
    ("firefox", "mozilla", "macOS", "121.0.1", ["120.0", "115.6.0"], "Application", None),
]
CVES_PER_PRODUCT = 8
# Products whose family is "win" go on every Windows machine; "any" on every machine.
WINDOWS = ("Windows11", "Windows10", "WindowsServer2022", "WindowsServer2019")


def _catalogue():
    """CVE rows ``(id, product index, severity, cvss, published day offset, exploit flags, kb)``, fixed."""
    rng = random.Random("tvm-catalogue")
    cves, seen = [], set()
    for p, (_name, _vendor, _family, _cur, _old, _cat, kb) in enumerate(PRODUCTS):
        for k in range(CVES_PER_PRODUCT):
            while True:
                year = 2021 + rng.randrange(4)
                cid = "CVE-%d-%d" % (year, rng.randrange(1000, 49999))
                if cid not in seen:
                    seen.add(cid)
                    break
            x = rng.random()
            sev = "Critical" if x < 0.12 else "High" if x < 0.45 else "Medium" if x < 0.85 else "Low"
            lo, hi = {"Critical": (9.0, 10.0), "High": (7.0, 8.9), "Medium": (4.0, 6.9), "Low": (2.0, 3.9)}[sev]
            cvss = round(rng.uniform(lo, hi), 1)
            public = rng.random() < 0.35
            verified = public and rng.random() < 0.5
            in_kit = verified and rng.random() < 0.4
            cves.append({"id": cid, "product": p, "severity": sev, "cvss": cvss,
                         "published": 30 + rng.randrange(900), "updated": rng.randrange(30),
                         "public": public, "verified": verified, "kit": in_kit,
                         "kb": str(kb + k) if kb else None})
    return cves


CATALOGUE = _catalogue()
CVE_INDEX = {c["id"]: i for i, c in enumerate(CATALOGUE)}


def software_id(p):
    name, vendor = PRODUCTS[p][0], PRODUCTS[p][1]
    return "%s-_-%s" % (vendor, name)


SOFTWARE_INDEX = {software_id(p).lower(): p for p in range(len(PRODUCTS))}


def products_for(os_platform):
    out = []
    for p, prod in enumerate(PRODUCTS):
        family = prod[2]
        if family == os_platform or family == "any" or (family == "win" and os_platform in WINDOWS):
            out.append(p)
    return out


class Tvm:
    """The tenant's exposure: which machine has which CVE. Callers hold the core lock."""

    def __init__(self, store, per_machine=4):
        self.store = store
        self.anchor = store.anchor
        self.rows = {}          # machine index -> [cve index, ...] (sorted)
        self.fixed = []         # (time, machine index, cve index, version) for the delta export
        self.machine_index = {m["id"]: i for i, m in enumerate(store.machines)}
        self.cve_machines = [set() for _c in CATALOGUE]
        self._exposed = {}      # machine index -> products it has a CVE of (cache)
        self._cve_cache = {}
        rng = random.Random("%s:tvm" % store.seed)
        by_platform = {}
        for i, m in enumerate(store.machines):
            plat = m["osPlatform"]
            cands = by_platform.get(plat)
            if cands is None:
                prods = set(products_for(plat))
                cands = by_platform[plat] = [c for c, cve in enumerate(CATALOGUE) if cve["product"] in prods]
            k = min(per_machine, len(cands))
            chosen = sorted(rng.sample(cands, k)) if k else []
            self.rows[i] = chosen
            for c in chosen:
                self.cve_machines[c].add(i)

    # --- derived values ---------------------------------------------------------------------------

    def version(self, mi, p):
        """The machine's version of product ``p``: an old one while it has a CVE of it, else the current one."""
        prod = PRODUCTS[p]
        exposed = self._exposed.get(mi)
        if exposed is None:
            exposed = self._exposed[mi] = frozenset(CATALOGUE[c]["product"] for c in self.rows.get(mi, ()))
        if p in exposed:
            olds = prod[4]
            return olds[(mi * 7 + p) % len(olds)]
        return prod[3]

    def vulnerability(self, c):
        cve = CATALOGUE[c]
        prod = PRODUCTS[cve["product"]]
        types = (["PrivilegeEscalation"] if cve["public"] else []) + (["RemoteCodeExecution"] if cve["kit"] else [])
        return {
            "id": cve["id"], "name": cve["id"],
            "description": "%s vulnerability in %s %s" % ("Remote code execution" if cve["cvss"] >= 8 else
                                                          "Elevation of privilege", prod[1], prod[0]),
            "severity": cve["severity"], "cvssV3": cve["cvss"],
            "cvssVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H/E:%s" % ("F" if cve["verified"] else "U"),
            "exposedMachines": len(self.cve_machines[c]),
            "publishedOn": D.iso(self.anchor - cve["published"] * D.DAY),
            "updatedOn": D.iso(self.anchor - cve["updated"] * D.DAY),
            "firstDetected": D.iso(self.anchor - (cve["published"] - 1) * D.DAY),
            "publicExploit": cve["public"], "exploitVerified": cve["verified"], "exploitInKit": cve["kit"],
            "exploitTypes": types,
            "exploitUris": ["https://www.exploit-db.com/exploits/%d" % (40000 + c)] if cve["public"] else [],
            "CveSupportability": "Supported",
        }

    def row(self, mi, c):
        """One machinesVulnerabilities row (DD get-all-vulnerabilities-by-machines.md)."""
        cve = CATALOGUE[c]
        p = cve["product"]
        m = self.store.machines[mi]
        version = self.version(mi, p)
        row_id = "-_-".join((m["id"], cve["id"], PRODUCTS[p][1], PRODUCTS[p][0], version, cve["kb"] or ""))
        return {"id": row_id,
                "cveId": cve["id"], "machineId": m["id"], "fixingKbId": cve["kb"], "productName": PRODUCTS[p][0],
                "productVendor": PRODUCTS[p][1], "productVersion": version, "severity": cve["severity"]}

    def export_record(self, mi, c, version=None):
        """One SoftwareVulnerabilitiesByMachine record (DD get-assessment-software-vulnerabilities.md)."""
        cve = self._export_cve(c)
        m = self._export_machine(mi)
        version = version or self.version(mi, CATALOGUE[c]["product"])
        return {
            "id": "%s_%s_%s_%s_%s" % (m["deviceId"], cve["softwareVendor"], cve["softwareName"], version,
                                      cve["cveId"]),
            "deviceId": m["deviceId"], "rbacGroupName": m["rbacGroupName"], "deviceName": m["deviceName"],
            "osPlatform": m["osPlatform"], "osVersion": m["osVersion"], "osArchitecture": "x64",
            "softwareVendor": cve["softwareVendor"], "softwareName": cve["softwareName"], "softwareVersion": version,
            "cveId": cve["cveId"], "vulnerabilitySeverityLevel": cve["vulnerabilitySeverityLevel"],
            "recommendedSecurityUpdate": cve["recommendedSecurityUpdate"],
            "recommendedSecurityUpdateId": cve["recommendedSecurityUpdateId"],
            "recommendedSecurityUpdateUrl": cve["recommendedSecurityUpdateUrl"],
            "diskPaths": [], "registryPaths": [],
            "lastSeenTimestamp": m["lastSeenTimestamp"], "firstSeenTimestamp": m["firstSeenTimestamp"],
            "exploitabilityLevel": cve["exploitabilityLevel"],
            "recommendationReference": cve["recommendationReference"],
            "securityUpdateAvailable": True, "cvssScore": cve["cvssScore"],
        }

    def _export_cve(self, c):
        out = self._cve_cache.get(c)
        if out is None:
            cve = CATALOGUE[c]
            prod = PRODUCTS[cve["product"]]
            out = self._cve_cache[c] = {
                "softwareVendor": prod[1], "softwareName": prod[0], "cveId": cve["id"],
                "vulnerabilitySeverityLevel": cve["severity"],
                "recommendedSecurityUpdate": ("Security update KB%s" % cve["kb"]) if cve["kb"] else
                "Update %s to version %s" % (prod[0], prod[3]),
                "recommendedSecurityUpdateId": cve["kb"],
                "recommendedSecurityUpdateUrl": ("https://support.microsoft.com/help/%s" % cve["kb"]) if cve["kb"]
                else None,
                "exploitabilityLevel": "ExploitIsInKit" if cve["kit"] else "ExploitIsVerified" if cve["verified"]
                else "ExploitIsPublic" if cve["public"] else "NoExploit",
                "recommendationReference": "va-_-%s-_-%s" % (prod[1], prod[0]), "cvssScore": cve["cvss"]}
        return out

    def _export_machine(self, mi):
        m = self.store.machines[mi]
        # "2020-12-30 14:17:26": no T, no zone (get-assessment-methods-properties)
        return {"deviceId": m["id"], "rbacGroupName": m["rbacGroupName"], "deviceName": m["computerDnsName"],
                "osPlatform": m["osPlatform"], "osVersion": m["version"],
                "lastSeenTimestamp": m["lastSeen"][:19].replace("T", " "),
                "firstSeenTimestamp": m["firstSeen"][:19].replace("T", " ")}

    def software(self, p):
        prod = PRODUCTS[p]
        cves = [c for c, cve in enumerate(CATALOGUE) if cve["product"] == p]
        exposed = set()
        for c in cves:
            exposed |= self.cve_machines[c]
        return {"id": software_id(p), "name": prod[0], "vendor": prod[1], "weaknesses": len(cves),
                "publicExploit": any(CATALOGUE[c]["public"] for c in cves), "activeAlert": False,
                "exposedMachines": len(exposed),
                "impactScore": round(sum(CATALOGUE[c]["cvss"] for c in cves if self.cve_machines[c]) / 10.0, 2)}

    def recommendation(self, p):
        prod = PRODUCTS[p]
        sw = self.software(p)
        cves = [c for c, cve in enumerate(CATALOGUE) if cve["product"] == p]
        installed = sum(1 for m in self.store.machines if p in products_for(m["osPlatform"]))
        return {"id": "va-_-%s-_-%s" % (prod[1], prod[0]), "productName": prod[0],
                "recommendationName": "Update %s" % prod[0].replace("_", " ").title(),
                "weaknesses": sw["weaknesses"], "vendor": prod[1], "recommendedVersion": prod[3],
                "recommendationCategory": prod[5], "subCategory": prod[0], "severityScore":
                max(CATALOGUE[c]["cvss"] for c in cves), "publicExploit": sw["publicExploit"], "activeAlert": False,
                "associatedThreats": [], "remediationType": "Update",
                "status": "Active" if sw["exposedMachines"] else "Completed",
                "configScoreImpact": 0.0, "exposureImpact": sw["impactScore"], "totalMachineCount": installed,
                "exposedMachinesCount": sw["exposedMachines"], "nonProductivityImpactedAssets": 0,
                "relatedComponent": prod[0].replace("_", " ").title()}

    def machine_reference(self, mi):
        m = self.store.machines[mi]
        return {"id": m["id"], "computerDnsName": m["computerDnsName"], "osPlatform": m["osPlatform"],
                "rbacGroupName": m["rbacGroupName"]}

    def all_rows(self):
        """``(machine index, cve index)`` in a stable order: machine, then CVE."""
        for mi in range(len(self.store.machines)):
            for c in self.rows.get(mi, ()):
                yield mi, c

    def row_count(self):
        return sum(len(v) for v in self.rows.values())

    def fix(self, mi, cve_ids=None, now=None):
        """Patch a machine: remove its rows (of ``cve_ids`` only, when given); returns the CVE ids removed."""
        now = time.time() if now is None else now
        keep, gone = [], []
        for c in self.rows.get(mi, ()):
            if cve_ids is None or CATALOGUE[c]["id"] in cve_ids:
                gone.append(c)
            else:
                keep.append(c)
        versions = {c: self.version(mi, CATALOGUE[c]["product"]) for c in gone}
        self.rows[mi] = keep
        self._exposed.pop(mi, None)
        for c in gone:
            self.cve_machines[c].discard(mi)
            self.fixed.append((now, mi, c, versions[c]))
        return [CATALOGUE[c]["id"] for c in gone]


# --- HTTP handlers (called from api.route; ``api`` passed in to avoid an import cycle) ----------------------------


def _tvm(core):
    if core.tvm is None:
        core.tvm = Tvm(core.store, int(core.config.get("vulnerabilities_per_machine", 4)))
    return core.tvm


def machine_index(core, m):
    """The store index of machine ``m`` (machines added after the data was made have no rows)."""
    t = _tvm(core)
    mi = t.machine_index.get(m["id"])
    if mi is None:
        mi = t.machine_index[m["id"]] = core.store.machines.index(m)
    return mi


def _machine_index(core, key):
    return machine_index(core, A._get_machine(core, key))


def _listing(core, req, context, items, fields, max_top=10000):
    """Filter (documented fields only), then $top/$skip paging as on the other collections."""
    pred = A._filter(req, fields)
    if pred is not None:
        items = [i for i in items if pred(i)]
    page, nxt = A._page(core, req, items, max_top=max_top)
    return A.Reply(200, A._collection(f"{core.api_url}/api/$metadata#{context}", [A._dumps(i) for i in page], nxt))


def _cve(key):
    c = CVE_INDEX.get(key.upper())
    if c is None:
        raise A.ApiError(404, "NotFound", f"Vulnerability {key} was not found")
    return c


def _software(key):
    p = SOFTWARE_INDEX.get(key.lower())
    if p is None:
        raise A.ApiError(404, "NotFound", f"Software {key} was not found")
    return p


def list_vulnerabilities(core, req):
    A._require_roles(req, VULN_READ)
    with core.lock:
        t = _tvm(core)
        items = [t.vulnerability(c) for c in range(len(CATALOGUE))]
        return _listing(core, req, "Vulnerabilities", items, VULN_FILTER, VULN_MAX_TOP)


def get_vulnerability(core, req, key):
    A._require_roles(req, VULN_READ)
    with core.lock:
        out = _tvm(core).vulnerability(_cve(key))
    return A.Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#Vulnerabilities/$entity", **out})


def vulnerability_machines(core, req, key):
    A._require_roles(req, VULN_READ)
    with core.lock:
        t = _tvm(core)
        items = [t.machine_reference(mi) for mi in sorted(t.cve_machines[_cve(key)])]
        return _listing(core, req, "MachineReferences", items, [])


def _simple_cve_filter(text):
    """``cveId eq 'CVE-…'`` alone: served from the index (the common, per-CVE query), not by scanning every row."""
    text = (text or "").strip()
    low = text.lower()
    if low.startswith("cveid eq '") and text.endswith("'") and text.count("'") == 2:
        return text[len("cveId eq '"):-1]
    return None


def machines_vulnerabilities(core, req):
    A._require_roles(req, VULN_READ)
    with core.lock:
        t = _tvm(core)
        cve = _simple_cve_filter(req.query.get("$filter"))
        if cve is not None:
            c = CVE_INDEX.get(cve)
            pairs = [] if c is None else [(mi, c) for mi in sorted(t.cve_machines[c])]
            items = [t.row(mi, c) for mi, c in pairs]
            page, nxt = A._page(core, req, items)
            return A.Reply(200, A._collection(f"{core.api_url}/api/$metadata#MachineVulnerabilities",
                                              [A._dumps(i) for i in page], nxt))
        items = [t.row(mi, c) for mi, c in t.all_rows()]
        return _listing(core, req, "MachineVulnerabilities", items, ROW_FILTER)


def machine_vulnerabilities(core, req, key):
    A._require_roles(req, VULN_READ)
    with core.lock:
        t = _tvm(core)
        mi = _machine_index(core, key)
        items = [t.vulnerability(c) for c in t.rows.get(mi, ())]
        return _listing(core, req, "Vulnerabilities", items, [])


def machine_software(core, req, key):
    A._require_roles(req, SOFTWARE_READ)
    with core.lock:
        t = _tvm(core)
        mi = _machine_index(core, key)
        m = core.store.machines[mi]
        items = [t.software(p) for p in products_for(m["osPlatform"])]
        return _listing(core, req, "Software", items, [])


def machine_recommendations(core, req, key):
    A._require_roles(req, RECOMMENDATION_READ)
    with core.lock:
        t = _tvm(core)
        mi = _machine_index(core, key)
        prods = sorted(set(CATALOGUE[c]["product"] for c in t.rows.get(mi, ())))
        items = [t.recommendation(p) for p in prods]
        return _listing(core, req, "Recommendations", items, [])


def list_software(core, req):
    A._require_roles(req, SOFTWARE_READ)
    with core.lock:
        t = _tvm(core)
        return _listing(core, req, "Software", [t.software(p) for p in range(len(PRODUCTS))], SOFTWARE_FILTER)


def get_software(core, req, key):
    A._require_roles(req, SOFTWARE_READ)
    with core.lock:
        out = _tvm(core).software(_software(key))
    return A.Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#Software/$entity", **out})


def software_machines(core, req, key):
    A._require_roles(req, SOFTWARE_READ)
    with core.lock:
        t = _tvm(core)
        p = _software(key)
        items = []
        for mi, m in enumerate(core.store.machines):
            if p in products_for(m["osPlatform"]):
                ref = t.machine_reference(mi)
                ref.update(softwareVersion=t.version(mi, p))
                items.append(ref)
        return _listing(core, req, "MachineReferences", items, [])


def software_vulnerabilities(core, req, key):
    A._require_roles(req, VULN_READ)  # [uncertain] the page may accept Software.Read.All too
    with core.lock:
        t = _tvm(core)
        p = _software(key)
        items = [t.vulnerability(c) for c, cve in enumerate(CATALOGUE) if cve["product"] == p]
        return _listing(core, req, "Vulnerabilities", items, [])


def list_recommendations(core, req):
    A._require_roles(req, RECOMMENDATION_READ)
    with core.lock:
        t = _tvm(core)
        items = [t.recommendation(p) for p in range(len(PRODUCTS))]
        return _listing(core, req, "Recommendations", items, RECOMMENDATION_FILTER)


def get_recommendation(core, req, key):
    A._require_roles(req, RECOMMENDATION_READ)
    with core.lock:
        t = _tvm(core)
        for p in range(len(PRODUCTS)):
            rec = t.recommendation(p)
            if rec["id"].lower() == key.lower():
                return A.Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#Recommendations/$entity",
                                     **rec})
    raise A.ApiError(404, "NotFound", f"Recommendation {key} was not found")


# --- assessment exports (get-assessment-software-vulnerabilities) --------------------------------------------


def _page_size(req):
    raw = req.query.get("pageSize", req.query.get("pagesize"))
    if raw is None:
        return EXPORT_DEFAULT_PAGE
    try:
        size = int(raw)
    except ValueError:
        raise A.ApiError(400, "InvalidRequest", f"Invalid pageSize '{raw}'.")
    if size < 1 or size > EXPORT_MAX_PAGE:
        raise A.ApiError(400, "InvalidRequest", f"pageSize must be between 1 and {EXPORT_MAX_PAGE}.")
    return size


def _skiptoken(req):
    raw = req.query.get("$skiptoken")
    if raw is None:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(raw.encode()).decode())["offset"])
    except (ValueError, KeyError, TypeError):
        raise A.ApiError(400, "InvalidRequest", "Invalid $skiptoken.")


def _export_page(core, req, records_of, make, context):
    """JSON pages: ``pageSize`` records and a nextLink with an opaque ``$skiptoken``; with ``$top`` only the first
    ``$top`` records and never a nextLink (get-assessment-software-vulnerabilities)."""
    size = _page_size(req)
    top = A._int_option(req, "$top")
    offset = _skiptoken(req)
    with core.lock:
        records = records_of(_tvm(core))
        if top is not None:
            chunk, nxt = records[:top], None
        else:
            chunk = records[offset:offset + size]
            nxt = None
            if offset + size < len(records):
                token = base64.urlsafe_b64encode(json.dumps({"offset": offset + size}).encode()).decode()
                qs = urllib.parse.urlencode([("pageSize", str(size)), ("$skiptoken", token)],
                                            quote_via=urllib.parse.quote, safe="$")
                nxt = f"{core.api_url}{urllib.parse.quote(req.path)}?{qs}"
        t = core.tvm
        values = [A._dumps(make(t, item)) for item in chunk]
    return A.Reply(200, A._collection(
        f"{core.api_url}/api/$metadata#Collection(microsoft.windowsDefenderATP.api.{context})", values, nxt))


def export_by_machine(core, req):
    A._require_roles(req, VULN_READ)
    return _export_page(core, req, lambda t: list(t.all_rows()), lambda t, item: t.export_record(*item),
                        "AssetVulnerability")


def export_changes(core, req):
    """The delta export: rows fixed since ``sinceTime`` (at most 14 days back) as ``Fixed`` records."""
    A._require_roles(req, VULN_READ)
    since = req.query.get("sinceTime")
    if not since:
        raise A.ApiError(400, "InvalidRequest", "sinceTime is required.")
    try:
        since_ts = D._epoch(since)
    except ValueError:
        raise A.ApiError(400, "InvalidRequest", f"Invalid sinceTime '{since}'.")
    if since_ts < time.time() - DELTA_MAX_DAYS * D.DAY:
        raise A.ApiError(400, "InvalidRequest", f"sinceTime must be within the last {DELTA_MAX_DAYS} days.")

    def make(t, item):
        when, mi, c, version = item
        rec = t.export_record(mi, c, version)
        rec.update(status="Fixed", eventTimestamp=D.iso(when))
        return rec
    return _export_page(core, req, lambda t: [f for f in t.fixed if f[0] >= since_ts], make,
                        "DeltaAssetVulnerability")


def _sign(core, name, expires):
    return hmac.new(core.download_key, f"tvm|{name}|{expires}".encode(), hashlib.sha256).hexdigest()


def export_files(core, req):
    """``{"exportFiles": [signed links], "generatedTime"}``: the rows split into gzip JSON Lines parts."""
    A._require_roles(req, VULN_READ)
    hours = A._int_option(req, "sasValidHours")
    if hours is not None and not 1 <= hours <= SAS_MAX_HOURS:
        raise A.ApiError(400, "InvalidRequest", f"sasValidHours must be between 1 and {SAS_MAX_HOURS}.")
    with core.lock:
        t = _tvm(core)
        total = t.row_count()
        per_file = max(1, int(core.config.get("export_file_rows", 100000)))
        lifetime = core.config.get("export_url_lifetime")
        lifetime = float(lifetime) if lifetime is not None else (hours or 1) * 3600.0
        expires = int(time.time() + lifetime)
        # The parts are cut now (a snapshot): a later fix does not change a part already announced.
        snapshot = list(t.all_rows())
        core.tvm_snapshot = snapshot
        files = []
        for n in range(max(1, -(-total // per_file))):
            name = "part-%05d-%s.json.gz" % (n, hashlib.sha1(f"{core.seed}:{n}".encode()).hexdigest()[:12])
            q = urllib.parse.urlencode([("sv", "2020-08-04"), ("st", str(int(time.time()))), ("se", str(expires)),
                                        ("sr", "b"), ("sp", "r"), ("part", str(n)), ("size", str(per_file)),
                                        ("sig", _sign(core, name, expires))])
            files.append(f"{core.api_url}{EXPORT_PREFIX}{name}?{q}")
    return A.Reply(200, {"exportFiles": files, "generatedTime": D.iso(time.time())})


def download_export(core, headers, path, query):
    """GET /tvmexport/<part>?…&sig=…: the signature alone authorizes, a bearer header is refused, an expired link
    gets the storage service's 403 (as elastic/integrations observed it)."""
    if headers.get("Authorization"):
        return A.error_reply(400, "InvalidAuthenticationInfo", "Authorization header is not accepted together with "
                             "a shared access signature.", None)
    name = path[len(EXPORT_PREFIX):]
    try:
        expires = int(query.get("se", ""))
        part, size = int(query.get("part", "")), int(query.get("size", ""))
    except ValueError:
        return A.error_reply(403, "AuthenticationFailed", "Server failed to authenticate the request.", None)
    if not hmac.compare_digest(query.get("sig", ""), _sign(core, name, expires)):
        return A.error_reply(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure "
                             "the value of Authorization header is formed correctly including the signature.", None)
    if time.time() > expires:
        return A.error_reply(403, "AuthenticationFailed", "Server failed to authenticate the request. Signature not "
                             "valid in the specified key time frame.", None)
    with core.lock:
        t = _tvm(core)
        rows = (getattr(core, "tvm_snapshot", None) or list(t.all_rows()))[part * size:(part + 1) * size]
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=1, mtime=0) as gz:
            for start in range(0, len(rows), 5000):
                gz.write("".join(A._dumps(t.export_record(mi, c)) + "\n"
                                 for mi, c in rows[start:start + 5000]).encode("utf-8"))
    return A.Reply(200, buf.getvalue(), {"Content-Type": "application/octet-stream"})
