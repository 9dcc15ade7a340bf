# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vulnerability management (Defender Vulnerability Management, "TVM"): CVEs, the machines exposed to them, software,
security recommendations, and the assessment exports (Microsoft's pages under defender-endpoint/api/:
get-all-vulnerabilities, get-all-vulnerabilities-by-machines, get-discovered-vulnerabilities, get-software,
get-all-recommendations, get-assessment-software-vulnerabilities).

Used by ``vulnerability_info``, ``software_info``, ``recommendation_info``, ``vulnerability_export``, the machines
inventory (``exposure``) and the ``patch_exposed`` playbook (through ``vulnerability_info``).

Costs: a per-machine loop (``GET /api/machines/{id}/vulnerabilities``, 50 calls a minute) does not scale, so
exposure is read per CVE (``machinesVulnerabilities`` filtered by ``cveId``) or as one severity-filtered sweep of
the same rows, 10,000 per request (:func:`exposure`).

The files export's download links are credentials (a shared access signature): they never appear in a result, a
message or an exception, and the download session is not the API's, so the bearer token never reaches the storage
host (:class:`ExportDownloader`).
"""

from __future__ import annotations

import json
import re
import zlib
from urllib.parse import parse_qs, urlsplit

from ansible_collections.defender.endpoint.plugins.module_utils import machines as M
from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils import progress
from ansible_collections.defender.endpoint.plugins.module_utils.client import segment
from ansible_collections.defender.endpoint.plugins.module_utils.transport import build_session
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.validation import check_text

VULNERABILITIES = "/api/vulnerabilities"
MACHINE_VULNERABILITIES = "/api/vulnerabilities/machinesVulnerabilities"
SOFTWARE = "/api/Software"
RECOMMENDATIONS = "/api/recommendations"
MACHINES = "/api/machines"
EXPORT_JSON = "/api/machines/SoftwareVulnerabilitiesByMachine"
EXPORT_CHANGES = "/api/machines/SoftwareVulnerabilityChangesByMachine"
EXPORT_FILES = "/api/machines/SoftwareVulnerabilitiesExport"

SEVERITIES = ("Low", "Medium", "High", "Critical")
VULNERABILITY_PAGE_MAX = 8000   # GET /api/vulnerabilities: $top at most 8,000 (DD get-all-vulnerabilities.md)
EXPORT_PAGE_MAX = 200000        # SoftwareVulnerabilitiesByMachine: pageSize at most 200,000
EXPORT_PAGE_DEFAULT = 50000
SAS_MAX_HOURS = 6
CHANGES_MAX_DAYS = 14
CHUNK = 1 << 18          # compressed bytes read at a time from the storage host
INFLATE_MAX = 1 << 20    # decompressed bytes produced at a time
RECORD_BLOCK = 2000      # records handed to the writer at a time (about 2 MB of text)

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}\Z", re.I)
_KB = re.compile(r"^(KB)?(\d{4,8})\Z", re.I)
_GROUP_CHARS = re.compile(r"[^A-Za-z0-9]")


# --- input checks ------------------------------------------------------------------------------------------------

def check_cve(value, name="cve_id"):
    """``CVE-YYYY-NNNN…``, upper-cased; raises DefenderConfigError."""
    if not isinstance(value, str) or not _CVE.match(value.strip()):
        raise DefenderConfigError("%s must be a CVE id such as CVE-2024-21412, got %r"
                                  % (name, value[:60] if isinstance(value, str) else value))
    return value.strip().upper()


def check_cves(values, name="cve_id"):
    if isinstance(values, str):
        values = [values]
    out = list(dict.fromkeys(check_cve(v, name) for v in values or ()))
    return out


def check_severity(value, name="min_severity"):
    """One of :data:`SEVERITIES`, matched case-insensitively, in the API's spelling."""
    if value is None:
        return None
    for s in SEVERITIES:
        if isinstance(value, str) and value.strip().lower() == s.lower():
            return s
    raise DefenderConfigError("%s must be one of %s, got %r" % (name, ", ".join(SEVERITIES), value))


def severities_from(minimum):
    """The severities at or above ``minimum`` (all when None)."""
    if minimum is None:
        return list(SEVERITIES)
    return list(SEVERITIES[SEVERITIES.index(check_severity(minimum)):])


def check_software_id(value, name="software_id"):
    """A software id such as ``microsoft-_-edge`` (vendor, ``-_-``, product)."""
    value = check_text(value, name, max_length=300)
    if "-_-" not in value or "/" in value:
        raise DefenderConfigError("%s must be a software id such as microsoft-_-edge (vendor-_-product), got %r"
                                  % (name, value[:80]))
    return value


def check_cvss(value, name="min_cvss"):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise DefenderConfigError("%s must be a number from 0 to 10, got %r" % (name, value)) from None
    if not 0 <= value <= 10:
        raise DefenderConfigError("%s must be a number from 0 to 10, got %r" % (name, value))
    return value


def group_name(prefix, value):
    """An inventory group name: ``cve_CVE_2024_21412``, ``kb_5034441`` (non-alphanumerics become ``_``)."""
    return "%s_%s" % (prefix, _GROUP_CHARS.sub("_", str(value)))


def kb_id(value):
    """A fixing KB as the API writes it (digits, ``5034441``), or None."""
    if value is None:
        return None
    match = _KB.match(str(value).strip())
    return match.group(2) if match else str(value).strip() or None


# --- reads -------------------------------------------------------------------------------------------------------

def _list(client, path, flt=None, page_size=odata.MAX_PAGE_SIZE, limit=None):
    params = {"$filter": flt} if flt else None
    return list(client.pages(path, params=params, page_size=page_size, limit=limit))


def vulnerability_filter(severity=None, min_cvss=None, published_after=None, updated_after=None, raw=None):
    """The ``$filter`` of ``GET /api/vulnerabilities`` from documented fields only (``severity``, ``cvssV3``,
    ``publishedOn``, ``updatedOn``; ``id``, ``name`` and ``description`` through ``raw``)."""
    clauses = []
    if severity:
        clauses.append(odata.any_of("severity", [check_severity(s, "severity") for s in severity]))
    if min_cvss is not None:
        clauses.append("cvssV3 ge %s" % repr(float(check_cvss(min_cvss))))
    if published_after:
        clauses.append(odata.compare("publishedOn", "ge", published_after, "published_after"))
    if updated_after:
        clauses.append(odata.compare("updatedOn", "ge", updated_after, "updated_after"))
    if raw:
        clauses.append(odata.raw_clause(raw))
    return odata.and_all(*clauses)


def exploit_matches(vulnerability, exploit_available):
    """``exploit_available`` is not a documented filter field: it is applied to what the API returned."""
    if exploit_available is None:
        return True
    has = bool(vulnerability.get("publicExploit") or vulnerability.get("exploitVerified")
               or vulnerability.get("exploitInKit"))
    return has == bool(exploit_available)


def list_vulnerabilities(client, flt=None, exploit_available=None, page_size=VULNERABILITY_PAGE_MAX, limit=None):
    page_size = min(page_size, VULNERABILITY_PAGE_MAX)
    found = []
    for v in client.pages(VULNERABILITIES, params={"$filter": flt} if flt else None, page_size=page_size):
        if exploit_matches(v, exploit_available):
            found.append(v)
            if limit is not None and len(found) >= limit:
                break
    return found


def get_vulnerability(client, cve):
    """One CVE, or None when Defender does not know it (404)."""
    return client.get_or_none("%s/%s" % (VULNERABILITIES, segment(check_cve(cve), "CVE id")))


def cve_rows(client, cve, extra=None, page_size=odata.MAX_PAGE_SIZE):
    """The machine x CVE rows of one CVE (``machinesVulnerabilities`` filtered by ``cveId``): machine id, product,
    version, fixing KB, severity. One request per 10,000 exposed machines."""
    flt = odata.and_all(odata.eq("cveId", check_cve(cve)), extra)
    return _list(client, MACHINE_VULNERABILITIES, flt, page_size)


def cve_machine_references(client, cve):
    """The machines exposed to one CVE with their names (``GET /api/vulnerabilities/{cveId}/machineReferences``)."""
    return _list(client, "%s/%s/machineReferences" % (VULNERABILITIES, segment(check_cve(cve), "CVE id")))


def machine_vulnerabilities(client, machine_id):
    """The CVEs of one machine (``GET /api/machines/{id}/vulnerabilities``; 50 calls a minute)."""
    return _list(client, "%s/%s/vulnerabilities" % (MACHINES, segment(machine_id, "machine id")))


def machine_rows(client, machine_id):
    """The machine x CVE rows of one machine (product, version, fixing KB), one filtered list request."""
    return _list(client, MACHINE_VULNERABILITIES, odata.eq("machineId", machine_id))


def software_filter(name=None, vendor=None, raw=None):
    clauses = []
    if name:
        clauses.append(odata.eq("name", check_text(name, "name")))
    if vendor:
        clauses.append(odata.eq("vendor", check_text(vendor, "vendor")))
    if raw:
        clauses.append(odata.raw_clause(raw))
    return odata.and_all(*clauses)


def get_software(client, software_id):
    return client.get_or_none("%s/%s" % (SOFTWARE, segment(check_software_id(software_id), "software id")))


def software_part(client, software_id, part):
    """``machineReferences`` or ``vulnerabilities`` of one software product."""
    return _list(client, "%s/%s/%s" % (SOFTWARE, segment(software_id, "software id"), part))


def list_software(client, flt=None, limit=None):
    return _list(client, SOFTWARE, flt, limit=limit)


def machine_software(client, machine_id):
    return _list(client, "%s/%s/software" % (MACHINES, segment(machine_id, "machine id")))


REMEDIATION_TYPES = ("ConfigurationChange", "Update", "Upgrade", "Uninstall")


def recommendation_filter(product_name=None, vendor=None, status=None, remediation_type=None,
                          min_severity_score=None, raw=None):
    clauses = []
    if product_name:
        clauses.append(odata.eq("productName", check_text(product_name, "product_name")))
    if vendor:
        clauses.append(odata.eq("vendor", check_text(vendor, "vendor")))
    if status:
        clauses.append(odata.eq("status", status))
    if remediation_type:
        clauses.append(odata.eq("remediationType", remediation_type))
    if min_severity_score is not None:
        clauses.append("severityScore ge %s" % repr(float(check_cvss(min_severity_score, "min_severity_score"))))
    if raw:
        clauses.append(odata.raw_clause(raw))
    return odata.and_all(*clauses)


def list_recommendations(client, flt=None, limit=None):
    return _list(client, RECOMMENDATIONS, flt, limit=limit)


def machine_recommendations(client, machine_id):
    return _list(client, "%s/%s/recommendations" % (MACHINES, segment(machine_id, "machine id")))


def resolve_machine(client, ref):
    """A machine id or computer name to its machine (the rules of machines.resolve); raises DefenderError."""
    found = M.resolve(client, [M.check_machine_ref(ref)])[ref.strip()]
    if not found.ok:
        raise found.error
    return found.machine


def machine_names(client, machine_ids):
    """``{machine id (lower case): machine}`` for many machines: a few filtered list requests (20 ids each) when
    they are few, else the whole machine list (10,000 a request) once."""
    ids = list(dict.fromkeys(i.lower() for i in machine_ids))
    if len(ids) <= 200:
        return dict((k, v) for k, v in M.find_by_ids(client, ids).items() if v is not None)
    wanted = set(ids)
    return dict((m["id"].lower(), m) for m in client.pages(MACHINES) if (m.get("id") or "").lower() in wanted)


def exposed_machines(exposure_, names):
    """The exposed machines, each ``{id, computer_dns_name, os_platform, cves, fixing_kbs, max_severity}``, by
    name."""
    out = []
    for mid in exposure_.machines:
        host = exposure_.host(mid)
        m = names.get(mid) or {}
        out.append({"id": mid, "computer_dns_name": m.get("computerDnsName"), "os_platform": m.get("osPlatform"),
                    "cves": host["cves"], "fixing_kbs": host["kbs"], "max_severity": host["severity"]})
    out.sort(key=lambda e: ((e["computer_dns_name"] or "").lower(), e["id"]))
    return out


# --- exposure: which machines have which CVEs (inventory, patch_exposed) -----------------------------------------

class Exposure:
    """Per machine: its CVEs, fixing KBs and worst severity, read with as few requests as the API allows."""

    def __init__(self):
        self.machines = {}   # machine id (lower case) -> {"cves": set, "kbs": set, "severity": str}
        self.requests = 0
        self.cves = {}       # CVE id -> vulnerability object, when read

    def add(self, row):
        mid = (row.get("machineId") or "").lower()
        if not mid:
            return
        entry = self.machines.setdefault(mid, {"cves": set(), "kbs": set(), "severity": None})
        if row.get("cveId"):
            entry["cves"].add(row["cveId"])
        kb = kb_id(row.get("fixingKbId"))
        if kb:
            entry["kbs"].add(kb)
        sev = row.get("severity")
        if sev in SEVERITIES and (entry["severity"] is None or
                                  SEVERITIES.index(sev) > SEVERITIES.index(entry["severity"])):
            entry["severity"] = sev

    def as_table(self):
        """``{machine id: {"cves", "kbs", "severity"}}`` with lists (JSON, for the inventory cache)."""
        return dict((mid, self.host(mid)) for mid in self.machines)

    def host(self, machine_id):
        """``{"cves": [...], "kbs": [...], "severity": ...}`` of one machine (empty lists when not exposed)."""
        entry = self.machines.get((machine_id or "").lower())
        if entry is None:
            return {"cves": [], "kbs": [], "severity": None}
        return {"cves": sorted(entry["cves"]), "kbs": sorted(entry["kbs"]), "severity": entry["severity"]}


def exposure(client, cves=None, min_severity=None, exploit_available=None, page_size=odata.MAX_PAGE_SIZE,
             severities=None):
    """Read the exposure of every machine at once.

    With ``cves``: one ``machinesVulnerabilities`` query per CVE (``cveId eq``; more pages only past 10,000
    exposed machines). Without: one sweep of the rows filtered by severity (``severity`` is a documented filter
    field), 10,000 rows a request. ``exploit_available`` is not a filter field of either: the CVEs with a public
    exploit are read from ``/api/vulnerabilities`` (filtered by the same severities, 8,000 a request) and the rows
    kept or dropped by them.
    """
    out = Exposure()
    wanted = severities_from(min_severity) if min_severity else severities
    sev_clause = odata.any_of("severity", wanted) if wanted else None
    exploitable = None
    if exploit_available is not None:
        pager = client.pages(VULNERABILITIES, params={"$filter": sev_clause} if sev_clause else None,
                             page_size=VULNERABILITY_PAGE_MAX)
        vulns = list(pager)
        out.requests += pager.requests
        exploitable = set(v.get("id") for v in vulns if exploit_matches(v, True))
        out.cves.update((v.get("id"), v) for v in vulns)
    if cves:
        for cve in check_cves(cves):
            pager = client.pages(MACHINE_VULNERABILITIES,
                                 params={"$filter": odata.and_all(odata.eq("cveId", cve), sev_clause)},
                                 page_size=page_size)
            for row in pager:
                if exploitable is None or (row.get("cveId") in exploitable) == bool(exploit_available):
                    out.add(row)
            out.requests += pager.requests
            progress.report("exposure: %s read, %s" % (cve, progress.plural(out.requests, "request")))
        return out
    pager = client.pages(MACHINE_VULNERABILITIES, params={"$filter": sev_clause} if sev_clause else None,
                         page_size=page_size)
    for row in pager:
        if exploitable is None or (row.get("cveId") in exploitable) == bool(exploit_available):
            out.add(row)
    out.requests += pager.requests
    return out


# --- assessment exports (get-assessment-software-vulnerabilities) -------------------------------------------------

EXPORT_KINDS = ("pages", "files", "changes")


def check_page_size(value):
    if not isinstance(value, int) or not 1 <= value <= EXPORT_PAGE_MAX:
        raise DefenderConfigError("page_size must be between 1 and %d, got %r" % (EXPORT_PAGE_MAX, value))
    return value


def check_sas_hours(value):
    if not isinstance(value, int) or not 1 <= value <= SAS_MAX_HOURS:
        raise DefenderConfigError("link_valid_hours must be between 1 and %d, got %r" % (SAS_MAX_HOURS, value))
    return value


class JsonExportPages:
    """The JSON export (``SoftwareVulnerabilitiesByMachine``, or ``…ChangesByMachine`` since a time) read page after
    page by its ``@odata.nextLink`` (``$skiptoken``); :meth:`blocks` yields each page's records as JSON texts,
    one page in memory at a time."""

    def __init__(self, client, path, page_size=EXPORT_PAGE_DEFAULT, since=None, limit=None):
        self.client = client
        self.path = path
        self.params = {"pageSize": page_size}
        if since is not None:
            self.params["sinceTime"] = since
        self.limit = limit
        self.requests = 0

    def _next_params(self, link):
        """The query of a nextLink that is HTTPS, on the API's host, for this path (else the export stops with an
        error: following a link elsewhere would send the bearer token there)."""
        parts = urlsplit(link)
        base = urlsplit(self.client.api_url)
        if parts.scheme != "https" or parts.netloc.lower() != base.netloc.lower() or \
                not parts.path.rstrip("/").lower().endswith(self.path.lower()):
            raise DefenderError("the export's next-page link does not point to %s on the API host; stopped"
                                % self.path, path=self.path)
        return dict((k, v[0]) for k, v in parse_qs(parts.query, keep_blank_values=True).items())

    def blocks(self):
        params = dict(self.params)
        written = 0
        while True:
            self.requests += 1
            page = self.client.get(self.path, params=params, parse=odata.split_collection)
            link = page.members.get("@odata.nextLink")
            items = list(page)
            page = None
            if self.limit is not None and written + len(items) >= self.limit:
                items = items[:self.limit - written]
                link = None
            written += len(items)
            if items:
                yield items
            items = None
            if not isinstance(link, str) or not link:
                return
            params = self._next_params(link)


def _no_auth(request):
    """No Authorization header ever reaches the storage host (not the API's token, not a .netrc entry)."""
    request.headers.pop("Authorization", None)
    return request


class ExportDownloader:
    """The files export: ``GET SoftwareVulnerabilitiesExport`` gives signed links to gzip JSON Lines parts; each
    part is streamed, decompressed as it arrives, and handed over in blocks of lines.

    The links are credentials: they are never returned or put in a message (errors name the host only), and the
    download session is not the API's. An expired link (403) makes the export ask once for fresh links (5 calls a
    minute, 20 an hour) and resume at the same part.
    """

    def __init__(self, client, valid_hours=1, validate_certs=True, ca_path=None, timeout=60, session=None,
                 limit=None):
        self.client = client
        self.valid_hours = valid_hours
        self.timeout = timeout
        self.session = session if session is not None else build_session(validate_certs, ca_path, pool_size=2)
        self.session.auth = _no_auth
        self.session.trust_env = False  # a .netrc or proxy credential must not reach the storage host either
        self.limit = limit
        self.requests = 0
        self.files = 0
        self.generated = None

    def links(self):
        self.requests += 1
        answer = self.client.get(EXPORT_FILES, params={"sasValidHours": self.valid_hours})
        files = answer.get("exportFiles") if isinstance(answer, dict) else None
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise DefenderError("the export answer has no exportFiles list", path=EXPORT_FILES)
        for f in files:
            parts = urlsplit(f)
            if parts.scheme != "https" or not parts.hostname:
                raise DefenderError("the export returned a link that is not HTTPS; nothing was downloaded",
                                    path=EXPORT_FILES)
        self.generated = answer.get("generatedTime")
        self.files = len(files)
        return files

    def _lines(self, url):
        """The lines of one part, decompressed while they arrive (memory: one chunk and one block)."""
        host = urlsplit(url).hostname
        try:
            with self.session.get(url, stream=True, timeout=self.timeout) as response:
                if response.status_code >= 400:
                    raise DefenderError("the export storage host %s answered HTTP %s%s" % (
                        host, response.status_code,
                        " (the link expired)" if "key time frame" in response.text else ""),
                        status=response.status_code)
                inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip
                rest = b""
                block = []
                for chunk in response.iter_content(CHUNK):
                    while chunk:
                        # At most INFLATE_MAX bytes out of each step: JSON compresses 10 to 30 times, so one
                        # unbounded step would hold as much text as a large file's first megabyte inflates to.
                        data = rest + inflate.decompress(chunk, INFLATE_MAX)
                        chunk = inflate.unconsumed_tail
                        lines = data.split(b"\n")
                        rest = lines.pop()
                        block.extend(line for line in lines if line.strip())
                        data = lines = None
                        if len(block) >= RECORD_BLOCK:
                            yield block
                            block = []
                data = rest + inflate.flush()
                block.extend(line for line in data.split(b"\n") if line.strip())
                if block:
                    yield block
        except DefenderError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            # requests' messages quote the URL, signature included: only the kind of failure is kept.
            raise DefenderError("downloading an export part from %s failed (%s)" % (host, type(exc).__name__)) \
                from None

    def blocks(self):
        """Blocks of records (JSON texts, one object each), part after part."""
        files = self.links()
        written = 0
        index = 0
        refreshed = False
        while index < len(files):
            sent = 0
            try:
                for block in self._lines(files[index]):
                    texts = []
                    for line in block:
                        text = line.decode("utf-8", "surrogatepass").strip()
                        json.loads(text)  # each line must be one JSON object: checked, then written as sent
                        texts.append(text)
                    if self.limit is not None and written + len(texts) >= self.limit:
                        yield texts[:self.limit - written]
                        return
                    written += len(texts)
                    sent += len(texts)
                    yield texts
            except DefenderError as exc:
                if exc.status == 403 and not refreshed and sent == 0:
                    refreshed = True  # expired: fresh links, same part
                    files = self.links()
                    continue
                raise
            index += 1


def decoded(blocks):
    """Blocks of JSON texts as blocks of dicts (for CSV)."""
    for block in blocks:
        yield [json.loads(t) for t in block]


# --- the machines inventory's exposure option --------------------------------------------------------------------

EXPOSURE_KEYS = ("cves", "min_severity", "exploit_available")


def check_exposure_option(value):
    """The inventory's ``exposure`` option as ``{cves, min_severity, exploit_available}``, or None when off."""
    if value in (None, False, {}):
        return None
    if not isinstance(value, dict):
        raise DefenderConfigError("exposure must be a dictionary with cves, min_severity and/or exploit_available")
    unknown = sorted(set(value) - set(EXPOSURE_KEYS))
    if unknown:
        raise DefenderConfigError("exposure has unknown keys %s (known: %s)"
                                  % (", ".join(unknown), ", ".join(EXPOSURE_KEYS)))
    cves = check_cves(value.get("cves"), "exposure.cves") if value.get("cves") is not None else None
    if value.get("cves") is not None and not cves:
        raise DefenderConfigError("exposure.cves must name at least one CVE")
    exploit = value.get("exploit_available")
    if exploit is not None and not isinstance(exploit, bool):
        raise DefenderConfigError("exposure.exploit_available must be true or false")
    return {"cves": cves, "min_severity": check_severity(value.get("min_severity"), "exposure.min_severity"),
            "exploit_available": exploit}


def host_exposure(table, machine_id):
    """The exposure variables of one machine from :meth:`Exposure.as_table` (the inventory names them
    ``defender_cves``, ``defender_fixing_kbs``, ``defender_exposure_severity``)."""
    host = table.get((machine_id or "").lower()) or {"cves": [], "kbs": [], "severity": None}
    return {"cves": host["cves"], "fixing_kbs": host["kbs"], "exposure_severity": host["severity"]}


def exposure_groups(variables):
    """The groups of a host with :func:`host_exposure`'s variables: ``cve_<id>``, ``kb_<id>``,
    ``exposure_<severity>``."""
    groups = [group_name("cve", c) for c in variables.get("cves") or ()]
    groups += [group_name("kb", k) for k in variables.get("fixing_kbs") or ()]
    if variables.get("exposure_severity"):
        groups.append("exposure_%s" % str(variables["exposure_severity"]).lower())
    return groups
