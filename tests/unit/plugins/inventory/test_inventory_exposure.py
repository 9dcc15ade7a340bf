# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The machines inventory's exposure option: host variables and groups from the vulnerability rows, one query per
CVE or one severity sweep (never per machine), bad options refused before any request, off by default."""

from __future__ import annotations

import sys

import pytest
import yaml

from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

from ansible_collections.defender.endpoint.tests.unit.plugins.inventory.test_machines_inventory import (  # noqa: F401 pylint: disable=unused-import
    ID,
    env,
    machine,
)

ROWS = [
    {"machineId": ID % 1, "cveId": "CVE-2024-21412", "fixingKbId": "5034441", "severity": "High"},
    {"machineId": ID % 1, "cveId": "CVE-2024-0001", "fixingKbId": None, "severity": "Critical"},
    {"machineId": ID % 2, "cveId": "CVE-2024-21412", "fixingKbId": "5034441", "severity": "High"},
]


class Pages(list):
    """What client.pages returns: iterable, with the number of requests it took."""
    requests = 1


class RowsClient:
    def __init__(self, machines):
        self.machines = machines
        self.calls = []

    def pages(self, path, params=None, page_size=None, limit=None):
        self.calls.append((path, dict(params or {})))
        if path == "/api/machines":
            return Pages(self.machines)
        flt = (params or {}).get("$filter") or ""
        return Pages([r for r in ROWS if "cveId" not in flt or ("'%s'" % r["cveId"]) in flt])


def parse(tmp_path, monkeypatch, config, machines):
    path = tmp_path / "x.defender_machines.yml"
    path.write_text(yaml.safe_dump(dict({"plugin": "defender.endpoint.machines"}, **config)))
    client = RowsClient(machines)
    mod = sys.modules[inventory_loader.get("defender.endpoint.machines").__module__]
    monkeypatch.setattr(mod, "plugin_client", lambda _plugin: (client, None))
    inventory = InventoryData()
    inventory_loader.get("defender.endpoint.machines").parse(inventory, DataLoader(), str(path), cache=False)
    return inventory, client


def test_exposure_vars_and_groups_one_query_per_cve(env, monkeypatch):  # noqa: F811
    machines = [machine(1), machine(2), machine(3)]
    inv, client = parse(env, monkeypatch, {"exposure": {"cves": ["cve-2024-21412", "CVE-2024-0001"]}}, machines)
    v1 = inv.get_host("host-001.contoso.com").get_vars()
    assert v1["defender_cves"] == ["CVE-2024-0001", "CVE-2024-21412"]
    assert v1["defender_fixing_kbs"] == ["5034441"] and v1["defender_exposure_severity"] == "Critical"
    v3 = inv.get_host("host-003.contoso.com").get_vars()
    assert v3["defender_cves"] == [] and v3["defender_exposure_severity"] is None
    groups = inv.groups
    assert sorted(h.name for h in groups["cve_CVE_2024_21412"].hosts) == ["host-001.contoso.com", "host-002.contoso.com"]
    assert [h.name for h in groups["kb_5034441"].hosts] == ["host-001.contoso.com", "host-002.contoso.com"]
    assert [h.name for h in groups["exposure_critical"].hosts] == ["host-001.contoso.com"]
    assert [h.name for h in groups["exposure_high"].hosts] == ["host-002.contoso.com"]
    row_calls = [c for c in client.calls if c[0] != "/api/machines"]
    assert len(row_calls) == 2 and all("cveId eq" in p["$filter"] for _path, p in row_calls)


def test_exposure_by_severity_is_one_sweep(env, monkeypatch):  # noqa: F811
    _inv, client = parse(env, monkeypatch, {"exposure": {"min_severity": "High"}}, [machine(n) for n in range(50)])
    row_calls = [c for c in client.calls if c[0] != "/api/machines"]
    assert row_calls == [("/api/vulnerabilities/machinesVulnerabilities",
                          {"$filter": "(severity eq 'High' or severity eq 'Critical')"})]


def test_off_by_default(env, monkeypatch):  # noqa: F811
    inv, client = parse(env, monkeypatch, {}, [machine(1)])
    assert "defender_cves" not in inv.get_host("host-001.contoso.com").get_vars()
    assert [c[0] for c in client.calls] == ["/api/machines"]


@pytest.mark.parametrize("exposure", [{"cves": ["nope"]}, {"min_severity": "Severe"}, {"cve": ["CVE-2024-0001"]},
                                      {"exploit_available": "yes please"}, ["CVE-2024-0001"]])
def test_bad_exposure_options_fail_before_any_request(env, monkeypatch, exposure):  # noqa: F811
    calls = []
    monkeypatch.setattr(RowsClient, "pages", lambda self, *a, **k: calls.append(a) or iter(()))
    with pytest.raises(AnsibleError):
        parse(env, monkeypatch, {"exposure": exposure}, [machine(1)])
    assert calls == []
