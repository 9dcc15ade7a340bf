# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tokens end to end (issue 3): every credential kind, one sign-in per run, token_info verdicts, key refresh,
partner tenants, and no secret in any output at -vvvv. Request counts come from the emulator's request log."""
from __future__ import annotations

import base64
import glob
import json
import os
import time

import pytest

SCOPE_OK_URI = "{{ api }}/api/machines?$top=1"
NO_ENV_SECRET = {"AZURE_CLIENT_SECRET": ""}  # the run's environment holds the full app's secret


def _vars(emulator, app="full", **extra):
    s = emulator.settings
    a = s["apps"][app]
    v = {
        "api": s["api_url"],
        "login": s["login_url"],
        "ca": s["ca_path"],
        "tenant": s["tenant_id"],
        "client_id": a["client_id"],
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
    }
    v.update(extra)
    return v


def _token_requests(emulator):
    return list(emulator.control.requests(kind="token"))


def _keys_requests(emulator):
    return list(emulator.control.requests(kind="keys"))


def _cached_tokens(cache_dir):
    """Every access token in the token cache files of a run."""
    tokens = []
    for path in glob.glob(os.path.join(cache_dir, "defender.endpoint", "tokens", "*.json")):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        for entry in json.loads(data["msal"]).get("AccessToken", {}).values():
            tokens.append(entry["secret"])
    return tokens


CREDENTIAL_KINDS = {
    "secret": ("full", lambda a: {"client_secret": a["client_secret"]}),
    "certificate": ("cert", lambda a: {"client_certificate_path": a["certificate_path"]}),
    "encrypted certificate": ("cert_encrypted", lambda a: {"client_certificate_path": a["certificate_path"],
                                                           "client_certificate_password": a["certificate_password"]}),
    "federated assertion": ("federated", lambda a: {"client_assertion_file": a["assertion_path"]}),
}


@pytest.mark.parametrize("kind", sorted(CREDENTIAL_KINDS))
def test_each_credential_kind_gets_a_token_the_api_accepts(emulator, ansible, kind):
    emulator.reset()
    app, creds = CREDENTIAL_KINDS[kind]
    if app == "federated":
        emulator.control.call("POST", "/assertion", {"app": "federated"})  # keep the file fresh enough
    a = emulator.settings["apps"][app]
    run = ansible.playbook([{
        "vars": _vars(emulator, app, creds=creds(a)),
        "module_defaults": {"group/defender.endpoint.all": {
            "tenant_id": "{{ tenant }}", "client_id": "{{ client_id }}", "login_url": "{{ login }}",
            "api_url": "{{ api }}", "ca_path": "{{ ca }}"}},
        "tasks": [
            {"name": "token", "defender.endpoint.token": creds(a), "register": "tok", "no_log": True},
            {"name": "call the API", "ansible.builtin.uri": {
                "url": SCOPE_OK_URI, "ca_path": "{{ ca }}",
                "headers": {"Authorization": "Bearer {{ tok.access_token }}"}}, "no_log": True, "register": "api_call"},
            {"name": "validate", "defender.endpoint.token_info": {
                "access_token": "{{ tok.access_token }}", "required_roles": ["Machine.Read.All"]}},
            {"name": "lookup", "ansible.builtin.set_fact": {
                "looked_up": "{{ lookup('defender.endpoint.token', tenant_id=tenant, client_id=client_id, "
                             "login_url=login, ca_path=ca, **creds) }}"}, "no_log": True},
            {"name": "same", "ansible.builtin.assert": {"that": [
                "looked_up == tok.access_token", "api_call.status == 200",
                "tok.claims.appid == client_id", "tok.source == 'identity_provider'",
                "tok.token_type == 'Bearer'", "tok.expires_in > 3000",
                "tok.resource == 'https://api.securitycenter.microsoft.com'"]}},
        ],
    }], env={"AZURE_CLIENT_SECRET": None})  # only this app's credential
    assert run.rc == 0, run.explain()
    assert run.result("validate")["valid"] is True
    assert run.result("validate")["claims"]["appidacr"] == ("1" if app == "full" else "2")
    assert len(_token_requests(emulator)) == 1
    assert a["client_id"] in json.dumps(run.result("validate"))


def test_thirty_tasks_one_token_request(emulator, ansible):
    """Lookup + API calls, credentials-only token and machine_info tasks, token_info: one sign-in in all."""
    emulator.reset()
    tasks = []
    for i in range(8):
        tasks.append({"name": "api via lookup %d" % i, "ansible.builtin.uri": {
            "url": SCOPE_OK_URI, "ca_path": "{{ ca }}",
            "headers": {"Authorization": "Bearer {{ lookup('defender.endpoint.token') }}"}}, "no_log": True})
    for i in range(8):
        tasks.append({"name": "token with credentials %d" % i, "defender.endpoint.token": {}, "register": "t%d" % i,
                      "no_log": True})
    for i in range(8):
        tasks.append({"name": "machine_info with credentials %d" % i,
                      "defender.endpoint.machine_info": {"limit": 1}})
    for i in range(3):
        tasks.append({"name": "machine_info with the looked-up token %d" % i,
                      "defender.endpoint.machine_info": {"limit": 1,
                                                         "access_token": "{{ lookup('defender.endpoint.token') }}"}})
    for i in range(2):
        tasks.append({"name": "token_info %d" % i, "defender.endpoint.token_info": {
            "required_roles": ["Machine.Read.All"]}})
    tasks.append({"name": "sources", "ansible.builtin.debug": {
        "msg": "{{ [%s] }}" % ", ".join("t%d.source" % i for i in range(8))}})
    assert len(tasks) == 30
    started = time.monotonic()
    run = ansible.playbook([{"vars": _vars(emulator), "tasks": tasks}])
    elapsed = time.monotonic() - started
    assert run.rc == 0, run.explain()
    token_reqs = _token_requests(emulator)
    api = emulator.control.requests(kind="api")
    print("30 tasks: %d token request(s), %d API requests, %.1f s" % (len(token_reqs), len(api), elapsed))
    assert len(token_reqs) == 1
    assert len(api) >= 19
    assert all(r["status"] == 200 for r in api)
    assert run.result("sources")["msg"] == ["cache"] * 8  # the lookup signed in first; every later process reused its token

    # A second run within the token's lifetime signs in not at all.
    rerun = ansible.playbook([{"vars": _vars(emulator), "tasks": tasks[:3] + tasks[8:10]}])
    assert rerun.rc == 0, rerun.explain()
    assert len(_token_requests(emulator)) == 1


def test_parallel_forks_sign_in_once(emulator, ansible):
    emulator.reset()
    hosts = ",".join("h%d" % i for i in range(8)) + ","
    run = ansible.playbook([{"hosts": "all", "vars": dict(_vars(emulator), ansible_connection="local"),
                             "tasks": [{"name": "token", "defender.endpoint.token": {}, "no_log": True}]}],
                           inventory=hosts, env={"ANSIBLE_FORKS": "8"})
    assert run.rc == 0, run.explain()
    assert len(run.tasks("token")) == 8
    assert len(_token_requests(emulator)) == 1


def test_token_cache_off_signs_in_per_task(emulator, ansible):
    emulator.reset()
    tasks = [{"name": "token %d" % i, "defender.endpoint.token": {}, "no_log": True} for i in range(3)]
    run = ansible.playbook([{"vars": _vars(emulator), "tasks": tasks}], env={"DEFENDER_TOKEN_CACHE": "false"})
    assert run.rc == 0, run.explain()
    assert len(_token_requests(emulator)) == 3
    # no token cache under the collection's cache directory; only the shared rate budgets' state (request times, no
    # secret; DEFENDER_SHARED_BUDGET=false turns it off) may be there
    cache = os.path.join(ansible.cache_dir, "defender.endpoint")
    assert not os.path.exists(cache) or os.listdir(cache) == ["budgets"], os.listdir(cache)


def test_cache_file_modes(emulator, ansible):
    emulator.reset()
    run = ansible.playbook([{"vars": _vars(emulator), "tasks": [
        {"name": "token", "defender.endpoint.token": {}, "no_log": True}]}])
    assert run.rc == 0, run.explain()
    directory = os.path.join(ansible.cache_dir, "defender.endpoint", "tokens")
    assert os.stat(directory).st_mode & 0o777 == 0o700
    files = glob.glob(os.path.join(directory, "*.json"))
    assert len(files) == 1 and os.stat(files[0]).st_mode & 0o777 == 0o600
    assert emulator.settings["apps"]["full"]["client_secret"] not in open(files[0], encoding="utf-8").read()


def test_corrupt_cache_is_rebuilt_with_a_warning(emulator, ansible):
    emulator.reset()
    play = [{"vars": _vars(emulator), "tasks": [{"name": "token", "defender.endpoint.token": {}, "no_log": True}]}]
    assert ansible.playbook(play).rc == 0
    [path] = glob.glob(os.path.join(ansible.cache_dir, "defender.endpoint", "tokens", "*.json"))
    with open(path, "w", encoding="utf-8") as f:
        f.write("{garbage")
    run = ansible.playbook(play)
    assert run.rc == 0, run.explain()
    assert "corrupt token cache" in run.stdout + run.stderr
    assert len(_token_requests(emulator)) == 2
    json.load(open(path, encoding="utf-8"))


def test_refresh_after_401(emulator, ansible):
    emulator.reset()
    emulator.control.set_faults({"match": {"kind": "api"}, "action": "expire_token", "count": 1})
    run = ansible.playbook([{"vars": _vars(emulator), "tasks": [
        {"name": "machines", "defender.endpoint.machine_info": {"limit": 1}}]}])
    emulator.control.clear_faults()
    assert run.rc == 0, run.explain()
    assert len(_token_requests(emulator)) == 2  # the first token, then one forced refresh


def test_missing_isolate_role_names_permission_and_display_name(emulator, ansible):
    emulator.reset()
    app = emulator.settings["apps"]["no_isolate"]
    run = ansible.playbook([{"vars": _vars(emulator, "no_isolate"), "tasks": [
        {"name": "check", "defender.endpoint.token_info": {
            "client_id": "{{ client_id }}", "client_secret": app["client_secret"],
            "required_roles": ["Machine.Read.All", "Machine.Isolate"]}}]}])
    assert run.rc != 0
    result = run.result("check")
    assert result["valid"] is True and result["missing_roles"] == ["Machine.Isolate"]
    assert 'Machine.Isolate ("Isolate machine")' in result["msg"]
    assert "Grant admin consent" in result["msg"]
    assert app["client_secret"] not in run.stdout + run.stderr


def _tamper(token):
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = claims["roles"] + ["Machine.Offboard"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return ".".join((head, forged, sig))


def test_tampered_expired_and_wrong_tenant_tokens_are_invalid(emulator, ansible):
    emulator.reset()
    s = emulator.settings
    good = emulator.control.mint_token("full")["access_token"]
    expired = emulator.control.mint_token("full", offset=-7200)["access_token"]
    other_tenant = emulator.control.mint_token("partner", tenant=s["tenants"][1])["access_token"]
    cases = {"good": good, "tampered": _tamper(good), "expired": expired, "wrong tenant": other_tenant}
    tasks = [{"name": name, "defender.endpoint.token_info": {"access_token": "{{ tokens[%r] }}" % name},
              "ignore_errors": True} for name in cases]
    run = ansible.playbook([{"vars": dict(_vars(emulator), tokens=cases), "tasks": tasks}])
    assert run.result("good")["valid"] is True, run.explain()
    assert any("signature does not match" in r for r in run.result("tampered")["reasons"])
    assert any("expired" in r for r in run.result("expired")["reasons"])
    assert any("belongs to tenant %s" % s["tenants"][1] in r for r in run.result("wrong tenant")["reasons"])
    for name in ("tampered", "expired", "wrong tenant"):
        assert run.task(name)["status"] == "failed" and run.result(name)["valid"] is False


def test_domain_tenant_id_rejects_a_token_of_another_tenant(emulator, ansible):
    """tenant_id given as the domain (contoso.onmicrosoft.com): the domain is resolved to its GUID through the
    tenant's OpenID configuration and compared with the token's tid (the signature alone verifies, because the
    keys are fetched for the token's own tenant)."""
    emulator.reset()
    s = emulator.settings
    domain = s["tenant_domain"]
    good = emulator.control.mint_token("full")["access_token"]
    other_tenant = emulator.control.mint_token("partner", tenant=s["tenants"][1])["access_token"]
    cases = {"own tenant": good, "other tenant": other_tenant}
    tasks = [{"name": name, "defender.endpoint.token_info": {"access_token": "{{ tokens[%r] }}" % name,
                                                             "tenant_id": domain},
              "ignore_errors": True} for name in cases]
    tasks.append({"name": "other tenant, claims only", "ignore_errors": True, "defender.endpoint.token_info": {
        "access_token": "{{ tokens['other tenant'] }}", "tenant_id": domain.upper(), "verify_signature": False}})
    run = ansible.playbook([{"vars": dict(_vars(emulator), tokens=cases), "tasks": tasks}])
    assert run.result("own tenant")["valid"] is True, run.explain()
    for name in ("other tenant", "other tenant, claims only"):
        result = run.result(name)
        assert run.task(name)["status"] == "failed" and result["valid"] is False, run.explain()
        assert any("belongs to tenant %s, not to tenant_id %s (%s)" % (s["tenants"][1], t, s["tenant_id"]) in r
                   for r in result["reasons"] for t in (domain, domain.upper())), result["reasons"]
    assert run.result("other tenant")["signature_verified"] is True


def test_expired_by_emulator_token_lifetime(emulator, ansible):
    emulator.reset(token_lifetime=2)
    run = ansible.playbook([{"vars": _vars(emulator), "tasks": [
        {"name": "token", "defender.endpoint.token": {"token_cache": False}, "register": "tok", "no_log": True},
        {"name": "wait", "ansible.builtin.pause": {"seconds": 3}},
        {"name": "check", "defender.endpoint.token_info": {"access_token": "{{ tok.access_token }}", "leeway": 0},
         "ignore_errors": True}]}])
    emulator.reset()
    assert not run.result("check")["valid"], run.explain()
    assert any("expired" in r for r in run.result("check")["reasons"])


def test_unknown_kid_triggers_exactly_one_key_refresh(emulator, ansible):
    emulator.reset()
    good = emulator.control.mint_token("full")["access_token"]
    emulator.control.rotate_keys(publish=False)  # new signing key, not yet in the JWKS
    unpublished = emulator.control.mint_token("full")["access_token"]
    emulator.control.clear_requests()
    play = [{"vars": dict(_vars(emulator), good=good, unpublished=unpublished), "tasks": [
        {"name": "check", "defender.endpoint.token_info": {"access_token": "{{ unpublished }}"},
         "ignore_errors": True}]}]
    run = ansible.playbook(play)
    assert run.result("check")["valid"] is False, run.explain()
    assert any("does not publish" in r for r in run.result("check")["reasons"])
    assert len(_keys_requests(emulator)) == 2  # first load + exactly one refresh

    emulator.control.publish_keys()
    emulator.control.clear_requests()
    run = ansible.playbook(play)
    assert run.result("check")["valid"] is True, run.explain()
    assert len(_keys_requests(emulator)) == 1  # found on the first load

    emulator.control.clear_requests()
    run = ansible.playbook([{"vars": dict(_vars(emulator), good=good), "tasks": [
        {"name": "old key still published", "defender.endpoint.token_info": {"access_token": "{{ good }}"}}]}])
    assert run.rc == 0, run.explain()
    assert len(_keys_requests(emulator)) == 1
    emulator.reset()


def test_partner_app_in_several_tenants_and_consent_link(emulator, ansible):
    emulator.reset()
    s = emulator.settings
    partner = s["apps"]["partner"]
    a, b, c = s["tenants"]
    tasks = []
    for label, tenant in (("A", a), ("B", b), ("A again", a), ("B again", b)):
        tasks.append({"name": "tenant %s" % label, "defender.endpoint.token": {"tenant_id": tenant},
                      "register": "r", "no_log": True})
        tasks.append({"name": "machines in %s" % label, "defender.endpoint.machine_info": {
            "tenant_id": tenant, "limit": 1}})
    tasks.append({"name": "tenant C", "defender.endpoint.token": {"tenant_id": c}, "ignore_errors": True})
    run = ansible.playbook([{"vars": _vars(emulator, "partner"), "module_defaults": {"group/defender.endpoint.all": {
        "client_id": partner["client_id"], "client_secret": partner["client_secret"]}}, "tasks": tasks}])
    token_reqs = _token_requests(emulator)
    assert sorted(r["tenant"] for r in token_reqs if r["status"] == 200) == sorted([a, b]), token_reqs
    for label in ("A", "B", "A again", "B again"):
        assert run.task("machines in %s" % label)["status"] == "ok", run.explain()
    caches = glob.glob(os.path.join(ansible.cache_dir, "defender.endpoint", "tokens", "*.json"))
    assert len(caches) == 2
    failed = run.task("tenant C")
    assert failed["status"] == "failed"
    msg = failed["result"].get("msg", "")
    if "censored" in json.dumps(failed["result"]):
        pytest.fail("the failure of tenant C is hidden: %s" % failed["result"])
    assert "AADSTS65001" in msg
    link = "%s/%s/oauth2/authorize?prompt=consent&client_id=%s&response_type=code&sso_reload=true" % (
        s["login_url"], c, partner["client_id"])
    assert link in msg
    assert partner["client_secret"] not in run.stdout + run.stderr


def test_no_secret_or_token_in_output_at_vvvv(emulator, ansible):
    emulator.reset()
    s = emulator.settings
    cert = s["apps"]["cert_encrypted"]
    fed = s["apps"]["federated"]
    with open(fed["assertion_path"], encoding="utf-8") as f:
        assertion = f.read().strip()
    run = ansible.playbook([{"vars": _vars(emulator), "tasks": [
        {"name": "lookup to a module", "defender.endpoint.machine_info": {
            "limit": 1, "access_token": "{{ lookup('defender.endpoint.token') }}"}},
        {"name": "token module", "defender.endpoint.token": {}, "register": "tok"},
        {"name": "claims are fine to show", "ansible.builtin.debug": {"var": "tok.claims.roles"}},
        {"name": "token_info with the token", "defender.endpoint.token_info": {
            "access_token": "{{ tok.access_token }}", "required_roles": ["Machine.Read.All"]}},
        {"name": "certificate with password", "defender.endpoint.token_info": {
            "client_id": cert["client_id"], "client_certificate_path": cert["certificate_path"],
            "client_certificate_password": cert["certificate_password"]}, "environment": NO_ENV_SECRET},
        {"name": "federated", "defender.endpoint.token": {
            "client_id": fed["client_id"], "client_assertion_file": fed["assertion_path"]},
         "environment": NO_ENV_SECRET},
        {"name": "wrong password", "defender.endpoint.token": {
            "client_id": cert["client_id"], "client_certificate_path": cert["certificate_path"],
            "client_certificate_password": "Wr0ng-" + cert["certificate_password"], "token_cache": False},
         "environment": NO_ENV_SECRET, "ignore_errors": True},
        {"name": "machines with credentials", "defender.endpoint.machine_info": {"limit": 1}},
    ]}], verbosity=4, log=True)
    assert run.rc == 0, run.explain()
    output = run.stdout + run.stderr + run.log_text()
    assert "wrong client_certificate_password" in output  # the error is shown...
    secrets = {"client secret": s["apps"]["full"]["client_secret"], "certificate password": cert["certificate_password"],
               "assertion": assertion}
    tokens = _cached_tokens(ansible.cache_dir)
    assert len(tokens) >= 3  # full, cert_encrypted, federated
    for i, tok in enumerate(tokens):
        secrets["token %d" % i] = tok
        secrets["token %d signature" % i] = tok.split(".")[2]
    leaked = [name for name, value in secrets.items() if value and value in output]
    assert not leaked, leaked
    assert "roles" in run.stdout and "Machine.Isolate" in run.stdout  # the claims themselves are visible
