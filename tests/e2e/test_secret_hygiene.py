# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secret hygiene (issue 7): every module and the lookup, with every credential kind and the usual failures (bad
secret, wrong certificate password, 401, 403), run at -vvvv with ANSIBLE_LOG_PATH set and ANSIBLE_DEBUG off. Then
stdout, stderr, the log, the results callback's records and every file written under the run's directories
(exports, the token cache, temporary files) are scanned for each client secret, certificate password, private-key
line, federated assertion and access token the emulator issued: zero hits allowed.

The token cache legitimately holds access tokens at rest (documented in SECURITY.md and docs/tokens.md), so it is
scanned for everything except tokens. Tokens issued during the runs are collected from cache snapshots taken after
each run and from the tokens the test mints itself; the test keeps them in memory only.

Also: failure messages never carry request headers or form bodies (``Authorization``, ``Bearer``,
``client_secret=``, ``client_assertion=``, ``grant_type=``).
"""
from __future__ import annotations

import glob
import json
import os
import re
import sys

import pytest
import yaml

from security.helpers import fresh_machine, play, task

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
BAD_SECRET = "Wr0ng~Secret~Never~Shown~5b7e1c"
BAD_PASSWORD = "wrong-cert-password-9f3a"
FORM_OR_HEADER = ("Authorization", "Bearer ", "client_secret=", "client_assertion=", "grant_type=",
                  "client_assertion_type=")
RESULTS = {}


def _key_lines(path):
    """The base64 lines of every PRIVATE KEY block in a PEM file (each one is secret material)."""
    lines, inside = [], False
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith("-----BEGIN") and "PRIVATE KEY" in line:
                inside = True
                continue
            if line.startswith("-----END") and "PRIVATE KEY" in line:
                inside = False
                continue
            if inside and len(line) >= 40 and ":" not in line:
                lines.append(line)
    return lines


def secrets_of(emulator):
    """{label: value} of every credential the emulator handed out (apps' secrets, passwords, keys, assertions)."""
    found = {}
    settings = emulator.settings
    if settings.get("client_secret"):
        found["client_secret"] = settings["client_secret"]
    for name, app in (settings.get("apps") or {}).items():
        if app.get("client_secret"):
            found["%s.client_secret" % name] = app["client_secret"]
        if app.get("certificate_password"):
            found["%s.certificate_password" % name] = app["certificate_password"]
        if app.get("certificate_path") and os.path.exists(app["certificate_path"]):
            for i, line in enumerate(_key_lines(app["certificate_path"])):
                found["%s.private_key_line_%d" % (name, i)] = line
        if app.get("assertion_path") and os.path.exists(app["assertion_path"]):
            with open(app["assertion_path"], encoding="utf-8") as handle:
                assertion = handle.read().strip()
            found["%s.assertion" % name] = assertion
            found["%s.assertion_signature" % name] = assertion.rsplit(".", 1)[-1]
    found["bad_secret"] = BAD_SECRET
    found["bad_password"] = BAD_PASSWORD
    return found


def cache_tokens(ansible):
    tokens = set()
    for path in glob.glob(os.path.join(ansible.cache_dir, "**", "*"), recursive=True):
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                tokens.update(JWT.findall(handle.read()))
    return tokens


def scanned_files(ansible):
    """Everything written under the run's directory (the harness's own playbook and extra-vars files excepted:
    the test writes those, with the values it passes on purpose), split into (cache files, other files)."""
    cache, other = [], []
    for path in glob.glob(os.path.join(str(ansible.workdir), "**", "*"), recursive=True):
        base = os.path.basename(path)
        if not os.path.isfile(path) or re.match(r"^(playbook|extra-vars)-\d+\.(yml|json)$", base):
            continue
        if os.path.commonpath([path, ansible.cache_dir]) == ansible.cache_dir:
            cache.append(path)
        else:
            other.append(path)
    return cache, other


def _lookup(name, extra=""):
    return ("    - name: %s\n      ansible.builtin.debug:\n"
            "        msg: \"token of {{ lookup('defender.endpoint.token'%s) | length }} characters\"\n"
            "      ignore_errors: true\n" % (name, extra))


@pytest.fixture
def hygiene(emulator, ansible, tmp_path):
    emulator.reset(alerts=100, machines=30)
    emulator.control.clear_faults()
    state = {"runs": [], "tokens": set()}

    def run(playbook, env=None):
        env = dict(env or {})
        env.setdefault("ANSIBLE_DEBUG", "0")
        result = ansible.playbook(playbook, verbosity=4, log=True, env=env)
        state["runs"].append(result)
        state["tokens"].update(cache_tokens(ansible))
        return result

    state["run"] = run
    yield state
    emulator.control.clear_faults()


def test_secret_hygiene_at_vvvv(emulator, ansible, hygiene, tmp_path):
    run = hygiene["run"]
    apps = emulator.settings["apps"]
    mid, name, alert_id = fresh_machine(emulator)
    export = str(tmp_path / "export.jsonl")

    # 1. client secret (from the environment, as the harness sets it): every module and the lookup
    r = run(play(
        task("token", "token", {}),
        task("token_info", "token_info", {"required_roles": ["Machine.Isolate", "Alert.ReadWrite.All"]}),
        _lookup("lookup"),
        task("alert_info", "alert_info", {"limit": 20, "expand_evidence": True}),
        task("alert_export", "alert_export", {"limit": 20, "dest": export}),
        task("alert", "alert", {"id": alert_id, "status": "InProgress", "comment": "hygiene"}),
        task("machine_info", "machine_info", {"name": name}),
        task("machine_isolation", "machine_isolation", {"machine": name, "comment": "hygiene", "wait": True,
                                                        "wait_sleep": 1, "wait_timeout": 60}),
        task("machine_action_info", "machine_action_info", {"machine_id": mid}),
    ))
    for t in ("token", "token_info", "lookup", "alert_info", "alert_export", "alert", "machine_info",
              "machine_isolation", "machine_action_info"):
        assert r.task(t)["status"] in ("ok", "changed"), (t, r.task(t)["result"])

    # 2. certificate with an encrypted key (password from the environment), and the lookup with it
    cert = apps["cert_encrypted"]
    cert_env = {"AZURE_CLIENT_ID": cert["client_id"], "AZURE_CLIENT_SECRET": None,
                "AZURE_CLIENT_CERTIFICATE_PATH": cert["certificate_path"],
                "AZURE_CLIENT_CERTIFICATE_PASSWORD": cert["certificate_password"]}
    r = run(play(task("cert token", "token", {}), task("cert alerts", "alert_info", {"limit": 2}),
                 _lookup("cert lookup")), env=cert_env)
    assert r.task("cert token")["status"] == "ok" and r.task("cert lookup")["status"] == "ok", r.explain()

    # 3. federated assertion file
    fed = apps["federated"]
    r = run(play(task("federated token", "token", {}), task("federated machines", "machine_info", {"limit": 2})),
            env={"AZURE_CLIENT_ID": fed["client_id"], "AZURE_CLIENT_SECRET": None,
                 "AZURE_FEDERATED_TOKEN_FILE": fed["assertion_path"]})
    assert r.task("federated token")["status"] == "ok", r.explain()

    # 4. failures: bad secret, wrong certificate password, 403, 401 (given expired token; and an expired token
    # refreshed mid-task), access_token given explicitly
    expired = emulator.control.mint_token(app="full", offset=-7200)["access_token"]
    good = emulator.control.mint_token(app="full")["access_token"]
    hygiene["tokens"].update({expired, good})
    r = run(play(task("bad secret", "token", {}), task("bad secret alerts", "alert_info", {"limit": 1}),
                 _lookup("bad secret lookup")), env={"AZURE_CLIENT_SECRET": BAD_SECRET})
    for t in ("bad secret", "bad secret alerts", "bad secret lookup"):
        assert r.task(t)["status"] == "failed", t
    # Without the cache: a cached token of this certificate would be served without opening the key (the cache is
    # keyed on the certificate file, not on its password), and the wrong password would never be tried.
    r = run(play(task("bad password", "token", {})), env=dict(cert_env, AZURE_CLIENT_CERTIFICATE_PASSWORD=BAD_PASSWORD,
                                                              DEFENDER_TOKEN_CACHE="false"))
    assert r.task("bad password")["status"] == "failed"
    ro = apps["readonly"]
    r = run(play(task("forbidden", "machine_isolation", {"machine": name, "state": "released", "comment": "x"}),
                 task("forbidden alert", "alert", {"id": alert_id, "status": "Resolved"})),
            env={"AZURE_CLIENT_ID": ro["client_id"], "AZURE_CLIENT_SECRET": ro["client_secret"]})
    assert r.task("forbidden")["status"] == "failed" and "403" in r.result("forbidden")["msg"]
    r = run(play(task("expired given", "alert_info", {"access_token": expired, "limit": 1}),
                 task("expired token_info", "token_info", {"access_token": expired}),
                 task("given ok", "machine_info", {"access_token": good, "limit": 1})),
            env={"AZURE_CLIENT_SECRET": None})
    assert r.task("expired given")["status"] == "failed" and r.task("given ok")["status"] == "ok", r.explain()
    emulator.control.set_faults({"match": {"kind": "api"}, "action": "expire_token", "count": 1})
    r = run(play(task("refreshed", "alert_info", {"limit": 1})))
    assert r.task("refreshed")["status"] == "ok", r.explain()
    emulator.control.clear_faults()

    # --- the scan ---------------------------------------------------------------------------------------------------
    secrets = secrets_of(emulator)
    tokens = hygiene["tokens"]
    assert len(tokens) >= 4, "too few issued tokens collected to make the scan meaningful"
    assert any(k.endswith("private_key_line_0") for k in secrets) and "federated.assertion" in secrets
    cache, others = scanned_files(ansible)
    assert cache, "the token cache was not written"
    hits = []

    def scan(label, text, with_tokens=True):
        for key, value in secrets.items():
            if value and value in text:
                hits.append((label, key))
        if with_tokens:
            for tok in tokens:
                if tok in text or tok.rsplit(".", 1)[-1] in text:
                    hits.append((label, "access token ...%s" % tok[-6:]))

    for i, res in enumerate(hygiene["runs"]):
        scan("run %d stdout" % i, res.stdout)
        scan("run %d stderr" % i, res.stderr)
        scan("run %d log" % i, res.log_text())
        assert res.log_text(), "ANSIBLE_LOG_PATH was not written"
        assert "<localhost> EXEC" in res.stdout or "ESTABLISH LOCAL CONNECTION" in res.stdout, "not -vvvv?"
    for path in others:
        with open(path, encoding="utf-8", errors="replace") as handle:
            scan(os.path.relpath(path, str(ansible.workdir)), handle.read())
    for path in cache:
        with open(path, encoding="utf-8", errors="replace") as handle:
            scan("cache " + os.path.basename(path), handle.read(), with_tokens=False)
    with open(export, encoding="utf-8") as handle:
        scan("export", handle.read())

    # failure messages: no request headers, no form bodies
    leaks = []
    for res in hygiene["runs"]:
        for rec in res.results:
            if rec["status"] == "failed":
                msg = json.dumps(rec["result"])
                leaks += [(rec["task"], w) for w in FORM_OR_HEADER if w in msg]
    RESULTS.update(secrets=len(secrets), tokens=len(tokens), files=len(others) + len(cache) + 1,
                   runs=len(hygiene["runs"]), hits=len(hits))
    sys.stdout.write("\nsecret scan: %d secrets + %d issued tokens over %d runs (stdout, stderr, log) and %d files: "
                     "%d hits\n" % (len(secrets), len(tokens), len(hygiene["runs"]), RESULTS["files"], len(hits)))
    assert not hits, "secrets found: %r" % hits
    assert not leaks, "failure messages carry headers or form bodies: %r" % leaks


def _hidden(target):
    """A target ansible-test does not run by itself (setup_emulator: with the connection given it runs no module)."""
    try:
        with open(os.path.join(target, "aliases"), encoding="utf-8") as handle:
            return "hidden" in handle.read().split()
    except OSError:
        return False


def test_integration_targets_at_vvvv_leak_nothing(emulator, ansible, hygiene, tmp_path):
    """The whole integration suite (every tests/integration/targets/*) once more at -vvvv with ANSIBLE_LOG_PATH set,
    through ansible-playbook with the same variables ansible-test gets, then the same scan as above."""
    targets_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "targets")
    settings = emulator.settings
    config = {"defender_api_url": settings["api_url"], "defender_login_url": settings["login_url"],
              "defender_ca_path": settings["ca_path"], "defender_tenant_id": settings["tenant_id"],
              "defender_client_id": settings["client_id"], "defender_client_secret": settings["client_secret"],
              "defender_control_url": settings["control_url"], "defender_apps": settings["apps"],
              "defender_graph_url": settings["graph_url"]}
    config_path = str(tmp_path / "integration_config.yml")
    with open(config_path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    names = sorted(n for n in os.listdir(targets_dir) if os.path.isfile(os.path.join(targets_dir, n, "tasks", "main.yml"))
                   and not _hidden(os.path.join(targets_dir, n)))
    assert len(names) >= 7
    failed = []
    for name in names:
        main = os.path.abspath(os.path.join(targets_dir, name, "tasks", "main.yml"))
        playbook = [{"hosts": "localhost", "gather_facts": False, "vars_files": [config_path],
                     "tasks": [{"name": "target " + name, "ansible.builtin.include_tasks": main}]}]
        result = hygiene["run"](playbook)
        if result.rc != 0:
            failed.append((name, result.explain()[-2000:]))
    assert not failed, "integration targets failed when run at -vvvv: %r" % failed

    secrets = secrets_of(emulator)
    tokens = hygiene["tokens"]
    assert tokens, "no issued token was collected: the scan would prove nothing"
    hits = []
    for i, res in enumerate(hygiene["runs"]):
        assert "<localhost> EXEC" in res.stdout or "ESTABLISH LOCAL CONNECTION" in res.stdout, "not -vvvv?"
        for label, text in (("stdout", res.stdout), ("stderr", res.stderr), ("log", res.log_text())):
            for key, value in secrets.items():
                if value and value in text:
                    hits.append((names[i], label, key))
            for tok in tokens:
                if tok in text or tok.rsplit(".", 1)[-1] in text:
                    hits.append((names[i], label, "access token ...%s" % tok[-6:]))
    sys.stdout.write("\nintegration suite at -vvvv: %d targets, %d secrets + %d issued tokens scanned: %d hits\n"
                     % (len(names), len(secrets), len(tokens), len(hits)))
    assert not hits, "secrets found: %r" % hits
