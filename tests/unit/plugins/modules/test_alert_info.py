# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""alert_info, run in-process against an in-memory Defender."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError
from ansible_collections.defender.endpoint.plugins.modules import alert_info
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
    return run_module(alert_info.main, merged, monkeypatch)


def test_filters(fake, monkeypatch):
    load(fake, [make_alert(i) for i in range(100)])
    result, failed = run(monkeypatch, severity=["high"], status=["NEW", "inprogress"], category=["Malware"])
    assert not failed, result
    expected = [a for a in fake.alerts.values() if a["severity"] == "High" and a["status"] in ("New", "InProgress")
                and a["category"] == "Malware"]
    assert result["count"] == len(expected) == len(result["alerts"]) > 0
    assert result["filter"] == ("severity eq 'High' and (status eq 'New' or status eq 'InProgress') "
                                "and category eq 'Malware'")
    assert result["changed"] is False
    assert fake.calls[0][2]["$filter"] == result["filter"]
    assert all(a["evidence"] == [] for a in result["alerts"])


def test_no_filter_reads_everything(fake, monkeypatch):
    load(fake, [make_alert(i) for i in range(25000)])
    result, failed = run(monkeypatch)
    assert not failed
    assert result["count"] == 25000 == len({a["id"] for a in result["alerts"]})
    assert result["filter"] is None
    assert result["requests"] == len(fake.calls) == 3
    assert all(c[2]["$top"] <= 10000 and "$filter" not in c[2] for c in fake.calls)


def test_limit_page_size_and_expand(fake, monkeypatch):
    load(fake, [make_alert(i) for i in range(50)])
    result, failed = run(monkeypatch, limit=25, page_size=10, expand_evidence=True)
    assert not failed
    assert result["count"] == 25
    assert all(c[2]["$top"] <= 10 and c[2]["$expand"] == "evidence" for c in fake.calls)
    assert result["alerts"][0]["evidence"]


def test_time_and_raw_filter(fake, monkeypatch):
    load(fake, [make_alert(i) for i in range(100)])
    result, failed = run(monkeypatch, created_after="2026-01-10T00:00:00Z", created_before="2026-01-20T00:00:00Z",
                         updated_after="2026-01-12T00:00:00+00:00", filter="machineId eq 'm001' or machineId eq 'm002'")
    assert not failed, result
    assert result["filter"] == ("alertCreationTime ge 2026-01-10T00:00:00Z and alertCreationTime lt "
                                "2026-01-20T00:00:00Z and lastUpdateTime ge 2026-01-12T00:00:00Z and "
                                "(machineId eq 'm001' or machineId eq 'm002')")
    assert result["count"] > 0
    for a in result["alerts"]:
        assert "2026-01-12" <= a["alertCreationTime"] < "2026-01-20" and a["machineId"] in ("m001", "m002")


def test_one_by_id(fake, monkeypatch):
    load(fake, [make_alert(1), make_alert(2)])
    alert_id = make_alert(2)["id"]
    result, failed = run(monkeypatch, id=alert_id)
    assert not failed
    assert result["count"] == 1 and result["alerts"][0]["id"] == alert_id
    assert result["alerts"][0]["evidence"], "GET by id carries the evidence"
    assert fake.calls == [("GET", "/api/alerts/" + alert_id, {})]
    assert "requests" not in result


def test_unknown_id_is_empty(fake, monkeypatch):
    result, failed = run(monkeypatch, id="nope")
    assert not failed and result["alerts"] == [] and result["count"] == 0


def test_other_errors_fail(fake, monkeypatch):
    fake.fail_on = lambda *a: DefenderError("missing role", status=403, code="Forbidden")
    result, failed = run(monkeypatch, severity=["High"])
    assert failed and "missing role" in result["msg"] and result["error_code"] == "Forbidden"


@pytest.mark.parametrize("args,word", [
    (dict(severity=["Critical"]), "severity must be one of"),
    (dict(status=["Open"]), "status must be one of"),
    (dict(created_after="yesterday"), "created_after"),
    (dict(updated_after="3 fortnights"), "updated_after"),
    (dict(page_size=10001), "page_size"),
    (dict(page_size=0), "page_size"),
    (dict(limit=0), "limit"),
    (dict(id="a", severity=["High"]), "mutually exclusive"),
    (dict(id="a", limit=3), "mutually exclusive"),
    (dict(id="  "), "id"),
    (dict(category=["x\ny"]), "control character"),
    (dict(dest="/tmp/x.jsonl"), "dest"),
])
def test_bad_input_fails_before_any_request(fake, monkeypatch, args, word):
    result, failed = run(monkeypatch, **args)
    assert failed
    assert word in result["msg"]
    assert fake.calls == [] and not fake.client_created


def test_check_mode_reads(fake, monkeypatch):
    load(fake, [make_alert(i) for i in range(5)])
    result, failed = run(monkeypatch, _ansible_check_mode=True)
    assert not failed and result["count"] == 5 and result["changed"] is False


def test_machine_id_reads_the_machines_alerts_endpoint_with_the_other_filters(fake, monkeypatch):
    """machineId is not a documented alert filter: each machine's alerts come from /api/machines/{id}/alerts,
    with the other filters sent there, and the limit applies to the whole result."""
    load(fake, [make_alert(i) for i in range(100)])
    result, failed = run(monkeypatch, machine_id=["m001", "m002", "m001"], severity=["High"])
    assert not failed, result
    paths = [c[1] for c in fake.calls if c[0] == "GET"]
    assert paths == ["/api/machines/m001/alerts", "/api/machines/m002/alerts"]
    assert all("machineId" not in (c[2].get("$filter") or "") for c in fake.calls)
    assert result["filter"] == "severity eq 'High'"
    expected = sorted(a["id"] for a in fake.alerts.values() if a["machineId"] in ("m001", "m002")
                      and a["severity"] == "High")
    assert expected and sorted(a["id"] for a in result["alerts"]) == expected
    limited, failed = run(monkeypatch, machine_id=["m001", "m002"], limit=3)
    assert not failed and limited["count"] == 3


def test_machine_id_unknown_to_the_service_fails_naming_the_url(fake, monkeypatch):
    """GET /api/machines/{id}/alerts answers 404 for an unknown machine, as it would for a wrong api_url: only
    /api/machines documents a 404 as "none", so this is an error that names the URL, not an empty answer."""
    load(fake, [make_alert(i) for i in range(20)])
    result, failed = run(monkeypatch, machine_id=["nosuchmachine"])
    assert failed and result["status"] == 404
    assert "/api/machines/nosuchmachine/alerts" in result["msg"] and "api_url" in result["msg"]
