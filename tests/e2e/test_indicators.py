# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Indicators end to end: the block_indicators playbook (YAML and CSV), bulk import of thousands, the role step that
blocks the alerts' file evidence, and a lost import response, through real ansible-playbook against the emulator."""
from __future__ import annotations

import glob
import json
import os
import time

BLOCK = [{"ansible.builtin.import_playbook": "defender.endpoint.block_indicators"}]
RESPOND = [{"ansible.builtin.import_playbook": "defender.endpoint.respond"}]
SHA = "3395856ce81f2b7382dee72602f798b642f14140b8b0a0cb8a1f3edb8ad2b1c9"


def _writes(emulator, path_end=""):
    return [r for r in emulator.requests() if r.get("method") not in ("GET", "HEAD")
            and r.get("path", "").lower().startswith("/api/indicators") and r["path"].lower().endswith(path_end)]


def _task(run, suffix):
    for r in reversed(run.results):
        if (r.get("task") or "").endswith(suffix):
            return r
    raise AssertionError("no task %r in %s" % (suffix, [r.get("task") for r in run.results]))


def test_block_indicators_playbook_csv_then_yaml_absent(emulator, ansible, tmp_path):
    emulator.reset()
    csv = tmp_path / "iocs.csv"
    csv.write_text("value,type,action,rbac_group_names\n203.0.113.7,ip,,\nbad.example,domain,warn,Servers;Lab\n"
                   "%s,file_sha256,block_and_remediate,\n" % SHA)
    first = ansible.playbook(BLOCK, extra_vars={"file": str(csv), "title": "INC-7"})
    assert first.rc == 0, first.explain()
    held = {i["indicatorValue"]: i for i in emulator.call("GET", "/indicators")}
    assert set(held) == {"203.0.113.7", "bad.example", SHA}
    assert held["bad.example"]["action"] == "Warn" and sorted(held["bad.example"]["rbacGroupNames"]) == ["Lab", "Servers"]
    assert held["203.0.113.7"]["action"] == "Block" and held[SHA]["action"] == "BlockAndRemediate"
    assert len(_writes(emulator, "/import")) == 1

    emulator.clear_requests()
    again = ansible.playbook(BLOCK, extra_vars={"file": str(csv), "title": "INC-7"}, check=True, diff=True)
    assert again.rc == 0 and again.changed == 0, again.explain()
    assert _writes(emulator) == []

    yml = tmp_path / "gone.yml"
    yml.write_text("indicators:\n  - {value: 203.0.113.7, type: ip}\n")
    gone = ansible.playbook(BLOCK, extra_vars={"file": str(yml), "state": "absent"})
    assert gone.rc == 0, gone.explain()
    assert _task(gone, "Make the indicators absent")["result"]["deleted"] == 1
    assert {i["indicatorValue"] for i in emulator.call("GET", "/indicators")} == {"bad.example", SHA}

    bad = tmp_path / "bad.yml"
    bad.write_text("- {value: 10.0.0.0/8, type: ip}\n")
    emulator.clear_requests()
    refused = ansible.playbook(BLOCK, extra_vars={"file": str(bad)})
    assert refused.rc != 0 and "CIDR" in refused.stdout
    assert _writes(emulator) == []


def test_thousands_in_chunks_of_500_then_nothing(emulator, ansible, tmp_path):
    emulator.reset()
    items = "\n".join("  - {value: '%064x', type: file_sha256}" % i for i in range(2100))
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "bulk", "defender.endpoint.indicator": {
            "action": "block", "title": "bulk", "description": "bulk",
            "indicators": "{{ lookup('file', '%s') | from_yaml }}" % (tmp_path / "bulk.yml")}}]}]
    (tmp_path / "bulk.yml").write_text(items + "\n")
    started = time.monotonic()
    run = ansible.playbook(play)
    seconds = time.monotonic() - started
    assert run.rc == 0, run.explain()
    imports = _writes(emulator, "/import")
    assert [len(r["body"]["Indicators"]) for r in imports] == [500, 500, 500, 500, 100]
    assert run.task("bulk")["result"]["created"] == 2100
    emulator.clear_requests()
    rerun = ansible.playbook(play)
    assert rerun.rc == 0 and rerun.changed == 0 and _writes(emulator) == []
    gets = [r for r in emulator.requests() if r["path"] == "/api/indicators" and r["method"] == "GET"]
    assert len(gets) == 1  # 2,100 indicators fit one page of 10,000
    print("\n2,100 indicators: %d import calls, %.1f s (the 30/min limit allows 5 calls in one minute)"
          % (len(imports), seconds))


def test_lost_import_response_is_read_back_not_resent(emulator, ansible):
    emulator.reset()
    emulator.set_faults({"match": {"method": "POST", "path_regex": "/api/indicators/import$"},
                         "action": "drop_after", "count": 1})
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "bulk", "defender.endpoint.indicator": {
            "action": "block", "title": "t", "description": "d",
            "indicators": [{"value": "203.0.113.%d" % i, "type": "ip"} for i in range(1, 4)]}}]}]
    run = ansible.playbook(play)
    assert run.rc == 0, run.explain()
    assert len(_writes(emulator, "/import")) == 1  # applied, answer lost, read back: not sent again
    assert run.task("bulk")["result"]["created"] == 3


def test_role_blocks_the_alerts_file_evidence_once(emulator, ansible, tmp_path):
    emulator.reset()
    evidence = [
        {"entityType": "File", "sha1": "b" * 40, "sha256": SHA, "fileName": "dropper.exe", "filePath": "C:\\tmp"},
        {"entityType": "File", "sha1": "c" * 40, "sha256": None, "fileName": "old.dll", "filePath": "C:\\tmp"},
        {"entityType": "Process", "sha1": "d" * 40, "sha256": "e" * 64, "fileName": "powershell.exe"},
    ]
    inc = emulator.incident(evidence=evidence)
    extra = {"incident_response_alert_ids": [inc["alert_id"]], "incident_response_action": "isolate",
             "incident_response_block_file_evidence": True, "incident_response_report_dir": str(tmp_path)}
    first = ansible.playbook(RESPOND, extra_vars=extra)
    assert first.rc == 0, first.explain()
    held = {i["indicatorValue"]: i for i in emulator.call("GET", "/indicators")}
    assert set(held) == {SHA, "c" * 40}  # process evidence is not blocked
    assert held[SHA]["indicatorType"] == "FileSha256" and held["c" * 40]["indicatorType"] == "FileSha1"
    assert held[SHA]["action"] == "BlockAndRemediate" and inc["alert_id"] in held[SHA]["title"]
    (json_path,) = glob.glob(os.path.join(glob.escape(str(tmp_path)), "isolate-%s-*.json" % inc["alert_id"]))
    report = json.loads(open(json_path, encoding="utf-8").read())
    assert report["indicators"]["created"] == 2 and report["changed"] is True
    assert sorted(f["value"] for f in report["indicators"]["files"]) == sorted([SHA, "c" * 40])
    with open(json_path[:-len(".json")] + ".md", encoding="utf-8") as handle:
        assert "## Indicators for the alerts' file evidence" in handle.read()
    emulator.clear_requests()
    second = ansible.playbook(RESPOND, extra_vars=extra)
    assert second.rc == 0 and second.changed == 0, second.explain()
    assert _writes(emulator) == []


def test_role_step_permission_is_checked_before_any_change(emulator, ansible, tmp_path):
    emulator.reset()
    inc = emulator.incident(evidence=[{"entityType": "File", "sha256": SHA, "fileName": "x.exe"}])
    extra = {"incident_response_alert_ids": [inc["alert_id"]], "incident_response_action": "isolate",
             "incident_response_block_file_evidence": True, "incident_response_report_dir": str(tmp_path)}
    run = ansible.playbook(RESPOND, extra_vars=extra, env=emulator.env("no_machine_write"))
    assert run.rc != 0 and "Ti.ReadWrite.All" in run.stdout, run.explain()
    assert [r for r in emulator.requests() if r.get("method") != "GET" and r.get("kind") == "api"] == []
