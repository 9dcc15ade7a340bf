# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incidents through Microsoft Graph end to end: a playbook that lists the High incidents, comments on and resolves
one, run twice (the second run changes nothing and writes nothing); check mode; only Graph is called."""
from __future__ import annotations

import json

TRIAGE = [{"hosts": "localhost", "gather_facts": False, "tasks": [
    {"name": "high", "defender.endpoint.incident_info": {"severity": ["high"], "status": ["active"],
                                                         "include_alerts": True}, "register": "high"},
    {"name": "pick", "ansible.builtin.set_fact": {
        "chosen": "{{ high.incidents | selectattr('id', 'equalto', incident_id) | first }}"}},
    {"name": "resolve", "defender.endpoint.incident": {
        "id": "{{ chosen.id }}", "comment": "Reviewed by Ansible: {{ chosen.alerts | length }} alert(s)",
        "status": "resolved", "classification": "truePositive", "determination": "malware",
        "custom_tags": ["ansible"]}, "register": "resolved"},
]}]


def _writes(emulator):
    return [r for r in emulator.requests() if r.get("kind") == "graph" and r.get("method") != "GET"]


def test_list_high_comment_and_resolve_twice(emulator, ansible):
    emulator.reset()
    made = emulator.call("POST", "/incident", {"alerts": 2, "machines": 2})
    emulator.call("DELETE", "/requests")

    preview = ansible.playbook(TRIAGE, extra_vars={"incident_id": made["incident_id"]}, check=True, diff=True)
    assert preview.rc == 0, preview.explain()
    assert preview.task("resolve")["result"]["changed"] and _writes(emulator) == []

    first = ansible.playbook(TRIAGE, extra_vars={"incident_id": made["incident_id"]})
    assert first.rc == 0, first.explain()
    high = first.task("high")["result"]
    assert high["api"] == "graph" and high["count"] >= 1
    assert all(i["severity"] == "high" and i["status"] == "active" for i in high["incidents"])
    resolved = first.task("resolve")["result"]
    assert resolved["changed"] and resolved["comment_added"]
    assert resolved["incident"]["status"] == "resolved"
    state = emulator.call("GET", "/state/incidents/" + made["incident_id"])
    assert state["status"] == "resolved" and state["classification"] == "truePositive"
    assert [c["comment"] for c in state["comments"]] == ["Reviewed by Ansible: 2 alert(s)"]
    assert [(w["method"], w["path"].rsplit("/", 1)[-1]) for w in _writes(emulator)] == [
        ("POST", "comments"), ("PATCH", made["incident_id"])]
    for alert_id in made["alert_ids"]:  # resolving the incident resolved its alerts
        assert emulator.call("GET", "/state/alerts/" + alert_id)["status"] == "Resolved"

    # The incident is no longer active: the second run names it by id through the same filter-free read.
    emulator.call("DELETE", "/requests")
    again = ansible.playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "one", "defender.endpoint.incident_info": {"id": made["incident_id"], "include_alerts": True},
         "register": "one"},
        {"name": "resolve", "defender.endpoint.incident": {
            "id": "{{ one.incidents[0].id }}",
            "comment": "Reviewed by Ansible: {{ one.incidents[0].alerts | length }} alert(s)",
            "status": "resolved", "classification": "truePositive", "determination": "malware",
            "custom_tags": ["ansible"]}},
    ]}])
    assert again.rc == 0 and again.changed == 0, again.explain()
    assert _writes(emulator) == []
    assert {r["kind"] for r in emulator.requests()} <= {"graph", "token", "discovery", "keys"}
    assert not [r for r in emulator.requests() if r.get("kind") == "api"]  # nothing on the Defender API


def test_respond_incident_playbook_acts_on_each_machine_once_then_resolves(emulator, ansible, tmp_path):
    emulator.reset()
    made = emulator.call("POST", "/incident", {"alerts": 3, "machines": 2, "evidence": [
        {"entityType": "File", "sha1": "a" * 40, "sha256": "b" * 64, "fileName": "evil.exe"}]})
    play = [{"ansible.builtin.import_playbook": "defender.endpoint.respond_incident"}]
    extra = {"incident_id": made["incident_id"], "incident_response_report_dir": str(tmp_path / "reports"),
             "incident_response_block_file_evidence": True, "incident_response_wait_sleep": 1,
             "incident_response_incident_classification": "truePositive"}
    first = ansible.playbook(play, extra_vars=extra)
    assert first.rc == 0, first.explain()
    isolations = [r for r in emulator.requests() if r.get("method") == "POST" and r["path"].endswith("/isolate")]
    assert sorted(r["path"].split("/")[-2] for r in isolations) == sorted(made["machine_ids"])  # each machine once
    state = emulator.call("GET", "/state/incidents/" + made["incident_id"])
    assert state["status"] == "resolved" and state["classification"] == "truePositive"
    assert len(state["comments"]) == 1 and "isolated" in state["comments"][0]["comment"]
    assert [i["indicatorValue"] for i in emulator.call("GET", "/indicators")] == ["b" * 64]
    assert not [r for r in emulator.requests() if r.get("kind") == "api" and "/alerts" in r["path"]]
    (report,) = [p for p in (tmp_path / "reports").iterdir() if p.suffix == ".json"]
    data = json.loads(report.read_text())
    assert data["incident"]["id"] == made["incident_id"] and data["incident"]["portal_url"]
    assert sorted(a["id"] for a in data["alerts"]) == sorted(made["alert_ids"])
    assert sorted(m["machine_id"] for m in data["machines"]) == sorted(made["machine_ids"])

    emulator.call("DELETE", "/requests")
    again = ansible.playbook(play, extra_vars=extra)
    assert again.rc == 0 and again.changed == 0, again.explain()
    assert not [r for r in emulator.requests() if r.get("method") not in ("GET", None) and r.get("kind") in ("api", "graph")]
