# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many machines given by id are read as filtered lists in pages, not with one GET each: the figure of requests
made against the emulator, through a real ansible-playbook run (machine_isolation in check mode resolves through
module_utils/machines.py, the resolver every machine module shares)."""
from __future__ import annotations

import json
import math

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: resolve
      defender.endpoint.machine_isolation: %s
      register: out
"""


def _live_ids(emulator, n):
    ids = emulator.control.query("machines", "isPotentialDuplication eq false")
    ids = ids["ids"] if isinstance(ids, dict) else ids
    specials = set(emulator.control.specials().values())
    return [i for i in ids if i not in specials][:n]


def test_250_ids_and_50_names_are_read_in_filtered_pages(emulator, ansible):
    emulator.reset(machines=320)
    emulator.control.clear_faults()
    ids = _live_ids(emulator, 300)
    assert len(ids) == 300
    names = [emulator.control.machine(i)["computerDnsName"] for i in ids[250:]]
    refs = ids[:250] + names
    emulator.control.clear_requests()
    run = ansible.playbook(PLAY % json.dumps({"machines": refs, "comment": "e2e reads"}), check=True)
    assert run.rc == 0, run.stdout
    r = run.result("resolve")
    assert [x["machine_id"] for x in r["results"]] == ids and not any(x["failed"] for x in r["results"])
    log = emulator.control.requests(kind="api")
    assert not [e for e in log if e["method"] != "GET"], "check mode sent a write"
    lists = [e for e in log if e["path"] == "/api/machines"]
    singles = [e for e in log if e["path"].startswith("/api/machines/")]
    history = [e for e in log if e["path"] == "/api/machineactions"]
    print("300 machines (250 ids, 50 names): %d machine list requests, %d single GETs, %d history reads, %d API "
          "requests in all; longest URL %d characters"
          % (len(lists), len(singles), len(history), len(log), max(e["url_length"] for e in log)))
    assert len(lists) == math.ceil(250 / 20) + math.ceil(50 / 20)
    assert not singles
    assert len(history) == math.ceil(300 / 20)
    assert max(e["url_length"] for e in log) < 2048
