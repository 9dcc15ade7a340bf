# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The patch_exposed playbook through the real ansible-playbook against the emulator: it patches (a stand-in task
that tells the emulator the machine was patched) exactly the inventory hosts Defender lists as exposed, changes
nothing in check mode, and reports before and after per host."""

from __future__ import annotations

import json
import re

import yaml

from conftest import REPO

PLAYBOOK = REPO / "playbooks" / "patch_exposed.yml"
TAG = "patch-exposed"

# The stand-in for a patch role: records that it ran, and tells the emulator the host's CVEs are fixed (as
# Defender would see once the device reports its new software). uri does not run in check mode.
STAND_IN = """
- name: Stand-in patch (marker)
  ansible.builtin.copy:
    content: "{{ patch_exposed_cves | join(',') }}"
    dest: "{{ marker_dir }}/{{ inventory_hostname }}"
    mode: "0600"
- name: Stand-in patch (the emulator learns the machine was patched)
  ansible.builtin.uri:
    url: "{{ control_url }}/vulnerabilities"
    method: POST
    ca_path: "{{ ca_path }}"
    body_format: json
    body: {machine: "{{ inventory_hostname }}", cve_ids: "{{ patch_exposed_cves }}"}
"""


def _pick_cve(emulator):
    """A CVE on at least three machines with plain names (inventory host names)."""
    truth = emulator.control.vulnerabilities()
    names = {}
    for cve, info in sorted(truth["cves"].items()):
        ids = info["machine_ids"]
        if len(ids) < 3:
            continue
        machines = [emulator.control.machine(i) for i in ids]
        if all(re.match(r"^[a-z0-9.-]+$", m["computerDnsName"]) and not m["mergedIntoMachineId"]
               for m in machines):
            names = {m["id"]: m["computerDnsName"] for m in machines}
            if len(set(names.values())) == len(names):
                return cve, names
    raise AssertionError("no CVE with three plainly named machines in the seed data")


def _setup(emulator, tmp_path):
    emulator.reset()
    cve, exposed = _pick_cve(emulator)
    ids = sorted(exposed)
    left_out = ids[0]  # exposed, but not in the inventory: reported, not patched
    bystanders = [m for m in emulator.control.query("machines", "healthStatus eq 'Active'")
                  if m not in exposed][:2]
    bystander_names = [emulator.control.machine(b)["computerDnsName"] for b in bystanders]
    hosts = {exposed[i]: {"ansible_connection": "local"} for i in ids[1:]}
    hosts.update({n: {"ansible_connection": "local"} for n in bystander_names})
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    tasks = tmp_path / "stand_in_patch.yml"
    tasks.write_text(STAND_IN)
    markers = tmp_path / "patched"
    markers.mkdir()
    extra = {"cve_id": cve, "patch_tasks": str(tasks), "marker_dir": str(markers),
             "control_url": emulator.settings["control_url"], "ca_path": emulator.settings["ca_path"],
             "report_path": str(tmp_path / "report.json")}
    return cve, exposed, left_out, bystander_names, inventory, markers, extra


def _tags(emulator, ids):
    return {i: emulator.control.machine(i)["machineTags"] for i in ids}


def test_check_mode_changes_nothing(emulator, ansible, tmp_path):
    cve, exposed, left_out, _bystanders, inventory, markers, extra = _setup(emulator, tmp_path)
    tags_before = _tags(emulator, exposed)
    run = ansible.playbook(PLAYBOOK, extra_vars=extra, inventory=str(inventory), check=True)
    assert run.rc == 0, run.explain()
    assert list(markers.iterdir()) == []
    assert sorted(emulator.control.vulnerabilities(cve)["cves"][cve]["machine_ids"]) == sorted(exposed)
    assert _tags(emulator, exposed) == tags_before
    assert not [r for r in emulator.control.requests(kind="api") if r["method"] != "GET"]
    report = run.task("Before and after, per host")["result"]["ansible_facts"]["patch_exposed_report"]
    by_id = {r["machine_id"]: r for r in report}
    assert set(by_id) == set(exposed)
    assert by_id[left_out]["status"] == "not_in_inventory" and by_id[left_out]["host"] is None
    assert {r["status"] for i, r in by_id.items() if i != left_out} == {"would_patch"}
    assert not (tmp_path / "report.json").exists()  # copy in check mode writes nothing


def test_patches_exactly_the_exposed_hosts_and_reports_before_after(emulator, ansible, tmp_path):
    cve, exposed, left_out, bystanders, inventory, markers, extra = _setup(emulator, tmp_path)
    run = ansible.playbook(PLAYBOOK, extra_vars=extra, inventory=str(inventory))
    assert run.rc == 0, run.explain()
    patched = sorted(p.name for p in markers.iterdir())
    assert patched == sorted(exposed[i] for i in exposed if i != left_out)
    assert not set(patched) & set(bystanders)
    assert emulator.control.vulnerabilities(cve)["cves"][cve]["machine_ids"] == [left_out]
    report = json.loads((tmp_path / "report.json").read_text())
    assert oct((tmp_path / "report.json").stat().st_mode & 0o777) == "0o600"
    assert report["check_mode"] is False and report["query"]["cve_id"] == [cve]
    by_id = {r["machine_id"]: r for r in report["hosts"]}
    assert by_id[left_out]["status"] == "not_in_inventory" and by_id[left_out]["after"] == [cve]
    for mid, name in exposed.items():
        if mid != left_out:
            assert by_id[mid] == dict(by_id[mid], host=name, before=[cve], after=[], status="fixed", patched=True)
    # tagged while patching, the tag removed once fixed
    tag_posts = [r for r in emulator.control.requests(kind="api", method="POST")
                 if isinstance(r["body"], dict) and r["body"].get("Value") == TAG]
    assert {r["body"]["Action"] for r in tag_posts} == {"Add", "Remove"}
    assert all(TAG not in tags for tags in _tags(emulator, exposed).values())
    # a second run finds nothing left to patch in the inventory
    again = ansible.playbook(PLAYBOOK, extra_vars=extra, inventory=str(inventory))
    assert again.rc == 0, again.explain()
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(r["machine_id"], r["status"]) for r in report["hosts"]] == [(left_out, "not_in_inventory")]


def test_refuses_without_a_query(emulator, ansible):
    emulator.reset()
    run = ansible.playbook(PLAYBOOK, extra_vars={"patch_tasks": "x.yml"})
    assert run.rc != 0 and "Set cve_id" in run.stdout
    assert not emulator.control.requests(kind="api")


def test_inventory_exposure_groups_hosts_by_cve_kb_and_severity(emulator, ansible):
    """ansible-inventory with exposure against the emulator: the groups hold exactly the exposed machines, read with
    one request per CVE plus the machine list (never one per machine)."""
    from test_fleet_inventory import listing  # pylint: disable=import-outside-toplevel

    emulator.reset()
    truth = emulator.control.vulnerabilities()
    cves = [c for c, v in sorted(truth["cves"].items()) if v["fixing_kb"] and len(v["machine_ids"]) >= 2][:2]
    emulator.control.clear_requests()
    listed = listing(ansible, {"exposure": {"cves": cves}, "exclude_potential_duplicates": False})
    api = list(emulator.control.requests(kind="api"))
    assert len(api) == 1 + len(cves), [r["path"] for r in api]
    hostvars = listed["_meta"]["hostvars"]
    by_id = {v["defender_id"]: name for name, v in hostvars.items()}
    for cve in cves:
        group = "cve_" + cve.replace("-", "_")
        assert sorted(listed[group]["hosts"]) == sorted(by_id[i] for i in truth["cves"][cve]["machine_ids"])
        kb_group = "kb_" + truth["cves"][cve]["fixing_kb"]
        assert set(listed[group]["hosts"]) <= set(listed[kb_group]["hosts"])
        for host in listed[group]["hosts"]:
            assert cve in hostvars[host]["defender_cves"]
            assert truth["cves"][cve]["fixing_kb"] in hostvars[host]["defender_fixing_kbs"]
            severity = hostvars[host]["defender_exposure_severity"]
            assert host in listed["exposure_" + severity.lower()]["hosts"]
    unexposed = [h for h, v in hostvars.items() if not v["defender_cves"]]
    assert unexposed and all(hostvars[h]["defender_exposure_severity"] is None for h in unexposed)
