"""The emulator's indicators API and its Microsoft Graph host (runHuntingQuery over a KQL subset)."""

import pytest

GRAPH = "https://graph.microsoft.com"
SHA256 = "a" * 64


def _ind(value=SHA256, itype="FileSha256", action="Block", **extra):
    body = {"indicatorValue": value, "indicatorType": itype, "action": action, "title": "t", "description": "d"}
    body.update(extra)
    return body


def _err(r, status, code):
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text
    return r.json()["error"]["message"]


# --- indicators ---------------------------------------------------------------------------------


def test_post_is_submit_or_update_and_list_filters(client):
    r1 = client.api("POST", "/api/indicators", json=_ind(title="one"))
    assert r1.status_code == 200, r1.text
    r2 = client.api("POST", "/api/indicators", json=_ind(title="two", severity="High"))
    assert r2.status_code == 200 and r2.json()["id"] == r1.json()["id"]  # same (type, value, action): updated
    assert r2.json()["title"] == "two" and r2.json()["severity"] == "High"
    r3 = client.api("POST", "/api/indicators", json=_ind(action="Allowed"))
    assert r3.json()["id"] != r1.json()["id"]  # another action: a second indicator (MicrosoftDocs/microsoft-365-docs#4927)
    listed = client.api("GET", "/api/indicators", params={"$filter": "indicatorValue eq '%s'" % SHA256}).json()
    assert sorted(i["action"] for i in listed["value"]) == ["Allowed", "Block"]
    one = client.api("GET", "/api/indicators", params={"$filter": "action eq 'Allowed'"}).json()["value"]
    assert [i["id"] for i in one] == [r3.json()["id"]]


def test_undocumented_filter_and_body_keys_are_refused(client):
    _err(client.api("GET", "/api/indicators", params={"$filter": "description eq 'x'"}), 400, "ODataError")
    _err(client.api("POST", "/api/indicators", json=_ind(IndicatorValue="x")), 400, "InvalidRequestBody")


@pytest.mark.parametrize("body, code", [
    (_ind(value="abc"), "InvalidHashValue"),
    (_ind(value="10.0.0.0/8", itype="IpAddress"), "InvalidIpAddress"),
    (_ind(value="2001:db8::1", itype="IpAddress"), "InvalidIpAddress"),
    (_ind(value="not a domain", itype="DomainName"), "InvalidDomainName"),
    (_ind(value="1.2.3.4", itype="IpAddress", action="BlockAndRemediate"), "InvalidInput"),
    (_ind(action="Audit"), "InvalidInput"),
    (_ind(action="AlertAndBlock"), "InvalidInput"),
    ({"indicatorValue": SHA256, "indicatorType": "FileSha256", "action": "Block", "title": "t"},
     "MissingRequiredParameter"),
])
def test_invalid_indicators(client, body, code):
    _err(client.api("POST", "/api/indicators", json=body), 400, code)


def test_import_reports_per_item_and_batch_delete_is_all_or_nothing(client, ctl):
    good = [_ind(value="%064x" % i) for i in range(3)]
    r = client.api("POST", "/api/indicators/import", json={"Indicators": good + [_ind(value="zz")]})
    assert r.status_code == 200
    res = r.json()["value"]
    assert [x["isFailed"] for x in res] == [False, False, False, True] and res[3]["failureReason"]
    ids = [x["id"] for x in res[:3]]
    _err(client.api("POST", "/api/indicators/import", json={"indicators": good}), 400, "InvalidRequestBody")
    _err(client.api("POST", "/api/indicators/BatchDelete", json={"IndicatorIds": []}), 400, "InvalidRequestBody")
    _err(client.api("POST", "/api/indicators/BatchDelete", json={"IndicatorIds": ids + ["999999"]}), 404, "NotFound")
    assert len(ctl.call("GET", "/indicators")) == 3  # nothing deleted when one id is missing
    r = client.api("POST", "/api/indicators/BatchDelete", json={"IndicatorIds": ids})
    assert r.status_code == 204
    assert ctl.call("GET", "/indicators") == []
    many = {"Indicators": [_ind(value="%064x" % i) for i in range(501)]}
    _err(client.api("POST", "/api/indicators/import", json=many), 400, "MaximumBatchSizeExceeded")


def test_ti_readwrite_sees_only_its_own(client, ctl):
    ctl.call("POST", "/indicators", {"app": "full", "count": 2})
    client.api("POST", "/api/indicators", app="ti_own", json=_ind())
    own = client.api("GET", "/api/indicators", app="ti_own").json()["value"]
    assert [i["indicatorValue"] for i in own] == [SHA256]
    assert len(client.api("GET", "/api/indicators").json()["value"]) == 3
    other = [i["id"] for i in client.api("GET", "/api/indicators").json()["value"] if i["indicatorValue"] != SHA256]
    _err(client.api("DELETE", "/api/indicators/" + other[0], app="ti_own"), 404, "NotFound")
    _err(client.api("GET", "/api/indicators", app="readonly"), 403, "Forbidden")


def test_cap_of_active_indicators(client, ctl):
    ctl.call("POST", "/indicators", {"count": 3, "cap": 4})
    assert client.api("POST", "/api/indicators", json=_ind()).status_code == 200
    assert "maximum number" in _err(client.api("POST", "/api/indicators", json=_ind(value="b" * 64)),
                                    400, "InvalidRequestBody")
    res = client.api("POST", "/api/indicators/import", json={"Indicators": [_ind(value="c" * 64)]}).json()["value"]
    assert res[0]["isFailed"] and "maximum" in res[0]["failureReason"]


def test_bulk_calls_have_their_own_30_per_minute_window(client, ctl):
    ctl.call("POST", "/config", {"throttle": {"ti_bulk_per_minute": 2}})
    for _attempt in range(2):
        client.api("POST", "/api/indicators/import", json={"Indicators": [_ind()]})
    r = client.api("POST", "/api/indicators/import", json={"Indicators": [_ind()]})
    assert r.status_code == 429 and r.headers["Retry-After"]
    assert client.api("GET", "/api/indicators").status_code == 200  # other calls are not in that window
    r = client.api("POST", "/api/indicators/BatchDelete", json={"IndicatorIds": ["1"]})
    assert r.status_code == 404  # BatchDelete has a window of its own (limits are per API)


# --- Graph ----------------------------------------------------------------------------------------


def _hunt(client, query, app="full", token=None, timespan=None, **kw):
    body = {"Query": query}
    if timespan:
        body["Timespan"] = timespan
    headers = {"Authorization": "Bearer " + (token or client.token(app, resource=GRAPH))}
    return client.raw("POST", client.s["graph_url"] + "/v1.0/security/runHuntingQuery", json=body, headers=headers,
                      **kw)


def test_hunting_query_returns_schema_and_rows(client):
    r = _hunt(client, "DeviceInfo | where OSPlatform == 'Windows10' | project DeviceId, DeviceName | take 5")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["schema"] == [{"name": "DeviceId", "type": "String"}, {"name": "DeviceName", "type": "String"}]
    assert 0 < len(body["results"]) <= 5 and set(body["results"][0]) == {"DeviceId", "DeviceName"}
    counted = _hunt(client, "AlertInfo | summarize n = count() by Severity").json()
    assert [c["name"] for c in counted["schema"]] == ["Severity", "n"]
    total = _hunt(client, "AlertInfo | count").json()["results"][0]["Count"]
    assert sum(row["n"] for row in counted["results"]) == total > 0
    recent = _hunt(client, "AlertInfo | count", timespan="P1D").json()["results"][0]["Count"]
    assert recent < total


def test_hunting_errors_use_graph_envelope(client):
    r = _hunt(client, "NoSuchTable | take 1")
    msg = _err(r, 400, "BadRequest")
    assert "Failed to resolve table" in msg and msg.endswith("Fix semantic errors in your query.")
    assert r.json()["error"]["innerError"]["request-id"] == r.headers["request-id"]
    assert _err(_hunt(client, "DeviceInfo | where"), 400, "BadRequest").endswith("Fix syntax errors in your query.")
    _err(_hunt(client, "DeviceInfo | take 1", app="readonly"), 403, "Forbidden")
    mde_token = client.token("full")  # a WindowsDefenderATP token is not a Graph token
    _err(_hunt(client, "DeviceInfo | take 1", token=mde_token), 401, "InvalidAuthenticationToken")
    # and the Graph host serves no MDE path
    r = client.raw("GET", client.s["graph_url"] + "/api/alerts",
                   headers={"Authorization": "Bearer " + client.token("full", resource=GRAPH)})
    assert r.status_code == 400


def test_hunting_quota_refusal(client, ctl):
    ctl.call("POST", "/hunting_quota", {"calls": 1, "retry_after": 5})
    r = _hunt(client, "DeviceInfo | take 1")
    assert "CPU" in _err(r, 429, "TooManyRequests") and r.headers["Retry-After"] == "5"
    assert _hunt(client, "DeviceInfo | take 1").status_code == 200
