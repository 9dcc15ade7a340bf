# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""token and token_info run in-process: argument errors before any request, given tokens, validation results."""

from __future__ import annotations

import time

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import auth, settings
from ansible_collections.defender.endpoint.plugins.modules import token as token_module
from ansible_collections.defender.endpoint.plugins.modules import token_info as token_info_module

from ..module_utils.fake_idp import FakeIdP
from ..module_utils.token_helpers import CLIENT, LOGIN, OTHER_TENANT, TENANT, FakeSession, Key, make_token
from .utils import run_module

SECRET = "abc8Q~not-a-real-secret-value-0123456789"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setattr(auth, "_PROCESS_TOKENS", {})
    monkeypatch.setenv("DEFENDER_TOKEN_CACHE_DIR", str(tmp_path / "tokens"))
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                 "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "DEFENDER_ACCESS_TOKEN",
                 "AZURE_AUTHORITY_HOST", "DEFENDER_CLOUD", "DEFENDER_REGION", "DEFENDER_RESOURCE",
                 "DEFENDER_TOKEN_CACHE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*a, **kw):
        raise AssertionError("no session may be built or request sent")
    monkeypatch.setattr(settings, "build_session", refuse)


@pytest.fixture
def key():
    return Key("kid-one")


def serve(monkeypatch, session):
    monkeypatch.setattr(settings, "build_session", lambda *a, **kw: session)


BAD_ARGS = [
    (dict(tenant_id=TENANT, client_id=CLIENT), "no credentials"),
    (dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, client_assertion_file="/etc/hostname"),
     "conflicting credentials"),
    (dict(tenant_id="not a tenant", client_id=CLIENT, client_secret=SECRET), "tenant_id must be a GUID"),
    (dict(tenant_id=TENANT, client_secret=SECRET), "client_id is required"),
    (dict(tenant_id=TENANT, client_id="app-name", client_secret=SECRET), "client_id must be the application"),
    (dict(tenant_id=TENANT, client_id=CLIENT, client_certificate_path="/nonexistent.pem"), "does not exist"),
    (dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, client_certificate_password="pw"),
     "client_certificate_password is set but client_certificate_path is not"),
    (dict(access_token="Bearer abc"), "not a JWT"),
    (dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, login_url="http://login.example"),
     "must be an https:// URL"),
    (dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, cloud="gcc", region="eu"),
     "global cloud only"),
]


@pytest.mark.parametrize("args,message", BAD_ARGS)
@pytest.mark.parametrize("main", [token_module.main, token_info_module.main], ids=["token", "token_info"])
def test_argument_errors_before_any_request(monkeypatch, no_network, main, args, message):
    result, failed = run_module(main, args, monkeypatch)
    assert failed and message in result["msg"]
    assert SECRET not in result["msg"]


@pytest.mark.parametrize("args,message", [
    (dict(required_roles=["machine.isolate"]), "did you mean Machine.Isolate"),
    (dict(required_roles=["Isolate machine"]), "permission names"),
    (dict(leeway=-1), "leeway must be between 0 and 600"),
    (dict(leeway=3600), "leeway must be between 0 and 600"),
])
def test_token_info_option_errors_before_any_request(monkeypatch, no_network, key, args, message):
    args = dict(args, access_token=make_token(key))
    result, failed = run_module(token_info_module.main, args, monkeypatch)
    assert failed and message in result["msg"]


def test_token_given_only_returns_claims_without_sign_in(monkeypatch, no_network, key):
    tok = make_token(key, aud="https://securitycenter.onmicrosoft.com/windowsatpservice")
    result, failed = run_module(token_module.main, dict(access_token=tok), monkeypatch)
    assert not failed and result["changed"] is False
    assert result["source"] == "given"
    assert result["claims"]["tid"] == TENANT and result["claims"]["roles"] == ["Alert.Read.All", "Machine.Read.All"]
    assert result["resource"] == "https://securitycenter.onmicrosoft.com/windowsatpservice"
    assert result["expires_on"] == result["claims"]["exp"]
    assert 3500 < result["expires_in"] <= 3599
    assert result["token_type"] == "Bearer"
    assert result["portal_url"] == "https://security.microsoft.com"


@pytest.mark.parametrize("cloud,portal", [("gcc", "https://security.microsoft.com"),
                                          ("gcc_high", "https://security.microsoft.us"),
                                          ("dod", "https://security.apps.mil")])
def test_token_names_the_portal_of_its_cloud(monkeypatch, no_network, key, cloud, portal):
    result, failed = run_module(token_module.main, dict(access_token=make_token(key), cloud=cloud), monkeypatch)
    assert not failed and result["portal_url"] == portal


def test_token_signs_in_and_reuses(monkeypatch, key):
    idp = FakeIdP()
    serve(monkeypatch, idp)
    args = dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, login_url=LOGIN)
    first, failed = run_module(token_module.main, args, monkeypatch)
    assert not failed and first["source"] == "identity_provider"
    auth._PROCESS_TOKENS.clear()  # a new task process
    second, failed = run_module(token_module.main, args, monkeypatch)
    assert second["source"] == "cache" and second["access_token"] == first["access_token"]
    assert len(idp.token_posts) == 1
    assert first["resource"] == "https://api.securitycenter.microsoft.com"
    assert first["claims"]["appid"] == CLIENT
    assert isinstance(first["expires_on"], int) and first["expires_in"] > 3000


def test_token_check_mode_still_acquires(monkeypatch):
    idp = FakeIdP()
    serve(monkeypatch, idp)
    args = dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, login_url=LOGIN, _ansible_check_mode=True)
    result, failed = run_module(token_module.main, args, monkeypatch)
    assert not failed and result["access_token"] and result["changed"] is False


def test_token_sign_in_failure_is_clean(monkeypatch):
    serve(monkeypatch, FakeIdP(error={"error": "invalid_client", "error_codes": [7000215],
                                      "error_description": "AADSTS7000215: Invalid client secret provided."}))
    args = dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, login_url=LOGIN)
    result, failed = run_module(token_module.main, args, monkeypatch)
    assert failed and "AADSTS7000215" in result["msg"] and result["error_code"] == "AADSTS7000215"
    assert "exception" not in result and SECRET not in str(result)


def test_token_info_valid(monkeypatch, key):
    session = FakeSession([key])
    serve(monkeypatch, session)
    tok = make_token(key, roles=["Machine.Read.All", "Machine.Isolate"])
    result, failed = run_module(token_info_module.main, dict(access_token=tok, login_url=LOGIN, tenant_id=TENANT,
                                                             required_roles=["Machine.Isolate"]), monkeypatch)
    assert not failed, result
    assert result["valid"] and result["signature_verified"] and result["missing_roles"] == []
    assert result["roles"] == ["Machine.Read.All", "Machine.Isolate"]
    assert result["source"] == "given" and result["reasons"] == []
    assert session.jwks_fetches() == 1


def test_token_info_missing_role_fails_with_display_name(monkeypatch, key):
    serve(monkeypatch, FakeSession([key]))
    tok = make_token(key, roles=["Alert.ReadWrite.All", "Machine.Read.All", "Machine.ReadWrite.All"])
    result, failed = run_module(token_info_module.main, dict(access_token=tok, login_url=LOGIN,
                                                             required_roles=["Machine.Isolate"]), monkeypatch)
    assert failed
    assert result["valid"] is True and result["missing_roles"] == ["Machine.Isolate"]
    assert result["missing_role_names"] == ["Isolate machine"]
    assert 'Machine.Isolate ("Isolate machine")' in result["msg"] and "admin consent" in result["msg"]
    assert tok not in str(result)


def test_token_info_wrong_tenant_fails(monkeypatch, key):
    serve(monkeypatch, FakeSession([key]))
    tok = make_token(key, tid=OTHER_TENANT, iss="https://sts.windows.net/%s/" % OTHER_TENANT)
    result, failed = run_module(token_info_module.main, dict(access_token=tok, login_url=LOGIN, tenant_id=TENANT),
                                monkeypatch)
    assert failed and not result["valid"]
    assert "belongs to tenant %s" % OTHER_TENANT in result["msg"]


def test_token_info_expired_fails(monkeypatch, key):
    serve(monkeypatch, FakeSession([key]))
    tok = make_token(key, exp=int(time.time()) - 3600)
    result, failed = run_module(token_info_module.main, dict(access_token=tok, login_url=LOGIN), monkeypatch)
    assert failed and any("expired" in r for r in result["reasons"])


class RefusingSession:
    def __getattr__(self, name):
        raise AssertionError("no request may be sent (%s)" % name)


def test_token_info_offline_warns(monkeypatch, key):
    serve(monkeypatch, RefusingSession())
    warnings = []
    from ansible.module_utils import basic
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, msg: warnings.append(msg))
    tok = make_token(Key("kid-unpublished"))
    result, failed = run_module(token_info_module.main, dict(access_token=tok, verify_signature=False),
                                monkeypatch)
    assert not failed and result["valid"] and result["signature_verified"] is False
    assert any("verify_signature is false" in w for w in warnings)


def test_token_info_acquires_from_credentials(monkeypatch):
    idp = FakeIdP()

    class Both(FakeSession):
        def get(self, url, timeout=None, **kw):
            if url.endswith("/keys"):
                return FakeSession.get(self, url, timeout)
            return idp.get(url, **kw)

        def post(self, *a, **kw):
            return idp.post(*a, **kw)

    session = Both([idp.key])
    serve(monkeypatch, session)
    args = dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, login_url=LOGIN,
                required_roles=["Alert.Read.All"])
    result, failed = run_module(token_info_module.main, args, monkeypatch)
    assert not failed, result
    assert result["source"] == "identity_provider" and result["valid"]
    assert len(idp.token_posts) == 1
