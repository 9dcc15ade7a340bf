# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module side of progress: records written atomically, throttled, never failing the module."""

from __future__ import annotations

import json
import os
import stat

from ansible_collections.defender.endpoint.plugins.module_utils import progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_disabled_without_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    reporter = progress.Progress()
    assert not reporter.enabled and reporter.report("x") is False
    assert os.listdir(tmp_path) == []


def test_path_from_environment_and_record_shape(monkeypatch, tmp_path):
    path = tmp_path / "p.json"
    monkeypatch.setenv(progress.ENV_VAR, str(path))
    reporter = progress.Progress()
    assert reporter.report("1,000 alerts written", done=1000, total=None)
    record = json.loads(path.read_text())
    assert record["message"] == "1,000 alerts written" and record["done"] == 1000 and "total" not in record
    assert record["seq"] == 1 and record["time"] > 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["p.json"], "the temporary file was renamed into place"


def test_throttled_unless_forced(tmp_path):
    clock = Clock()
    path = tmp_path / "p.json"
    reporter = progress.Progress(str(path), min_interval=1.0, clock=clock)
    assert reporter.report("a")
    assert not reporter.report("b")
    assert json.loads(path.read_text())["message"] == "a"
    assert reporter.report("c", force=True)
    clock.now += 1.0
    assert reporter.report("d")
    assert json.loads(path.read_text())["message"] == "d"


def test_messages_are_one_bounded_printable_line(tmp_path):
    path = tmp_path / "p.json"
    reporter = progress.Progress(str(path), min_interval=0)
    reporter.report("line one\nline\ttwo\x1b[31m red " + "x" * 1000)
    message = json.loads(path.read_text())["message"]
    assert "\n" not in message and "\x1b" not in message and "\t" not in message
    assert message.startswith("line one line two[31m red") and len(message) == progress.MAX_MESSAGE


def test_unwritable_place_switches_reporting_off_without_failing(tmp_path):
    reporter = progress.Progress(str(tmp_path / "missing-dir" / "p.json"), min_interval=0)
    assert reporter.report("x") is False
    assert not reporter.enabled and reporter.report("y") is False


def test_module_level_report_uses_one_reporter(monkeypatch, tmp_path):
    path = tmp_path / "p.json"
    monkeypatch.setenv(progress.ENV_VAR, str(path))
    monkeypatch.setattr(progress, "_REPORTER", None)
    assert progress.report("first", force=True)
    assert progress.reporter() is progress.reporter()
    assert progress.report("second", force=True)
    assert json.loads(path.read_text())["seq"] == 2


def test_plural():
    assert progress.plural(1, "alert") == "1 alert"
    assert progress.plural(100000, "alert") == "100,000 alerts"
    assert progress.plural(2, "machine", "machines") == "2 machines"


def test_waiting_for_actions_names_machines_and_states():
    latest = {
        "a1": {"type": "Isolate", "status": "Succeeded", "computerDnsName": "done.contoso.com", "machineId": "1" * 40},
        "a2": {"type": "Isolate", "status": "Pending", "computerDnsName": "pc2.contoso.com", "machineId": "2" * 40},
        "a3": {"type": "Unisolate", "status": "InProgress", "machineId": "3" * 40},
    }
    text = progress.waiting_for_actions(["a1", "a2", "a3", "a4"], latest, elapsed=12.7, timeout=300)
    assert text == ("waiting for 3 of 4 actions: Isolate on pc2.contoso.com (222222222222) Pending, "
                    "Unisolate on (333333333333) InProgress, action not visible yet; 12s of the 300s timeout")
    many = {str(i): {"type": "Isolate", "status": "Pending"} for i in range(6)}
    assert progress.waiting_for_actions(list(many), many).endswith("Isolate Pending, 3 more")
