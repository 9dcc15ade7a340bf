"""Live response in the emulator: the library, sessions (order, one per machine, the session cap, queued machines,
the first failure stopping the rest) and result links that expire and refuse a bearer header."""

import json
import time

import pytest

SCRIPT = b"#!/bin/bash\necho triage $1\n"


@pytest.fixture
def mid(ctl):
    ctl.config(lifecycle={"pending": 0.05, "in_progress": 0.05})
    return ctl.specials()["quote"]


def upload(client, name="triage.sh", content=SCRIPT, app="full", **fields):
    data = dict(fields)
    return client.api("POST", "/api/libraryfiles", app=app, files={"File": (name, content)}, data=data)


def run(client, mid, commands, comment="lr", app="full"):
    return client.api("POST", f"/api/machines/{mid}/runliveresponse", app=app,
                      json={"Comment": comment, "Commands": commands})


def wait_final(client, action_id, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        a = client.api("GET", f"/api/machineactions/{action_id}").json()
        if a["status"] not in ("Pending", "InProgress"):
            return a
        time.sleep(0.05)
    raise AssertionError("action did not finish")


def test_library_upload_list_override_delete(client, ctl):
    r = upload(client, app="readonly")
    assert r.status_code == 403 and "Library.Manage" in r.json()["error"]["message"]
    r = upload(client, Description="triage", HasParameters="true", ParametersDescription="$1: a word")
    assert r.status_code == 200, r.text
    entry = r.json()
    import hashlib
    assert entry["sha256"] == hashlib.sha256(SCRIPT).hexdigest() and entry["hasParameters"] is True
    listed = client.api("GET", "/api/libraryfiles").json()["value"]
    assert [e["fileName"] for e in listed] == ["triage.sh"] and "_content" not in listed[0]
    # the same name again: refused unless OverrideIfExists
    assert upload(client, content=b"other").status_code == 400
    r = upload(client, content=b"other", OverrideIfExists="true")
    assert r.status_code == 200 and r.json()["sha256"] == hashlib.sha256(b"other").hexdigest()
    assert client.api("DELETE", "/api/libraryfiles/triage.sh").status_code == 204
    assert client.api("DELETE", "/api/libraryfiles/triage.sh").status_code == 404


@pytest.mark.parametrize("name, fields, code", [
    ("bad name.sh", {}, 400),
    ("ok.sh", {"Unknown": "x"}, 400),
    ("ok.sh", {"HasParameters": "maybe"}, 400),
])
def test_library_refuses(client, ctl, name, fields, code):
    assert upload(client, name=name, **fields).status_code == code
    assert client.api("GET", "/api/libraryfiles").json()["value"] == []


def test_library_size_limit(client, ctl):
    ctl.config(live_response={"max_upload_bytes": 1000})
    assert upload(client, content=b"x" * 1001).status_code == 400
    assert upload(client, content=b"x" * 1000).status_code == 200


def test_session_runs_commands_and_serves_results(client, ctl, mid):
    upload(client)
    upload(client, name="tool.exe", content=b"MZ")
    r = run(client, mid, [
        {"type": "PutFile", "params": [{"key": "FileName", "value": "tool.exe"}]},
        {"type": "RunScript", "params": [{"key": "ScriptName", "value": "triage.sh"}, {"key": "Args", "value": "x y"}]},
        {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\temp\\out.zip"}]},
    ])
    assert r.status_code == 201, r.text
    action = r.json()
    assert action["type"] == "LiveResponse" and [c["commandStatus"] for c in action["commands"]] == ["Created"] * 3
    done = wait_final(client, action["id"])
    assert done["status"] == "Succeeded" and {c["commandStatus"] for c in done["commands"]} == {"Completed"}
    assert client.api("GET", f"/api/machineactions/{action['id']}/GetLiveResponseResultDownloadLink(index=0)"
                      ).status_code == 400  # PutFile has no result
    link = client.api("GET", f"/api/machineactions/{action['id']}/GetLiveResponseResultDownloadLink(index=1)").json()
    url = link["value"]
    assert client.raw("GET", url, headers={"Authorization": "Bearer x"}).status_code == 400
    out = client.raw("GET", url)
    assert out.status_code == 200
    result = json.loads(out.content)
    assert set(result) == {"script_name", "exit_code", "script_output", "script_errors"}
    assert result["exit_code"] == 0 and "triage.sh x y" in result["script_output"]
    link = client.api("GET", f"/api/machineactions/{action['id']}/GetLiveResponseResultDownloadLink(index=2)").json()
    assert b"C:\\temp\\out.zip" in client.raw("GET", link["value"]).content
    assert client.raw("GET", link["value"].replace("sig=", "sig=0")).status_code == 403


def test_result_link_expires(client, ctl, mid):
    ctl.config(live_response={"link_lifetime": 0})
    upload(client)
    a = run(client, mid, [{"type": "RunScript", "params": [{"key": "ScriptName", "value": "triage.sh"}]}]).json()
    wait_final(client, a["id"])
    url = client.api("GET", f"/api/machineactions/{a['id']}/GetLiveResponseResultDownloadLink(index=0)").json()["value"]
    time.sleep(1.1)
    r = client.raw("GET", url)
    assert r.status_code == 403 and "expiry" in r.text


@pytest.mark.parametrize("commands", [
    [{"type": "GetFile", "params": [{"key": "Path", "value": "a"}]},
     {"type": "RunScript", "params": [{"key": "ScriptName", "value": "triage.sh"}]}],
    [{"type": "RunScript", "params": [{"key": "Script", "value": "triage.sh"}]}],
    [{"type": "RunScript", "params": [{"key": "ScriptName", "value": "absent.sh"}]}],
    [{"type": "Shell", "params": []}],
    [],
])
def test_bodies_refused(client, ctl, mid, commands):
    upload(client)
    r = run(client, mid, commands)
    assert r.status_code == 400, r.text
    assert [a for a in ctl.machine_actions(mid) if a["type"] == "LiveResponse"] == []


def test_one_session_per_machine_and_the_cap(client, ctl, mid):
    ctl.config(lifecycle={"pending": 60, "in_progress": 60}, live_response={"max_sessions": 2})
    upload(client)
    cmd = [{"type": "RunScript", "params": [{"key": "ScriptName", "value": "triage.sh"}]}]
    assert run(client, mid, cmd).status_code == 201
    r = run(client, mid, cmd)
    assert r.status_code == 400 and r.json()["error"]["code"] == "ActiveRequestAlreadyExists"
    others = [m["id"] for m in client.api("GET", "/api/machines?$top=5").json()["value"] if m["id"] != mid]
    assert run(client, others[0], cmd).status_code == 201
    r = run(client, others[1], cmd)
    assert r.status_code == 429 and "concurrent" in r.json()["error"]["message"]


def test_queued_machine_stays_pending(client, ctl, mid):
    ctl.config(live_response={"queued": [mid]})
    upload(client)
    a = run(client, mid, [{"type": "RunScript", "params": [{"key": "ScriptName", "value": "triage.sh"}]}]).json()
    time.sleep(0.3)
    assert client.api("GET", f"/api/machineactions/{a['id']}").json()["status"] == "Pending"


def test_failed_command_stops_the_rest(client, ctl, mid):
    ctl.config(live_response={"missing_paths": ["C:\\nope"]})
    upload(client)
    a = run(client, mid, [
        {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\nope"}]},
        {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\yes"}]},
    ]).json()
    done = wait_final(client, a["id"])
    assert done["status"] == "Failed"
    assert [c["commandStatus"] for c in done["commands"]] == ["Failed", "Created"]
    assert "not found" in done["commands"][0]["errors"][0]


def test_unsigned_script_and_tenant_settings(client, ctl, mid):
    ctl.config(live_response={"scripts": {"fix.ps1": {"signed": False}}})
    upload(client, name="fix.ps1", content=b"Write-Output 1")
    a = run(client, mid, [{"type": "RunScript", "params": [{"key": "ScriptName", "value": "fix.ps1"}]}]).json()
    done = wait_final(client, a["id"])
    assert done["status"] == "Failed" and "unsigned" in done["commands"][0]["errors"][0]
    ctl.config(live_response={"enabled": False})
    r = run(client, mid, [{"type": "RunScript", "params": [{"key": "ScriptName", "value": "fix.ps1"}]}])
    assert r.status_code == 400 and r.json()["error"]["code"] == "LiveResponseNotEnabled"


def test_needs_live_response_role(client, ctl, mid):
    upload(client)
    r = run(client, mid, [{"type": "RunScript", "params": [{"key": "ScriptName", "value": "triage.sh"}]}],
            app="no_isolate")
    assert r.status_code == 403 and "Machine.LiveResponse" in r.json()["error"]["message"]
