"""The response-action endpoints (Microsoft's api/isolate-machine, api/run-av-scan, api/collect-investigation-package
and the other action pages): permission per action, bodies, duplicates, the collection's 400 while one runs,
getPackageUri and the signed, short-lived download."""

import io
import time
import zipfile

import pytest

SHA1 = "87662bc3d60e4200ceaf7aae249d1c343f4b83c9"


@pytest.fixture
def mid(ctl):
    ctl.config(lifecycle={"pending": 0.05, "in_progress": 0.05})
    return ctl.specials()["quote"]


@pytest.mark.parametrize("verb, body, type_, role", [
    ("runAntiVirusScan", {"Comment": "c", "ScanType": "Full"}, "RunAntiVirusScan", "Machine.Scan"),
    ("restrictCodeExecution", {"Comment": "c"}, "RestrictCodeExecution", "Machine.RestrictExecution"),
    ("unrestrictCodeExecution", {"Comment": "c"}, "UnrestrictCodeExecution", "Machine.RestrictExecution"),
    ("collectInvestigationPackage", {"Comment": "c"}, "CollectInvestigationPackage", "Machine.CollectForensics"),
    ("StopAndQuarantineFile", {"Comment": "c", "Sha1": SHA1}, "StopAndQuarantineFile", "Machine.StopAndQuarantine"),
    ("offboard", {"Comment": "c"}, "Offboard", "Machine.Offboard"),
])
def test_each_action_needs_its_permission_and_creates_its_action(client, ctl, mid, verb, body, type_, role):
    r = client.api("POST", f"/api/machines/{mid}/{verb}", app="no_isolate", json=body)
    assert r.status_code == 403 and role in r.json()["error"]["message"]
    r = client.api("POST", f"/api/machines/{mid}/{verb}", json=body)
    assert r.status_code == 201, r.text
    action = r.json()
    assert action["type"] == type_ and action["status"] == "Pending" and action["requestorComment"] == "c"
    assert [a["id"] for a in ctl.machine_actions(mid) if a["type"] == type_] == [action["id"]]


@pytest.mark.parametrize("verb, body, code", [
    ("runAntiVirusScan", {"Comment": "c"}, "MissingRequiredParameter"),
    ("runAntiVirusScan", {"Comment": "c", "ScanType": "Deep"}, "InvalidRequestBody"),
    ("runAntiVirusScan", {"Comment": "c", "scanType": "Full"}, "InvalidRequestBody"),
    ("StopAndQuarantineFile", {"Comment": "c"}, "MissingRequiredParameter"),
    ("StopAndQuarantineFile", {"Comment": "c", "Sha1": "abc"}, "InvalidHashValue"),
    ("offboard", {}, "MissingRequiredParameter"),
    ("collectInvestigationPackage", {"Comment": "c", "Sha1": SHA1}, "InvalidRequestBody"),
])
def test_bodies_the_api_refuses(client, ctl, mid, verb, body, code):
    r = client.api("POST", f"/api/machines/{mid}/{verb}", json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == code
    assert ctl.machine_actions(mid) == []


def test_duplicates_and_the_collection_400(client, ctl, mid):
    ctl.config(lifecycle={"pending": 60, "in_progress": 60})
    scan = {"Comment": "c", "ScanType": "Quick"}
    assert client.api("POST", f"/api/machines/{mid}/runAntiVirusScan", json=scan).status_code == 201
    r = client.api("POST", f"/api/machines/{mid}/runAntiVirusScan", json=scan)
    assert r.status_code == 400 and r.json()["error"]["code"] == "ActiveRequestAlreadyExists"
    # quarantine: only the same file is a duplicate
    q = {"Comment": "c", "Sha1": SHA1}
    assert client.api("POST", f"/api/machines/{mid}/StopAndQuarantineFile", json=q).status_code == 201
    assert client.api("POST", f"/api/machines/{mid}/StopAndQuarantineFile", json=q).status_code == 400
    other = dict(q, Sha1="a" * 40)
    assert client.api("POST", f"/api/machines/{mid}/StopAndQuarantineFile", json=other).status_code == 201
    # the collection answers 400 while one runs, whatever duplicate_mode says
    ctl.config(duplicate_mode="return_pending")
    assert client.api("POST", f"/api/machines/{mid}/collectInvestigationPackage", json={"Comment": "c"}).status_code \
        == 201
    r = client.api("POST", f"/api/machines/{mid}/collectInvestigationPackage", json={"Comment": "c"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"
    assert client.api("POST", f"/api/machines/{mid}/runAntiVirusScan", json=scan).status_code == 201  # returned pending


def _package_link(client, action_id):
    r = client.api("GET", f"/api/machineactions/{action_id}/getPackageUri")
    return r


def test_package_uri_404_until_success_then_a_quoted_signed_link(client, ctl, mid):
    ctl.config(lifecycle={"pending": 0.3, "in_progress": 0.3}, throttle={"package_per_minute": 100})
    action = client.api("POST", f"/api/machines/{mid}/collectInvestigationPackage", json={"Comment": "c"}).json()
    r = _package_link(client, action["id"])
    assert r.status_code == 404
    time.sleep(0.8)
    r = _package_link(client, action["id"])
    assert r.status_code == 200
    value = r.json()["value"]
    assert value.startswith('"https://') and value.endswith('"') and "token=" in value
    url = value.strip('"')
    got = client.raw("GET", url)
    assert got.status_code == 200 and got.headers["Content-Type"] == "application/zip"
    assert "SystemInformation.txt" in zipfile.ZipFile(io.BytesIO(got.content)).namelist()
    # the bearer token is refused at the download host; a forged signature too
    assert client.raw("GET", url, headers={"Authorization": "Bearer " + client.token()}).status_code == 400
    assert client.raw("GET", url[:-4] + "0000").status_code == 403
    [first, with_auth, forged] = ctl.requests(kind="download")
    assert [first["authorization"], with_auth["authorization"]] == [False, True]
    assert set(first["query"]) == {"token"} and first["query"]["token"] is None, "the signature is not logged"
    # a scan has no package
    scan = client.api("POST", f"/api/machines/{mid}/runAntiVirusScan", json={"Comment": "c", "ScanType": "Quick"})
    time.sleep(0.8)
    assert _package_link(client, scan.json()["id"]).status_code == 404
    assert forged["status"] == 403


def test_package_link_expires(client, ctl, mid):
    ctl.config(package_url_lifetime=1)
    action = client.api("POST", f"/api/machines/{mid}/collectInvestigationPackage", json={"Comment": "c"}).json()
    time.sleep(0.3)
    url = _package_link(client, action["id"]).json()["value"].strip('"')
    time.sleep(2.1)
    r = client.raw("GET", url)
    assert r.status_code == 403 and "expiry" in r.json()["error"]["message"]


def test_package_links_have_their_own_two_a_minute_bucket(client, ctl, mid):
    action = client.api("POST", f"/api/machines/{mid}/collectInvestigationPackage", json={"Comment": "c"}).json()
    time.sleep(0.3)
    codes = [_package_link(client, action["id"]).status_code for _attempt in range(3)]
    assert codes == [200, 200, 429]
    assert client.api("GET", "/api/machines?$top=1").status_code == 200, "the other calls are not affected"


def test_a_machine_report_moves_last_seen_and_a_machine_can_come_back_after_an_offboard(client, ctl, mid):
    r = client.api("POST", f"/api/machines/{mid}/offboard", json={"Comment": "c"})
    assert r.status_code == 201
    time.sleep(0.3)
    [off] = [a for a in ctl.machine_actions(mid) if a["type"] == "Offboard"]
    assert off["status"] == "Succeeded"
    before = client.api("GET", f"/api/machines/{mid}").json()["lastSeen"]
    assert before < off["lastUpdateDateTimeUtc"]
    ctl.report(mid)
    after = client.api("GET", f"/api/machines/{mid}").json()
    assert after["lastSeen"] > off["lastUpdateDateTimeUtc"] and after["healthStatus"] == "Active"
    ctl.report(mid, "2026-01-02T03:04:05Z")
    assert client.api("GET", f"/api/machines/{mid}").json()["lastSeen"] == "2026-01-02T03:04:05Z"
