# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident_response role's optional tag step (incident_response_tag_machines) through the `respond` playbook,
against the emulator: off by default, tags the machines with the incident id, idempotent, reported, gated on
Machine.ReadWrite.All before any change, and a missing tag stops the role before any change."""
from __future__ import annotations

import glob
import json
import os

RESPOND = [{"ansible.builtin.import_playbook": "defender.endpoint.respond"}]
TAG_TASK = "Tag the machines"
CHECK_TASK = "Check that the token carries the permissions this response needs"


def _rec(run, name):
    for r in reversed(run.results):
        if (r.get("task") or "").endswith(" : " + name) and r.get("action", "").endswith("machine_tag"):
            return r
        if r.get("task") == name or (r.get("task") or "").endswith(" : " + name):
            if r.get("action", "") != "ansible.builtin.include_tasks":
                return r
    return None


def _writes(emulator):
    return [r for r in emulator.requests()
            if r.get("method") not in ("GET", "HEAD", "OPTIONS") and r.get("path", "").lower().startswith("/api/")]


def _tag_writes(emulator):
    return [r for r in _writes(emulator) if r["path"].endswith("/tags") or "AddOrRemoveTag" in r["path"]]


def _incident(emulator):
    emulator.reset()
    inc = emulator.incident()
    inc["incident_id"] = emulator.alert(inc["alert_id"])["incidentId"]
    inc["tags"] = list(emulator.machine(inc["machine_id"])["machineTags"])  # seeded tags, if any
    emulator.clear_requests()
    return inc


def test_off_by_default(emulator, ansible, tmp_path):
    inc = _incident(emulator)
    run = ansible.playbook(RESPOND, extra_vars={"incident_response_alert_ids": [inc["alert_id"]],
                                                "incident_response_report_dir": str(tmp_path)})
    assert run.rc == 0, run.explain()
    assert not _tag_writes(emulator) and emulator.machine(inc["machine_id"])["machineTags"] == inc["tags"]


def test_tags_the_machine_with_the_incident_id_then_changes_nothing(emulator, ansible, tmp_path):
    inc = _incident(emulator)
    tag = "incident-%s" % inc["incident_id"]
    extra = {"incident_response_alert_ids": [inc["alert_id"]], "incident_response_report_dir": str(tmp_path),
             "incident_response_tag_machines": True}
    run = ansible.playbook(RESPOND, extra_vars=extra)
    assert run.rc == 0, run.explain()
    rec = _rec(run, TAG_TASK)
    assert rec["status"] == "changed"
    (r,) = rec["result"]["results"]
    assert r["machine_id"] == inc["machine_id"] and r["added"] == [tag] and r["tags"] == inc["tags"] + [tag]
    writes = _tag_writes(emulator)
    assert [(w["path"], w["body"]) for w in writes] == [
        ("/api/machines/%s/tags" % inc["machine_id"], {"Value": tag, "Action": "Add"})]
    assert emulator.machine(inc["machine_id"])["machineTags"] == inc["tags"] + [tag]
    # the tag step runs before the isolation
    seq = {w["path"].rsplit("/", 1)[-1]: w["seq"] for w in _writes(emulator)}
    assert seq["tags"] < seq["isolate"]
    # each run writes its own report, named with its UTC start time
    [report_path] = glob.glob(os.path.join(glob.escape(str(tmp_path)), "isolate-%s-*.json" % glob.escape(inc["alert_id"])))
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    assert report["tags"]["tags"] == [tag] and report["tags"]["state"] == "present"
    assert report["tags"]["machines"][0]["previous_tags"] == inc["tags"]
    assert report["tags"]["machines"][0]["tags"] == inc["tags"] + [tag]
    assert ("tags %s set on 1 machine(s)" % tag) in report["summary"]
    with open(report_path[:-len(".json")] + ".md", encoding="utf-8") as f:
        assert "## Tags (%s, present)" % tag in f.read()
    # a rerun changes nothing and sends no write
    emulator.clear_requests()
    again = ansible.playbook(RESPOND, extra_vars=extra)
    assert again.rc == 0 and again.changed == 0, again.explain()
    assert _writes(emulator) == []
    # explicit tags, removed again with state absent
    extra.update(incident_response_tags=[tag], incident_response_tag_state="absent")
    run = ansible.playbook(RESPOND, extra_vars=extra)
    assert run.rc == 0 and _rec(run, TAG_TASK)["status"] == "changed", run.explain()
    assert emulator.machine(inc["machine_id"])["machineTags"] == inc["tags"]


def test_check_mode_predicts_and_sends_nothing(emulator, ansible, tmp_path):
    inc = _incident(emulator)
    run = ansible.playbook(RESPOND, check=True, extra_vars={
        "incident_response_alert_ids": [inc["alert_id"]], "incident_response_report_dir": str(tmp_path),
        "incident_response_tag_machines": True, "incident_response_tags": ["INC-1", "contained"]})
    assert run.rc == 0, run.explain()
    rec = _rec(run, TAG_TASK)
    assert rec["status"] == "changed" and rec["result"]["results"][0]["added"] == ["INC-1", "contained"]
    assert _writes(emulator) == []


def test_without_machine_readwrite_stops_before_any_write(emulator, ansible, tmp_path):
    inc = _incident(emulator)
    run = ansible.playbook(RESPOND, env=emulator.env("no_machine_write"), extra_vars={
        "incident_response_alert_ids": [inc["alert_id"]], "incident_response_report_dir": str(tmp_path),
        "incident_response_tag_machines": True})
    assert run.rc != 0
    check = _rec(run, CHECK_TASK)
    assert check["status"] == "failed", run.explain()
    assert check["result"].get("missing_roles") == ["Machine.ReadWrite.All"], check["result"]
    assert _writes(emulator) == []


def test_no_tag_to_set_stops_before_any_write(emulator, ansible, tmp_path):
    inc = _incident(emulator)
    run = ansible.playbook(RESPOND, extra_vars={
        "incident_response_machines": [inc["machine_name"]], "incident_response_report_dir": str(tmp_path),
        "incident_response_tag_machines": True})
    assert run.rc != 0
    assert "there is no tag" in run.stdout + json.dumps(run.results)
    assert _writes(emulator) == []
