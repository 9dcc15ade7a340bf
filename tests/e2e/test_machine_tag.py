# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_tag through ansible-playbook against the emulator: a bulk of 1,000 machines within the documented
limits (500 per multi-machine call, one tag per call), reruns and check mode send nothing, a lost response is read
back and never re-sent, a 502 on the bulk call is an unknown outcome."""
from __future__ import annotations

import json
import math
import time

import pytest

BULK = "/api/machines/AddOrRemoveTagForMultipleMachines"
PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: tag
      defender.endpoint.machine_tag: %s
      register: out
      ignore_errors: true
"""


def play(**args):
    return PLAY % json.dumps(args)


def tag_posts(emulator):
    return [e for e in emulator.control.requests(kind="api", method="POST")
            if e["path"] == BULK or e["path"].endswith("/tags")]


def live_ids(emulator, n):
    ids = emulator.control.query("machines", "isPotentialDuplication eq false")
    ids = ids["ids"] if isinstance(ids, dict) else ids
    specials = set(emulator.control.specials().values())
    return [i for i in ids if i not in specials][:n]


@pytest.fixture
def emu(emulator):
    emulator.reset(machines=60)
    emulator.control.clear_faults()
    return emulator


def test_1000_machines_two_tags_within_the_limits(emu, ansible):
    # time_scale: the emulator's minute lasts 3 s, so the three runs (108 reads and writes) stay quick while still
    # counted against its 100-per-minute limit
    emu.reset(machines=1100, time_scale=0.05)
    ids = live_ids(emu, 1000)
    assert len(ids) == 1000
    emu.control.clear_requests()
    start = time.monotonic()
    run = ansible.playbook(play(machines=ids, tags=["INC-7", "contained"]))
    elapsed = time.monotonic() - start
    r = run.result("tag")
    assert run.task("tag")["status"] == "changed", r.get("msg")
    assert len(r["results"]) == 1000 and all(x["changed"] and x["added"] == ["INC-7", "contained"]
                                             for x in r["results"])
    log = emu.control.requests(kind="api")
    posts = tag_posts(emu)
    reads = [e for e in log if e["method"] == "GET" and e["path"].startswith("/api/machines")]
    print("1000 machines, 2 tags: %.1fs, %d API requests (%d machine reads, %d tag calls), %d throttled"
          % (elapsed, len(log), len(reads), len(posts), emu.control.stats().get("throttled", 0)))
    assert [(e["path"], e["body"]["Value"], len(e["body"]["MachineIds"])) for e in posts] == [
        (BULK, "INC-7", 500), (BULK, "INC-7", 500), (BULK, "contained", 500), (BULK, "contained", 500)]
    assert sorted(i for e in posts[:2] for i in e["body"]["MachineIds"]) == sorted(ids)
    assert len(reads) == math.ceil(1000 / 20) and len(log) == len(reads) + 4
    sample = emu.control.machine(ids[999])["machineTags"]
    assert sample[-2:] == ["INC-7", "contained"]
    # a rerun and a check-mode run send no write
    emu.control.clear_requests()
    run = ansible.playbook(play(machines=ids, tags=["INC-7", "contained"]))
    assert run.task("tag")["status"] == "ok" and not tag_posts(emu)
    run = ansible.playbook(play(machines=ids[:10], tags=["INC-7"], state="absent"), check=True)
    assert run.task("tag")["status"] == "changed" and not tag_posts(emu)
    assert "INC-7" in emu.control.machine(ids[0])["machineTags"]


def test_lost_bulk_response_is_read_back_not_resent(emu, ansible):
    ids = live_ids(emu, 5)
    emu.control.set_faults({"action": "drop_after", "count": 1, "match": {"method": "POST", "path_regex": BULK}})
    emu.control.clear_requests()
    run = ansible.playbook(play(machines=ids, tags=["INC-8"]))
    r = run.result("tag")
    assert run.task("tag")["status"] == "changed", r.get("msg")
    assert len(tag_posts(emu)) == 1
    assert all(x["changed"] and x["tags"][-1] == "INC-8" and not x["failed"] for x in r["results"])
    after = [e for e in emu.control.requests(kind="api") if e["seq"] > tag_posts(emu)[0]["seq"]]
    assert [e["path"] for e in after] == ["/api/machines"]  # read back, nothing sent again


def test_502_on_bulk_is_outcome_unknown_and_a_rerun_completes(emu, ansible):
    ids = live_ids(emu, 3)
    emu.control.set_faults({"action": "status", "status": 502, "count": 1,
                            "match": {"method": "POST", "path_regex": BULK}})
    emu.control.clear_requests()
    run = ansible.playbook(play(machines=ids, tags=["INC-9"]))
    r = run.result("tag")
    assert run.task("tag")["status"] == "failed" and not r["changed"]
    assert all("outcome unknown" in x["msg"] for x in r["results"]) and len(tag_posts(emu)) == 1
    assert not any("INC-9" in emu.control.machine(i)["machineTags"] for i in ids)
    run = ansible.playbook(play(machines=ids, tags=["INC-9"]))
    assert run.task("tag")["status"] == "changed"
    assert all("INC-9" in emu.control.machine(i)["machineTags"] for i in ids) and len(tag_posts(emu)) == 2


def test_bulk_404_is_split_and_sent_again(emu, ansible):
    ids = live_ids(emu, 6)
    emu.control.set_faults({"action": "status", "status": 404, "count": 1,
                            "match": {"method": "POST", "path_regex": BULK}})
    emu.control.clear_requests()
    run = ansible.playbook(play(machines=ids, tags=["INC-10"]))
    r = run.result("tag")
    assert run.task("tag")["status"] == "changed", r.get("msg")
    assert [len(e["body"]["MachineIds"]) for e in tag_posts(emu)] == [6, 3, 3]
    assert all(x["changed"] and not x["failed"] for x in r["results"])
    assert all("INC-10" in emu.control.machine(i)["machineTags"] for i in ids)


@pytest.mark.parametrize("n", [1, 3])
def test_an_accepted_tag_call_not_shown_yet_is_a_change_with_a_warning(emu, ansible, n):
    """Tags can take a while to show: the service's answer that does not show the new tag yet is not a failure."""
    emu.control.config(tag_answer_stale=True)
    ids = live_ids(emu, n)
    emu.control.clear_requests()
    run = ansible.playbook(play(machines=ids, tags=["INC-42"]))
    r = run.result("tag")
    assert run.task("tag")["status"] == "changed", r.get("msg")
    assert all(x["tags"][-1] == "INC-42" and not x["failed"] and "not shown yet" in x["msg"] for x in r["results"])
    assert any("take a while to appear" in w for w in r.get("warnings", [])), r.get("warnings")
    assert len(tag_posts(emu)) == 1
    emu.control.clear_requests()
    run = ansible.playbook(play(machines=ids, tags=["INC-42"]))
    assert run.task("tag")["status"] == "ok" and not tag_posts(emu)
