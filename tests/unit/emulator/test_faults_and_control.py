"""Fault injection, the request log, stats, incident seeding, and the CLI entry point."""

import json
import os

import pytest
import requests

from control import EmulatorControl, start_emulator, stop_emulator


def _mid(ctl):
    return ctl.specials()["quote"]


def test_reset_fault_before_processing(client, ctl):
    mid = _mid(ctl)
    ctl.set_faults({"match": {"method": "POST", "path_regex": r"/isolate$"}, "action": "reset", "count": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        client.api("POST", f"/api/machines/{mid}/isolate", json={"Comment": "x"})
    assert ctl.machine_actions(mid) == []          # not processed
    r = client.api("POST", f"/api/machines/{mid}/isolate", json={"Comment": "x"})
    assert r.status_code == 201                    # count: 1 -> only the first


def test_drop_after_creates_action_but_loses_response(client, ctl):
    mid = _mid(ctl)
    ctl.set_faults({"match": {"path_regex": r"/isolate$"}, "action": "drop_after", "count": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        client.api("POST", f"/api/machines/{mid}/isolate", json={"Comment": "lost"})
    acts = ctl.machine_actions(mid)
    assert len(acts) == 1 and acts[0]["requestorComment"] == "lost"
    # the retry sees the duplicate
    r = client.api("POST", f"/api/machines/{mid}/isolate", json={"Comment": "lost"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "ActiveRequestAlreadyExists"
    log = ctl.requests(kind="api", method="POST")
    assert [e["fault"] for e in log] == ["drop_after", None] and log[0]["status"] == 201


def test_status_truncate_expire_after_and_probability(client, ctl):
    ctl.set_faults({"match": {"kind": "api", "method": "GET"}, "action": "status", "status": 503,
                    "retry_after": 2, "count": 2, "after": 1})
    codes = [client.api("GET", "/api/machines?$top=1") for _attempt in range(4)]
    assert [r.status_code for r in codes] == [200, 503, 503, 200]
    assert codes[1].headers["Retry-After"] == "2" and codes[1].json()["error"]["code"] == "ServiceUnavailable"
    ctl.set_faults({"match": {"kind": "api"}, "action": "truncate", "count": 1})
    r = client.api("GET", "/api/machines?$top=3")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    ctl.set_faults({"match": {"kind": "api"}, "action": "expire_token", "count": 1})
    r = client.api("GET", "/api/machines?$top=1")
    assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthorized"
    assert client.api("GET", "/api/machines?$top=1").status_code == 200
    ctl.set_faults({"match": {"kind": "token"}, "action": "status", "status": 500, "probability": 0.5}, seed=7)
    codes = [client.token_response().status_code for _attempt in range(40)]
    assert 5 < codes.count(500) < 35 and set(codes) == {200, 500}
    ctl.clear_faults()
    ctl.set_faults({"match": {"kind": "api"}, "action": "delay", "seconds": 0.3, "count": 1})
    r = client.api("GET", "/api/machines?$top=1")
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.25
    with pytest.raises(Exception):
        ctl.set_faults({"action": "explode"})


def test_request_log_hides_secrets(client, ctl, settings):
    ctl.clear_requests()
    client.token_response("full")
    client.api("GET", "/api/machines", params={"$top": "2", "$filter": "riskScore eq 'High'"})
    mid = _mid(ctl)
    client.api("POST", f"/api/machines/{mid}/isolate", json={"Comment": "why", "IsolationType": "Full"})
    ctl.stats()  # control calls are not logged
    log = ctl.requests()
    assert [e["kind"] for e in log] == ["token", "token", "api", "api"]  # client.token() fetches its own
    tok = log[0]
    assert tok["app"] == settings["client_id"] and "client_secret" in tok["body_keys"]
    assert settings["client_secret"] not in json.dumps(log)
    api_get = log[2]
    assert api_get["query"] == {"$top": "2", "$filter": "riskScore eq 'High'"} and api_get["status"] == 200
    assert api_get["tenant"] == settings["tenant_id"]
    post = log[3]
    assert post["body"] == {"Comment": "why", "IsolationType": "Full"} and post["status"] == 201
    assert [e["seq"] for e in log] == sorted(e["seq"] for e in log)
    ctl.clear_requests()
    assert ctl.requests() == []
    stats = ctl.stats()
    assert stats["token_requests"][settings["client_id"]] >= 2 and stats["api_requests"] >= 2


def test_incident_and_created_objects(client, ctl):
    inc = ctl.incident()
    alert = client.api("GET", f"/api/alerts/{inc['alert_id']}").json()
    assert alert["severity"] == "High" and alert["status"] == "New" and alert["machineId"] == inc["machine_id"]
    r = client.api("GET", "/api/machines", params={"$filter": f"computerDnsName eq '{inc['machine_name']}'"})
    assert [m["id"] for m in r.json()["value"]] == [inc["machine_id"]]
    assert ctl.incident()["machine_name"] != inc["machine_name"]
    created = ctl.create_alerts([{"severity": "Low", "title": "custom"}])
    assert client.api("GET", f"/api/alerts/{created[0]['id']}").json()["title"] == "custom"


def test_cli_subprocess(tmp_path):
    proc, settings = start_emulator(str(tmp_path), alerts=50, machines=20, seed=3, time_scale=0.5,
                                    no_throttle=True)
    try:
        assert settings["api_url"].startswith("https://127.0.0.1:")
        assert set(settings) >= {"api_url", "login_url", "ca_path", "tenant_id", "client_id", "client_secret",
                                 "control_url", "apps", "tenants", "resource"}
        assert set(settings["apps"]) == {"full", "readonly", "no_isolate", "cert", "cert_encrypted", "federated",
                                         "partner", "no_machine_write", "ti_own"}
        assert json.load(open(tmp_path / "settings.json")) == settings
        env = open(tmp_path / "env.sh").read()
        for var in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST",
                    "DEFENDER_API_URL", "DEFENDER_CA_PATH", "DEFENDER_EMULATOR_CONTROL_URL"):
            assert f"export {var}=" in env
        assert os.path.exists(settings["apps"]["federated"]["assertion_path"])
        ctl = EmulatorControl(settings["control_url"], settings["ca_path"])
        assert ctl.config()["time_scale"] == 0.5 and ctl.config()["throttle"]["enabled"] is False
        assert ctl.reset(alerts=10, machines=12)["alerts"] == 10
        cfg = ctl.config()  # reset keeps the start-up options
        assert cfg["time_scale"] == 0.5 and cfg["throttle"]["enabled"] is False
        assert ctl.reset()["alerts"] == 50
    finally:
        assert stop_emulator(proc) == 0


def test_accepted_connections_do_not_wait_for_nagle():
    """A response written in pieces must not wait for the client's delayed ACK (40 ms per new connection)."""
    import socket

    import server as emulator_server

    class Plain:  # wrap_socket stand-in: the option is set on the accepted TCP socket before TLS
        @staticmethod
        def wrap_socket(sock, **kw):
            return sock

    srv = emulator_server._Server(("127.0.0.1", 0), emulator_server._Handler, None, Plain())
    try:
        client = socket.create_connection(srv.server_address)
        accepted, _addr = srv.get_request()
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        accepted.close()
        client.close()
    finally:
        srv.server_close()
