# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""alert_export, run in-process against an in-memory Defender."""

from __future__ import annotations

import csv
import json
import os
import stat

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import progress
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils import alerts
from ansible_collections.defender.endpoint.plugins.modules import alert_export
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.fake_defender import (  # noqa: F401 pylint: disable=unused-import
    CONNECTION,
    fake,
    load,
    make_alert,
)
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module


def run(monkeypatch, **args):
    merged = dict(CONNECTION)
    merged.update(args)
    return run_module(alert_export.main, merged, monkeypatch)


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_json_lines_streamed_atomically(fake, monkeypatch, tmp_path):
    load(fake, [make_alert(i) for i in range(2500)])
    dest = tmp_path / "alerts.jsonl"
    result, failed = run(monkeypatch, dest=str(dest), page_size=1000)
    assert not failed, result
    assert result["changed"] is True and result["count"] == 2500 and result["path"] == str(dest)
    assert result["format"] == "jsonl" and "columns" not in result and "alerts" not in result
    lines = dest.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2500 and len({json.loads(line)["id"] for line in lines}) == 2500
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["alerts.jsonl"], "no temporary file left"


@pytest.mark.parametrize("indent, ensure_ascii", [(None, True), (None, False), (2, False)])
def test_json_lines_are_the_alerts_as_the_service_sent_them(fake, monkeypatch, tmp_path, indent, ensure_ascii):
    """Each line is the alert's JSON text from the response (spacing and escapes kept, not re-encoded); an alert
    sent over several lines (pretty-printed) is written compactly on one."""
    alerts = [make_alert(i, title="Ünïcode 'quote' %d" % i) for i in range(25)]
    load(fake, alerts)
    fake.indent, fake.ensure_ascii = indent, ensure_ascii
    dest = tmp_path / "alerts.jsonl"
    result, failed = run(monkeypatch, dest=str(dest), page_size=10)
    assert not failed, result
    lines = dest.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [fake._public(a, False) for a in alerts]
    if indent is None:
        assert lines == [json.dumps(fake._public(a, False), ensure_ascii=ensure_ascii) for a in alerts]
    else:
        assert lines == [json.dumps(fake._public(a, False), separators=(",", ":"), ensure_ascii=False)
                         for a in alerts]


def test_json_lines_of_several_machines_once_each_within_the_limit(fake, monkeypatch, tmp_path):
    load(fake, [make_alert(i) for i in range(60)])
    dest = tmp_path / "alerts.jsonl"
    result, failed = run(monkeypatch, dest=str(dest), machine_id=["m001", "m002", "m001"], page_size=4)
    assert not failed, result
    ids = [json.loads(line)["id"] for line in dest.read_text(encoding="utf-8").splitlines()]
    assert ids == [make_alert(i)["id"] for i in range(60) if i % 10 == 1] + \
        [make_alert(i)["id"] for i in range(60) if i % 10 == 2]
    result, failed = run(monkeypatch, dest=str(dest), machine_id=["m001", "m002"], limit=8, page_size=4)
    assert not failed and result["count"] == 8 and len(dest.read_text(encoding="utf-8").splitlines()) == 8


def test_rerun_with_same_alerts_is_unchanged_and_leaves_file_alone(fake, monkeypatch, tmp_path):
    load(fake, [make_alert(i) for i in range(30)])
    dest = tmp_path / "alerts.csv"
    first, failed = run(monkeypatch, dest=str(dest))
    assert not failed and first["changed"] is True and first["format"] == "csv"
    os.utime(dest, (1000000000, 1000000000))
    second, failed = run(monkeypatch, dest=str(dest))
    assert not failed and second["changed"] is False and second["sha256"] == first["sha256"]
    assert os.stat(dest).st_mtime == 1000000000, "an unchanged export is not rewritten"
    fake.alerts[make_alert(3)["id"]]["status"] = "New" if fake.alerts[make_alert(3)["id"]]["status"] != "New" else "Resolved"
    third, failed = run(monkeypatch, dest=str(dest))
    assert not failed and third["changed"] is True and third["sha256"] != first["sha256"]


def test_check_mode_predicts_exactly_and_writes_nothing(fake, monkeypatch, tmp_path):
    load(fake, [make_alert(i) for i in range(30)])
    dest = tmp_path / "alerts.jsonl"
    predicted, failed = run(monkeypatch, dest=str(dest), _ansible_check_mode=True)
    assert not failed and predicted["count"] == 30 and predicted["changed"] is True
    assert os.listdir(tmp_path) == []
    real, failed = run(monkeypatch, dest=str(dest))
    assert real["sha256"] == predicted["sha256"]
    again, failed = run(monkeypatch, dest=str(dest), _ansible_check_mode=True)
    assert not failed and again["changed"] is False


def test_csv_columns_nested_flattened_and_formulas_defused(fake, monkeypatch, tmp_path):
    alert = make_alert(1, title="=HYPERLINK(\"http://x\")", mitreTechniques=["T1064", "T1085"],
                       comments=[{"comment": "first, with \"quotes\"\nand a newline", "createdBy": "a@b"}])
    load(fake, [alert])
    dest = tmp_path / "out.txt"
    result, failed = run(monkeypatch, dest=str(dest), format="csv",
                         columns=["id", "title", "mitreTechniques", "comments.0.comment", "comments", "nope.x",
                                  "evidence.0.fileName"], expand_evidence=True)
    assert not failed, result
    rows = read_csv(dest)
    assert rows[0] == ["id", "title", "mitreTechniques", "comments.0.comment", "comments", "nope.x",
                       "evidence.0.fileName"]
    row = rows[1]
    assert row[0] == alert["id"]
    assert row[1] == "'=HYPERLINK(\"http://x\")"
    assert row[2] == "T1064, T1085"
    assert row[3] == "first, with \"quotes\"\nand a newline"
    assert json.loads(row[4]) == [{"comment": "first, with \"quotes\"\nand a newline", "createdBy": "a@b"}]
    assert row[5] == ""
    assert row[6] == "x1.exe"
    assert dest.read_bytes().count(b"\r\n") == 2, "RFC 4180 line ends"


def test_csv_default_columns(fake, monkeypatch, tmp_path):
    load(fake, [make_alert(i) for i in range(3)])
    dest = tmp_path / "a.csv"
    result, failed = run(monkeypatch, dest=str(dest))
    assert not failed and result["columns"] == alerts.EXPORT_COLUMNS
    rows = read_csv(dest)
    assert rows[0] == alerts.EXPORT_COLUMNS and len(rows) == 4


def test_failure_leaves_previous_file_and_no_temporary(fake, monkeypatch, tmp_path):
    load(fake, [make_alert(i) for i in range(50)])
    dest = tmp_path / "alerts.jsonl"
    dest.write_text("previous export\n")

    def fail(method, path, params, call_no):
        if call_no == 3:
            return DefenderError("throttled", status=429, code="TooManyRequests")
        return None

    fake.fail_on = fail
    result, failed = run(monkeypatch, dest=str(dest), page_size=10)
    assert failed and "throttled" in result["msg"]
    assert dest.read_text() == "previous export\n"
    assert os.listdir(tmp_path) == ["alerts.jsonl"]


def test_progress_records_while_writing(fake, monkeypatch, tmp_path):
    load(fake, [make_alert(i) for i in range(1200)])
    path = tmp_path / "progress.json"
    seen = []
    reporter = progress.Progress(str(path), min_interval=0)
    original = reporter.report

    def spy(message, **kw):
        seen.append(message)
        return original(message, **kw)

    reporter.report = spy
    monkeypatch.setattr(progress, "_REPORTER", reporter)
    result, failed = run(monkeypatch, dest=str(tmp_path / "a.jsonl"), page_size=500)
    assert not failed
    # a report per page written (the page after the first repeats 50 alerts of the one before: the overlap)
    assert seen[1:4] == ["500 alerts written, 1 request", "950 alerts written, 2 requests",
                         "1,200 alerts written, 3 requests"]
    assert seen[-1] == "1,200 alerts written"
    assert json.loads(path.read_text())["message"] == "1,200 alerts written"


@pytest.mark.parametrize("args,word", [
    (dict(dest="/nonexistent-dir/x.jsonl"), "does not exist"),
    (dict(dest="/tmp/x.jsonl", columns=["id"]), "format=csv only"),
    (dict(dest="/tmp/x.csv", columns=["id", ""]), "columns"),
    (dict(dest="/tmp/x.csv", columns=["a..b"]), "dotted path"),
    (dict(dest="/tmp/x.jsonl", format="xml"), "format"),
    (dict(dest="/tmp/x.jsonl", severity=["Critical"]), "severity must be one of"),
    (dict(dest="/tmp/x.jsonl", limit=0), "limit"),
    (dict(dest="/tmp/x.jsonl", page_size=10001), "page_size"),
    (dict(dest="/tmp/x.jsonl", id="abc"), "id"),
])
def test_bad_input_fails_before_any_request(fake, monkeypatch, args, word):
    result, failed = run(monkeypatch, **args)
    assert failed and word in result["msg"]
    assert fake.calls == [] and not fake.client_created


def test_dest_is_a_directory(fake, monkeypatch, tmp_path):
    result, failed = run(monkeypatch, dest=str(tmp_path))
    assert failed and "directory" in result["msg"] and not fake.calls
