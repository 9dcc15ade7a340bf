"""Sign-in: discovery, v1/v2 token endpoints, credentials (secret, Basic, certificate, federated),
Entra error bodies, signing keys and rotation. Uses real requests and real msal."""

import base64
import binascii
import ssl
import time

import jwt
import msal
import pytest
import requests


def _session(settings):
    s = requests.Session()
    s.verify = settings["ca_path"]
    s.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise beat Session.verify
    return s


def _msal(settings, app, credential, tenant=None):
    return msal.ConfidentialClientApplication(
        settings["apps"][app]["client_id"], client_credential=credential,
        authority=f"{settings['login_url']}/{tenant or settings['tenant_id']}",
        instance_discovery=False, http_client=_session(settings))


def _scope(settings):
    return [settings["resource"] + "/.default"]


def _verify(settings, token):
    jwks = jwt.PyJWKClient(f"{settings['login_url']}/{settings['tenant_id']}/discovery/v2.0/keys",
                           ssl_context=ssl.create_default_context(cafile=settings["ca_path"]), cache_keys=False)
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=settings["resource"],
                      issuer=f"https://sts.windows.net/{settings['tenant_id']}/")


def _assert_aad_error(r, status, code, error):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in body["error_description"] and "\r\nCorrelation ID: " in body["error_description"]
    for k in ("timestamp", "trace_id", "correlation_id", "error_uri"):
        assert k in body
    return body


def test_discovery_documents(client, settings):
    base, tid = settings["login_url"], settings["tenant_id"]
    v2 = client.raw("GET", f"{base}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration").json()
    assert v2["issuer"] == f"{base}/{tid}/v2.0"
    assert v2["token_endpoint"] == f"{base}/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert v2["jwks_uri"].endswith("/discovery/v2.0/keys") and "RS256" in v2["id_token_signing_alg_values_supported"]
    v1 = client.raw("GET", f"{base}/{tid}/.well-known/openid-configuration").json()
    assert v1["issuer"] == f"https://sts.windows.net/{tid}/"
    assert v1["token_endpoint"] == f"{base}/{tid}/oauth2/token"
    keys = client.raw("GET", f"{base}/{tid}/discovery/keys").json()["keys"]
    assert {"kty", "use", "kid", "x5t", "n", "e", "x5c"} <= set(keys[0])
    inst = client.raw("GET", f"{base}/common/discovery/instance",
                      params={"api-version": "1.1", "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize"})
    assert inst.json()["tenant_discovery_endpoint"].endswith(f"/{tid}/v2.0/.well-known/openid-configuration")
    r = client.raw("GET", f"{base}/nosuch.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    _assert_aad_error(r, 400, 90002, "invalid_request")


def test_v2_secret_token_claims(client, settings):
    r = client.token_response("full")
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    claims = _verify(settings, body["access_token"])
    assert claims["aud"] == settings["resource"] and claims["ver"] == "1.0" and claims["appidacr"] == "1"
    assert claims["appid"] == settings["client_id"] and claims["tid"] == settings["tenant_id"]
    assert set(claims["roles"]) == set(settings["apps"]["full"]["roles"])
    for k in ("iat", "nbf", "exp", "aio", "idp", "oid", "rh", "sub", "uti"):
        assert k in claims
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256" and header["kid"]


def test_v1_token_strings_and_resources(client, settings):
    for resource in ("https://securitycenter.onmicrosoft.com/windowsatpservice",
                     "https://api-gov.securitycenter.microsoft.us"):
        r = client.token_response("full", v1=True, resource=resource)
        body = r.json()
        assert r.status_code == 200, r.text
        assert body["resource"] == resource and isinstance(body["expires_on"], str)
        assert isinstance(body["not_before"], str) and body["expires_in"] == "3599"
        assert jwt.decode(body["access_token"], options={"verify_signature": False})["aud"] == resource
    # the token works against the API
    assert client.api("GET", "/api/machines?$top=1", token=body["access_token"]).status_code == 200


def test_basic_auth_and_domain_tenant(client, settings):
    a = settings["apps"]["full"]
    r = client.raw("POST", f"{settings['login_url']}/contoso.onmicrosoft.com/oauth2/v2.0/token",
                   data={"grant_type": "client_credentials", "scope": settings["resource"] + "/.default"},
                   auth=(a["client_id"], a["client_secret"]))
    assert r.status_code == 200, r.text
    assert jwt.decode(r.json()["access_token"], options={"verify_signature": False})["tid"] == settings["tenant_id"]


def test_bad_secret(client):
    r = client.token_response("full", client_secret="not-the-secret")
    _assert_aad_error(r, 401, 7000215, "invalid_client")


@pytest.mark.parametrize("kw,status,code,error", [
    ({"resource": "https://api.securitycenter.microsoft.com"}, 400, 901002, "invalid_request"),
    ({"scope": "https://api.securitycenter.microsoft.com"}, 400, 1002012, "invalid_scope"),
    ({"scope": "https://api.securitycenter.microsoft.com/.default https://graph.microsoft.com/.default"},
     400, 70011, "invalid_scope"),
    ({"scope": "https://api.security.microsoft.com/.default"}, 400, 500011, "invalid_resource"),
    ({"grant_type": "password"}, 400, 70003, "unsupported_grant_type"),
    ({"client_secret": None}, 401, 7000218, "invalid_client"),
])
def test_v2_request_errors(client, kw, status, code, error):
    _assert_aad_error(client.token_response("full", form=kw), status, code, error)


def test_v1_with_scope_is_an_error(client, settings):
    r = client.raw("POST", f"{settings['login_url']}/{settings['tenant_id']}/oauth2/token",
                   data={"grant_type": "client_credentials", "client_id": settings["client_id"],
                         "client_secret": settings["client_secret"], "scope": settings["resource"] + "/.default"})
    _assert_aad_error(r, 400, 900144, "invalid_request")


def test_tenants_and_consent(client, settings):
    a_tid, b_tid, c_tid = settings["tenants"]
    _assert_aad_error(client.token_response("full", tenant="nosuch.onmicrosoft.com"), 400, 90002, "invalid_request")
    _assert_aad_error(client.token_response("full", tenant=b_tid), 400, 700016, "unauthorized_client")
    for tid in (a_tid, b_tid):
        r = client.token_response("partner", tenant=tid)
        assert r.status_code == 200
        assert jwt.decode(r.json()["access_token"], options={"verify_signature": False})["tid"] == tid
    body = _assert_aad_error(client.token_response("partner", tenant=c_tid), 400, 65001, "invalid_grant")
    assert body["suberror"] == "consent_required" and "admin consent" in body["error_description"]


def test_msal_secret(settings):
    app = _msal(settings, "full", settings["client_secret"], tenant="contoso.onmicrosoft.com")
    res = app.acquire_token_for_client(scopes=_scope(settings))
    assert "access_token" in res, res
    bad = _msal(settings, "full", "wrong").acquire_token_for_client(scopes=_scope(settings))
    assert bad["error"] == "invalid_client" and "AADSTS7000215" in bad["error_description"]


def _cert_parts(settings, app):
    pem = open(settings["apps"][app]["certificate_path"], "rb").read()
    cert_start = pem.index(b"-----BEGIN CERTIFICATE-----")
    return pem[:cert_start].decode(), pem[cert_start:].decode()


def test_msal_certificate_rs256_thumbprint(client, settings):
    key, cert = _cert_parts(settings, "cert")
    cred = {"private_key": key, "thumbprint": settings["apps"]["cert"]["thumbprint"]}
    res = _msal(settings, "cert", cred).acquire_token_for_client(scopes=_scope(settings))
    assert "access_token" in res, res
    assert jwt.decode(res["access_token"], options={"verify_signature": False})["appidacr"] == "2"


def test_msal_certificate_ps256_no_thumbprint(settings):
    key, cert = _cert_parts(settings, "cert")
    res = _msal(settings, "cert", {"private_key": key, "public_certificate": cert}) \
        .acquire_token_for_client(scopes=_scope(settings))
    assert "access_token" in res, res


def test_msal_encrypted_certificate(settings):
    a = settings["apps"]["cert_encrypted"]
    key, cert = _cert_parts(settings, "cert_encrypted")
    assert "ENCRYPTED" in key
    cred = {"private_key": key, "thumbprint": a["thumbprint"], "passphrase": a["certificate_password"]}
    res = _msal(settings, "cert_encrypted", cred).acquire_token_for_client(scopes=_scope(settings))
    assert "access_token" in res, res


def test_wrong_certificate_and_expired_assertion(client, settings):
    key, _cert = _cert_parts(settings, "cert_encrypted")
    a = settings["apps"]["cert_encrypted"]
    # cert_encrypted's key presented for the "cert" app: the thumbprint is unknown to that app.
    cred = {"private_key": key, "thumbprint": a["thumbprint"], "passphrase": a["certificate_password"]}
    res = _msal(settings, "cert", cred).acquire_token_for_client(scopes=_scope(settings))
    assert res["error"] == "invalid_client" and "AADSTS700027" in res["error_description"]
    # hand-made expired assertion signed with the right key
    key, _cert = _cert_parts(settings, "cert")
    cid = settings["apps"]["cert"]["client_id"]
    x5t = base64.urlsafe_b64encode(binascii.unhexlify(settings["apps"]["cert"]["thumbprint"])).decode()
    aud = f"{settings['login_url']}/{settings['tenant_id']}/oauth2/v2.0/token"
    now = time.time()
    assertion = jwt.encode({"aud": aud, "iss": cid, "sub": cid, "jti": "x", "iat": now - 900.5, "exp": now - 300.5},
                           key, algorithm="RS256", headers={"x5t": x5t})
    r = client.token_response("cert", client_assertion=assertion,
                              client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    _assert_aad_error(r, 401, 700024, "invalid_client")


def test_federated_assertion(client, settings, ctl):
    a = settings["apps"]["federated"]
    with open(a["assertion_path"]) as fh:
        file_assertion = fh.read().strip()
    res = _msal(settings, "federated", {"client_assertion": lambda: file_assertion}) \
        .acquire_token_for_client(scopes=_scope(settings))
    assert "access_token" in res, res
    fresh = ctl.assertion()
    r = client.token_response("federated", client_assertion=fresh,
                              client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    assert r.status_code == 200, r.text
    # a certificate-style self-signed assertion is not accepted for the federated app
    key, _cert = _cert_parts(settings, "cert")
    forged = jwt.encode({"iss": a["client_id"], "sub": a["client_id"], "aud": "api://AzureADTokenExchange",
                         "exp": 9999999999}, key, algorithm="RS256")
    r = client.token_response("federated", client_assertion=forged,
                              client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    _assert_aad_error(r, 401, 700027, "invalid_client")


def test_key_rotation_unpublished_then_published(client, settings, ctl):
    old = client.token("full")
    old_kid = jwt.get_unverified_header(old)["kid"]
    rot = ctl.rotate_keys(publish=False)
    new_tok = client.token_response("full").json()["access_token"]
    new_kid = jwt.get_unverified_header(new_tok)["kid"]
    assert new_kid == rot["kid"] != old_kid
    jwks_url = f"{settings['login_url']}/{settings['tenant_id']}/discovery/v2.0/keys"
    kids = [k["kid"] for k in client.raw("GET", jwks_url).json()["keys"]]
    assert new_kid not in kids and old_kid in kids
    # the API (the resource server) already accepts it
    assert client.api("GET", "/api/machines?$top=1", token=new_tok).status_code == 200
    ctl.publish_keys()
    kids = [k["kid"] for k in client.raw("GET", jwks_url).json()["keys"]]
    assert new_kid in kids and old_kid in kids
    assert _verify(settings, new_tok)["appid"] == settings["client_id"]
    # dropping old keys invalidates tokens they signed
    ctl.rotate_keys(drop_old=True)
    r = client.api("GET", "/api/machines?$top=1", token=old)
    assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthorized"
    kids = [k["kid"] for k in client.raw("GET", jwks_url).json()["keys"]]
    assert kids == [ctl.keys()[-1]["kid"]]
