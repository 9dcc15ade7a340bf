# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX / AAP custom credential type shipped in examples/awx/credential-type.yml: it follows AWX's rules for
custom types, and what its injectors produce (rendered as AWX renders them: a sandboxed Jinja environment, files
written 0600 for ``tower.filename``) is enough for the machines inventory plugin to sign in and read the emulator,
with a client secret and with a certificate."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from jinja2.sandbox import SandboxedEnvironment

from conftest import REPO, _SCRUB

CREDENTIAL_TYPE = REPO / "examples" / "awx" / "credential-type.yml"
ENV_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def load():
    with open(CREDENTIAL_TYPE, encoding="utf-8") as f:
        return yaml.safe_load(f)


def render(ctype, inputs, directory):
    """``env`` the way AWX injects it: missing string inputs are '', defaults apply, each ``file`` template is
    written to a private file whose path ``tower.filename.<name>`` gives."""
    values = {}
    for field in ctype["inputs"]["fields"]:
        empty = False if field.get("type") == "boolean" else ""
        values[field["id"]] = inputs.get(field["id"], field.get("default", empty))
    sandbox = SandboxedEnvironment()
    filenames = {}
    for key, template in (ctype["injectors"].get("file") or {}).items():
        name = key.split(".", 1)[1]
        path = os.path.join(directory, "tmp_%s" % name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
            f.write(sandbox.from_string(template).render(**values))
        filenames[name] = path
    context = dict(values, tower={"filename": filenames})
    return {name: sandbox.from_string(template).render(**context)
            for name, template in ctype["injectors"]["env"].items()}


def test_credential_type_follows_awx_rules():
    ctype = load()
    assert ctype["kind"] in ("cloud", "net")
    fields = ctype["inputs"]["fields"]
    ids = [f["id"] for f in fields]
    labels = [f["label"] for f in fields]
    assert len(set(ids)) == len(ids) and len(set(labels)) == len(labels)
    assert set(ctype["inputs"]["required"]) <= set(ids)
    for field in fields:
        assert field.get("type", "string") in ("string", "boolean")
        assert "ask_at_runtime" not in field
        if "choices" in field:
            assert field.get("default") in field["choices"]
    secret = {f["id"] for f in fields if f.get("secret")}
    assert {"client_secret", "certificate", "certificate_password"} <= secret
    injectors = ctype["injectors"]
    assert set(injectors) <= {"env", "file", "extra_vars"}
    assert "extra_vars" not in injectors  # AWX does not apply extra_vars injectors to inventory updates
    for name, value in injectors["env"].items():
        assert ENV_NAME.match(name) and not name.startswith("ANSIBLE_"), name
        assert value.isascii()
        assert "awx.filename" not in value  # only the tower. namespace works
    files = injectors.get("file") or {}
    assert all(k.startswith("template.") for k in files), "single- and multi-file forms cannot be mixed"
    # every variable the injectors use is an input (or tower.filename)
    text = re.sub(r"tower\.filename\.(\w+)", lambda m: "" if "template." + m.group(1) in files else m.group(0),
                  yaml.safe_dump(injectors))
    used = set(re.findall(r"(?:{{|{%\s*if)\s*([a-z_.]+)", text))
    assert used and used <= set(ids), used - set(ids)
    assert "tower.filename" not in text  # every file it names is one of the file templates


def inventory_with(ansible, env, name):
    path = ansible.workdir / ("%s.defender_machines.yml" % name)
    path.write_text(yaml.safe_dump({"plugin": "defender.endpoint.machines"}))
    run_env = {k: v for k, v in ansible.env.items() if k not in _SCRUB}
    run_env.update(env)
    run_env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "true"
    run_env["XDG_CACHE_HOME"] = str(ansible.workdir / ("xdg-%s" % name))  # no token from an earlier sign-in
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", str(path),
                           "--list"], env=run_env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), proc


@pytest.mark.parametrize("credential", ["secret", "certificate"])
def test_injected_environment_signs_in_and_reads_the_fleet(emulator, ansible, tmp_path, credential):
    emulator.reset()
    with open(emulator.ca_path, encoding="utf-8") as f:
        ca = f.read()
    inputs = {"tenant_id": emulator.settings["tenant_id"], "api_url": emulator.api_url,
              "login_url": emulator.login_url, "ca_bundle": ca}
    if credential == "secret":
        inputs.update(client_id=emulator.settings["client_id"], client_secret=emulator.settings["client_secret"])
    else:
        app = emulator.apps["cert"]
        with open(app["certificate_path"], encoding="utf-8") as f:
            inputs.update(client_id=app["client_id"], certificate=f.read())
    env = render(load(), inputs, str(tmp_path))
    assert env["DEFENDER_CLOUD"] == "global"
    assert bool(env["AZURE_CLIENT_CERTIFICATE_PATH"]) is (credential == "certificate")
    data, proc = inventory_with(ansible, env, credential)
    assert len(data["_meta"]["hostvars"]) > 50
    assert list(emulator.stats()["token_requests"]) == [inputs["client_id"]]
    secret = inputs.get("client_secret") or "-----BEGIN"
    assert secret not in proc.stdout + proc.stderr
