"""The emulator's Microsoft Graph incidents (/v1.0/security/incidents) and the Graph alert shape."""

import urllib.parse

import pytest

GRAPH = "https://graph.microsoft.com"
INCIDENTS = "/v1.0/security/incidents"


def _graph(client, method, path, app="full", prefer=True, **kw):
    headers = kw.pop("headers", {})
    headers["Authorization"] = "Bearer " + client.token(app, resource=GRAPH)
    if prefer:
        headers["Prefer"] = "include-unknown-enum-members"
    url = path if path.startswith("https://") else client.s["graph_url"] + path
    return client.raw(method, url, headers=headers, **kw)


def _err(r, status, code=None):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    if code is not None:
        assert err["code"] == code, r.text
    assert err["innerError"]["request-id"]
    return err["message"]


def test_list_pages_by_next_link_each_incident_once(client):
    seen, url, pages = [], INCIDENTS + "?$top=50", 0
    while url:
        r = _graph(client, "GET", url)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["value"]) <= 50
        seen += [i["id"] for i in body["value"]]
        url = body.get("@odata.nextLink")
        pages += 1
    alert_incidents = {str(a["incidentId"]) for a in client.api("GET", "/api/alerts").json()["value"]}
    assert sorted(seen) == sorted(alert_incidents) and len(seen) == len(set(seen))
    assert pages > 1
    first = _graph(client, "GET", INCIDENTS).json()["value"]
    assert len(first) == 50  # default page size
    created = [i["createdDateTime"] for i in first]
    assert created == sorted(created, reverse=True)  # newest first


def test_top_above_50_is_refused_with_the_observed_message(client):
    msg = _err(_graph(client, "GET", INCIDENTS, params={"$top": "51"}), 400, "")
    assert "The limit of '50' for Top query has been exceeded. The value from the incoming request is '51'." in msg


def test_graph_tokens_and_roles(client):
    r = client.raw("GET", client.s["graph_url"] + INCIDENTS,
                   headers={"Authorization": "Bearer " + client.token("full")})  # a Defender API token
    _err(r, 401, "InvalidAuthenticationToken")
    assert _graph(client, "GET", INCIDENTS, app="readonly").status_code == 200
    iid = _graph(client, "GET", INCIDENTS).json()["value"][0]["id"]
    msg = _err(_graph(client, "PATCH", INCIDENTS + "/" + iid, app="readonly", json={"status": "resolved"}), 403,
               "Forbidden")
    assert "SecurityIncident.ReadWrite.All" in msg
    _err(_graph(client, "POST", INCIDENTS + "/" + iid + "/comments", app="readonly", json={"comment": "x"}), 403)
    _err(_graph(client, "GET", INCIDENTS, app="ti_own"), 403, "Forbidden")


def test_filters_documented_fields_only(client, ctl):
    made = ctl.incident(alerts=2, machines=2, severity="High")
    flt = "status eq 'active' and severity eq 'high' and createdDateTime ge %s" % (
        _graph(client, "GET", INCIDENTS + "/" + made["incident_id"]).json()["createdDateTime"])
    found = _graph(client, "GET", INCIDENTS, params={"$filter": flt}).json()["value"]
    assert made["incident_id"] in [i["id"] for i in found]
    assert all(i["status"] == "active" and i["severity"] == "high" for i in found)
    none = _graph(client, "GET", INCIDENTS, params={"$filter": "assignedTo eq null and status eq 'active'"})
    assert none.status_code == 200 and all(i["assignedTo"] is None for i in none.json()["value"])
    _err(_graph(client, "GET", INCIDENTS, params={"$filter": "displayName eq 'x'"}), 400, "BadRequest")
    _err(_graph(client, "GET", INCIDENTS, params={"$filter": "startswith(assignedTo,'a')"}), 400)
    _err(_graph(client, "GET", INCIDENTS, params={"$select": "id", "$foo": "1"}), 400)


def test_expand_alerts_and_the_large_tenant_failure(client, ctl):
    evidence = [{"entityType": "File", "sha1": "a" * 40, "sha256": "b" * 64, "fileName": "evil.exe",
                 "filePath": "C:\\Temp"}]
    made = ctl.incident(alerts=3, machines=2, evidence=evidence)
    one = _graph(client, "GET", INCIDENTS + "/" + made["incident_id"], params={"$expand": "alerts"}).json()
    assert sorted(a["id"] for a in one["alerts"]) == sorted(made["alert_ids"])
    alert = one["alerts"][0]
    assert alert["incidentId"] == made["incident_id"] and alert["status"] == "new" and alert["severity"] == "high"
    kinds = [e["@odata.type"] for e in alert["evidence"]]
    assert kinds == ["#microsoft.graph.security.deviceEvidence", "#microsoft.graph.security.fileEvidence"]
    assert alert["evidence"][1]["fileDetails"]["sha1"] == "a" * 40
    assert alert["evidence"][0]["mdeDeviceId"] in made["machine_ids"]
    listed = _graph(client, "GET", INCIDENTS, params={"$expand": "alerts", "$top": "5"}).json()["value"]
    assert all("alerts" in i for i in listed)
    ctl.config(incidents_expand_fails=True)
    _err(_graph(client, "GET", INCIDENTS, params={"$expand": "alerts", "$filter": "status eq 'active'"}), 500)
    _err(_graph(client, "GET", INCIDENTS + "/" + made["incident_id"], params={"$expand": "alerts"}), 500)
    r = _graph(client, "GET", INCIDENTS + "/" + made["incident_id"] + "/alerts")
    assert r.status_code == 200 and sorted(a["id"] for a in r.json()["value"]) == sorted(made["alert_ids"])
    _err(_graph(client, "GET", INCIDENTS, params={"$expand": "comments"}), 400)


def test_patch_returns_the_whole_incident_and_refuses_undocumented_keys(client, ctl):
    made = ctl.incident(alerts=2)
    path = INCIDENTS + "/" + made["incident_id"]
    before = _graph(client, "GET", path).json()
    r = _graph(client, "PATCH", path, json={"status": "Resolved", "classification": "truePositive",
                                            "determination": "malware", "customTags": ["ir"],
                                            "assignedTo": "secop1@contoso.com", "summary": "s"})
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["status"] == "resolved" and after["classification"] == "truePositive"
    assert after["customTags"] == ["ir"] and after["summary"] == "s" and after["displayName"] == before["displayName"]
    assert after["lastUpdateDateTime"] > before["lastUpdateDateTime"]
    assert after["lastModifiedBy"] == "API-App:" + client.s["apps"]["full"]["client_id"]
    for alert_id in made["alert_ids"]:  # resolving an incident resolves its alerts
        assert ctl.call("GET", "/state/alerts/" + alert_id)["status"] == "Resolved"
    _err(_graph(client, "PATCH", path, json={"resolvingComment": "x"}), 400, "BadRequest")
    _err(_graph(client, "PATCH", path, json={"Status": "active"}), 400, "BadRequest")
    _err(_graph(client, "PATCH", path, json={"status": "inProgress"}), 400, "BadRequest")
    _err(_graph(client, "PATCH", path, json={"comments": [{"comment": "x"}]}), 400, "BadRequest")
    _err(_graph(client, "PATCH", path, data="status=active",
                headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    _err(_graph(client, "PATCH", INCIDENTS + "/999999999", json={"status": "active"}), 404, "NotFound")


def test_comments_answer_the_whole_list_and_cannot_be_edited(client, ctl):
    path = INCIDENTS + "/" + ctl.incident()["incident_id"] + "/comments"
    body = {"@odata.type": "microsoft.graph.security.alertComment", "comment": "first"}
    assert [c["comment"] for c in _graph(client, "POST", path, json=body).json()["value"]] == ["first"]
    r = _graph(client, "POST", path, json=dict(body, comment="second"))
    assert r.status_code == 200 and [c["comment"] for c in r.json()["value"]] == ["first", "second"]
    assert set(r.json()["value"][0]) >= {"comment", "createdByDisplayName", "createdDateTime"}
    _err(_graph(client, "POST", path, json={"comment": "x", "author": "me"}), 400, "BadRequest")
    _err(_graph(client, "PATCH", path, json={"comment": "x"}), 405)
    _err(_graph(client, "DELETE", path), 405)


def test_unknown_enum_members_need_the_prefer_header(client, ctl):
    made = ctl.incident(graph={"status": "awaitingAction", "systemTags": ["Defender Experts"]})
    path = INCIDENTS + "/" + made["incident_id"]
    assert _graph(client, "GET", path, prefer=False).json()["status"] == "unknownFutureValue"
    assert _graph(client, "GET", path).json()["status"] == "awaitingAction"
    flt = {"$filter": "status eq 'awaitingAction'"}
    assert [i["id"] for i in _graph(client, "GET", INCIDENTS, params=flt).json()["value"]] == [made["incident_id"]]
    assert _graph(client, "GET", INCIDENTS, params=flt, prefer=False).json()["value"] == []


def test_next_link_keeps_the_query_and_count(client):
    r = _graph(client, "GET", INCIDENTS, params={"$top": "10", "$count": "true", "$orderby": "lastUpdateDateTime asc",
                                                 "$filter": "status ne 'resolved'"}).json()
    assert r["@odata.count"] > 10
    link = urllib.parse.urlsplit(r["@odata.nextLink"])
    q = dict(urllib.parse.parse_qsl(link.query))
    assert q["$skip"] == "10" and q["$filter"] == "status ne 'resolved'" and q["$top"] == "10"
    updated = [i["lastUpdateDateTime"] for i in r["value"]]
    assert updated == sorted(updated)
    nxt = _graph(client, "GET", r["@odata.nextLink"]).json()
    assert not {i["id"] for i in nxt["value"]} & {i["id"] for i in r["value"]}


@pytest.mark.parametrize("method, path", [("GET", INCIDENTS + "/1/nothing"), ("DELETE", INCIDENTS + "/1")])
def test_unknown_routes(client, method, path):
    assert _graph(client, method, path).status_code in (400, 405)
