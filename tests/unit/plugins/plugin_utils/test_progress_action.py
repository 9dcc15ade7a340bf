# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of progress: when a line is printed, what it says, and that it never shows a secret."""

from __future__ import annotations

import json

from ansible_collections.defender.endpoint.plugins.plugin_utils import _progress as P


def test_quiet_at_first_then_on_change_then_heartbeat():
    printer = P.Printer(first_after=3, changed_every=5, heartbeat=10)
    assert not printer.due("a", 2.9), "a short task prints nothing"
    assert printer.due("a", 3.0)
    printer.printed("a", 3.0)
    assert not printer.due("b", 7.9), "a change waits for changed_every"
    assert printer.due("b", 8.0)
    printer.printed("b", 8.0)
    assert not printer.due("b", 17.9)
    assert printer.due("b", 18.0), "an unchanged message is repeated every heartbeat"


def test_at_least_every_ten_seconds_with_the_defaults():
    printer = P.Printer()
    printed = []
    t = 0.0
    while t < 120:
        if printer.due("same", t):
            printer.printed("same", t)
            printed.append(t)
        t += P.POLL
    assert printed[0] <= 10
    assert all(b - a <= 10 for a, b in zip(printed, printed[1:]))


def test_line_masks_secrets_and_tokens():
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl"
    record = {"message": "secret s3cr3t-value and %s and https://x.blob/pkg.zip?sv=2020&sig=abc%%3D&se=1" % token}
    line = P.progress_line("defender.endpoint.machine_action", "localhost", record, 12.4, secrets=["s3cr3t-value"])
    assert "s3cr3t-value" not in line and token not in line and "abc%3D" not in line
    assert line.startswith("defender.endpoint.machine_action [localhost]: secret ******** and ******** and ")
    assert "sig=********" in line and line.endswith("(12s)")


def test_line_is_one_bounded_line():
    line = P.progress_line("m", "h", {"message": "a\nb\x1b[2J" + "x" * 1000}, 1)
    assert "\n" not in line and "\x1b" not in line and len(line) == P.MAX_LINE
    assert P.progress_line("m", "h", {}, 0) == "m [h]: working (0s)"


def test_read_record(tmp_path):
    path = tmp_path / "progress.json"
    assert P.read_record(str(path)) is None
    path.write_text("{not json")
    assert P.read_record(str(path)) is None
    path.write_text(json.dumps(["not", "a", "record"]))
    assert P.read_record(str(path)) is None
    path.write_text(json.dumps({"message": "3 of 5 machines"}))
    assert P.read_record(str(path)) == {"message": "3 of 5 machines"}
