# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_info and machine_action_info: selectors, filters, paging, input errors."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.modules import machine_action_info, machine_info
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.fake_machines import (
    CONNECTION,
    FakeMachines,
    action,
    install,
    machine,
    mid,
    refuse_client,
)
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module


def info(monkeypatch, fake, **args):
    install(monkeypatch, fake)
    return run_module(machine_info.main, dict(CONNECTION, **args), monkeypatch)


def test_by_name_returns_every_case_insensitive_match(monkeypatch):
    fake = FakeMachines([machine(1, "Shared"), machine(2, "shared", isPotentialDuplication=True), machine(3, "x")])
    result, failed = info(monkeypatch, fake, name="SHARED")
    assert not failed and sorted(m["id"] for m in result["machines"]) == [mid(1), mid(2)] and result["count"] == 2


def test_injection_attempt_matches_nothing(monkeypatch):
    fake = FakeMachines([machine(1, "a"), machine(2, "b")])
    result, failed = info(monkeypatch, fake, name="x' or computerDnsName ne '")
    assert not failed and result["machines"] == []


def test_by_id_and_missing_id(monkeypatch):
    fake = FakeMachines([machine(1)])
    assert info(monkeypatch, fake, id=mid(1).upper())[0]["machines"][0]["id"] == mid(1)
    assert info(monkeypatch, fake, id=mid(2))[0]["machines"] == []


def test_by_ip_builds_the_findbyip_path(monkeypatch):
    fake = FakeMachines([machine(1, lastIpAddress="10.1.2.3")])
    result, failed = info(monkeypatch, fake, ip=" 10.1.2.3 ", timestamp="2h")
    assert not failed and result["count"] == 1
    path = fake.calls[0][1]
    assert path.startswith("/api/machines/findbyip(ip='10.1.2.3',timestamp=20") and path.endswith("Z)")


def test_by_tag_with_starts_with_and_narrowing(monkeypatch):
    fake = FakeMachines([machine(1, machineTags=["finance-eu"], riskScore="High"),
                         machine(2, machineTags=["finance"], riskScore="Low")])
    result, dummy = info(monkeypatch, fake, tag="finance", use_starts_with=True, risk_score=["High"])
    assert [m["id"] for m in result["machines"]] == [mid(1)]
    assert fake.calls[0][2] == {"tag": "finance", "useStartsWithFilter": "true"}


def test_listing_filters_and_paging_past_a_page(monkeypatch):
    machines = [machine(i, healthStatus="Active" if i % 2 else "Inactive") for i in range(1, 251)]
    fake = FakeMachines(machines)
    result, failed = info(monkeypatch, fake, health_status=["Active"], risk_score=["Low", "High"], page_size=40,
                          filter="startswith(computerDnsName,'host-')")
    assert not failed and result["count"] == 125
    flt = fake.calls[0][2]["$filter"]
    assert flt.startswith("healthStatus eq 'Active' and (riskScore eq 'Low' or riskScore eq 'High')")
    assert len(fake.calls) > 3


def test_limit(monkeypatch):
    fake = FakeMachines([machine(i) for i in range(1, 30)])
    assert info(monkeypatch, fake, limit=7)[0]["count"] == 7


@pytest.mark.parametrize("args, message", [
    (dict(id="nothex"), "40 hexadecimal"),
    (dict(ip="10.0.0.300"), "IPv4 or IPv6"),
    (dict(ip="10.0.0.1') or (1"), "IPv4 or IPv6"),
    (dict(ip="fe80::1%eth0"), "without a zone"),
    (dict(ip="fe80::1%x')?$filter=id ne 'a'#"), "without a zone"),
    (dict(ip="fe80::1%25'),timestamp=2026-01-01T00:00:00Z)/x"), "without a zone"),
    (dict(ip="10.0.0.1", timestamp="45d"), "last 30 days"),
    (dict(ip="10.0.0.1", timestamp="yesterday"), "ISO 8601"),
    (dict(timestamp="2h"), "required by 'timestamp': ip"),
    (dict(name="a", tag="b"), "mutually exclusive"),
    (dict(name="a", filter="x eq 'y'"), "mutually exclusive: filter|name"),
    (dict(filter="x eq 'a')) or ((y eq 'b'"), "unbalanced"),
    (dict(health_status=["Healthy"]), "health_status"),
    (dict(risk_score=["Severe"]), "risk_score"),
    (dict(page_size=0), "page_size"),
    (dict(limit=0), "limit"),
    (dict(use_starts_with=True), "use_starts_with is True but all of the following are missing: tag"),
])
def test_info_bad_input_before_any_request(monkeypatch, args, message):
    refuse_client(monkeypatch)
    result, failed = run_module(machine_info.main, dict(CONNECTION, **args), monkeypatch)
    assert failed and message in result["msg"]


# --- machine_action_info ------------------------------------------------------------------------------------

def actions(monkeypatch, fake, **args):
    install(monkeypatch, fake)
    return run_module(machine_action_info.main, dict(CONNECTION, **args), monkeypatch)


def test_actions_filtered_sorted_newest_first_and_normalized(monkeypatch):
    acts = [action(mid(1), "Isolate", "Succeeded", "2026-01-01T00:00:00Z", update_field="lastUpdateTimeUtc"),
            action(mid(1), "Unisolate", "Pending", "2026-01-03T00:00:00Z"),
            action(mid(1), "RunAntiVirusScan", "Succeeded", "2026-01-02T00:00:00Z"),
            action(mid(2), "Isolate", "Pending", "2026-01-04T00:00:00Z")]
    fake = FakeMachines([], acts)
    result, failed = actions(monkeypatch, fake, machine_id=mid(1), type=["Isolate", "Unisolate"])
    assert not failed
    assert [a["type"] for a in result["actions"]] == ["Unisolate", "Isolate"]
    assert result["actions"][1]["lastUpdateDateTimeUtc"] == "2026-01-01T00:00:00Z"
    assert fake.calls[0][2]["$filter"] == ("machineId eq '%s' and (type eq 'Isolate' or type eq 'Unisolate')"
                                           % mid(1))


def test_action_by_id_and_missing(monkeypatch):
    a = action(mid(1))
    fake = FakeMachines([], [a])
    assert actions(monkeypatch, fake, id=a["id"])[0]["actions"][0]["id"] == a["id"]
    assert actions(monkeypatch, fake, id="5382f7ea-7557-4ab7-9782-d50480024a4e")[0]["actions"] == []


def test_actions_by_status(monkeypatch):
    fake = FakeMachines([], [action(mid(1), status="Pending"), action(mid(2), status="Failed")])
    result, dummy = actions(monkeypatch, fake, status=["Pending", "InProgress"])
    assert [a["machineId"] for a in result["actions"]] == [mid(1)]


@pytest.mark.parametrize("args, message", [
    (dict(id="not-a-guid"), "GUID"),
    (dict(id="5382f7ea-7557-4ab7-9782-d50480024a4e", status=["Pending"]), "mutually exclusive"),
    (dict(machine_id="desktop-01"), "40 hexadecimal"),
    (dict(type=["Isolation"]), "type"),
    (dict(status=["Done"]), "status"),
    (dict(limit=-1), "limit"),
])
def test_action_info_bad_input_before_any_request(monkeypatch, args, message):
    refuse_client(monkeypatch)
    result, failed = run_module(machine_action_info.main, dict(CONNECTION, **args), monkeypatch)
    assert failed and message in result["msg"]
