# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Injection (issue 7): every user value that reaches an OData query, a URL path segment, a query parameter or a
header is escaped or rejected. Each attempt must match only what it names; the emulator's request log shows what
was actually sent (its ``path`` is the percent-decoded path, ``query`` the decoded parameters)."""
from __future__ import annotations

import sys

import pytest

from security.helpers import api_log, play, task

INJECT = "x' or computerDnsName ne '"


@pytest.fixture
def emu(emulator):
    emulator.reset(alerts=200, machines=60)
    emulator.control.clear_faults()
    return emulator


def filters(emulator, path_regex):
    return [e["query"].get("$filter") for e in api_log(emulator, "GET", path_regex) if e["query"].get("$filter")]


def test_filter_values_are_literals(emu, ansible):
    sp = emu.control.specials()
    run = ansible.playbook(play(
        task("inject name", "machine_info", {"name": INJECT}),
        task("inject category", "alert_info", {"category": ["x') or (severity ne 'y"]}),
        task("inject machine_id", "alert_info", {"machine_id": ["' or '1' eq '1"]}),
        task("inject action machine", "machine_action_info", {"machine_id": "a" * 39 + "'"}),
        task("quote", "machine_info", {"name": "O'Brien-Laptop.contoso.com"}),
        task("percent", "machine_info", {"name": "100%-build.contoso.com"}),
        task("unicode", "machine_info", {"name": "zoë-wüst-ws01.contoso.com"}),
        task("slash", "machine_info", {"name": "a/b\\c"}),
        task("isolate inject", "machine_isolation", {"machine": INJECT, "comment": "inject"}),
    ))
    assert run.result("inject name")["machines"] == []
    assert run.result("inject category")["alerts"] == []
    # machine_id is one path segment (/api/machines/{id}/alerts): no machine has that id, and a 404 there is an error
    assert run.task("inject machine_id")["status"] == "failed" and "404" in run.result("inject machine_id")["msg"]
    assert run.task("inject action machine")["status"] == "failed"  # not a machine id: rejected, not sent
    assert [m["id"] for m in run.result("quote")["machines"]] == [sp["quote"]]
    assert [m["id"] for m in run.result("percent")["machines"]] == [sp["percent"]]
    assert [m["id"] for m in run.result("unicode")["machines"]] == [sp["unicode"]]
    assert run.result("slash")["machines"] == []
    assert run.task("isolate inject")["status"] == "failed"
    assert not api_log(emu, "POST"), "an injected name led to a machine action"
    sent = filters(emu, "^/api/machines$") + filters(emu, "^/api/alerts$")
    # The attempt went out as one literal with its quotes doubled ...
    assert any("'x'' or computerDnsName ne '''" in f for f in sent), sent
    assert any("'x'') or (severity ne ''y'" in f for f in sent), sent
    # machine_id is a path segment (/api/machines/{id}/alerts), never part of a filter
    assert not any("''1''" in f for f in sent), sent
    assert "/api/machines/' or '1' eq '1/alerts" in [e["path"] for e in api_log(emu, "GET", "/alerts$")]
    # ... and the emulator's own OData parser reads each sent filter as matching only what it names.
    for f in sent:
        if "computerDnsName" in f and "x''" in f:
            assert emu.control.query("machines", f) == []
    assert "'100%-build.contoso.com'" in " ".join(sent) or "'100%-build.contoso.com'" in " ".join(
        f.lower() for f in sent)
    assert any("zoë-wüst-ws01.contoso.com" in f for f in sent)


@pytest.mark.parametrize("alert_id, decoded", [
    ("../alerts", "/api/alerts/../alerts"),
    ("a%2Fb", "/api/alerts/a%2Fb"),  # a client that did not encode would send a/b
    ("x?$top=1", "/api/alerts/x?$top=1"),  # stays in the path, never becomes a query
    ("x#frag", "/api/alerts/x#frag"),
])
def test_ids_are_one_path_segment(emu, ansible, alert_id, decoded):
    run = ansible.playbook(play(task("get", "alert_info", {"id": alert_id}),
                                task("patch", "alert", {"id": alert_id, "status": "Resolved"})))
    assert run.result("get")["alerts"] == [] and run.result("get")["count"] == 0
    assert run.task("patch")["status"] == "failed" and "404" in run.result("patch")["msg"]
    paths = [e["path"] for e in api_log(emu)]
    assert decoded in paths, paths
    assert all(p.startswith("/api/alerts/") for p in paths), paths
    assert not [e for e in api_log(emu) if e["method"] == "GET" and e["path"] == "/api/alerts"], \
        "the id escaped its segment and listed alerts"
    assert not api_log(emu, "PATCH") or all(e["status"] == 404 for e in api_log(emu, "PATCH"))


def test_query_parameters_are_encoded(emu, ansible):
    run = ansible.playbook(play(task("tag", "machine_info", {"tag": "x&useStartsWithFilter=true&$top=1"})))
    assert run.task("tag")["status"] == "ok" and run.result("tag")["machines"] == []
    entry = api_log(emu, "GET", "findbytag")[0]
    assert entry["query"]["tag"] == "x&useStartsWithFilter=true&$top=1"
    assert entry["query"]["useStartsWithFilter"] == "false" and "$top" not in entry["query"]


def test_headers_cannot_be_injected(emu, ansible):
    token = emu.control.mint_token(app="full")["access_token"]
    run = ansible.playbook(play(
        task("token newline", "alert_info", {"access_token": token + "\r\nX-Injected: 1", "limit": 1}),
        task("token bearer", "alert_info", {"access_token": "Bearer " + token, "limit": 1}),
        task("tenant path", "token", {"tenant_id": "contoso.onmicrosoft.com/../common"}),
        task("tenant newline", "token", {"tenant_id": "contoso.onmicrosoft.com\r\nX-Injected: 1"}),
    ), env={"AZURE_CLIENT_SECRET": None})
    for name, option in (("token newline", "access_token"), ("token bearer", "access_token")):
        assert run.task(name)["status"] == "failed" and option in run.result(name)["msg"]
    run2 = ansible.playbook(play(
        task("tenant path", "token", {"tenant_id": "contoso.onmicrosoft.com/../common"}),
        task("tenant newline", "token", {"tenant_id": "contoso.onmicrosoft.com\r\nX-Injected: 1"})))
    for name in ("tenant path", "tenant newline"):
        assert run2.task(name)["status"] == "failed" and "tenant_id" in run2.result(name)["msg"]
    assert emu.control.requests() == []
    assert token not in run.stdout + run.stderr


def test_odata_literal_round_trip_through_the_emulator_parser(emu, collection_path):
    """Property check at the source: whatever the text, the literal the collection builds parses back to it."""
    from hypothesis import given, settings, strategies as st
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "emulator"))
    if collection_path not in sys.path:
        sys.path.append(collection_path)
    import emulator_odata  # pylint: disable=import-error
    from ansible_collections.defender.endpoint.plugins.module_utils import odata
    from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError

    names = [{"computerDnsName": v} for v in ("x", "x' or 1 eq 1", "o'brien")]

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=30))
    def check(value):
        try:
            clause = odata.eq("computerDnsName", value)
        except DefenderConfigError:
            assert any(ord(c) < 32 or ord(c) == 127 for c in value)
            return
        predicate = emulator_odata.parse_filter(clause)
        assert predicate({"computerDnsName": value})
        for other in names:
            if other["computerDnsName"].lower() != value.lower():
                assert not predicate(other)
    check()
