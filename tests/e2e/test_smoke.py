# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proves the e2e harness itself: the emulator starts, ansible-playbook runs, the results callback records results
(censored under no_log) and the recap is parsed. Uses only ansible.builtin modules."""
from __future__ import annotations

import json
import os

SMOKE = """
- hosts: localhost
  gather_facts: false
  vars:
    login_url: "{{ lookup('ansible.builtin.env', 'AZURE_AUTHORITY_HOST') }}"
    api_url: "{{ lookup('ansible.builtin.env', 'DEFENDER_API_URL') }}"
    ca_path: "{{ lookup('ansible.builtin.env', 'DEFENDER_CA_PATH') }}"
  tasks:
    - name: get a token
      ansible.builtin.uri:
        url: "{{ login_url }}/{{ lookup('ansible.builtin.env', 'AZURE_TENANT_ID') }}/oauth2/v2.0/token"
        method: POST
        ca_path: "{{ ca_path }}"
        body_format: form-urlencoded
        body:
          grant_type: client_credentials
          client_id: "{{ lookup('ansible.builtin.env', 'AZURE_CLIENT_ID') }}"
          client_secret: "{{ lookup('ansible.builtin.env', 'AZURE_CLIENT_SECRET') }}"
          scope: https://api.securitycenter.microsoft.com/.default
      register: token
      no_log: true

    - name: list alerts
      ansible.builtin.uri:
        url: "{{ api_url }}/api/alerts?$top=3"
        ca_path: "{{ ca_path }}"
        headers:
          Authorization: "Bearer {{ token.json.access_token }}"
      register: alerts

    - name: count
      ansible.builtin.debug:
        msg: "{{ alerts.json.value | length }}"

    - name: change something harmless
      ansible.builtin.set_fact:
        seen: true
      changed_when: true
"""


def test_emulator_settings(emulator):
    s = emulator.settings
    for key in ("api_url", "login_url", "ca_path", "tenant_id", "client_id", "client_secret", "control_url", "apps"):
        assert s.get(key), key
    assert os.path.exists(s["ca_path"])
    assert "full" in s["apps"]


def test_playbook_with_builtin_uri(emulator, ansible):
    emulator.reset()
    run = ansible.playbook(SMOKE)
    assert run.rc == 0, run.explain()

    token = run.task("get a token")
    assert token["status"] == "ok"
    assert token["no_log"] is True
    assert "censored" in token["result"]
    assert emulator.settings["client_secret"] not in json.dumps(token["result"])

    alerts = run.task("list alerts")
    assert alerts["status"] == "ok"
    assert alerts["result"]["status"] == 200
    assert len(alerts["result"]["json"]["value"]) == 3
    assert run.task("count")["result"]["msg"] in (3, "3")

    assert run.task("change something harmless")["status"] == "changed"
    assert run.stats["localhost"]["ok"] == 4
    assert run.stats["localhost"]["changed"] == 1
    assert run.changed == 1
    assert run.failed == 0


def test_env_override_and_removal(emulator, ansible):
    run = ansible.playbook(
        [{"tasks": [{"name": "show", "ansible.builtin.debug": {
            "msg": "{{ lookup('ansible.builtin.env', 'DEFENDER_API_URL') }}|{{ lookup('ansible.builtin.env', 'X_E2E') }}"}}]}],
        env={"DEFENDER_API_URL": None, "X_E2E": "yes"},
        log=True,
    )
    assert run.rc == 0, run.explain()
    assert run.task("show")["result"]["msg"] == "|yes"
    assert run.log_path and "show" in run.log_text()
    assert ansible.cache_dir and os.path.isdir(ansible.cache_dir)


def test_failure_is_reported(ansible):
    run = ansible.playbook([{"tasks": [{"name": "boom", "ansible.builtin.fail": {"msg": "expected"}}]}])
    assert run.rc == 2
    assert run.task("boom")["status"] == "failed"
    assert run.task("boom")["result"]["msg"] == "expected"
    assert run.failed == 1
