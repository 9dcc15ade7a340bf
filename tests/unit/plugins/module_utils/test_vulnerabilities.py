# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vulnerability management helpers: input checks, filters, exposure reading (request counts), the JSON export's
next links and the files export's streamed, authorization-free downloads."""

from __future__ import annotations

import gzip
import json

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils import rate
from ansible_collections.defender.endpoint.plugins.module_utils import vulnerabilities as V
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError

API = "https://api.example.test"


class FakeClient:
    """Answers GETs from ``routes`` (path -> function(params) -> body); counts requests like the real client."""

    def __init__(self, routes):
        self.routes = routes
        self.api_url = API
        self.request_count = 0
        self.calls = []

    def get(self, path, params=None, parse=None):
        self.request_count += 1
        self.calls.append((path, dict(params or {})))
        body = self.routes[path](dict(params or {}))
        if parse is not None:
            return parse(json.dumps(body))
        return body

    def pages(self, path, params=None, page_size=odata.MAX_PAGE_SIZE, limit=None, raw=False):
        return odata.Pager(self, path, params=params, page_size=page_size, limit=limit, raw=raw)

    def get_or_none(self, path, params=None):
        return self.get(path, params)


def rows_route(rows):
    def route(params):
        top, skip = int(params["$top"]), int(params.get("$skip", 0))
        flt = params.get("$filter") or ""
        chosen = [r for r in rows if ("cveId eq '%s'" % r["cveId"]) in flt or "cveId" not in flt]
        if "severity eq" in flt:
            chosen = [r for r in chosen if ("severity eq '%s'" % r["severity"]) in flt]
        return {"value": chosen[skip:skip + top]}
    return route


def row(machine, cve, severity="High", kb=None):
    return {"id": "%s-%s" % (machine, cve), "machineId": machine, "cveId": cve, "severity": severity,
            "fixingKbId": kb, "productName": "p", "productVendor": "v", "productVersion": "1"}


@pytest.mark.parametrize("value", ["", "CVE-24-1", "cve2024-1234", "CVE-2024-123", "CVE-2024-1234'", None, 7,
                                   "CVE-2024-1234 or 1 eq 1"])
def test_check_cve_rejects(value):
    with pytest.raises(DefenderConfigError):
        V.check_cve(value)


def test_check_cve_normalises():
    assert V.check_cve(" cve-2024-21412 ") == "CVE-2024-21412"
    assert V.check_cves(["CVE-2024-21412", "cve-2024-21412"]) == ["CVE-2024-21412"]


def test_severities_and_groups():
    assert V.severities_from("high") == ["High", "Critical"]
    assert V.severities_from(None) == list(V.SEVERITIES)
    with pytest.raises(DefenderConfigError):
        V.check_severity("severe")
    assert V.group_name("cve", "CVE-2024-21412") == "cve_CVE_2024_21412"
    assert V.group_name("kb", "5034441") == "kb_5034441"
    assert V.kb_id("KB5034441") == "5034441" and V.kb_id(None) is None


def test_vulnerability_filter_uses_documented_fields_and_escapes():
    flt = V.vulnerability_filter(["high", "Critical"], 7, "2024-01-01T00:00:00Z", None, "name eq 'O''x'")
    assert flt == ("(severity eq 'High' or severity eq 'Critical') and cvssV3 ge 7.0 and "
                   "publishedOn ge 2024-01-01T00:00:00Z and (name eq 'O''x')")
    with pytest.raises(DefenderConfigError):
        V.vulnerability_filter(None, 11)
    with pytest.raises(DefenderConfigError):
        V.vulnerability_filter(None, None, None, None, "a eq 'b') or (c eq 'd'")


def test_software_id_and_recommendation_filter():
    with pytest.raises(DefenderConfigError):
        V.check_software_id("edge")
    with pytest.raises(DefenderConfigError):
        V.check_software_id("microsoft-_-edge/../x")
    assert V.recommendation_filter("o'ssl", "v", "Active", "Update", 7) == \
        "productName eq 'o''ssl' and vendor eq 'v' and status eq 'Active' and remediationType eq 'Update' and " \
        "severityScore ge 7.0"


def test_exposure_per_cve_is_one_request_per_cve_not_per_machine():
    rows = [row("m%03d" % i, "CVE-2024-0001", kb="5034441") for i in range(300)] + \
        [row("m%03d" % i, "CVE-2024-0002", "Critical") for i in range(0, 300, 2)]
    client = FakeClient({V.MACHINE_VULNERABILITIES: rows_route(rows)})
    out = V.exposure(client, cves=["CVE-2024-0001", "cve-2024-0002"])
    assert out.requests == 2 == client.request_count
    assert len(out.machines) == 300
    assert out.host("M000") == {"cves": ["CVE-2024-0001", "CVE-2024-0002"], "kbs": ["5034441"],
                                "severity": "Critical"}
    assert out.host("m001")["severity"] == "High" and out.host("nope")["cves"] == []
    assert all("cveId eq 'CVE-2024-000" in p["$filter"] for _path, p in client.calls)


def test_exposure_sweep_by_severity_and_exploit():
    rows = [row("m%d" % i, "CVE-2024-000%d" % (i % 3), ["Low", "High", "Critical"][i % 3]) for i in range(30)]
    vulns = [{"id": "CVE-2024-0001", "publicExploit": True}, {"id": "CVE-2024-0002", "publicExploit": False}]
    client = FakeClient({V.MACHINE_VULNERABILITIES: rows_route(rows),
                         V.VULNERABILITIES: lambda params: {"value": vulns[int(params.get("$skip", 0)):]}})
    out = V.exposure(client, min_severity="High", exploit_available=True)
    assert set(e for m in out.machines.values() for e in m["cves"]) == {"CVE-2024-0001"}
    assert len(out.machines) == 10 and out.requests == 2
    sweep = [p for path, p in client.calls if path == V.MACHINE_VULNERABILITIES][0]
    assert sweep["$filter"] == "(severity eq 'High' or severity eq 'Critical')"


def _export_route(records, size):
    def route(params):
        offset = int(params.get("$skiptoken") or 0)
        body = {"value": records[offset:offset + size]}
        if offset + size < len(records):
            body["@odata.nextLink"] = "%s%s?pageSize=%d&$skiptoken=%d" % (API, V.EXPORT_JSON, size, offset + size)
        return body
    return route


def test_json_export_follows_next_links_page_by_page():
    records = [{"id": str(i), "cveId": "CVE-2024-0001"} for i in range(25)]
    client = FakeClient({V.EXPORT_JSON: _export_route(records, 10)})
    pages = V.JsonExportPages(client, V.EXPORT_JSON, page_size=10)
    blocks = list(pages.blocks())
    assert [len(b) for b in blocks] == [10, 10, 5] and pages.requests == 3
    assert [json.loads(t)["id"] for b in blocks for t in b] == [r["id"] for r in records]
    limited = V.JsonExportPages(client, V.EXPORT_JSON, page_size=10, limit=12)
    assert sum(len(b) for b in limited.blocks()) == 12 and limited.requests == 2


def test_json_export_refuses_a_next_link_to_another_host():
    def route(params):
        link = "https://evil.example/api/machines/SoftwareVulnerabilitiesByMachine?$skiptoken=1"
        return {"value": [{"id": "1"}], "@odata.nextLink": link}
    pages = V.JsonExportPages(FakeClient({V.EXPORT_JSON: route}), V.EXPORT_JSON)
    with pytest.raises(DefenderError) as info:
        list(pages.blocks())
    assert "API host" in info.value.message


class FakeResponse:
    def __init__(self, status, body, chunk=7):
        self.status_code, self.body, self.chunk = status, body, chunk
        self.text = body.decode("latin-1") if status >= 400 else ""

    def iter_content(self, size):
        for i in range(0, len(self.body), self.chunk):
            yield self.body[i:i + self.chunk]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeSession:
    def __init__(self, answers):
        self.answers = answers
        self.auth = None
        self.trust_env = True
        self.seen = []

    def get(self, url, stream=False, timeout=None):
        self.seen.append(url)
        return self.answers[url].pop(0)


def _gz(records):
    return gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())


def test_files_export_streams_parts_without_authorization_and_renews_expired_links():
    parts = [[{"id": "a%d" % i} for i in range(3)], [{"id": "b%d" % i} for i in range(4)]]
    links = [["https://blob.example/p0?sig=SECRET0", "https://blob.example/p1?sig=SECRET1"],
             ["https://blob.example/p0?sig=NEW0", "https://blob.example/p1?sig=NEW1"]]
    client = FakeClient({V.EXPORT_FILES: lambda params: {"exportFiles": links.pop(0), "generatedTime": "t"}})
    expired = FakeResponse(403, b"<Error>Signature not valid in the specified key time frame</Error>")
    session = FakeSession({"https://blob.example/p0?sig=SECRET0": [FakeResponse(200, _gz(parts[0]))],
                           "https://blob.example/p1?sig=SECRET1": [expired],
                           "https://blob.example/p1?sig=NEW1": [FakeResponse(200, _gz(parts[1]))]})
    reader = V.ExportDownloader(client, valid_hours=2, session=session)
    got = [json.loads(t)["id"] for b in reader.blocks() for t in b]
    assert got == ["a0", "a1", "a2", "b0", "b1", "b2", "b3"]
    assert reader.requests == 2 and reader.files == 2
    assert client.calls[0] == (V.EXPORT_FILES, {"sasValidHours": 2})
    assert session.trust_env is False
    # the session's auth hook strips any Authorization header (the API token never reaches the storage host)

    class Req:
        headers = {"Authorization": "Bearer x"}
    assert "Authorization" not in session.auth(Req()).headers


def test_files_export_errors_never_show_the_link():
    client = FakeClient({V.EXPORT_FILES: lambda params: {"exportFiles": ["https://blob.example/p0?sig=SECRET"]}})
    session = FakeSession({"https://blob.example/p0?sig=SECRET": [FakeResponse(500, b"boom")]})
    with pytest.raises(DefenderError) as info:
        list(V.ExportDownloader(client, session=session).blocks())
    assert "SECRET" not in str(info.value) and "blob.example" in str(info.value)
    client = FakeClient({V.EXPORT_FILES: lambda params: {"exportFiles": ["http://blob.example/p0?sig=SECRET"]}})
    with pytest.raises(DefenderError) as info:
        list(V.ExportDownloader(client, session=FakeSession({})).blocks())
    assert "SECRET" not in str(info.value) and "HTTPS" in str(info.value)


def test_export_input_checks():
    with pytest.raises(DefenderConfigError):
        V.check_page_size(200001)
    with pytest.raises(DefenderConfigError):
        V.check_sas_hours(7)
    assert V.check_page_size(200000) == 200000


@pytest.mark.parametrize("path, bucket, limits", [
    ("/api/machines/0123/vulnerabilities", "machine_vulnerabilities", ((50, 60.0), (1500, 3600.0))),
    ("/api/machines/SoftwareVulnerabilitiesByMachine", "vulnerability_export_json", ((30, 60.0), (1000, 3600.0))),
    ("/api/machines/SoftwareVulnerabilityChangesByMachine", "vulnerability_export_json", ((30, 60.0), (1000, 3600.0))),
    ("/api/machines/SoftwareVulnerabilitiesExport", "vulnerability_export_files", ((5, 60.0), (20, 3600.0))),
    ("/api/vulnerabilities/machinesVulnerabilities", "default", ((100, 60.0), (1500, 3600.0))),
    ("/api/machines/0123/software", "default", ((100, 60.0), (1500, 3600.0))),
])
def test_documented_limits_of_the_vulnerability_paths(path, bucket, limits):
    assert rate.bucket_for(path) == bucket and rate.LIMITS[bucket] == limits


def test_files_export_inflates_in_bounded_steps():
    """A part is decompressed at most INFLATE_MAX bytes at a time and handed over in blocks of about RECORD_BLOCK
    records, however much one compressed chunk inflates to (JSON compresses 10 to 30 times): the peak memory of the
    file export does not follow the size of its files (a 1 MB chunk once inflated to a whole 20,000-record block)."""
    records = [{"id": "r%06d" % i, "cveId": "CVE-2024-0001", "deviceName": "host-%05d.contoso.com" % (i % 500)}
               for i in range(50000)]
    body = _gz(records)
    client = FakeClient({V.EXPORT_FILES: lambda params: {"exportFiles": ["https://blob.example/p0?sig=S"]}})
    session = FakeSession({"https://blob.example/p0?sig=S": [FakeResponse(200, body, chunk=len(body))]})
    sizes = [len(b) for b in V.ExportDownloader(client, session=session).blocks()]
    assert sum(sizes) == 50000
    assert max(sizes) <= V.RECORD_BLOCK + V.INFLATE_MAX // 60  # the records are at least 60 bytes long
