"""The emulator's vulnerability management API: consistency with its machines, documented filters only, paging,
the assessment exports (JSON pages, signed file links that expire and refuse a bearer header, delta), roles and
limits (Microsoft's defender-endpoint/api pages on vulnerability management)."""

import gzip
import json
import time

import pytest


def _err(r, status, code=None):
    assert r.status_code == status, r.text
    if code:
        assert r.json()["error"]["code"] == code, r.text


def _truth(ctl, cve=None):
    return ctl.vulnerabilities(cve)


@pytest.fixture
def truth(ctl):
    return _truth(ctl)


def _a_cve(truth, min_machines=2):
    return next(c for c, v in sorted(truth["cves"].items()) if len(v["machine_ids"]) >= min_machines)


def test_rows_by_cve_match_the_machines_and_the_vulnerability(client, truth):
    cve = _a_cve(truth)
    rows = client.api("GET", "/api/vulnerabilities/machinesVulnerabilities",
                      params={"$filter": "cveId eq '%s'" % cve}).json()["value"]
    assert sorted(r["machineId"] for r in rows) == truth["cves"][cve]["machine_ids"]
    assert {r["cveId"] for r in rows} == {cve}
    assert set(rows[0]) == {"id", "cveId", "machineId", "fixingKbId", "productName", "productVendor",
                            "productVersion", "severity"}
    machines = {m["id"] for m in client.api("GET", "/api/machines").json()["value"]}
    assert {r["machineId"] for r in rows} <= machines
    one = client.api("GET", "/api/vulnerabilities/%s" % cve).json()
    assert one["exposedMachines"] == len(rows) and one["severity"] == truth["cves"][cve]["severity"]
    refs = client.api("GET", "/api/vulnerabilities/%s/machineReferences" % cve).json()["value"]
    assert sorted(r["id"] for r in refs) == sorted(r["machineId"] for r in rows)
    # the same rows through the generic filter path (and, with another documented field)
    both = client.api("GET", "/api/vulnerabilities/machinesVulnerabilities",
                      params={"$filter": "cveId eq '%s' and severity eq '%s'" % (cve, one["severity"])}).json()
    assert len(both["value"]) == len(rows)


def test_machine_views_agree(client, truth):
    mid = truth["cves"][_a_cve(truth)]["machine_ids"][0]
    vulns = client.api("GET", "/api/machines/%s/vulnerabilities" % mid).json()["value"]
    rows = client.api("GET", "/api/vulnerabilities/machinesVulnerabilities",
                      params={"$filter": "machineId eq '%s'" % mid}).json()["value"]
    assert sorted(v["id"] for v in vulns) == sorted(r["cveId"] for r in rows) and vulns
    software = client.api("GET", "/api/machines/%s/software" % mid).json()["value"]
    assert {r["productName"] for r in rows} <= {s["name"] for s in software}
    recs = client.api("GET", "/api/machines/%s/recommendations" % mid).json()["value"]
    assert {r["productName"] for r in recs} == {r["productName"] for r in rows}


def test_documented_filters_only_and_top_caps(client):
    _err(client.api("GET", "/api/vulnerabilities", params={"$filter": "publicExploit eq true"}), 400, "ODataError")
    _err(client.api("GET", "/api/vulnerabilities/machinesVulnerabilities",
                    params={"$filter": "computerDnsName eq 'x'"}), 400, "ODataError")
    _err(client.api("GET", "/api/Software", params={"$filter": "weaknesses gt 1"}), 400, "ODataError")
    _err(client.api("GET", "/api/vulnerabilities", params={"$top": "8001"}), 400, "ODataError")
    assert client.api("GET", "/api/vulnerabilities", params={"$top": "8000"}).status_code == 200
    high = client.api("GET", "/api/vulnerabilities", params={"$filter": "severity eq 'High' and cvssV3 ge 7"}).json()
    assert high["value"] and all(v["severity"] == "High" for v in high["value"])
    sw = client.api("GET", "/api/Software", params={"$filter": "vendor eq 'openssl'"}).json()["value"]
    assert [s["id"] for s in sw] == ["openssl-_-openssl"]
    recs = client.api("GET", "/api/recommendations", params={"$filter": "productName eq 'openssl'"}).json()["value"]
    assert [r["id"] for r in recs] == ["va-_-openssl-_-openssl"]
    _err(client.api("GET", "/api/vulnerabilities/CVE-1999-0001"), 404)


def test_roles(client):
    for path in ("/api/vulnerabilities", "/api/Software", "/api/recommendations"):
        _err(client.api("GET", path, app="readonly"), 403, "Forbidden")


def test_json_export_pages_with_skiptoken_and_top(client, truth):
    first = client.api("GET", "/api/machines/SoftwareVulnerabilitiesByMachine", params={"pageSize": "100"}).json()
    assert len(first["value"]) == 100 and "$skiptoken=" in first["@odata.nextLink"]
    got = list(first["value"])
    link = first["@odata.nextLink"]
    while link:
        page = client.raw("GET", link, headers={"Authorization": "Bearer " + client.token()}).json()
        got += page["value"]
        link = page.get("@odata.nextLink")
    assert len(got) == truth["rows"] == len({r["id"] for r in got})
    rec = got[0]
    assert rec["lastSeenTimestamp"][10] == " " and "exploitabilityLevel" in rec
    top = client.api("GET", "/api/machines/SoftwareVulnerabilitiesByMachine", params={"$top": "5"}).json()
    assert len(top["value"]) == 5 and "@odata.nextLink" not in top
    _err(client.api("GET", "/api/machines/SoftwareVulnerabilitiesByMachine", params={"pageSize": "200001"}), 400)


def test_files_export_links_are_credentials(client, ctl, truth):
    ctl.config(export_file_rows=50)
    out = client.api("GET", "/api/machines/SoftwareVulnerabilitiesExport", params={"sasValidHours": "1"}).json()
    assert len(out["exportFiles"]) == -(-truth["rows"] // 50) and out["generatedTime"]
    url = out["exportFiles"][0]
    _err(client.raw("GET", url, headers={"Authorization": "Bearer " + client.token()}), 400,
         "InvalidAuthenticationInfo")
    lines = []
    for link in out["exportFiles"]:
        r = client.raw("GET", link)
        assert r.status_code == 200
        lines += gzip.decompress(r.content).decode().splitlines()
    assert len(lines) == truth["rows"] and json.loads(lines[0])["cveId"]
    _err(client.raw("GET", url.replace("sig=", "sig=0")), 403)
    _err(client.api("GET", "/api/machines/SoftwareVulnerabilitiesExport", params={"sasValidHours": "7"}), 400)
    ctl.config(export_url_lifetime=0.2)
    short = client.api("GET", "/api/machines/SoftwareVulnerabilitiesExport").json()["exportFiles"][0]
    time.sleep(1.3)
    r = client.raw("GET", short)
    assert r.status_code == 403 and "Signature not valid in the specified key time frame" in r.text
    log = list(ctl.requests(kind="download"))
    assert log and all(set(e["query"].values()) == {None} for e in log)  # the signature is never logged


def test_fix_removes_rows_and_the_delta_reports_them(client, ctl, truth):
    cve = _a_cve(truth)
    mid = truth["cves"][cve]["machine_ids"][0]
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    fixed = ctl.fix_vulnerabilities(mid, [cve])
    assert fixed["fixed"] == [cve]
    assert mid not in _truth(ctl, cve)["cves"][cve]["machine_ids"]
    rows = client.api("GET", "/api/vulnerabilities/machinesVulnerabilities",
                      params={"$filter": "cveId eq '%s'" % cve}).json()["value"]
    assert mid not in {r["machineId"] for r in rows}
    delta = client.api("GET", "/api/machines/SoftwareVulnerabilityChangesByMachine",
                       params={"sinceTime": since}).json()["value"]
    assert [(d["deviceId"], d["cveId"], d["status"]) for d in delta] == [(mid, cve, "Fixed")]
    _err(client.api("GET", "/api/machines/SoftwareVulnerabilityChangesByMachine"), 400)
    _err(client.api("GET", "/api/machines/SoftwareVulnerabilityChangesByMachine",
                    params={"sinceTime": "2020-01-01T00:00:00Z"}), 400)


def test_documented_limits(client, ctl, truth):
    ctl.config(time_scale=0.05)
    codes = [client.api("GET", "/api/machines/SoftwareVulnerabilitiesExport").status_code for _i in range(6)]
    assert codes[:5] == [200] * 5 and codes[5] == 429
    mid = truth["cves"][_a_cve(truth)]["machine_ids"][0]
    codes = [client.api("GET", "/api/machines/%s/vulnerabilities" % mid).status_code for _i in range(51)]
    assert codes[:50] == [200] * 50 and codes[50] == 429
