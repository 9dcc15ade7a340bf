# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The machines inventory plugin through the real ansible-inventory and ansible-playbook against the emulator:
more than one page (past 10,000 machines), filters, duplicates, one sign-in, and no secret in the output."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from conftest import REPO


def inventory(ansible, config, *args, name="fleet.defender_machines.yml", env=None):
    path = ansible.workdir / name
    path.write_text(yaml.safe_dump(dict({"plugin": "defender.endpoint.machines"}, **config)))
    run_env = dict(ansible.env)
    run_env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "true"  # a plugin error must fail the command, not just warn
    run_env.update(env or {})
    cmd = [os.path.join(os.path.dirname(ansible.ansible_playbook), "ansible-inventory"), "-i", str(path)] + list(args)
    return subprocess.run(cmd, env=run_env, cwd=str(ansible.workdir), capture_output=True, text=True, timeout=600,
                          check=False)


def plain(value):
    """ansible-inventory (2.19+) writes untrusted strings, such as everything the API returned, as
    ``{"__ansible_unsafe": "..."}`` so that a consumer keeps them untemplated; unwrap for comparisons."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def listing(ansible, config, env=None):
    proc = inventory(ansible, config, "--list", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return plain(json.loads(proc.stdout))


def test_every_machine_past_one_page_with_one_sign_in(emulator, ansible):
    emulator.reset(machines=10500)
    try:
        everyone = set(emulator.query("machines", None))
        data = listing(ansible, {"exclude_potential_duplicates": False, "hostnames": ["id"],
                                 "filters": {"onboarding_status": ["Onboarded", "CanBeOnboarded", "Unsupported",
                                                                   "InsufficientInfo"]}})
        api = [r for r in emulator.requests(kind="api") if r["path"].endswith("/api/machines")]
        tokens = emulator.requests(kind="token")
    finally:
        emulator.reset()  # the next test of this worker gets the usual data set even if it does not reset
    assert len(everyone) > 10000
    hostvars = data["_meta"]["hostvars"]
    assert set(hostvars) == everyone
    assert {v["defender_id"] for v in hostvars.values()} == everyone
    assert len(api) == 2, [r["query"] for r in api]
    assert len(tokens) == 1


def test_filters_duplicates_and_groups(emulator, ansible):
    emulator.reset()
    specials = emulator.specials()
    wanted = set(emulator.query("machines", "healthStatus eq 'Active' and (riskScore eq 'High' or riskScore eq 'Medium')"))
    data = listing(ansible, {
        "filters": {"health_status": ["Active"], "risk_score": ["High", "Medium"]},
        "exclude_potential_duplicates": False,
        "keyed_groups": [{"key": "defender_risk_score", "prefix": "risk"}],
    })
    hostvars = data["_meta"]["hostvars"]
    assert {v["defender_id"] for v in hostvars.values()} == wanted
    assert set(data["risk_High"]["hosts"]) | set(data["risk_Medium"]["hosts"]) == set(hostvars)

    # default: the stale duplicate of shared-01 is left out, the live one is named after the machine
    hostvars = listing(ansible, {})["_meta"]["hostvars"]
    ids = {v["defender_id"] for v in hostvars.values()}
    assert specials["shared_stale"] not in ids
    assert hostvars["shared-01.contoso.com"]["defender_id"] == specials["shared_fresh"]
    # two live machines share ambiguous-01: both are hosts, the second one named by its id
    assert {specials["ambiguous_a"], specials["ambiguous_b"]} <= ids
    assert hostvars["o'brien-laptop.contoso.com"]["defender_id"] == specials["quote"]

    # a raw filter with a quote inside a literal: the emulator parses what was sent
    hostvars = listing(ansible, {"filters": {"filter": "computerDnsName eq 'o''brien-laptop.contoso.com'"}})[
        "_meta"]["hostvars"]
    assert list(hostvars) == ["o'brien-laptop.contoso.com"]


def test_chosen_host_variables_layouts_and_the_cache(emulator, ansible):
    emulator.reset()
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile",
             "cache_connection": str(ansible.workdir / "inventory-cache")}
    data = listing(ansible, dict(cache, hostvar_fields=["os_platform", "risk_score"],
                                 keyed_groups=[{"key": "defender_risk_score", "prefix": "risk"}]))
    hostvars = data["_meta"]["hostvars"]
    assert hostvars and all(set(v) == {"defender_os_platform", "defender_risk_score"} for v in hostvars.values())
    high = {h for h, v in hostvars.items() if v["defender_risk_score"] == "High"}
    assert high and set(data["risk_High"]["hosts"]) == high
    reads = len([r for r in emulator.requests(kind="api") if r["path"].endswith("/api/machines")])
    # the same fields in the dict layout come from the cache (no request), groups in the dict spelling
    data = listing(ansible, dict(cache, hostvar_fields=["os_platform", "risk_score"], hostvar_layout="dict",
                                 keyed_groups=[{"key": "defender.risk_score", "prefix": "risk"}]))
    assert len([r for r in emulator.requests(kind="api") if r["path"].endswith("/api/machines")]) == reads
    assert set(data["_meta"]["hostvars"]) == set(hostvars)
    assert all(set(v) == {"defender"} for v in data["_meta"]["hostvars"].values())
    assert set(data["risk_High"]["hosts"]) == high
    # every field: read again
    data = listing(ansible, dict(cache, hostvar_fields=["all"]))
    assert len([r for r in emulator.requests(kind="api") if r["path"].endswith("/api/machines")]) == reads + 1
    some = next(iter(data["_meta"]["hostvars"].values()))
    assert {"defender_ip_addresses", "defender_rbac_group_name", "defender_agent_version"} <= set(some)


def test_bad_option_fails_before_any_request(emulator, ansible):
    emulator.reset()
    proc = inventory(ansible, {"filter": "healthStatus eq 'Active'"}, "--list")
    assert proc.returncode != 0
    assert "unknown option(s) filter" in proc.stderr
    assert emulator.requests() == []


def test_playbook_over_the_inventory_and_no_secret_in_output(emulator, ansible):
    emulator.reset()
    path = ansible.workdir / "risky.defender_machines.yml"
    path.write_text(yaml.safe_dump({"plugin": "defender.endpoint.machines",
                                    "groups": {"risky": "defender_risk_score == 'High'"}}))
    run = ansible.playbook("""
- hosts: risky
  gather_facts: false
  connection: local
  tasks:
    - name: each risky machine
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} {{ defender_id }} {{ defender_health_status }}"
""", inventory=str(path), verbosity=4)
    assert run.rc == 0, run.explain()
    high = set(emulator.query("machines", "riskScore eq 'High'"))
    seen = {r["result"]["msg"].split()[1] for r in run.tasks("each risky machine")}
    assert seen and seen <= high
    secret = emulator.settings["client_secret"]
    assert secret not in run.stdout and secret not in run.stderr


def test_unmanaged_devices_and_controller_names_are_no_hosts(emulator, ansible):
    """Issue 22 item 7: discovered devices that are not onboarded, and machines named localhost / 127.0.0.1."""
    emulator.reset()
    sp = emulator.specials()
    proc = inventory(ansible, {}, "--list")
    assert proc.returncode == 0, proc.stderr[-3000:]
    hostvars = plain(json.loads(proc.stdout))["_meta"]["hostvars"]
    ids = {v["defender_id"]: host for host, v in hostvars.items()}
    assert not {sp["unmanaged_printer"], sp["unmanaged_router"], sp["unmanaged_twin"]} & set(ids)
    assert hostvars["twin-01.contoso.com"]["defender_id"] == sp["onboarded_twin"]
    assert "localhost" not in hostvars and "127.0.0.1" not in hostvars
    assert ids[sp["named_localhost"]] == sp["named_localhost"] and ids[sp["named_loopback"]] == sp["named_loopback"]
    assert "points at" not in proc.stdout and "pointing at the controller" in proc.stderr
    unmanaged = listing(ansible, {"filters": {"onboarding_status": ["CanBeOnboarded", "Unsupported"]}})
    assert {v["defender_id"] for v in unmanaged["_meta"]["hostvars"].values()} == {
        sp["unmanaged_printer"], sp["unmanaged_router"], sp["unmanaged_twin"]}
    # a file that names the plugin but not in *defender_machines.yml: the warning says what the name must be
    proc = inventory(ansible, {}, "--list", name="fleet.yml", env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "false"})
    assert "must end in defender_machines.yml" in proc.stderr, proc.stderr[-2000:]


def test_action_names_resolve_to_onboarded_machines(emulator, ansible):
    """Issue 22 item 7: the same rule when a name is resolved for an action."""
    emulator.reset()
    sp = emulator.specials()
    run = ansible.playbook("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: twin
      defender.endpoint.machine_isolation: {machine: twin-01.contoso.com, comment: item 7, state: isolated}
      check_mode: true
    - name: printer
      defender.endpoint.machine_isolation: {machine: printer-3f.contoso.com, comment: item 7, state: isolated}
      check_mode: true
      ignore_errors: true
""")
    twin = run.result("twin")["results"][0]
    assert twin["machine_id"] == sp["onboarded_twin"] and "not onboarded" in twin["msg"], run.explain()
    printer = run.result("printer")
    assert "not onboarded" in json.dumps(printer) and printer.get("changed") is not True, printer
    assert not [r for r in emulator.requests(kind="api") if r["method"] == "POST"]


def test_inventory_benchmark_tiny_run(tmp_path):
    """Keeps benchmarks/inventory.py working (figures are not asserted: docs/awx.md has the full-size ones)."""
    out = tmp_path / "inventory.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "inventory.py"), "--machines", "200",
                           "--repeats", "1", "--variants", "default,dict", "--json", str(out)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["machines"] >= 200
    for name in ("default", "static_default", "dict", "static_dict", "plain"):
        assert doc["runs"][name][0]["items"] == doc["machines"]
    assert doc["variants"]["default"]["variables_per_host"] == 11
    assert doc["variants"]["dict"]["variables_per_host"] == 1
    assert doc["variants"]["default"]["vs_static_floor"]["cpu"] > 0
    assert doc["inventory"]["wall"] > 0 and doc["plain_requests_loop"]["rss_mib"] > 0
    assert (tmp_path / "inventory.md").is_file()
