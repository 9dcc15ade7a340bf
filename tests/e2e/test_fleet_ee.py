# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as AWX / AAP uses it: built and installed, read by ansible-builder's introspection, the example
execution and decision environment definitions through ``ansible-builder create``, and a playbook (with the
machines inventory plugin) run by ansible-runner with the credentials as environment variables, leaving no secret
in its output, job events or artifacts other than runner's own ``command`` record of the environment.

ansible-builder and ansible-runner are test requirements of the newest toolchain (tests/requirements-lint.txt)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, fleet_tool as tool

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+")


def run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, **kw)
    assert proc.returncode == 0, "%s\n%s\n%s" % (cmd, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The collection as users get it: ansible-galaxy collection build, then install into a fresh directory."""
    work = tmp_path_factory.mktemp("built")
    run([tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(work), str(REPO)])
    tarball = [p for p in os.listdir(work) if p.endswith(".tar.gz")]
    assert len(tarball) == 1, tarball
    target = work / "collections"
    run([tool("ansible-galaxy"), "collection", "install", "-p", str(target), str(work / tarball[0])])
    return target


def test_builder_introspection_of_the_installed_collection(installed):
    proc = run([tool("ansible-builder"), "introspect", "--sanitize", str(installed)])
    data = yaml.safe_load(proc.stdout.split("---", 1)[1])
    python = [line.split("#")[0].strip() for line in data["python"]]
    names = {re.split(r"[\[<>=!~ ]", p)[0].lower() for p in python}
    assert {"requests", "msal", "pyjwt", "cryptography"} <= names, python
    assert all("from collection defender.endpoint" in line for line in data["python"])
    system = [line.split("#")[0].strip() for line in data["system"]]
    assert "ca-certificates [platform:rpm]" in system, system
    assert "gcc [compile platform:rpm]" in system, system  # build-stage only: cryptography where no wheel exists
    # the installed copy holds the files the metadata names (they are not in build_ignore)
    root = installed / "ansible_collections" / "defender" / "endpoint"
    meta = yaml.safe_load((root / "meta" / "execution-environment.yml").read_text())
    for kind in ("python", "system"):
        assert not os.path.isabs(meta["dependencies"][kind])
        assert (root / meta["dependencies"][kind]).is_file()


@pytest.mark.parametrize("definition", ["examples/execution-environment/execution-environment.yml",
                                        "examples/decision-environment/decision-environment.yml"])
def test_example_definitions_pass_ansible_builder_create(tmp_path, definition):
    context = tmp_path / "context"
    run([tool("ansible-builder"), "create", "-f", str(REPO / definition), "--context", str(context), "-v3"])
    assert (context / "Containerfile").is_file() or (context / "Dockerfile").is_file()
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert [c["name"] for c in galaxy["collections"]] == ["defender.endpoint"]


PLAYBOOK = """
- name: read alerts with the credentials from the environment
  hosts: localhost
  gather_facts: false
  tasks:
    - name: high alerts
      defender.endpoint.alert_info:
        severity: [High]
        limit: 5
      register: high

- name: act on the fleet from the inventory plugin
  hosts: risky
  gather_facts: false
  connection: local
  tasks:
    - name: each risky machine
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} {{ defender_id }}"
"""


def test_playbook_under_ansible_runner_leaves_no_secret(emulator, collection_path, tmp_path):
    tool("ansible-runner")
    import ansible_runner  # pylint: disable=import-outside-toplevel

    emulator.reset()
    pdd = tmp_path / "runner"
    (pdd / "project").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    (pdd / "project" / "site.yml").write_text(PLAYBOOK)
    (pdd / "inventory" / "hosts").write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n"
                                             % sys.executable)
    (pdd / "inventory" / "fleet.defender_machines.yml").write_text(yaml.safe_dump({
        "plugin": "defender.endpoint.machines", "groups": {"risky": "defender_risk_score == 'High'"}}))
    secret = emulator.settings["client_secret"]
    envvars = {
        "AZURE_TENANT_ID": emulator.settings["tenant_id"],
        "AZURE_CLIENT_ID": emulator.settings["client_id"],
        "AZURE_CLIENT_SECRET": secret,
        "AZURE_AUTHORITY_HOST": emulator.login_url,
        "DEFENDER_API_URL": emulator.api_url,
        "DEFENDER_CA_PATH": emulator.ca_path,
        "ANSIBLE_COLLECTIONS_PATH": collection_path,
        "XDG_CACHE_HOME": str(tmp_path / "xdg"),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    # AWX passes credentials to the job's environment the same way; suppress_env_files keeps runner from also
    # writing them to env/envvars.
    result = ansible_runner.run(private_data_dir=str(pdd), playbook="site.yml", envvars=envvars,
                                suppress_env_files=True, quiet=True, verbosity=3)
    assert result.status == "successful", (result.rc, result.stdout.read()[-3000:])
    ok = [e for e in result.events if e.get("event") == "runner_on_ok"]
    high = [e for e in ok if e["event_data"].get("task") == "high alerts"]
    assert high and high[0]["event_data"]["res"]["alerts"], "alert_info returned nothing"
    risky = {e["event_data"]["res"]["msg"].split()[1] for e in ok if e["event_data"].get("task") == "each risky machine"}
    assert risky and risky <= set(emulator.query("machines", "riskScore eq 'High'"))

    leaks, command_files = [], []
    for folder, _dirs, files in os.walk(pdd):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            if name == "command" and os.path.basename(os.path.dirname(os.path.dirname(path))) == "artifacts":
                command_files.append(text)  # runner records the process environment here (documented)
                continue
            if secret in text or JWT.search(text):
                leaks.append(os.path.relpath(path, pdd))
    assert not leaks, leaks
    assert not (pdd / "env" / "envvars").exists()
    # the one place the secret is, as docs/awx.md says: runner's own command artifact, mode 0600
    assert command_files and secret in command_files[0]
    command = [p for p in pdd.rglob("command") if p.parent.parent.name == "artifacts"][0]
    assert oct(os.stat(command).st_mode & 0o777) == "0o600"
