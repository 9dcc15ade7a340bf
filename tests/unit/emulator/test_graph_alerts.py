"""Graph alerts_v2 on the Graph host, and the retired mode of the Defender alert and hunting endpoints."""

import urllib.parse

GRAPH = "https://graph.microsoft.com"
PREFER = {"Prefer": "include-unknown-enum-members"}


def graph(client, method, path, app="full", headers=None, **kw):
    h = {"Authorization": "Bearer " + client.token(app, resource=GRAPH)}
    h.update(headers or {})
    return client.raw(method, client.s["graph_url"] + "/v1.0/security/" + path, headers=h, **kw)


def test_list_shape_is_the_mde_alert_seen_through_graph(client, ctl):
    r = graph(client, "GET", "alerts_v2?$top=5")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#security/alerts_v2")
    first = body["value"][0]
    mde = client.api("GET", "/api/alerts/" + first["id"]).json()
    assert first["providerAlertId"] == first["id"] == mde["id"]
    assert first["incidentId"] == str(mde["incidentId"])
    assert first["status"] == {"New": "new", "InProgress": "inProgress", "Resolved": "resolved",
                               "Unknown": "unknown"}[mde["status"]]
    assert first["createdDateTime"] == mde["alertCreationTime"]
    assert first["serviceSource"] == "microsoftDefenderForEndpoint"
    assert first["classification"] in ("unknown", "truePositive", "falsePositive", "informationalExpectedActivity")
    device = [e for e in first["evidence"] if e["@odata.type"] == "#microsoft.graph.security.deviceEvidence"]
    assert device and device[0]["mdeDeviceId"] == mde["machineId"]
    # most recent first by default
    created = [a["createdDateTime"] for a in body["value"]]
    assert created == sorted(created, reverse=True)


def test_next_link_pages_return_every_alert_once(client, ctl):
    seen, url, pages = [], client.s["graph_url"] + "/v1.0/security/alerts_v2?$top=70", 0
    token = client.token(resource=GRAPH)
    while url:
        r = client.raw("GET", url, headers={"Authorization": "Bearer " + token})
        assert r.status_code == 200, r.text
        seen += [a["id"] for a in r.json()["value"]]
        url = r.json().get("@odata.nextLink")
        pages += 1
    assert pages == 5 and len(seen) == 300 == len(set(seen))


def test_skiptoken_next_link_and_deep_skip_stall(client, ctl):
    ctl.config(graph_next_link="skiptoken", graph_skip_stall=100)
    r = graph(client, "GET", "alerts_v2?$top=100")
    nxt = r.json()["@odata.nextLink"]
    assert "$skiptoken=" in nxt and "$skip=" not in nxt
    token = client.token(resource=GRAPH)
    r2 = client.raw("GET", nxt, headers={"Authorization": "Bearer " + token})
    assert len(r2.json()["value"]) == 100
    r3 = client.raw("GET", r2.json()["@odata.nextLink"], headers={"Authorization": "Bearer " + token})
    assert r3.json()["value"] == [] and "@odata.nextLink" not in r3.json()  # stalled beyond $skip 100


def test_filters_only_documented_fields_and_enum_members(client, ctl):
    r = graph(client, "GET", "alerts_v2?$filter=" + urllib.parse.quote("severity eq 'high' and status eq 'new'"))
    assert r.status_code == 200
    assert r.json()["value"] and all(a["severity"] == "high" and a["status"] == "new" for a in r.json()["value"])
    since = r.json()["value"][-1]["lastUpdateDateTime"]
    r = graph(client, "GET", "alerts_v2?$orderby=lastUpdateDateTime asc&$filter="
              + urllib.parse.quote(f"lastUpdateDateTime ge {since}"))
    times = [a["lastUpdateDateTime"] for a in r.json()["value"]]
    assert times and times == sorted(times) and times[0] >= since
    for bad in ("investigationState eq 'Running'", "title eq 'x'", "severity eq 'High'",
                "startswith(assignedTo,'a')", "status in ('new')"):
        r = graph(client, "GET", "alerts_v2?$filter=" + urllib.parse.quote(bad))
        assert r.status_code == 400, bad
        assert r.json()["error"]["code"] == "BadRequest"
    assert graph(client, "GET", "alerts_v2?$top=1001").status_code == 400
    assert graph(client, "GET", "alerts_v2?$expand=evidence").status_code == 400


def test_count(client, ctl):
    r = graph(client, "GET", "alerts_v2?$count=true&$top=1&$filter=" + urllib.parse.quote("severity eq 'low'"))
    mde = client.api("GET", "/api/alerts?$filter=" + urllib.parse.quote("severity eq 'Low'")).json()["value"]
    assert r.json()["@odata.count"] == len(mde)


def test_patch_returns_whole_alert_and_changes_the_mde_alert(client, ctl):
    alert_id = graph(client, "GET", "alerts_v2?$top=1").json()["value"][0]["id"]
    r = graph(client, "PATCH", "alerts_v2/" + alert_id,
              json={"status": "resolved", "classification": "truePositive", "determination": "malware",
                    "assignedTo": "secop2@contoso.com"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["id"] == alert_id and out["status"] == "resolved" and out["resolvedDateTime"]
    assert out["evidence"] and out["title"]
    mde = client.api("GET", "/api/alerts/" + alert_id).json()
    assert (mde["status"], mde["classification"], mde["determination"], mde["assignedTo"]) == \
        ("Resolved", "TruePositive", "Malware", "secop2@contoso.com")
    assert graph(client, "GET", "alerts_v2/" + alert_id).json()["lastUpdateDateTime"] == mde["lastUpdateTime"]
    for bad in ({"comment": "x"}, {"severity": "high"}, {"status": "Resolved"}, {"status": "unknown"},
                {"classification": "bogus"}):
        assert graph(client, "PATCH", "alerts_v2/" + alert_id, json=bad).status_code == 400, bad
    assert graph(client, "PATCH", "alerts_v2/" + alert_id, data="{}").status_code == 415
    assert graph(client, "PATCH", "alerts_v2/nope", json={"status": "new"}).status_code == 404


def test_comments_answer_the_whole_list_and_cannot_be_edited(client, ctl):
    alert_id = graph(client, "GET", "alerts_v2?$top=1").json()["value"][0]["id"]
    body = {"@odata.type": "microsoft.graph.security.alertComment", "comment": "first"}
    r1 = graph(client, "POST", f"alerts_v2/{alert_id}/comments", json=body)
    r2 = graph(client, "POST", f"alerts_v2/{alert_id}/comments", json=dict(body, comment="second"))
    assert r1.status_code == r2.status_code == 200
    assert [c["comment"] for c in r2.json()["value"]] == ["first", "second"]
    assert r2.json()["value"][0]["createdByDisplayName"] and r2.json()["value"][0]["createdDateTime"]
    assert [c["comment"] for c in graph(client, "GET", "alerts_v2/" + alert_id).json()["comments"]] == \
        ["first", "second"]
    assert graph(client, "PATCH", f"alerts_v2/{alert_id}/comments", json=body).status_code == 405
    assert graph(client, "DELETE", f"alerts_v2/{alert_id}/comments", json=body).status_code == 405
    assert graph(client, "POST", f"alerts_v2/{alert_id}/comments", json={"text": "x"}).status_code == 400


def test_unknown_enum_members_hidden_without_prefer(client, ctl):
    made = ctl.create_alerts([{"severity": "High",
                               "graph": {"serviceSource": "microsoftSentinel", "detectionSource": "nrtAlerts"}}])
    alert_id = made[0]["id"]
    plain = graph(client, "GET", "alerts_v2/" + alert_id).json()
    assert (plain["serviceSource"], plain["detectionSource"]) == ("unknownFutureValue", "unknownFutureValue")
    full = graph(client, "GET", "alerts_v2/" + alert_id, headers=PREFER).json()
    assert (full["serviceSource"], full["detectionSource"]) == ("microsoftSentinel", "nrtAlerts")
    assert "graph" not in client.api("GET", "/api/alerts/" + alert_id).json()


def test_permissions_and_tokens(client, ctl):
    alert_id = graph(client, "GET", "alerts_v2?$top=1").json()["value"][0]["id"]
    assert graph(client, "GET", "alerts_v2?$top=1", app="readonly").status_code == 200
    r = graph(client, "PATCH", "alerts_v2/" + alert_id, app="readonly", json={"status": "new"})
    assert r.status_code == 403 and "SecurityAlert.ReadWrite.All" in r.json()["error"]["message"]
    assert graph(client, "GET", "alerts_v2", app="ti_own").status_code == 403
    # a Defender API token is not a Graph token
    r = client.raw("GET", client.s["graph_url"] + "/v1.0/security/alerts_v2",
                   headers={"Authorization": "Bearer " + client.token()})
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_graph_requests_are_logged_with_bodies(client, ctl):
    alert_id = graph(client, "GET", "alerts_v2?$top=1").json()["value"][0]["id"]
    ctl.clear_requests()
    graph(client, "PATCH", "alerts_v2/" + alert_id, json={"status": "inProgress"})
    entries = [e for e in ctl.requests() if e["kind"] == "graph" and e["method"] == "PATCH"]
    assert entries and entries[-1]["body"] == {"status": "inProgress"}


def test_retired_mode_answers_gone_for_alerts_and_hunting_only(client, ctl):
    ctl.config(retired=["alerts", "hunting"])
    for path in ("/api/alerts", "/api/alerts/x", "/api/v1.0/alerts", "/api/machines/abc/alerts",
                 "/api/advancedqueries/run"):
        r = client.api("GET", path)
        assert r.status_code == 410, path
        assert r.json()["error"]["code"] == "Gone" and "Microsoft Graph" in r.json()["error"]["message"]
    assert client.api("PATCH", "/api/alerts/x", json={"status": "New"}).status_code == 410
    assert client.api("GET", "/api/machines?$top=1").status_code == 200
    assert graph(client, "GET", "alerts_v2?$top=1").status_code == 200
    ctl.config(retired_status=404)
    assert client.api("GET", "/api/alerts").status_code == 404
    ctl.config(retired=[])
    assert client.api("GET", "/api/alerts?$top=1").status_code == 200
