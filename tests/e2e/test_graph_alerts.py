# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alerts through Microsoft Graph with the Defender alert and hunting endpoints retired in the emulator (they answer
410 Gone, as a retired API would): the Graph-configured alert modules, the export, the incident_response role (the
respond playbook) and the alerts event source still work, a second run changes nothing, and the emulator's request
log shows that nothing asked /api/alerts (nor a machine's alerts, nor the Defender hunting API).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

RESPOND = [{"ansible.builtin.import_playbook": "defender.endpoint.respond"}]
RETIRED = ("/alerts", "/advancedqueries", "/advancedhunting")


def _retired_asked(emulator):
    """Requests that reached a retired Defender endpoint (the log keeps them, whatever the answer)."""
    return [(r.get("method"), r.get("path")) for r in emulator.requests()
            if r.get("kind") == "api" and any(part in (r.get("path") or "").lower() for part in RETIRED)]


@pytest.fixture
def retired(emulator):
    emulator.reset(alerts=400, retired=["alerts", "hunting"])
    yield emulator
    emulator.config(retired=[])


PLAY = {
    "name": "Alerts through Graph",
    "module_defaults": {
        "defender.endpoint.alert_info": {"api": "graph"},
        "defender.endpoint.alert": {"api": "graph"},
        "defender.endpoint.alert_export": {"api": "graph"},
    },
    "tasks": [
        {"name": "High alerts", "defender.endpoint.alert_info": {"severity": ["High"], "status": ["New"]},
         "register": "high"},
        {"name": "Resolve one", "defender.endpoint.alert": {
            "id": "{{ alert_id }}", "status": "Resolved", "classification": "TruePositive",
            "determination": "Malware", "comment": "Handled by Ansible"}},
        {"name": "Export", "defender.endpoint.alert_export": {"dest": "{{ dest }}", "severity": ["High"]}},
        {"name": "Hunt (Graph already)", "defender.endpoint.advanced_hunting": {
            "query": "AlertInfo | where Severity == 'High' | count"}},
    ],
}


def test_graph_configured_modules_never_touch_the_retired_endpoints(retired, ansible, tmp_path):
    dest = str(tmp_path / "alerts.jsonl")
    alert_id = retired.query("alerts", "severity eq 'High' and status eq 'New'")[0]
    extra = {"dest": dest, "alert_id": alert_id}
    first = ansible.playbook([PLAY], extra_vars=extra)
    assert first.rc == 0, first.explain()
    high = first.result("High alerts")
    assert high["api"] == "graph" and high["count"] > 0 and "warnings" not in high
    assert alert_id in [a["id"] for a in high["alerts"]]
    resolved = first.result("Resolve one")
    assert resolved["changed"] and resolved["alerts"][0]["status"] == "resolved"
    export = first.result("Export")
    assert export["api"] == "graph" and export["count"] >= high["count"]
    with open(dest, encoding="utf-8") as handle:
        ids = [json.loads(line)["id"] for line in handle]
    assert len(ids) == len(set(ids)) == export["count"]

    second = ansible.playbook([PLAY], extra_vars=extra)
    assert second.rc == 0, second.explain()
    assert second.changed == 0, second.explain()
    assert _retired_asked(retired) == []
    graph_writes = [(r["method"], r["path"]) for r in retired.requests()
                    if r.get("kind") == "graph" and r.get("method") in ("PATCH", "POST") and "alerts_v2" in r["path"]]
    assert graph_writes == [("PATCH", "/v1.0/security/alerts_v2/" + alert_id),
                            ("POST", "/v1.0/security/alerts_v2/%s/comments" % alert_id)]


def test_role_by_alert_through_graph_isolates_and_records_then_changes_nothing(retired, ansible, tmp_path):
    made = retired.incident()
    retired.clear_requests()
    extra = {"incident_response_alert_ids": [made["alert_id"]], "incident_response_alerts_api": "graph",
             "incident_response_report_dir": str(tmp_path / "reports")}
    first = ansible.playbook(RESPOND, extra_vars=extra)
    assert first.rc == 0, first.explain()
    state = retired.alert(made["alert_id"])
    assert state["status"] == "InProgress" and state["comments"]  # recorded through Graph on the same alert
    assert retired.machine(made["machine_id"])["isolationState"] == "isolated"
    second = ansible.playbook(RESPOND, extra_vars=extra)
    assert second.rc == 0, second.explain()
    assert second.changed == 0, second.explain()
    assert _retired_asked(retired) == []
    assert any("alerts_v2" in (r.get("path") or "") for r in retired.requests() if r.get("kind") == "graph")


SOURCE_PROBE = r"""
import asyncio, importlib.util, json, sys
spec = importlib.util.spec_from_file_location("defender_alerts_source", sys.argv[1])
source = importlib.util.module_from_spec(spec)
spec.loader.exec_module(source)
warnings = []
feed, interval, error = source.build({"api": "graph", "since": "40d", "severity": ["High"],
                                      "state_file": sys.argv[2]}, warn=warnings.append)
events = []
for alert, change in feed.poll():
    events.append({"id": alert["id"], "change": change, "severity": alert["severity"]})
    feed.mark(alert)
feed.save(durable=True)
print(json.dumps({"events": events, "warnings": warnings, "again": len(feed.poll())}))
"""


def test_event_source_reads_graph_alerts_each_once(retired, ansible, collection_path, tmp_path):
    source = os.path.join(collection_path, "ansible_collections", "defender", "endpoint", "extensions", "eda",
                          "plugins", "event_source", "alerts.py")
    env = dict(ansible.env)
    env.pop("DEFENDER_ALERTS_API", None)
    proc = subprocess.run([sys.executable, "-c", SOURCE_PROBE, source, str(tmp_path / "state.json")], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    ids = [e["id"] for e in out["events"]]
    assert ids and len(ids) == len(set(ids))
    assert {e["severity"] for e in out["events"]} == {"high"}
    assert out["warnings"] == [] and out["again"] == 0
    assert _retired_asked(retired) == []
