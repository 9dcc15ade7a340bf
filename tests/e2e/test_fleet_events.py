# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The alerts event source under the real ansible-rulebook (Drools on Java 17) against the emulator:

- the shipped rulebook runs the respond playbook for a new high-severity alert, and the machine ends isolated;
- across a restart every change is emitted once (equal timestamps included), through a 429 with Retry-After and
  a token that expires mid-run;
- no secret or token in the output (-vv, which logs every request URL).

ansible-rulebook, its Java bridge and a JDK >= 17 are test requirements of the newest toolchain (scripts/test
installs tests/requirements-lint.txt there); JAVA_HOME is taken from the environment or the JDK 17 directory.
"""
from __future__ import annotations

import datetime
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from conftest import fleet_tool

STARTUP = 90  # seconds: the JVM and Drools start slowly on a busy 2-core machine


def rulebook_binary():
    return fleet_tool("ansible-rulebook")


def java_home():
    """JAVA_HOME for a JDK 17 (ansible-rulebook's Drools needs >= 17; a newer default JDK may also be present)."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    for pattern in ("/usr/lib/jvm/java-17-openjdk*", "/usr/lib/jvm/java-17*", "/usr/lib/jvm/*17*"):
        for candidate in sorted(glob.glob(pattern)):
            if os.path.exists(os.path.join(candidate, "bin", "java")):
                return candidate
    java = shutil.which("java")
    if java:
        return os.path.dirname(os.path.dirname(os.path.realpath(java)))
    pytest.fail("no JDK found: set JAVA_HOME to a JDK 17")
    return None


class Rulebook:
    """One ansible-rulebook process whose output goes to a file."""

    def __init__(self, ansible, rulebook, variables, name, env=None):
        self.ansible = ansible
        self.out_path = ansible.workdir / ("%s.out" % name)
        vars_path = ansible.workdir / ("%s-vars.yml" % name)
        vars_path.write_text(yaml.safe_dump(variables))
        inventory = ansible.workdir / "rulebook-inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
        extra_env = env
        env = dict(ansible.env)
        env.update({"JAVA_HOME": java_home(), "PYTHONUNBUFFERED": "1"}, **(extra_env or {}))
        env.pop("ANSIBLE_CALLBACKS_ENABLED", None)  # the e2e results callback is for ansible-playbook runs only
        self.out = open(self.out_path, "w", encoding="utf-8")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [rulebook_binary(), "-i", str(inventory), "-r", rulebook, "--vars", str(vars_path), "-vv"],
            env=env, cwd=str(ansible.workdir), stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.out_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        self.stop()
        pytest.fail("%s did not happen (rc=%s); last output:\n%s" % (what, self.proc.returncode, self.text()[-5000:]))

    def stop(self):
        """SIGINT, as a terminal or a controller stops it; the source saves its state on the way out."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        return self.proc.returncode


@pytest.fixture(autouse=True)
def clean_emulator(emulator):
    """Faults, token expiry and hand-made alerts end with the test, passed or not."""
    yield
    emulator.reset()


def events(text):
    return re.findall(r"^EVENT (\S+) (created|updated) (\S+)$", text, re.M)


def no_secret(emulator, text):
    secret = emulator.settings["client_secret"]
    assert secret not in text
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.", text), "a JWT appears in the output"


def test_shipped_rulebook_runs_respond_for_a_new_high_alert(emulator, ansible, collection_path):
    emulator.reset()
    state = ansible.workdir / "respond.state.json"
    xdg_state = ansible.workdir / "xdg-state"
    rb = Rulebook(ansible, "defender.endpoint.respond_to_high_alerts",
                  {"defender_alerts_state_file": str(state), "defender_alerts_interval": 1,
                   "defender_alerts_since": "1s"}, "respond", env={"XDG_STATE_HOME": str(xdg_state)})
    try:
        # the state file is written only after an event: wait for the first poll in the log instead
        rb.wait_for(lambda: "GET /api/alerts" in rb.text(), STARTUP, "a first poll")
        incident = emulator.incident()
        rb.wait_for(lambda: emulator.machine(incident["machine_id"]).get("isolationState") == "isolated", 120,
                    "the isolation of the incident's machine")
        rb.wait_for(lambda: "PLAY RECAP" in rb.text(), 120, "the end of the respond playbook")
        time.sleep(3)  # the alert's own update (InProgress) is polled as an "updated" change: no second run
    finally:
        rb.stop()
    text = rb.text()
    assert re.search(r"localhost\s*:.*failed=0", text), text[-4000:]
    assert emulator.alert(incident["alert_id"])["status"] == "InProgress"
    isolations = [r for r in emulator.requests(kind="api", method="POST") if r["path"].endswith("/isolate")]
    assert len(isolations) == 1, isolations
    saved = json.loads(state.read_text())
    assert incident["alert_id"] in saved["recent"]
    # issue 22 item 3: the report outlives ansible-rulebook's temporary project folder
    reports = sorted((xdg_state / "defender.endpoint" / "reports").glob("isolate-*.json"))
    assert len(reports) == 1, text[-3000:]
    assert incident["alert_id"] in reports[0].read_text()
    no_secret(emulator, text)


DEBUG_RULEBOOK = """
- name: print changes
  hosts: all
  sources:
    - defender.endpoint.alerts:
        interval: 1
        since: "{{ since }}"
        severity: [High]
        state_file: "{{ state_file }}"
  rules:
    - name: every change
      condition: event.change is defined
      action:
        debug:
          msg: "EVENT {{ event.alert.id }} {{ event.change }} {{ event.alert.lastUpdateTime }}"
"""


def test_each_change_once_across_a_restart_through_throttling_and_token_expiry(emulator, ansible):
    emulator.reset(alerts=0)
    rulebook = ansible.workdir / "print.yml"
    rulebook.write_text(DEBUG_RULEBOOK)
    state = ansible.workdir / "print.state.json"
    same = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=2)).strftime(
        "%Y-%m-%dT%H:%M:%S.1234567Z")
    first = emulator.create_alerts([{"severity": "High", "status": "New", "lastUpdateTime": same,
                                     "alertCreationTime": same} for _n in range(3)])
    emulator.create_alerts([{"severity": "Low", "status": "New", "lastUpdateTime": same, "alertCreationTime": same}])
    ids = [a["id"] for a in first]
    emulator.faults({"match": {"method": "GET", "path_regex": "^/api/alerts$"}, "action": "status", "status": 429,
                     "retry_after": 1, "count": 1})
    emulator.config(token_expiry_after_calls=3)
    variables = {"since": "10m", "state_file": str(state)}

    rb = Rulebook(ansible, str(rulebook), variables, "first")
    rb.wait_for(lambda: len(events(rb.text())) >= 3, STARTUP, "three events")
    time.sleep(3)  # a few more polls: nothing new must appear
    rb.stop()
    assert sorted(events(rb.text())) == sorted((i, "created", same) for i in ids)
    statuses = [r["status"] for r in emulator.requests(kind="api") if r["path"].endswith("/api/alerts")]
    assert statuses[0] == 429 and statuses[1] == 200, statuses
    assert 401 in statuses  # the token expired mid-run and the source went on with a new one
    assert len(emulator.requests(kind="token")) >= 2

    # while stopped: one alert changes, a new one arrives
    run = ansible.playbook("""
- hosts: localhost
  tasks:
    - name: take the alert
      defender.endpoint.alert:
        id: "%s"
        status: InProgress
""" % ids[0])
    assert run.rc == 0, run.explain()
    changed = emulator.alert(ids[0])["lastUpdateTime"]
    newer = emulator.create_alerts([{"severity": "High", "status": "New"}])[0]

    rb = Rulebook(ansible, str(rulebook), variables, "second")
    rb.wait_for(lambda: len(events(rb.text())) >= 2, STARTUP, "two events after the restart")
    time.sleep(3)
    rb.stop()
    assert sorted(events(rb.text())) == sorted([(ids[0], "updated", changed),
                                                (newer["id"], "created", newer["lastUpdateTime"])])
    no_secret(emulator, rb.text())
