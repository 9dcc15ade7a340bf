# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Advanced hunting through Microsoft Graph end to end: the hunt playbook (query file in, JSON Lines and Markdown
out), one sign-in per resource from one credential, the Graph token lookup, and the service's refusals (quota, lost
answer), through real ansible-playbook against the emulator's Graph host."""
from __future__ import annotations

import json
import os

HUNT = [{"ansible.builtin.import_playbook": "defender.endpoint.hunt"}]


def _graph_posts(emulator):
    return [r for r in emulator.requests() if r.get("kind") == "graph" and r.get("method") == "POST"]


def _token_posts(emulator):
    return [r for r in emulator.requests() if r.get("kind") == "token"]


def test_hunt_playbook_writes_rows_and_summary(emulator, ansible, tmp_path):
    emulator.reset()
    query = tmp_path / "by-severity.kql"
    query.write_text("AlertInfo\n| summarize Alerts = count() by Severity\n| order by Alerts desc\n")
    dest = tmp_path / "hunt.jsonl"
    run = ansible.playbook(HUNT, extra_vars={"query_file": str(query), "dest": str(dest), "timespan": "P30D"})
    assert run.rc == 0, run.explain()
    rows = [json.loads(line) for line in dest.read_text().splitlines()]
    assert rows and set(rows[0]) == {"Severity", "Alerts"}
    summary = (tmp_path / "hunt.md").read_text()
    assert "# Advanced hunting: by-severity.kql" in summary and "| Severity | Alerts |" in summary
    assert "| %s | %s |" % (rows[0]["Severity"], rows[0]["Alerts"]) in summary
    assert oct(os.stat(dest).st_mode & 0o777) == "0o600"
    (post,) = _graph_posts(emulator)
    assert post["path"] == "/v1.0/security/runHuntingQuery" and post["body_keys"] == ["Query", "Timespan"]
    again = ansible.playbook(HUNT, extra_vars={"query_file": str(query), "dest": str(dest), "timespan": "P30D"})
    assert again.rc == 0 and again.changed == 0, again.explain()


def test_one_sign_in_per_resource_and_the_graph_lookup(emulator, ansible):
    emulator.reset()
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "defender", "defender.endpoint.indicator_info": {}},
        {"name": "graph", "defender.endpoint.advanced_hunting": {"query": "DeviceInfo | take 1"}},
        {"name": "graph again", "defender.endpoint.advanced_hunting": {"query": "DeviceInfo | take 2"}},
        {"name": "lookup", "no_log": True, "ansible.builtin.set_fact": {
            "tok": "{{ lookup('defender.endpoint.token', api='graph') }}"}},
        {"name": "with the looked-up token only", "defender.endpoint.advanced_hunting": {
            "query": "DeviceInfo | take 1", "access_token": "{{ tok }}", "client_secret": "",
            "client_id": "", "tenant_id": ""}},
    ]}]
    run = ansible.playbook(play)
    assert run.rc == 0, run.explain()
    assert len(_token_posts(emulator)) == 2, _token_posts(emulator)  # one sign-in for WindowsDefenderATP, one for Graph
    assert run.task("with the looked-up token only")["result"]["count"] == 1
    assert len(_graph_posts(emulator)) == 3


def test_quota_refusal_fails_with_the_service_message(emulator, ansible):
    emulator.reset()
    emulator.call("POST", "/hunting_quota", {"calls": 100, "retry_after": 1})
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "hunt", "defender.endpoint.advanced_hunting": {"query": "DeviceInfo | take 1"},
         "ignore_errors": True}]}]
    run = ansible.playbook(play)
    assert run.task("hunt")["status"] == "failed"
    result = run.task("hunt")["result"]
    assert "hunting quota reached" in result["msg"] and "CPU" in result["msg"], result
    assert result["status"] == 429


def test_lost_answer_is_not_sent_again(emulator, ansible):
    emulator.reset()
    emulator.set_faults({"match": {"kind": "graph", "method": "POST"}, "action": "drop_after", "count": 1})
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "hunt", "defender.endpoint.advanced_hunting": {"query": "DeviceInfo | take 1"},
         "ignore_errors": True}]}]
    run = ansible.playbook(play)
    assert run.task("hunt")["status"] == "failed"
    result = run.task("hunt")["result"]
    assert "not sent again" in result["msg"], result
    assert len(_graph_posts(emulator)) == 1
