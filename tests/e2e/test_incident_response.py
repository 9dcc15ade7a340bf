# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident_response role through the `respond` playbook (run by its FQCN), against the emulator.

First run: isolates the alert's machine, waits, comments and updates the alert, writes both reports (time, operator,
portal links). Second run: changed=0, no write request, and its own report saying nothing was done. Check mode: no
write request and a report in "would" words. An app without Machine.Isolate: stops at the permission check, before
any write, naming the permission.
"""
from __future__ import annotations

import getpass
import glob
import json
import os
import re
import socket
import stat
import time

import pytest

RESPOND = [{"ansible.builtin.import_playbook": "defender.endpoint.respond"}]
RELEASE = [{"ansible.builtin.import_playbook": "defender.endpoint.release"}]
ISOLATE = [{"ansible.builtin.import_playbook": "defender.endpoint.isolate"}]
ISOLATE_TASK = RELEASE_TASK = "Isolate or release the machines in one bulk task"
CHECK_TASK = "Check that the token carries the permissions this response needs"


def _rec(run, name):
    """The last record of task `name`; role tasks are recorded as "<role> : <name>"."""
    for r in reversed(run.results):
        if r.get("task") == name or (r.get("task") or "").endswith(" : " + name):
            return r
    return None


def _result(run, name):
    rec = _rec(run, name)
    assert rec is not None, "task %r did not run; tasks: %s" % (name, [r.get("task") for r in run.results])
    return rec["result"]


def _writes(emulator):
    """API requests that change something (sign-in POSTs to the token endpoint are not API writes)."""
    return [r for r in emulator.requests()
            if r.get("method") not in ("GET", "HEAD", "OPTIONS") and r.get("path", "").lower().startswith("/api/")]


def _api_requests(emulator):
    return [r for r in emulator.requests() if r.get("path", "").lower().startswith("/api/")]


def _reports(report_dir, name):
    """[(json path, md path)] of the runs' reports named `name-<UTC start time>[-check]`, oldest first."""
    found = sorted(glob.glob(os.path.join(glob.escape(report_dir), glob.escape(name) + "-*.json")))
    out = []
    for path in found:
        assert re.search(r"-\d{8}T\d{6}Z(-check)?\.json$", path), path
        out.append((path, path[:-len(".json")] + ".md"))
    return out


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f) if path.endswith(".json") else f.read()


@pytest.fixture
def incident(emulator):
    emulator.reset()
    inc = emulator.incident()
    emulator.clear_requests()
    return inc


def test_respond_twice_isolates_records_reports_then_changes_nothing(emulator, ansible, incident, tmp_path):
    report_dir = str(tmp_path / "reports")
    extra = {"incident_response_alert_ids": [incident["alert_id"]], "incident_response_report_dir": report_dir}

    started = time.monotonic()
    first = ansible.playbook(RESPOND, extra_vars=extra)
    first_seconds = time.monotonic() - started
    assert first.rc == 0, first.explain()
    assert _rec(first, "Get one access token for the run")["no_log"] is True

    isolation = _result(first, ISOLATE_TASK)
    assert _rec(first, ISOLATE_TASK)["status"] == "changed"
    (machine,) = isolation["results"]
    assert machine["machine_id"] == incident["machine_id"]
    assert machine["previous_state"] == "released"
    assert machine["state"] == "isolated"
    assert machine["action"]["status"] == "Succeeded"  # waited
    assert emulator.machine(incident["machine_id"])["isolationState"] == "isolated"

    alert = emulator.alert(incident["alert_id"])
    assert alert["status"] == "InProgress"
    comments = [c["comment"] for c in alert.get("comments") or []]
    assert any(incident["machine_name"] in c and "isolated" in c for c in comments), comments

    writes = _writes(emulator)
    isolate_posts = [r for r in writes if r["method"] == "POST" and r["path"].lower().endswith("/isolate")]
    alert_writes = [r for r in writes if "/alerts" in r["path"].lower()]
    assert len(isolate_posts) == 1, writes
    assert len(alert_writes) == 1, writes
    assert len(writes) == 2, writes
    first_api = len(_api_requests(emulator))

    [(json_path, md_path)] = _reports(report_dir, "isolate-" + incident["alert_id"])
    for path in (json_path, md_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    report = _load(json_path)
    assert report["action"] == "isolate" and report["changed"] is True and report["failed"] is False
    run = report["run"]
    assert run["check_mode"] is False and run["changed"] is True
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", run["started_utc"]) and run["finished_utc"] >= run["started_utc"]
    assert run["operator"]["user"] == getpass.getuser() and run["operator"]["host"] == socket.gethostname()
    tid = emulator.settings["tenant_id"]
    (rm,) = report["machines"]
    assert rm["machine_id"] == incident["machine_id"] and rm["computer_dns_name"] == incident["machine_name"]
    assert (rm["previous_state"], rm["state"]) == ("released", "isolated")
    assert rm["outcome"] == "isolated now"
    assert rm["action"]["id"] == machine["action"]["id"]
    assert rm["portal_url"] == "https://security.microsoft.com/machines/v2/%s/overview?tid=%s" % (rm["machine_id"], tid)
    (ra,) = report["alerts"]
    assert ra["id"] == incident["alert_id"] and ra["outcome"] == "updated now"
    assert ra["portal_url"] == "https://security.microsoft.com/alerts/%s?tid=%s" % (ra["id"], tid)
    assert ra["incident_id"] is not None and report["incident_ids"] == [ra["incident_id"]]
    assert ra["incident_portal_url"] == "https://security.microsoft.com/incidents/%s?tid=%s" % (ra["incident_id"], tid)
    assert ra["before"]["status"] == "New" and ra["after"]["status"] == "InProgress"
    assert "comment" in ra["changes"]
    assert report["summary"] == "Isolated %s (%s); 1 of 1 alert(s) updated." % (incident["machine_name"],
                                                                                incident["machine_id"])
    md = _load(md_path)
    assert incident["machine_name"] in md and machine["action"]["id"] in md and incident["alert_id"] in md
    assert "New → InProgress" in md and rm["portal_url"] in md and ra["portal_url"] in md
    assert run["started_utc"] in md and getpass.getuser() in md
    before = {p: open(p, "rb").read() for p in (json_path, md_path)}  # pylint: disable=consider-using-with
    time.sleep(1)  # the next run's report has another start second

    emulator.clear_requests()
    started = time.monotonic()
    second = ansible.playbook(RESPOND, extra_vars=extra)
    second_seconds = time.monotonic() - started
    assert second.rc == 0, second.explain()
    assert second.changed == 0, second.explain()
    assert _writes(emulator) == []
    assert _result(second, ISOLATE_TASK)["results"][0]["previous_state"] == "isolated"
    for path, content in before.items():
        with open(path, "rb") as f:
            assert f.read() == content, "the first run's report is kept"
    [_first, (json2, md2)] = _reports(report_dir, "isolate-" + incident["alert_id"])
    again = _load(json2)
    assert again["changed"] is False and again["run"]["changed"] is False
    assert again["machines"][0]["outcome"] == "already isolated (nothing sent)"
    assert again["alerts"][0]["outcome"] == "already up to date (nothing sent)"
    assert again["summary"] == "Nothing to do: already isolated %s (%s); 0 of 1 alert(s) updated." % (
        incident["machine_name"], incident["machine_id"])
    assert "Nothing to do" in _load(md2)
    print("\nrespond: first run %.1f s (%d API requests), second run %.1f s (%d API requests)"
          % (first_seconds, first_api, second_seconds, len(_api_requests(emulator))))


def test_check_mode_sends_no_write_and_reports_what_it_would_do(emulator, ansible, incident, tmp_path):
    report_dir = str(tmp_path / "reports")
    run = ansible.playbook(RESPOND, check=True, diff=True, extra_vars={
        "incident_response_alert_ids": [incident["alert_id"]], "incident_response_report_dir": report_dir})
    assert run.rc == 0, run.explain()
    assert _writes(emulator) == []
    # The prediction is there: the machine would be isolated and the alert updated.
    assert _rec(run, ISOLATE_TASK)["status"] == "changed"
    assert _result(run, ISOLATE_TASK)["results"][0]["previous_state"] == "released"
    assert _rec(run, "Update the alerts")["status"] == "changed"
    assert emulator.machine(incident["machine_id"])["isolationState"] != "isolated"
    assert emulator.alert(incident["alert_id"])["status"] == "New"
    [(json_path, md_path)] = _reports(report_dir, "isolate-" + incident["alert_id"])
    assert json_path.endswith("-check.json")
    report = _load(json_path)
    assert report["run"]["check_mode"] is True
    assert report["machines"][0]["outcome"] == "would isolate"
    assert report["alerts"][0]["outcome"] == "would be updated"
    assert report["summary"] == ("Would isolate %s (%s); 1 of 1 alert(s) would be updated. Check mode: nothing was "
                                 "sent." % (incident["machine_name"], incident["machine_id"]))
    md = _load(md_path)
    assert "CHECK MODE" in md and "would isolate" in md and "isolated now" not in md


def test_app_without_machine_isolate_stops_before_any_write(emulator, ansible, incident, tmp_path):
    report_dir = str(tmp_path / "reports")
    run = ansible.playbook(RESPOND, env=emulator.env("no_isolate"), extra_vars={
        "incident_response_alert_ids": [incident["alert_id"]], "incident_response_report_dir": report_dir})
    assert run.rc != 0, run.explain()
    check = _rec(run, CHECK_TASK)
    assert check["status"] == "failed", run.explain()
    msg = json.dumps(check["result"])
    assert "Machine.Isolate" in msg and "Isolate machine" in msg, msg
    assert check["result"]["missing_roles"] == ["Machine.Isolate"]
    assert _rec(run, ISOLATE_TASK) is None
    assert _writes(emulator) == []
    assert not _api_requests(emulator)  # stopped before reading anything, too
    assert not os.path.exists(report_dir)


def test_named_machine_release_and_connection_dict(emulator, ansible, incident, tmp_path):
    """Machines by name, release, and connection settings given only through incident_response_connection."""
    report_dir = str(tmp_path / "reports")
    name = incident["machine_name"].upper()  # names match without regard to case
    conn = ansible.connection_env
    connection = {"tenant_id": conn["AZURE_TENANT_ID"], "client_id": conn["AZURE_CLIENT_ID"],
                  "client_secret": conn["AZURE_CLIENT_SECRET"], "login_url": conn["AZURE_AUTHORITY_HOST"],
                  "api_url": conn["DEFENDER_API_URL"], "ca_path": conn["DEFENDER_CA_PATH"]}
    no_env = dict.fromkeys(conn)
    base = {"incident_response_machines": [name], "incident_response_connection": connection,
            "incident_response_report_dir": report_dir}

    iso = ansible.playbook(RESPOND, env=no_env, extra_vars=base)
    assert iso.rc == 0, iso.explain()
    assert _rec(iso, "Record the action on the alerts")["status"] == "skipped"  # no alert ids given
    assert emulator.machine(incident["machine_id"])["isolationState"] == "isolated"

    emulator.clear_requests()
    rel = ansible.playbook(RESPOND, env=no_env, extra_vars=dict(base, incident_response_action="release"))
    assert rel.rc == 0, rel.explain()
    assert _rec(rel, RELEASE_TASK)["status"] == "changed"
    (res,) = _result(rel, RELEASE_TASK)["results"]
    assert (res["previous_state"], res["state"]) == ("isolated", "released")
    assert emulator.machine(incident["machine_id"])["isolationState"] == "released"
    unisolate = [r for r in _writes(emulator) if r["path"].lower().endswith("/unisolate")]
    assert len(unisolate) == 1
    [(json_path, _md)] = _reports(report_dir, "release-" + incident["machine_name"])
    released = "Released %s (%s)" % (incident["machine_name"], incident["machine_id"])
    assert _load(json_path)["summary"].startswith(released)

    emulator.clear_requests()
    again = ansible.playbook(RESPOND, env=no_env, extra_vars=dict(base, incident_response_action="release"))
    assert again.rc == 0 and again.changed == 0, again.explain()
    assert _writes(emulator) == []


def test_isolate_and_release_playbooks(emulator, ansible, incident):
    machine = incident["machine_name"]
    iso = ansible.playbook(ISOLATE, extra_vars={"machines": [machine], "comment": "INC-1: e2e"})
    assert iso.rc == 0, iso.explain()
    assert iso.changed == 1
    assert emulator.machine(incident["machine_id"])["isolationState"] == "isolated"
    rel = ansible.playbook(RELEASE, extra_vars={"machines": machine, "comment": "INC-1: e2e done"})
    assert rel.rc == 0, rel.explain()
    assert emulator.machine(incident["machine_id"])["isolationState"] == "released"
    again = ansible.playbook(RELEASE, extra_vars={"machines": machine, "comment": "INC-1: e2e done"})
    assert again.rc == 0 and again.changed == 0, again.explain()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_alerts_export(emulator, ansible, tmp_path, fmt):
    emulator.reset()
    dest = str(tmp_path / ("alerts." + fmt))
    run = ansible.playbook([{"ansible.builtin.import_playbook": "defender.endpoint.alerts_export"}],
                           extra_vars={"dest": dest, "format": fmt, "since": "30d"})
    assert run.rc == 0, run.explain()
    assert os.path.isfile(dest)
    with open(dest, encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines
    if fmt == "jsonl":
        first = json.loads(lines[0])
        assert "id" in first and "severity" in first
    else:
        assert lines[0].startswith('"id",')  # every field quoted (CSV injection, issue 22 item 6)
        assert len(lines) >= 2
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert run.changed == 1
    again = ansible.playbook([{"ansible.builtin.import_playbook": "defender.endpoint.alerts_export"}],
                             extra_vars={"dest": dest, "format": fmt, "since": "30d"})
    assert again.rc == 0 and again.changed == 0, again.explain()
    assert "unchanged" in again.stdout


def test_failed_isolation_is_reported_and_leaves_the_alert(emulator, ansible, incident, tmp_path):
    """A machine action that ends Failed: the report says so, the alert is not touched, the run fails at the end."""
    report_dir = str(tmp_path / "reports")
    emulator.config(action_outcome={incident["machine_id"]: "Failed"})
    try:
        run = ansible.playbook(RESPOND, extra_vars={
            "incident_response_alert_ids": [incident["alert_id"]], "incident_response_report_dir": report_dir})
    finally:
        emulator.config(action_outcome={})
    assert run.rc != 0, run.explain()
    final = _rec(run, "Stop when a machine action failed")
    assert final is not None and final["status"] == "failed", run.explain()
    assert incident["machine_name"] in final["result"]["msg"]
    assert _rec(run, "Update the alerts")["status"] == "skipped"
    assert emulator.alert(incident["alert_id"])["status"] == "New"
    assert not [r for r in _writes(emulator) if "/alerts" in r["path"].lower()]
    [(json_path, _md)] = _reports(report_dir, "isolate-" + incident["alert_id"])
    report = _load(json_path)
    assert report["failed"] is True
    assert report["machines"][0]["failed"] is True
    assert report["alerts"][0]["skipped"] is True and report["alerts"][0]["updated"] is False


def test_access_token_given_in_the_connection(emulator, ansible, incident, tmp_path):
    """A token given as access_token (here from the lookup) comes back masked from the token module, since Ansible
    hides every returned value equal to a no_log option; the role must then use the token where it was given."""
    conn = ansible.connection_env
    lookup = ("{{ lookup('defender.endpoint.token', tenant_id=%r, client_id=%r, client_secret=%r, login_url=%r, "
              "ca_path=%r) }}" % (conn["AZURE_TENANT_ID"], conn["AZURE_CLIENT_ID"], conn["AZURE_CLIENT_SECRET"],
                                  conn["AZURE_AUTHORITY_HOST"], conn["DEFENDER_CA_PATH"]))
    connection = {"access_token": lookup, "api_url": conn["DEFENDER_API_URL"], "ca_path": conn["DEFENDER_CA_PATH"]}
    run = ansible.playbook(RESPOND, env=dict.fromkeys(conn), extra_vars={
        "incident_response_machines": [incident["machine_name"]], "incident_response_connection": connection,
        "incident_response_report_dir": str(tmp_path / "reports")})
    assert run.rc == 0, run.explain()
    assert emulator.machine(incident["machine_id"])["isolationState"] == "isolated"
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" not in json.dumps(emulator.requests())


def test_report_folder_link_foreign_folder_and_name_with_separators_are_refused(emulator, ansible, incident, tmp_path):
    """Issue 22 item 5: a symlinked report folder was followed (and chmodded), a name with ../ left the folder, a
    folder of another user was trusted. Each is refused before any request."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.chmod(target, 0o755)
    link = tmp_path / "reports-link"
    link.symlink_to(target)
    base = {"incident_response_alert_ids": [incident["alert_id"]]}
    run = ansible.playbook(RESPOND, extra_vars=dict(base, incident_response_report_dir=str(link)))
    assert run.rc != 0 and "symbolic link" in run.stdout, run.explain()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o755 and os.listdir(target) == []
    assert _writes(emulator) == [] and not _api_requests(emulator)

    run = ansible.playbook(RESPOND, extra_vars=dict(base, incident_response_report_dir=str(tmp_path / "ok"),
                                                    incident_response_report_name="../../escaped"))
    assert run.rc != 0 and "must be a file name" in run.stdout, run.explain()
    assert not glob.glob(str(tmp_path / "**" / "escaped*"), recursive=True) and _writes(emulator) == []

    if os.geteuid() == 0:  # only root can give a folder to another user here
        foreign = tmp_path / "foreign"
        foreign.mkdir()
        os.chown(foreign, 65534, 65534)
        run = ansible.playbook(RESPOND, extra_vars=dict(base, incident_response_report_dir=str(foreign)))
        assert run.rc != 0 and "belongs to another user" in run.stdout, run.explain()
        assert os.listdir(foreign) == [] and _writes(emulator) == []
