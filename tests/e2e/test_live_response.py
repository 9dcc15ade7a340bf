# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""live_response_library and live_response through ansible-playbook against the emulator: a script uploaded once,
run with parameters on 30 machines with a file fetched from each within the limits (10 sessions a minute, a session
cap), no duplicate session, no secret or link at -vvvv, a rerun that uploads and runs nothing; and the faults (lost
POST, expired links, a machine that stays queued) ending with a clear per-machine result."""
from __future__ import annotations

import hashlib
import json
import os
import stat

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
%s
"""
SCALE = 0.05  # emulator minutes and the client's rate windows compressed alike (benchmarks/timescale)
SCRIPT = b"#!/bin/bash\necho triage \"$@\"\n"


def play(*tasks):
    return PLAY % "\n".join(tasks)


def task(module, name, **args):
    return """    - name: %s
      defender.endpoint.%s: %s
      register: out
      ignore_errors: true""" % (name, module, json.dumps(args))


def live(name="live", **args):
    args.setdefault("comment", "INC-7: triage")
    args.setdefault("wait_sleep", 1)
    return task("live_response", name, **args)


def sessions(emu):
    return [e for e in emu.control.requests(kind="api", method="POST") if e["path"].endswith("/runliveresponse")]


def lr_actions(emu, machine_id):
    return [a for a in emu.control.machine_actions(machine_id) if a["type"] == "LiveResponse"]


def plain_ids(emu, n):
    ids = emu.control.query("machines", "isPotentialDuplication eq false")
    ids = ids["ids"] if isinstance(ids, dict) else ids
    specials = set(emu.control.specials().values())
    return [i for i in ids if i not in specials][:n]


@pytest.fixture
def emu(emulator):
    emulator.reset(machines=300)
    emulator.control.clear_faults()
    return emulator


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "triage.sh"
    path.write_bytes(SCRIPT)
    return str(path)


COMMANDS = [{"type": "RunScript", "script": "triage.sh", "parameters": "--days 3"},
            {"type": "GetFile", "path": "C:\\Windows\\Temp\\triage.zip"}]


def test_thirty_machines_within_the_limits_once_and_no_secret(emu, ansible, script, tmp_path):
    # sessions last about 2 s (scaled): with 10 started every 3 s, more than the cap of 5 would run at once
    emu.reset(machines=300, time_scale=SCALE, lifecycle={"pending": 20, "in_progress": 20},
              live_response={"max_sessions": 5})
    ids = plain_ids(emu, 30)
    dest = tmp_path / "evidence"
    tasks = (task("live_response_library", "library", src=script, description="triage"),
             live(machines=ids, commands=COMMANDS, dest=str(dest), max_parallel=8, wait_timeout=300))
    env = {"PYTHONPATH": str(REPO / "benchmarks" / "timescale"), "BENCH_TIME_SCALE": SCALE}
    run = ansible.playbook(play(*tasks), verbosity=4, log=True, env=env)
    r = run.result("live")
    assert run.task("live")["status"] == "changed", r.get("msg")
    assert run.result("library")["action"] == "uploaded"
    assert len(r["results"]) == 30 and all(x["changed"] and x["status"] == "Succeeded" for x in r["results"])
    for x in r["results"]:
        script_result, got = x["commands"]
        assert script_result["exit_code"] == 0 and "triage.sh --days 3" in script_result["output"]
        with open(got["file_path"], "rb") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == got["sha256"]
        assert stat.S_IMODE(os.stat(got["file_path"]).st_mode) == 0o600
    # one session per machine (429s, for the session cap, were not processed and went again)
    accepted = [s for s in sessions(emu) if s["status"] == 201]
    assert sorted(s["path"].split("/")[3] for s in accepted) == sorted(ids)
    assert all(len(lr_actions(emu, i)) == 1 for i in ids)
    throttled = [s for s in sessions(emu) if s["status"] == 429]
    print("30 sessions: %d POSTs answered 429 (session cap 5)" % len(throttled))
    # the links and the downloads: no bearer token to the download host, no link or secret in any output
    downloads = emu.control.requests(kind="download")
    assert len(downloads) == 60 and all(d["authorization"] is False for d in downloads)
    secret = emu.settings["apps"]["full"]["client_secret"]
    for text in (run.stdout, run.stderr, run.log_text()):
        assert "safedownload" not in text and "sig=" not in text and secret not in text
    # a rerun uploads nothing and runs nothing: the sessions are reused, their results fetched again
    emu.control.clear_requests()
    run = ansible.playbook(play(*tasks), env=env)
    assert run.result("library")["changed"] is False and run.result("live")["changed"] is False
    assert not sessions(emu) and not emu.control.requests(kind="api", method="POST")
    assert all(x["commands"][0]["exit_code"] == 0 for x in run.result("live")["results"])


def test_lost_post_expired_link_and_queued_machine(emu, ansible, script, tmp_path):
    emu.control.config(lifecycle={"pending": 0.2, "in_progress": 0.2})
    a, b, c = plain_ids(emu, 3)
    dest = str(tmp_path / "out")
    run = ansible.playbook(play(task("live_response_library", "library", src=script)))
    assert run.result("library")["changed"]
    # a lost POST: the session it created is found in the history, never a second one
    emu.control.set_faults({"action": "drop_after", "count": 1,
                            "match": {"method": "POST", "path_regex": "/runliveresponse$"}})
    run = ansible.playbook(play(live(machine=a, commands=COMMANDS, dest=dest)))
    r = run.result("live")
    assert r["changed"] and r["status"] == "Succeeded" and r["results"][0]["commands"][0]["exit_code"] == 0, r
    assert len(sessions(emu)) == 1 and len(lr_actions(emu, a)) == 1
    # links that expire at once: asked again once, then the machine fails saying so (the link is not shown)
    emu.control.clear_faults()
    emu.control.config(live_response={"link_lifetime": 0})
    run = ansible.playbook(play(live(machine=b, commands=COMMANDS, dest=dest)))
    r = run.result("live")
    assert run.task("live")["status"] == "failed" and r["changed"]
    assert "results could not be fetched" in r["msg"] and "403" in r["msg"] and "sig=" not in r["msg"]
    # a machine that stays queued: fails with its session after wait_timeout; a rerun follows it, never a second
    emu.control.config(live_response={"link_lifetime": 1800, "queued": [c]})
    run = ansible.playbook(play(live(machine=c, commands=COMMANDS, dest=dest, wait_timeout=2)))
    r = run.result("live")
    assert run.task("live")["status"] == "failed" and r["changed"] and "not final after 2 seconds" in r["msg"]
    first = r["action_id"]
    run = ansible.playbook(play(live(machine=c, commands=COMMANDS, dest=dest, wait_timeout=1)))
    r = run.result("live")
    assert not r["changed"] and r["action_id"] == first and len(lr_actions(emu, c)) == 1


def test_playbook_and_role_step(emu, ansible, script, tmp_path):
    emu.control.config(lifecycle={"pending": 0.2, "in_progress": 0.2})
    a, b = plain_ids(emu, 2)
    names = [emu.control.machine(i)["computerDnsName"] for i in (a, b)]
    run = ansible.playbook(play(task("live_response_library", "library", src=script)))
    assert run.result("library")["changed"]
    dest = tmp_path / "INC-7"
    extra = {"machines": names, "script": "triage.sh", "parameters": "--fast", "files": ["C:\\x\\out.txt"],
             "dest": str(dest), "comment": "INC-7: triage", "wait_timeout": 120}
    pb = [{"ansible.builtin.import_playbook": "defender.endpoint.live_response"}]
    check = ansible.playbook(pb, extra_vars=extra, check=True)
    assert check.rc == 0, check.explain()
    assert not sessions(emu) and not dest.exists()
    run = ansible.playbook(pb, extra_vars=extra)
    assert run.rc == 0, run.explain()
    assert len(sessions(emu)) == 2 and len(os.listdir(dest)) == 2
    again = ansible.playbook(pb, extra_vars=extra)
    assert again.rc == 0 and again.changed == 0 and len(sessions(emu)) == 2
    # the role's optional step: off by default; when named, once per machine, files into the report folder
    emu.reset()
    emu.control.config(lifecycle={"pending": 0.2, "in_progress": 0.2})
    inc = emu.incident()
    run = ansible.playbook(play(task("live_response_library", "library", src=script)))
    report_dir = tmp_path / "reports"
    respond = [{"ansible.builtin.import_playbook": "defender.endpoint.respond"}]
    extra = {"incident_response_alert_ids": [inc["alert_id"]], "incident_response_report_dir": str(report_dir),
             "incident_response_wait_sleep": 1}
    run = ansible.playbook(respond, extra_vars=extra)
    assert run.rc == 0, run.explain()
    assert not sessions(emu)
    extra.update(incident_response_live_response_script="triage.sh",
                 incident_response_live_response_files=["C:\\x\\evidence.txt"])
    run = ansible.playbook(respond, extra_vars=extra)
    assert run.rc == 0, run.explain()
    assert len(sessions(emu)) == 1 and len(os.listdir(report_dir / "live_response")) == 1
    run = ansible.playbook(respond, extra_vars=extra)
    assert run.rc == 0 and len(sessions(emu)) == 1, run.explain()
