# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sign-in failures become one clear message: the AADSTS code, a hint, and the consent link for partners."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import auth
from ansible_collections.defender.endpoint.plugins.module_utils.auth import TokenProvider, consent_url, sign_in_error
from ansible_collections.defender.endpoint.plugins.module_utils.settings import Settings
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderAuthError

from .fake_idp import FakeIdP
from .token_helpers import CLIENT, LOGIN, TENANT

SECRET = "abc8Q~not-a-real-secret-value-0123456789"
CUSTOMER = "8b3e4d1a-6fac-4e3a-9d9c-5a7f4e3b2c33"


def entra_body(error, code, description):
    """The shape Entra (and the emulator) answer with."""
    return {
        "error": error,
        "error_description": "AADSTS%d: %s\r\nTrace ID: 1f0e\r\nCorrelation ID: 2a1b\r\nTimestamp: 2026-01-01 10:00:00Z"
                             % (code, description),
        "error_codes": [code],
        "timestamp": "2026-01-01 10:00:00Z",
        "trace_id": "1f0e",
        "correlation_id": "2a1b",
        "error_uri": "https://login.microsoftonline.com/error?code=%d" % code,
    }


def settings(tenant=TENANT, **kw):
    opts = dict(tenant_id=tenant, client_id=CLIENT, client_secret=SECRET, login_url=LOGIN, token_cache=False)
    opts.update(kw)
    return Settings(opts)


@pytest.fixture(autouse=True)
def no_process_cache(monkeypatch):
    monkeypatch.setattr(auth, "_PROCESS_TOKENS", {})


def test_consent_missing_gives_that_tenants_link():
    body = entra_body("invalid_grant", 65001, "The user or administrator has not consented to use the application "
                                              "with ID '%s'." % CLIENT)
    body["suberror"] = "consent_required"
    err = sign_in_error(body, settings(CUSTOMER))
    msg = str(err)
    assert err.code == "AADSTS65001"
    assert "AADSTS65001" in msg and "Trace ID" not in msg
    assert "no admin consent in this tenant" in msg
    link = "%s/%s/oauth2/authorize?prompt=consent&client_id=%s&response_type=code&sso_reload=true" % (
        LOGIN, CUSTOMER, CLIENT)
    assert link in msg
    assert consent_url(LOGIN, CUSTOMER, CLIENT) == link


def test_app_not_in_tenant_gives_link_too():
    body = entra_body("unauthorized_client", 700016, "Application with identifier '%s' was not found in the "
                                                     "directory 'Northwind'." % CLIENT)
    msg = str(sign_in_error(body, settings(CUSTOMER)))
    assert "AADSTS700016" in msg and "admin consent" in msg and "/%s/oauth2/authorize?prompt=consent" % CUSTOMER in msg


def test_bad_secret_hint_without_link_or_secret():
    body = entra_body("invalid_client", 7000215, "Invalid client secret provided.")
    msg = str(sign_in_error(body, settings()))
    assert "AADSTS7000215" in msg and "Value (not its ID)" in msg
    assert "oauth2/authorize" not in msg and SECRET not in msg
    assert "app %s in tenant %s at %s" % (CLIENT, TENANT, LOGIN) in msg


def test_unknown_code_gets_generic_checks():
    msg = str(sign_in_error(entra_body("invalid_request", 12345, "Something new."), settings()))
    assert "AADSTS12345" in msg and "check tenant_id, client_id" in msg.lower()


def test_no_codes_at_all():
    err = sign_in_error({"error": "temporarily_unavailable"}, settings())
    assert "temporarily_unavailable" in str(err)


def test_provider_raises_rendered_error_through_msal():
    body = entra_body("invalid_grant", 65001, "The user or administrator has not consented.")
    idp = FakeIdP(error=body)
    with pytest.raises(DefenderAuthError) as info:
        TokenProvider(settings(CUSTOMER), idp).acquire()
    assert "AADSTS65001" in str(info.value) and "prompt=consent" in str(info.value)
    assert SECRET not in str(info.value)
    assert len(idp.token_posts) == 1


def test_unreachable_host_message():
    class Down(FakeIdP):
        def get(self, *a, **kw):
            raise ConnectionError("refused")
    with pytest.raises(DefenderAuthError) as info:
        TokenProvider(settings(), Down()).acquire()
    assert "cannot reach the sign-in host %s" % LOGIN in str(info.value)
