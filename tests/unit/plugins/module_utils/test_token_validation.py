# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""token_validation: signature, audience, issuer, tenant, time, roles, key refresh - with local keys."""

from __future__ import annotations

import time

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.settings import Settings
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.token_validation import (
    ROLE_DISPLAY_NAMES,
    SigningKeys,
    accepted_issuers,
    check_required_roles,
    failure_message,
    role_label,
    validate_token,
)

from .token_helpers import LOGIN, OTHER_TENANT, TENANT, FakeSession, Key, make_token


@pytest.fixture
def key():
    return Key("kid-one")


def settings(token, **opts):
    opts.setdefault("login_url", LOGIN)
    return Settings(dict(access_token=token, **opts))


def check(token, session, **kw):
    s = settings(token, **kw.pop("opts", {}))
    keys = SigningKeys(session, s.endpoints.login_url)
    return validate_token(token, s, keys=keys, **kw), keys


def test_valid_token(key):
    tok = make_token(key)
    session = FakeSession([key])
    result, keys = check(tok, session, required_roles=["Alert.Read.All"])
    assert result["valid"] and result["signature_verified"], result["reasons"]
    assert result["reasons"] == [] and result["missing_roles"] == []
    assert result["roles"] == ["Alert.Read.All", "Machine.Read.All"]
    assert isinstance(result["expires_on"], int)
    assert session.requests == ["%s/%s/v2.0/.well-known/openid-configuration" % (LOGIN, TENANT),
                                "%s/%s/discovery/v2.0/keys" % (LOGIN, TENANT)]
    assert keys.fetches == 1


@pytest.mark.parametrize("aud", ["https://api.securitycenter.microsoft.com",
                                 "https://securitycenter.onmicrosoft.com/windowsatpservice",
                                 "https://api.securitycenter.microsoft.com/",
                                 "https://api.securitycenter.windows.com",
                                 # the WindowsDefenderATP application id: the aud of v2.0 tokens
                                 "fc780465-2017-40d4-a0c5-307022471b92",
                                 "FC780465-2017-40D4-A0C5-307022471B92",
                                 ["fc780465-2017-40d4-a0c5-307022471b92"]])
def test_every_audience_form_microsoft_issues(key, aud):
    result = check(make_token(key, aud=aud), FakeSession([key]))[0]
    assert result["valid"], result["reasons"]


@pytest.mark.parametrize("aud", ["00000003-0000-0000-c000-000000000000",  # Microsoft Graph's application id
                                 "https://api.security.microsoft.com",    # the Defender XDR API
                                 "fc780465-2017-40d4-a0c5-307022471b93"])
def test_other_apis_audiences_are_refused(key, aud):
    result = check(make_token(key, aud=aud), FakeSession([key]))[0]
    assert not result["valid"] and any("audience (aud)" in r for r in result["reasons"])


@pytest.mark.parametrize("cloud", ["gcc", "gcc_high", "dod"])
def test_app_id_audience_in_every_cloud(key, cloud):
    result = check(make_token(key, aud="fc780465-2017-40d4-a0c5-307022471b92"), FakeSession([key]),
                   opts={"cloud": cloud})[0]
    assert not any("audience (aud)" in r for r in result["reasons"]), result["reasons"]


def test_roles_only_checks_the_roles_claim_and_nothing_else(key):
    from ansible_collections.defender.endpoint.plugins.module_utils import token_validation as V
    expired_other_api = make_token(key, aud="https://graph.microsoft.com", exp=1000, roles=["Machine.Read.All"])
    result = V.roles_only(expired_other_api, ["Machine.Read.All", "Machine.Isolate"])
    assert result["valid"] and result["reasons"] == [] and not result["signature_verified"]
    assert result["missing_roles"] == ["Machine.Isolate"]
    assert V.roles_only("not-a-jwt", ["Machine.Isolate"])["valid"] is False


@pytest.mark.parametrize("iss", ["https://sts.windows.net/%s/" % TENANT, "%s/%s/v2.0" % (LOGIN, TENANT),
                                 "https://login.microsoftonline.com/%s/v2.0" % TENANT])
def test_v1_and_v2_issuers(key, iss):
    result = check(make_token(key, iss=iss), FakeSession([key]))[0]
    assert result["valid"], result["reasons"]


def test_tampered_payload(key):
    tok = make_token(key, roles=["Alert.Read.All"])
    forged = make_token(key, roles=["Alert.Read.All", "Machine.Isolate"])
    head, dummy, sig = tok.split(".")
    tampered = ".".join((head, forged.split(".")[1], sig))
    result = check(tampered, FakeSession([key]))[0]
    assert not result["valid"] and not result["signature_verified"]
    assert any("signature does not match" in r for r in result["reasons"])


def test_signed_by_another_key_with_same_kid(key):
    impostor = Key("kid-impostor")
    impostor.kid = key.kid
    result = check(make_token(impostor), FakeSession([key]))[0]
    assert any("signature does not match" in r for r in result["reasons"])


def test_expired_and_leeway(key):
    now = int(time.time())
    result = check(make_token(key, exp=now - 30), FakeSession([key]))[0]
    assert result["valid"], "30 s late is inside the default 60 s leeway"
    result = check(make_token(key, exp=now - 30), FakeSession([key]), leeway=0)[0]
    assert not result["valid"] and any("expired" in r for r in result["reasons"])
    result = check(make_token(key, exp=now - 600), FakeSession([key]))[0]
    assert any("expired" in r for r in result["reasons"])


def test_not_yet_valid(key):
    now = int(time.time())
    result = check(make_token(key, nbf=now + 3000), FakeSession([key]))[0]
    assert any("not valid before" in r for r in result["reasons"])


def test_no_exp(key):
    result = check(make_token(key, exp=None), FakeSession([key]))[0]
    assert any("no expiry" in r for r in result["reasons"])
    assert result["expires_on"] is None


def test_wrong_tenant(key):
    tok = make_token(key, tid=OTHER_TENANT, iss="https://sts.windows.net/%s/" % OTHER_TENANT)
    result = check(tok, FakeSession([key]), opts={"tenant_id": TENANT})[0]
    assert result["signature_verified"]
    assert result["reasons"] == ["the token belongs to tenant %s, not to tenant_id %s" % (OTHER_TENANT, TENANT)]


def test_wrong_tenant_with_a_domain_tenant_id(key):
    # A token of fabrikam's tenant, checked for tenant_id contoso.onmicrosoft.com: its keys are fetched for its own
    # tid, so the signature verifies; the domain must be resolved to contoso's GUID and compared.
    tok = make_token(key, tid=OTHER_TENANT, iss="https://sts.windows.net/%s/" % OTHER_TENANT)
    session = FakeSession([key])
    result = check(tok, session, opts={"tenant_id": "contoso.onmicrosoft.com"})[0]
    assert result["signature_verified"] and not result["valid"]
    assert result["reasons"] == ["the token belongs to tenant %s, not to tenant_id contoso.onmicrosoft.com (%s)"
                                 % (OTHER_TENANT, TENANT)]
    assert "%s/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration" % LOGIN in session.requests
    # the domain of the token's own tenant passes, in any case
    result = check(tok, FakeSession([key]), opts={"tenant_id": "Fabrikam.onmicrosoft.com"})[0]
    assert result["valid"], result["reasons"]


def test_domain_tenant_id_checked_without_signature_verification(key):
    tok = make_token(key, tid=OTHER_TENANT, iss="https://sts.windows.net/%s/" % OTHER_TENANT)
    session = FakeSession([key])
    s = settings(tok, tenant_id="contoso.onmicrosoft.com")
    result = validate_token(tok, s, keys=SigningKeys(session, LOGIN), verify_signature=False)
    assert not result["valid"] and "not to tenant_id contoso.onmicrosoft.com" in result["reasons"][0]
    assert session.requests == ["%s/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration" % LOGIN]


def test_unknown_domain_tenant_id_is_an_error(key):
    tok = make_token(key)
    with pytest.raises(DefenderError) as info:
        check(tok, FakeSession([key]), opts={"tenant_id": "nowhere.onmicrosoft.com"})
    assert "OpenID configuration" in str(info.value) and "HTTP 404" in str(info.value)


def test_domain_whose_issuer_names_no_guid_is_an_error(key):
    class Odd(FakeSession):
        def get(self, url, timeout=None):
            if "contoso.onmicrosoft.com" in url:
                self.requests.append(url)
                from .token_helpers import FakeResponse
                return FakeResponse(200, {"issuer": "https://login.example.test/contoso.onmicrosoft.com/v2.0"})
            return FakeSession.get(self, url, timeout)
    with pytest.raises(DefenderError, match="names no tenant GUID"):
        check(make_token(key), Odd([key]), opts={"tenant_id": "contoso.onmicrosoft.com"})


def test_issuer_of_another_tenant(key):
    tok = make_token(key, iss="https://sts.windows.net/%s/" % OTHER_TENANT)
    result = check(tok, FakeSession([key]))[0]
    assert any("issuer (iss)" in r for r in result["reasons"])


def test_wrong_audience(key):
    tok = make_token(key, aud="https://graph.microsoft.com")
    result = check(tok, FakeSession([key]))[0]
    assert any("audience (aud)" in r and "https://api.securitycenter.microsoft.com/.default" in r
               for r in result["reasons"])


def test_audience_of_other_cloud(key):
    tok = make_token(key)  # commercial audience, validated for gcc_high
    result = check(tok, FakeSession([key]), opts={"cloud": "gcc_high"})[0]
    assert any("audience (aud)" in r for r in result["reasons"])
    gov = make_token(key, aud="https://api-gov.securitycenter.microsoft.us")
    result = check(gov, FakeSession([key]), opts={"cloud": "gcc_high"})[0]
    assert result["valid"], result["reasons"]


def test_all_reasons_at_once(key):
    tok = make_token(key, aud="https://graph.microsoft.com", exp=int(time.time()) - 4000,
                     iss="https://evil.example/")
    result = check(tok, FakeSession([key]))[0]
    assert len(result["reasons"]) == 3


def test_unknown_kid_refreshes_once_then_finds_rotated_key(key):
    new = Key("kid-two")
    session = FakeSession([key])
    s = settings(make_token(key), login_url=LOGIN)
    keys = SigningKeys(session, LOGIN)
    assert validate_token(make_token(key), s, keys=keys)["valid"]
    assert session.jwks_fetches() == 1
    session.keys.append(new)  # the tenant rotates its keys
    result = validate_token(make_token(new), s, keys=keys)
    assert result["valid"], result["reasons"]
    assert session.jwks_fetches() == 2
    assert sum(1 for u in session.requests if "openid-configuration" in u) == 1  # discovery is not re-read


def test_unknown_kid_never_published(key):
    session = FakeSession([key])
    result, keys = check(make_token(Key("kid-unpublished")), session)
    assert not result["valid"]
    assert any("does not publish" in r and "kid-unpublished" in r for r in result["reasons"])
    assert session.jwks_fetches() == 2 and keys.fetches == 2  # one load, exactly one refresh


def test_algorithm_none_and_hs256_rejected(key):
    import jwt
    unsigned = jwt.encode({"tid": TENANT, "aud": "https://api.securitycenter.microsoft.com"}, None, algorithm="none")
    result = check(unsigned, FakeSession([key]))[0]
    assert any("signed with 'none'" in r for r in result["reasons"])
    hs = jwt.encode({"tid": TENANT}, "a-shared-secret-of-sufficient-length-123", algorithm="HS256",
                    headers={"kid": key.kid})
    result = check(hs, FakeSession([key]))[0]
    assert any("'HS256'" in r for r in result["reasons"])


def test_not_a_jwt():
    s = Settings(dict(access_token="a.b.c", login_url=LOGIN))
    result = validate_token("a.b.c", s, keys=SigningKeys(FakeSession([]), LOGIN))
    assert not result["valid"] and "not a JWT" in result["reasons"][0]


def test_verify_signature_false_skips_network(key):
    tampered = make_token(Key("kid-unpublished"))
    session = FakeSession([key])
    s = settings(tampered)
    result = validate_token(tampered, s, keys=None, verify_signature=False)
    assert result["valid"] and not result["signature_verified"]
    assert session.requests == []


def test_discovery_failure_is_an_error_not_a_reason(key):
    class Down(FakeSession):
        def get(self, url, timeout=None):
            raise ConnectionError("refused")
    with pytest.raises(DefenderError) as info:
        check(make_token(key), Down([key]))
    assert "OpenID configuration" in str(info.value) and "ConnectionError" in str(info.value)


def test_missing_roles_message_names_display_names(key):
    tok = make_token(key, roles=["Alert.ReadWrite.All", "Machine.Read.All"])
    result = check(tok, FakeSession([key]), required_roles=["Machine.Read.All", "Machine.Isolate",
                                                            "Alert.Read.All"])[0]
    assert result["valid"]
    assert result["missing_roles"] == ["Machine.Isolate", "Alert.Read.All"]
    msg = failure_message(result, settings(tok))
    assert 'Machine.Isolate ("Isolate machine")' in msg
    assert 'Alert.Read.All ("Read all alerts")' in msg
    assert "Grant admin consent" in msg and "every permission you add" in msg
    assert "WindowsDefenderATP" in msg
    assert tok not in msg


def test_role_table_matches_facts_sheet():
    assert ROLE_DISPLAY_NAMES["Machine.Isolate"] == "Isolate machine"
    assert ROLE_DISPLAY_NAMES["Alert.Read.All"] == "Read all alerts"
    assert ROLE_DISPLAY_NAMES["Alert.ReadWrite.All"] == "Read and write all alerts"
    assert ROLE_DISPLAY_NAMES["Machine.Read.All"] == "Read all machine profiles"
    assert ROLE_DISPLAY_NAMES["Machine.ReadWrite.All"] == "Read and write all machine information"
    assert ROLE_DISPLAY_NAMES["AdvancedQuery.Read.All"] == "Run advanced queries"
    assert role_label("Custom.Role") == "Custom.Role"


def test_required_roles_checked_before_anything():
    with pytest.raises(DefenderConfigError, match="did you mean Machine.Isolate"):
        check_required_roles(["machine.isolate"])
    with pytest.raises(DefenderConfigError, match="permission names"):
        check_required_roles(["Machine Isolate"])
    assert check_required_roles(["Machine.Isolate", "Custom.Thing"]) == ["Machine.Isolate", "Custom.Thing"]


def test_accepted_issuers_dedupe():
    assert accepted_issuers(TENANT, "https://login.microsoftonline.com/") == [
        "https://sts.windows.net/%s/" % TENANT, "https://login.microsoftonline.com/%s/v2.0" % TENANT]


def test_tenant_id_neither_guid_nor_domain_is_refused_before_any_fetch(key):
    session = FakeSession([key])
    with pytest.raises(DefenderConfigError, match="GUID or a domain"):
        check(make_token(key), session, opts={"tenant_id": "x/../evil?"}, verify_signature=False)
    assert session.requests == []
