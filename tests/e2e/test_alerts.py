# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""alert_info and alert through real ansible-playbook runs against the emulator (issue 4)."""
from __future__ import annotations

import json
import os
import stat
import time


def api_requests(emulator, method=None):
    return list(emulator.control.requests(kind="api", method=method))


def query(emulator, flt):
    return emulator.control.call("POST", "/query/alerts", {"filter": flt})["ids"]


def test_25000_alerts_are_complete_and_pages_stay_under_the_cap(emulator, ansible):
    emulator.reset(alerts=25000)
    started = time.monotonic()
    run = ansible.playbook("""
- hosts: localhost
  tasks:
    - name: read every alert
      defender.endpoint.alert_info: {}
      register: everything
      no_log: true   # keeps 25,000 alerts out of the recorded results
    - name: check
      ansible.builtin.assert:
        that:
          - everything.count == 25000
          - everything.alerts | length == 25000
          - everything.alerts | map(attribute='id') | unique | length == 25000
          - everything.filter is none
    - name: requests
      ansible.builtin.debug:
        msg: "{{ everything.requests }}"
""")
    elapsed = time.monotonic() - started
    assert run.rc == 0, run.stdout + run.stderr
    lists = [r for r in api_requests(emulator, "GET") if r["path"] == "/api/alerts"]
    assert lists, "the list endpoint was used"
    assert all(0 < int(r["query"]["$top"]) <= 10000 for r in lists)
    assert len(lists) == 3 == int(run.result("requests")["msg"])
    print("25,000 alerts: %d list requests, %.1f s (playbook, including sign-in)" % (len(lists), elapsed))


def test_export_25000_to_json_lines(emulator, ansible, tmp_path):
    emulator.reset(alerts=25000)
    dest = tmp_path / "out" / "alerts.jsonl"
    dest.parent.mkdir()
    run = ansible.playbook("""
- hosts: localhost
  tasks:
    - name: export
      defender.endpoint.alert_export:
        dest: "{{ dest }}"
      register: export
""", extra_vars={"dest": str(dest)})
    assert run.rc == 0, run.stdout + run.stderr
    result = run.result("export")
    assert result["changed"] is True and result["count"] == 25000 and result["path"] == str(dest)
    assert "alerts" not in result
    ids = [json.loads(line)["id"] for line in dest.read_text(encoding="utf-8").splitlines()]
    assert len(ids) == 25000 == len(set(ids))
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert os.listdir(dest.parent) == ["alerts.jsonl"]
    assert all(int(r["query"]["$top"]) <= 10000 for r in api_requests(emulator, "GET"))

    # check mode reads and counts but writes nothing
    other = tmp_path / "out" / "check.jsonl"
    run = ansible.playbook("""
- hosts: localhost
  tasks:
    - name: export
      defender.endpoint.alert_export:
        dest: "{{ dest }}"
        severity: [High]
      register: export
""", extra_vars={"dest": str(other)}, check=True)
    assert run.rc == 0, run.stdout + run.stderr
    assert run.result("export")["count"] == len(query(emulator, "severity eq 'High'"))
    assert not other.exists()


FILTERS = [
    {"severity": ["high"]},
    {"severity": ["High", "medium"], "status": ["new", "InProgress"]},
    {"status": ["Resolved"], "created_after": "7d"},
    {"created_after": "30d", "created_before": "2d"},
    {"updated_after": "3d", "severity": ["Low", "Informational", "UnSpecified"]},
    {"category": ["Malware", "Execution"], "filter": "detectionSource eq 'WindowsDefenderAv' or status eq 'New'"},
]


def test_filters_match_the_emulators_own_evaluation(emulator, ansible):
    emulator.reset(alerts=3000)
    tasks = []
    for n, params in enumerate(FILTERS):
        tasks.append({"name": "filter %d" % n, "defender.endpoint.alert_info": params, "register": "f%d" % n})
    run = ansible.playbook([{"hosts": "localhost", "tasks": tasks}])
    assert run.rc == 0, run.stdout + run.stderr
    nonempty = 0
    for n in range(len(FILTERS)):
        result = run.result("filter %d" % n)
        got = [a["id"] for a in result["alerts"]]
        expected = query(emulator, result["filter"])
        assert result["count"] == len(got) == len(set(got))
        assert sorted(got) == sorted(expected), (FILTERS[n], result["filter"])
        nonempty += bool(got)
    assert nonempty >= 4, "the filters should select something in the seeded data"


def test_machine_id_reads_each_machines_alerts_endpoint(emulator, ansible):
    """machineId is not a documented alert filter field: alert_info reads GET /api/machines/{id}/alerts for each
    machine, with the other filters there. An odd id stays one path segment; the service does not know it (404),
    and only /api/machines documents a 404 as "none", so that task fails naming the URL."""
    emulator.reset(alerts=500)
    some = emulator.control.call("POST", "/query/alerts", {"filter": "severity eq 'High'"})["ids"][0]
    alert = emulator.control.call("GET", "/state/alerts/" + some)
    run = ansible.playbook("""
- hosts: localhost
  tasks:
    - name: by machine
      defender.endpoint.alert_info:
        machine_id: ["{{ machine }}"]
        created_before: "{{ created }}"
      register: by_machine
    - name: unknown machine
      defender.endpoint.alert_info:
        machine_id: ["{{ machine }}", "it's-not-a-machine"]
      register: unknown
      ignore_errors: true
""", extra_vars={"machine": alert["machineId"], "created": "2999-01-01T00:00:00Z"})
    assert run.rc == 0, run.stdout + run.stderr
    result = run.result("by machine")
    assert result["filter"] == "alertCreationTime lt 2999-01-01T00:00:00Z"
    expected = query(emulator, "machineId eq '%s' and %s" % (alert["machineId"], result["filter"]))
    assert sorted(a["id"] for a in result["alerts"]) == sorted(expected)
    assert some in [a["id"] for a in result["alerts"]]
    unknown = run.result("unknown machine")
    assert run.task("unknown machine")["status"] == "failed" and unknown["status"] == 404
    assert "was not found" in unknown["msg"] and "/api/machines/it%27s-not-a-machine/alerts" in unknown["msg"]
    paths = [r["path"] for r in api_requests(emulator, "GET")]
    assert "/api/machines/%s/alerts" % alert["machineId"] in paths
    assert "/api/machines/it's-not-a-machine/alerts" in paths  # the emulator logs the decoded path
    assert "/api/alerts" not in paths


def _new_alert(emulator):
    return query(emulator, "status eq 'New' and assignedTo eq null")[0]


def test_update_once_rerun_and_check_mode(emulator, ansible):
    emulator.reset(alerts=200)
    alert_id = _new_alert(emulator)
    playbook = """
- hosts: localhost
  tasks:
    - name: resolve
      defender.endpoint.alert:
        id: "{{ alert_id }}"
        status: resolved
        assigned_to: soc@contoso.com
        classification: FalsePositive
        determination: Clean
        comment: "Benign: nightly signing job (CHG-4711)."
      register: resolve
"""
    first = ansible.playbook(playbook, extra_vars={"alert_id": alert_id}, diff=True)
    assert first.rc == 0, first.stdout + first.stderr
    res = first.result("resolve")
    assert res["changed"] is True
    assert res["results"][0]["changes"]["status"] == "Resolved"
    assert res["diff"]["before"]["status"] == "New" and res["diff"]["after"]["status"] == "Resolved"
    patches = api_requests(emulator, "PATCH")
    assert len(patches) == 1
    assert set(patches[0]["body_keys"]) == {"status", "assignedTo", "classification", "determination", "comment"}
    state = emulator.control.call("GET", "/state/alerts/" + alert_id)
    assert state["status"] == "Resolved" and state["determination"] == "Clean"
    assert [c["comment"] for c in state["comments"]].count("Benign: nightly signing job (CHG-4711).") == 1

    second = ansible.playbook(playbook, extra_vars={"alert_id": alert_id})
    assert second.rc == 0 and second.result("resolve")["changed"] is False
    assert len(api_requests(emulator, "PATCH")) == 1, "a rerun sends no PATCH"

    check = ansible.playbook(playbook.replace("status: resolved", "status: InProgress"),
                             extra_vars={"alert_id": alert_id}, check=True, diff=True)
    assert check.rc == 0, check.stdout + check.stderr
    res = check.result("resolve")
    assert res["changed"] is True and res["alerts"][0]["status"] == "InProgress"
    assert res["results"][0]["changes"] == {"status": "InProgress"}
    assert len(api_requests(emulator, "PATCH")) == 1, "check mode sends no PATCH"
    assert emulator.control.call("GET", "/state/alerts/" + alert_id)["status"] == "Resolved"


RESOLVE_ONE = """
- hosts: localhost
  tasks:
    - name: resolve
      defender.endpoint.alert:
        id: "{{ alert_id }}"
        status: Resolved
      register: resolve
      ignore_errors: true
"""


def _module_patches(emulator, alert_id):
    return [r for r in api_requests(emulator, "PATCH") if r["path"] == "/api/alerts/" + alert_id]


def test_patch_answered_502_and_not_applied_fails_clearly_without_resending(emulator, ansible):
    """A gateway 502 on a PATCH leaves the outcome unknown: the alert is read again, never re-sent; here the change
    is not visible, so the task fails saying so."""
    emulator.reset(alerts=200)
    alert_id = _new_alert(emulator)
    emulator.control.set_faults({"action": "status", "status": 502, "count": 1,
                                 "match": {"method": "PATCH", "path_regex": "^/api/alerts/"}})
    run = ansible.playbook(RESOLVE_ONE, extra_vars={"alert_id": alert_id})
    res = run.result("resolve")
    assert run.task("resolve")["status"] == "failed" and res["changed"] is False, run.explain()
    assert "do not show the change" in res["msg"] and "not re-sent" in res["msg"] and res["status"] == 502
    assert len(_module_patches(emulator, alert_id)) == 1, "no second PATCH"
    gets = [r for r in api_requests(emulator, "GET") if r["path"] == "/api/alerts/" + alert_id]
    assert len(gets) == 2, "read before the PATCH and once again after the 502"
    assert emulator.control.call("GET", "/state/alerts/" + alert_id)["status"] == "New"
    # the next run (no fault) applies it
    run = ansible.playbook(RESOLVE_ONE, extra_vars={"alert_id": alert_id})
    assert run.result("resolve")["changed"] is True and len(_module_patches(emulator, alert_id)) == 2


def test_patch_answered_502_but_applied_is_reported_changed(emulator, ansible):
    """The emulator's 502 fault answers before processing, so the applied case is staged: while the module's
    re-read is held back by a delay fault, another app applies the same change (as the service would have behind
    a gateway that answered 502). The module must see it, report changed, and not PATCH again."""
    import re
    import threading

    import requests

    emulator.reset(alerts=200)
    alert_id = _new_alert(emulator)
    path = "/api/alerts/" + alert_id
    emulator.control.set_faults(
        {"action": "status", "status": 502, "count": 1, "match": {"method": "PATCH", "path_regex": "^/api/alerts/"}},
        {"action": "delay", "seconds": 4, "count": 1, "after": 1,
         "match": {"method": "GET", "path_regex": "^%s$" % re.escape(path)}})
    token = emulator.control.mint_token("partner")["access_token"]
    applied = {}

    def other_writer():
        deadline = time.time() + 60
        while time.time() < deadline:
            if any(r.get("fault") == "status" for r in _module_patches(emulator, alert_id)):
                answer = requests.patch(emulator.api_url + path, json={"status": "Resolved"}, timeout=30,
                                        headers={"Authorization": "Bearer " + token}, verify=emulator.ca_path)
                applied["status"] = answer.status_code
                return
            time.sleep(0.1)

    writer = threading.Thread(target=other_writer)
    writer.start()
    run = ansible.playbook(RESOLVE_ONE, extra_vars={"alert_id": alert_id})
    writer.join()
    assert applied.get("status") == 200, applied
    res = run.result("resolve")
    assert run.task("resolve")["status"] == "changed" and res["changed"] is True, run.explain()
    assert res["alerts"][0]["status"] == "Resolved"
    # the faulted PATCH is logged before authentication (app None); every other PATCH but the writer's is the module's
    patches = _module_patches(emulator, alert_id)
    other_app = emulator.apps["partner"]["client_id"]
    assert len([p for p in patches if p["app"] != other_app]) == 1, "the module sent one PATCH: %s" % patches
    assert len([p for p in patches if p["app"] == other_app]) == 1


def test_ids_use_batch_update_and_are_idempotent(emulator, ansible):
    emulator.reset(alerts=300)
    ids = query(emulator, "status eq 'New'")[:25]
    assert len(ids) == 25
    playbook = """
- hosts: localhost
  tasks:
    - name: bulk
      defender.endpoint.alert:
        ids: "{{ ids }}"
        status: InProgress
        assigned_to: oncall@contoso.com
        comment: Triage started.
      register: bulk
"""
    run = ansible.playbook(playbook, extra_vars={"ids": ids})
    assert run.rc == 0, run.stdout + run.stderr
    res = run.result("bulk")
    assert res["changed"] is True and all(r["changed"] for r in res["results"])
    assert [a["id"] for a in res["alerts"]] == ids
    assert all(a["status"] == "InProgress" and a["assignedTo"] == "oncall@contoso.com" for a in res["alerts"])
    posts = api_requests(emulator, "POST")
    batch = [p for p in posts if p["path"].lower().endswith("/alerts/batchupdate")]
    assert len(batch) == 1 and sorted(batch[0]["body"]["alertIds"]) == sorted(ids)
    assert not api_requests(emulator, "PATCH")
    reads = [r for r in api_requests(emulator, "GET") if r["path"] == "/api/alerts"]
    # "id in (...)" is not documented: the emulator answers 400 as the service does, and the alerts are read with the
    # documented fallback, "(id eq 'a' or id eq 'b' ...)", which is the path every test takes.
    forms = [r["query"].get("$filter", "") for r in reads]
    assert forms and all(f.startswith(("id in (", "(id eq ")) for f in forms)
    assert any(f.startswith("(id eq ") for f in forms)

    again = ansible.playbook(playbook, extra_vars={"ids": ids})
    assert again.rc == 0 and again.result("bulk")["changed"] is False
    assert len([p for p in api_requests(emulator, "POST") if "batchupdate" in p["path"].lower()]) == 1
    for alert_id in ids[:3]:
        state = emulator.control.call("GET", "/state/alerts/" + alert_id)
        assert [c["comment"] for c in state["comments"]].count("Triage started.") == 1


def test_bad_values_fail_before_any_request(emulator, ansible):
    emulator.reset(alerts=10)
    run = ansible.playbook("""
- hosts: localhost
  tasks:
    - name: bad severity
      defender.endpoint.alert_info:
        severity: [Critical]
      ignore_errors: true
    - name: bad status
      defender.endpoint.alert:
        id: whatever
        status: Closed
      ignore_errors: true
    - name: bad determination
      defender.endpoint.alert:
        ids: [a, b]
        determination: Apt
      ignore_errors: true
    - name: bad time
      defender.endpoint.alert_info:
        created_after: last tuesday
      ignore_errors: true
    - name: page size
      defender.endpoint.alert_info:
        page_size: 20000
      ignore_errors: true
    - name: id and filters
      defender.endpoint.alert_info:
        id: x
        status: [New]
      ignore_errors: true
""")
    assert run.rc == 0, run.stdout + run.stderr
    for name, word in (("bad severity", "severity must be one of"), ("bad status", "status must be one of"),
                       ("bad determination", "determination must be one of"), ("bad time", "created_after"),
                       ("page size", "page_size"), ("id and filters", "mutually exclusive")):
        rec = run.task(name)
        assert rec["status"] == "failed" and word in rec["result"]["msg"], (name, rec["result"].get("msg"))
    assert emulator.control.requests() == [], "nothing reached the emulator, not even sign-in"
