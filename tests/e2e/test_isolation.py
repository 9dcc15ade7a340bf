# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_isolation, machine_info and machine_action_info through ansible-playbook against the emulator, each
asserting on the emulator's request log and state."""
from __future__ import annotations

import json
import time

import pytest

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
%s
"""


def play(*tasks):
    return PLAY % "\n".join(tasks)


def isolate_task(name="isolate", **args):
    args.setdefault("comment", "e2e")
    return """    - name: %s
      defender.endpoint.machine_isolation: %s
      register: out
      ignore_errors: true""" % (name, json.dumps(args))


def failed(run, name):
    return run.task(name)["status"] == "failed"


def posts(emulator, machine_id=None, verb=None):
    out = []
    for e in emulator.control.requests(kind="api", method="POST"):
        parts = e["path"].strip("/").split("/")
        if len(parts) == 4 and parts[1] == "machines" and parts[3] in ("isolate", "unisolate"):
            if (machine_id is None or parts[2].lower() == machine_id) and (verb is None or parts[3] == verb):
                out.append(e)
    return out


def actions(emulator, machine_id, type_=None):
    return [a for a in emulator.control.machine_actions(machine_id) if type_ is None or a["type"] == type_]


def wait_state(emulator, machine_id, wanted, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = emulator.control.machine(machine_id)["isolationState"]
        if state == wanted:
            return state
        time.sleep(0.2)
    return emulator.control.machine(machine_id)["isolationState"]


@pytest.fixture
def emu(emulator):
    emulator.reset(machines=300)
    emulator.control.clear_faults()
    return emulator


def test_isolate_by_name_once_then_rerun_sends_nothing_then_release(emu, ansible):
    sp = emu.control.specials()
    fresh = sp["shared_fresh"]
    run = ansible.playbook(play(isolate_task(machine="ambiguous-01.contoso.com"),
                                isolate_task("mixed", machine="DESKTOP-mixed.contoso.com", isolation_type="selective")))
    res = run.result("mixed")
    assert failed(run, "isolate") and "ambiguous" in run.result("isolate")["msg"]
    assert not posts(emu, sp["ambiguous_a"]) and not posts(emu, sp["ambiguous_b"])
    assert res["changed"] and res["results"][0]["machine_id"] == sp["mixed_case"]
    [p] = posts(emu)
    assert p["body"] == {"Comment": "e2e", "IsolationType": "Selective"}
    emu.control.clear_requests()
    # rerun: pending (or already succeeded) isolate counts as done
    run = ansible.playbook(play(isolate_task(machine="desktop-mixed.contoso.com")))
    assert not run.result("isolate")["changed"] and not posts(emu)
    assert wait_state(emu, sp["mixed_case"], "isolated") == "isolated"
    # release, then a rerun sends nothing; the stale duplicate of shared-01 is never touched
    run = ansible.playbook(play(isolate_task(machine="desktop-mixed.contoso.com", state="released", wait=True,
                                             wait_sleep=1),
                                isolate_task("shared", machine="shared-01.contoso.com")))
    rel = run.result("isolate")
    assert rel["changed"] and rel["state"] == "released" and rel["action"]["status"] == "Succeeded"
    assert [p["body"] for p in posts(emu, sp["mixed_case"], "unisolate")] == [{"Comment": "e2e"}]
    assert len(posts(emu, fresh)) == 1 and not posts(emu, sp["shared_stale"])
    emu.control.clear_requests()
    run = ansible.playbook(play(isolate_task(machine="desktop-mixed.contoso.com", state="released")))
    assert not run.result("isolate")["changed"] and not posts(emu)
    assert emu.control.machine(sp["mixed_case"])["isolationState"] == "released"


def test_already_isolated_and_check_mode(emu, ansible):
    sp = emu.control.specials()
    run = ansible.playbook(play(isolate_task(machine="isolated-01.contoso.com"),
                                isolate_task("check", machine="o'brien-laptop.contoso.com")), check=True, diff=True)
    assert not run.result("isolate")["changed"] and run.result("isolate")["previous_state"] == "isolated"
    chk = run.result("check")
    quote = emu.control.machine(sp["quote"])
    # diffs name machines by computer name and id
    assert chk["changed"] and chk["diff"]["after"] == {"%s (%s)" % (quote["computerDnsName"], sp["quote"]): "isolated"}
    assert not posts(emu)
    assert emu.control.machine(sp["quote"])["isolationState"] != "isolated"


def test_quote_name_resolves_and_injection_matches_nothing(emu, ansible):
    sp = emu.control.specials()
    run = ansible.playbook(play(
        isolate_task("inject", machine="x' or computerDnsName ne '"),
        """    - name: info
      defender.endpoint.machine_info: {name: "x' or computerDnsName ne '"}""",
        isolate_task("quote", machine="O'Brien-Laptop.contoso.com", wait=True, wait_sleep=1)))
    assert failed(run, "inject") and "no machine named" in run.result("inject")["msg"]
    assert run.result("info")["machines"] == []
    q = run.result("quote")
    assert q["changed"] and q["results"][0]["machine_id"] == sp["quote"] and q["state"] == "isolated"
    assert [p["path"].split("/")[3] for p in posts(emu)] == [sp["quote"]]
    assert emu.control.machine(sp["quote"])["isolationState"] == "isolated"


def test_wait_reports_failed_action(emu, ansible):
    sp = emu.control.specials()
    emu.control.config(action_outcome={sp["percent"]: "Failed"})
    run = ansible.playbook(play(isolate_task(machine=sp["percent"], wait=True, wait_sleep=1)))
    r = run.result("isolate")
    assert failed(run, "isolate") and r["action"]["status"] == "Failed" and r["action"]["id"] in r["msg"]
    assert len(posts(emu, sp["percent"])) == 1


def test_lost_post_response_gives_at_most_one_action(emu, ansible):
    sp = emu.control.specials()
    emu.control.set_faults({"action": "drop_after", "count": 1,
                            "match": {"method": "POST", "path_regex": "/isolate$"}})
    run = ansible.playbook(play(isolate_task(machine=sp["unicode"])))
    r = run.result("isolate")
    assert len(actions(emu, sp["unicode"], "Isolate")) == 1
    assert len(posts(emu, sp["unicode"])) == 1
    # the action was created before the response was dropped, so the re-read finds and reports it
    assert r["changed"] and not failed(run, "isolate") and "lost" in r["results"][0]["msg"]
    run = ansible.playbook(play(isolate_task(machine=sp["unicode"])))
    assert not run.result("isolate")["changed"] and len(actions(emu, sp["unicode"], "Isolate")) == 1


def test_502_on_isolate_is_outcome_unknown_read_again_never_resent(emu, ansible):
    sp = emu.control.specials()
    mid = sp["unicode"]
    emu.control.set_faults({"action": "status", "status": 502, "count": 1,
                            "match": {"method": "POST", "path_regex": "/isolate$"}})
    run = ansible.playbook(play(isolate_task(machine=mid)))
    r = run.result("isolate")
    assert failed(run, "isolate") and not r["changed"], r
    assert "outcome unknown" in r["results"][0]["msg"] and "HTTP 502" in r["results"][0]["msg"]
    assert len(posts(emu, mid)) == 1 and not actions(emu, mid, "Isolate")
    # the history was read again after the 502
    after = [e for e in emu.control.requests(kind="api") if e["seq"] > posts(emu, mid)[0]["seq"]]
    assert any(e["method"] == "GET" and e["path"] == "/api/machineactions" for e in after)
    run = ansible.playbook(play(isolate_task(machine=mid)))
    assert run.result("isolate")["changed"] and len(actions(emu, mid, "Isolate")) == 1


def test_return_pending_duplicate_and_out_of_order_release_ends_released(emu, ansible):
    sp = emu.control.specials()
    mid = sp["quote"]
    emu.control.config(duplicate_mode="return_pending", out_of_order=True, lifecycle={"pending": 15, "in_progress": 3})
    # cancel_pending=false: wait for the pending isolate to be applied, then release (the default would cancel it)
    run = ansible.playbook(play(isolate_task(machine=mid), isolate_task("again", machine=mid),
                                isolate_task("release", machine=mid, state="released", wait=True, wait_sleep=1,
                                             wait_timeout=60, cancel_pending=False)))
    assert run.result("isolate")["changed"] and not run.result("again")["changed"]
    rel = run.result("release")
    assert rel["changed"] and not failed(run, "release"), rel
    assert rel["previous_state"] == "isolation_pending" and rel["state"] == "released"
    assert len(actions(emu, mid, "Isolate")) == 1 and len(actions(emu, mid, "Unisolate")) == 1
    assert wait_state(emu, mid, "released") == "released"


def cancels(emulator):
    return [e for e in emulator.control.requests(kind="api", method="POST") if e["path"].endswith("/cancel")]


def test_release_with_isolate_stuck_pending_cancels_it_and_ends_released(emu, ansible):
    """Issue 5: an Isolate can stay Pending indefinitely (machine offline); releasing must end released instead of
    failing after wait_timeout on every run."""
    sp = emu.control.specials()
    mid = sp["quote"]
    emu.control.config(lifecycle={"pending": 3600, "in_progress": 3600})
    run = ansible.playbook(play(isolate_task(machine=mid)))
    iso = run.result("isolate")["action"]
    assert iso["status"] == "Pending"
    emu.control.clear_requests()
    # check mode predicts the cancel and sends nothing
    run = ansible.playbook(play(isolate_task("release", machine=mid, state="released")), check=True)
    chk = run.result("release")
    assert chk["changed"] and chk["results"][0]["cancelled"][0]["id"] == iso["id"] and chk["state"] == "released"
    assert not cancels(emu) and not posts(emu)
    # the release cancels the stuck isolate at once (no wait_timeout spent), with the comment
    start = time.monotonic()
    run = ansible.playbook(play(isolate_task("release", machine=mid, state="released", comment="INC-9 release",
                                             wait=True, wait_sleep=1, wait_timeout=120)))
    assert time.monotonic() - start < 60
    rel = run.result("release")
    assert rel["changed"] and not failed(run, "release"), rel
    [cancelled] = rel["results"][0]["cancelled"]
    assert cancelled["id"] == iso["id"] and cancelled["status"] == "Cancelled"
    assert rel["previous_state"] == "isolation_pending" and rel["state"] == "released"
    [c] = cancels(emu)
    assert c["path"] == "/api/machineactions/%s/cancel" % iso["id"] and c["body"] == {"Comment": "INC-9 release"}
    assert [a["status"] for a in actions(emu, mid, "Isolate")] == ["Cancelled"]
    # "unknown" is the emulator's word for a machine no isolate/unisolate was ever applied to: not isolated
    assert emu.control.machine(mid)["isolationState"] in ("released", "unknown")
    # a re-run changes nothing
    emu.control.clear_requests()
    run = ansible.playbook(play(isolate_task("release", machine=mid, state="released")))
    assert not run.result("release")["changed"] and not cancels(emu) and not posts(emu)


def test_release_without_cancel_pending_still_fails_and_sends_nothing(emu, ansible):
    sp = emu.control.specials()
    mid = sp["quote"]
    emu.control.config(lifecycle={"pending": 3600, "in_progress": 3600})
    ansible.playbook(play(isolate_task(machine=mid)))
    emu.control.clear_requests()
    run = ansible.playbook(play(isolate_task("release", machine=mid, state="released", cancel_pending=False,
                                             wait_timeout=2, wait_sleep=1)))
    assert failed(run, "release") and "out of order" in run.result("release")["msg"]
    assert not cancels(emu) and not posts(emu)


def test_250_machines_throttled(emu, ansible):
    emu.reset(machines=300, time_scale=0.05, lifecycle={"pending": 0.2, "in_progress": 0.2})
    ids = emu.control.query("machines", "isPotentialDuplication eq false")
    ids = ids["ids"] if isinstance(ids, dict) else ids
    specials = set(emu.control.specials().values())
    ids = [i for i in ids if i not in specials][:250]
    names = [emu.control.machine(i)["computerDnsName"] for i in ids[:125]] + ids[125:]
    assert len(names) == 250
    emu.control.clear_requests()
    start = time.monotonic()
    run = ansible.playbook(play(isolate_task(machines=names, max_parallel=16, requests_per_minute=6000)))
    elapsed = time.monotonic() - start
    r = run.result("isolate")
    assert not failed(run, "isolate"), r.get("msg")
    assert r["changed"] and len(r["results"]) == 250 and all(x["changed"] for x in r["results"])
    stats = emu.control.stats()
    log = emu.control.requests(kind="api")
    print("250 machines: %.1fs, %d API requests, %d throttled" % (elapsed, len(log), stats["throttled"]))
    for i in ids:
        acts = actions(emu, i, "Isolate")
        assert len(acts) == 1, (i, acts)
    time.sleep(1)
    done = [a for a in emu.control.machine_actions() if a["type"] == "Isolate" and a["status"] == "Succeeded"]
    assert len({a["machineId"] for a in done} & set(ids)) == 250
    # a rerun changes nothing and sends no POST
    emu.control.clear_requests()
    run = ansible.playbook(play(isolate_task(machines=names, max_parallel=16, requests_per_minute=6000)))
    assert not run.result("isolate")["changed"] and not posts(emu)
