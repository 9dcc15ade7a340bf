# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A wrong api_url fails, naming the URL, instead of reading as "no machines" (issue 22 item 8): before, every
first-page 404 was an empty collection, so the inventory came back empty with no error."""
from __future__ import annotations

from test_fleet_inventory import inventory


def test_inventory_with_a_wrong_api_url_fails_naming_the_url(emulator, ansible):
    wrong = emulator.api_url.rstrip("/") + "/api"  # a common slip: the API's own path in the base URL
    proc = inventory(ansible, {"api_url": wrong}, "--list", name="wrong.defender_machines.yml")
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert wrong + "/api/machines" in proc.stderr and "api_url" in proc.stderr, proc.stderr[-3000:]
    assert "eyJ" not in proc.stderr  # no token in the message
    paths = [r["path"] for r in emulator.requests(kind="api")]
    assert "/api/api/machines" in paths and "/api/api/machineactions" in paths  # the probe said "not the API"


def test_module_with_a_wrong_api_url_fails_naming_the_url(emulator, ansible):
    wrong = emulator.api_url.rstrip("/") + "/defender"
    run = ansible.playbook("""
- hosts: localhost
  tasks:
    - name: machines
      defender.endpoint.machine_info:
        api_url: "{{ wrong }}"
      register: machines
      ignore_errors: true
""", extra_vars={"wrong": wrong})
    assert run.rc == 0, run.stdout + run.stderr
    result = run.result("machines")
    assert run.task("machines")["status"] == "failed" and result["status"] == 404, result
    assert wrong + "/api/machines" in result["msg"] and "api_url" in result["msg"]
