# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""advanced_hunting, run in-process against a fake Graph client."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.apis import GRAPH
from ansible_collections.defender.endpoint.plugins.module_utils import hunting as H
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.modules import advanced_hunting as module
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module

CONNECTION = {"access_token": "aaa.bbb.ccc", "api_url": "https://api.example.test"}
ROWS = [{"DeviceName": "a", "Count": 2}, {"DeviceName": "b", "Count": 1}]


class FakeGraph:
    def __init__(self, answer=None, error=None):
        self.answer = answer if answer is not None else {"schema": [{"name": "DeviceName", "type": "String"},
                                                                    {"Name": "Count", "Type": "Int64"}],
                                                         "results": ROWS}
        self.error = error
        self.posts = []
        self.timeout = 30
        self.apis = []

    def post(self, path, body):
        self.posts.append((path, body))
        if self.error:
            raise self.error
        return self.answer


@pytest.fixture
def graph(monkeypatch):
    fake = FakeGraph()

    def client(self, pool_size=10, rate_budget=None, api="defender"):
        fake.apis.append(api)
        return fake

    monkeypatch.setattr(DefenderModule, "client", client)
    return fake


def run(monkeypatch, **args):
    merged = dict(CONNECTION)
    merged.update(args)
    return run_module(module.main, merged, monkeypatch)


def test_rows_schema_and_count_through_graph(graph, monkeypatch):
    result, failed = run(monkeypatch, query="DeviceInfo | take 2", timespan="7d")
    assert not failed, result
    assert result["results"] == ROWS and result["count"] == 2 and result["changed"] is False
    assert result["schema"] == [{"name": "DeviceName", "type": "String"}, {"name": "Count", "type": "Int64"}]
    assert graph.apis == [GRAPH] and graph.timeout >= 180
    assert graph.posts == [("/v1.0/security/runHuntingQuery", {"Query": "DeviceInfo | take 2", "Timespan": "P7D"})]


def test_query_file_and_dest(graph, monkeypatch, tmp_path):
    (tmp_path / "q.kql").write_text("DeviceInfo\n| take 2\n")
    dest = tmp_path / "out.jsonl"
    result, failed = run(monkeypatch, query_file=str(tmp_path / "q.kql"), dest=str(dest))
    assert not failed and result["changed"] and result["count"] == 2 and "results" not in result
    assert [json.loads(line) for line in dest.read_text().splitlines()] == ROWS
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    result, failed = run(monkeypatch, query_file=str(tmp_path / "q.kql"), dest=str(dest))
    assert not result["changed"]  # same rows: the file is left alone
    graph.answer = {"schema": [], "results": ROWS[:1]}
    result, failed = run(monkeypatch, query="x", dest=str(dest), _ansible_check_mode=True)
    assert result["changed"] and len(dest.read_text().splitlines()) == 2  # check mode writes nothing


@pytest.mark.parametrize("args, message", [
    (dict(query="   "), "query is empty"),
    (dict(query="DeviceInfo", timespan="last week"), "timespan must be an ISO 8601"),
    (dict(query="DeviceInfo", timespan="P7D/P1D"), "timespan must be an ISO 8601"),
    (dict(query="a\x1bb"), "control character"),
    (dict(query_file="/nonexistent/q.kql"), "cannot read query_file"),
    (dict(query="x", dest="/nonexistent/dir/out.jsonl"), "does not exist"),
])
def test_bad_input_fails_before_any_request(graph, monkeypatch, args, message):
    result, failed = run(monkeypatch, **args)
    assert failed and message in result["msg"], result
    assert graph.posts == []


@pytest.mark.parametrize("error, expected", [
    (DefenderError("Syntax error: Query could not be parsed at 'x'. Fix syntax errors in your query.", status=400,
                   code="BadRequest"), "the hunting query failed: Syntax error: Query could not be parsed at 'x'."),
    (DefenderError("Insufficient privileges", status=403, code="Forbidden"), "ThreatHunting.Read.All"),
    (DefenderError("CPU quota exceeded", status=429, code="TooManyRequests"), "hunting quota reached: CPU quota"),
    (DefenderOutcomeUnknownError("no response", method="POST"), "it was not sent again"),
])
def test_service_errors_keep_its_message(graph, monkeypatch, error, expected):
    graph.error = error
    result, failed = run(monkeypatch, query="DeviceInfo")
    assert failed and expected in result["msg"], result
    assert len(graph.posts) == 1


@pytest.mark.parametrize("value, expected", [
    ("P30D", "P30D"), ("PT12H", "PT12H"), ("24h", "PT24H"), ("30m", "PT30M"), ("7d", "P7D"),
    ("2026-11-01T00:00:00Z/2026-11-08T00:00:00Z", "2026-11-01T00:00:00Z/2026-11-08T00:00:00Z"),
    ("P7D/2026-11-08T00:00:00Z", "P7D/2026-11-08T00:00:00Z"), ("2026-11-01T00:00:00Z/P1D", "2026-11-01T00:00:00Z/P1D"),
    ("2026-11-01", "2026-11-01"),
])
def test_timespan_forms(value, expected):
    assert H.check_timespan(value) == expected


def test_timespan_refused():
    for bad in ("P", "PT", "7 days", "P1D/P2D", "a/b/c", "2026-13"):
        with pytest.raises(DefenderConfigError):
            H.check_timespan(bad)
