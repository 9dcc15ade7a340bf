# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress on long work, as a person running ansible-playbook sees it: lines in the normal output (no -v) at
least every 10 seconds, saying what is counted or waited for, with no secret, and the task's result unchanged."""
from __future__ import annotations

import json
import os
import re

import pytest

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
%s
"""
LINE = re.compile(r"^defender\.endpoint\.(\w+) \[localhost\]: (.*) \((\d+)s\)$")


def task(name, module, args, extra=""):
    return "    - name: %s\n      defender.endpoint.%s: %s\n      register: out\n%s" % (
        name, module, json.dumps(args), extra)


def progress_lines(stdout, module):
    out = []
    for line in stdout.splitlines():
        m = LINE.match(line.strip())
        if m and m.group(1) == module:
            out.append((m.group(2), int(m.group(3))))
    return out


def assert_paced(lines):
    """A first line within 10 s of the start and then at least one every 10 s (1 s of polling slack)."""
    times = [t for _msg, t in lines]
    assert times and times[0] <= 10, lines
    assert all(b - a <= 11 for a, b in zip(times, times[1:])), lines


def assert_no_secret(emulator, text):
    for app in emulator.settings["apps"].values():
        for key in ("client_secret", "certificate_password"):
            if app.get(key):
                assert app[key] not in text
    assert "eyJ" not in text, "something shaped like a token was printed"


@pytest.fixture
def emu(emulator):
    emulator.reset(alerts=6000, machines=40)
    emulator.control.clear_faults()
    yield emulator
    emulator.control.clear_faults()
    emulator.control.config(lifecycle={"pending": 0.5, "in_progress": 0.5})


def test_export_prints_counts_while_it_runs_and_result_is_the_same(emu, ansible, tmp_path):
    # each page of 500 takes 1.5 s more: 13 requests, about 20 s of export
    emu.control.set_faults({"match": {"method": "GET", "path_regex": "^/api/alerts$"}, "action": "delay",
                            "seconds": 1.5})
    async_dir = tmp_path / "async"
    (tmp_path / "out").mkdir()
    dest = tmp_path / "out" / "alerts.csv"
    run = ansible.playbook(PLAY % task("export", "alert_export", {"dest": str(dest), "page_size": 500}),
                           env={"ANSIBLE_ASYNC_DIR": str(async_dir)})
    assert run.rc == 0, run.explain()
    result = run.result("export")
    assert result["changed"] is True and result["count"] == 6000 and result["format"] == "csv"
    lines = progress_lines(run.stdout, "alert_export")
    assert len(lines) >= 2, run.stdout
    assert_paced(lines)
    counts = [int(m.group(1).replace(",", "")) for m in (re.match(r"([\d,]+) alerts written, \d+ requests?$", msg)
                                                         for msg, _t in lines) if m]
    assert counts and counts == sorted(counts) and counts[-1] <= 6000, lines
    assert_no_secret(emu, run.stdout + run.stderr)
    assert not async_dir.exists() or not os.listdir(async_dir), "no async job file is left behind"
    assert os.listdir(tmp_path / "out") == ["alerts.csv"], "no temporary file left"

    # the same export without progress (plain module run) writes the same content: nothing changes
    emu.control.clear_faults()
    quiet = ansible.playbook(PLAY % task("export", "alert_export", {"dest": str(dest), "page_size": 500}),
                             extra_vars={"defender_progress": False})
    assert quiet.rc == 0, quiet.explain()
    assert quiet.result("export")["changed"] is False
    assert quiet.result("export")["sha256"] == result["sha256"]
    assert not progress_lines(quiet.stdout, "alert_export")


def test_isolation_wait_says_what_it_waits_for(emu, ansible):
    emu.control.config(lifecycle={"pending": 9, "in_progress": 6})
    sp = emu.control.specials()
    machine = emu.control.machine(sp["mixed_case"])
    run = ansible.playbook(PLAY % task("isolate", "machine_isolation",
                                       {"machine": machine["id"], "comment": "progress", "wait": True,
                                        "wait_sleep": 1, "wait_timeout": 120}))
    assert run.rc == 0, run.explain()
    result = run.result("isolate")
    assert result["changed"] is True and result["results"][0]["state"] == "isolated"
    lines = progress_lines(run.stdout, "machine_isolation")
    assert_paced(lines)
    waits = [msg for msg, _t in lines if msg.startswith("waiting for")]
    assert waits, lines
    first = waits[0]
    assert first.startswith("waiting for 1 of 1 action: Isolate on %s (%s) Pending"
                            % (machine["computerDnsName"], machine["id"][:12])), lines
    assert any("InProgress" in msg for msg, _t in lines), lines
    assert_no_secret(emu, run.stdout + run.stderr)


def test_failure_and_check_mode_come_through_unchanged(emu, ansible, tmp_path):
    emu.control.set_faults({"match": {"method": "GET", "path_regex": "^/api/alerts$"}, "action": "delay",
                            "seconds": 2})
    dest = tmp_path / "a.jsonl"
    run = ansible.playbook(PLAY % (task("check", "alert_export", {"dest": str(dest), "page_size": 2000})
                                   + task("bad", "alert_export", {"dest": str(tmp_path / "no" / "a.jsonl")},
                                          "      ignore_errors: true\n")), check=True)
    assert run.rc == 0, run.explain()
    assert run.result("check")["changed"] is True and run.result("check")["count"] == 6000
    assert not dest.exists()
    assert any("alerts read (check mode)" in msg for msg, _t in progress_lines(run.stdout, "alert_export")), \
        run.stdout
    bad = run.task("bad")
    assert bad["status"] == "failed" and "does not exist" in bad["result"]["msg"]


def test_bulk_indicators_say_which_chunk_they_send(emu, ansible, tmp_path):
    # each import call takes 4 s more: 3 calls of 500, about 12 s, so a changed chunk is printed after the first
    # line (a change is shown at most every 5 s) whatever the task's start-up cost
    emu.control.set_faults({"match": {"method": "POST", "path_regex": "/api/indicators/import$"}, "action": "delay",
                            "seconds": 4})
    items = tmp_path / "bulk.yml"
    items.write_text("\n".join("- {value: '%064x', type: file_sha256}" % i for i in range(1500)) + "\n")
    play = PLAY % task("bulk", "indicator", {"action": "block", "title": "bulk", "description": "bulk",
                                             "indicators": "{{ lookup('file', '%s') | from_yaml }}" % items})
    run = ansible.playbook(play)
    assert run.rc == 0, run.explain()
    assert run.result("bulk")["created"] == 1500
    lines = progress_lines(run.stdout, "indicator")
    assert_paced(lines)
    assert any(re.match(r"^import: indicators (501-1,000|1,001-1,500) of 1,500$", msg) for msg, _t in lines), lines
    assert_no_secret(emu, run.stdout + run.stderr)


def test_hunting_query_says_it_runs(emu, ansible):
    emu.control.set_faults({"match": {"method": "POST", "path_regex": "runHuntingQuery$"}, "action": "delay",
                            "seconds": 6})
    run = ansible.playbook(PLAY % task("hunt", "advanced_hunting", {"query": "DeviceInfo | take 3",
                                                                    "timespan": "P7D"}))
    assert run.rc == 0, run.explain()
    assert run.result("hunt")["count"] == 3
    lines = progress_lines(run.stdout, "advanced_hunting")
    assert_paced(lines)
    assert lines[0][0] == "running the hunting query over P7D", lines
    assert_no_secret(emu, run.stdout + run.stderr)
