# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Locally generated signing keys, tokens and a fake discovery/JWKS session for token tests."""

from __future__ import annotations

import base64
import json
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TENANT = "6f1c2b9e-4d8a-4c1e-9b7a-3e5d2c1f0a11"
OTHER_TENANT = "7a2d3c0f-5e9b-4d2f-8c8b-4f6e3d2a1b22"
CLIENT = "0a1b2c3d-0001-4000-8000-00000000f011"
LOGIN = "https://login.example.test"
DOMAINS = {"contoso.onmicrosoft.com": TENANT, "fabrikam.onmicrosoft.com": OTHER_TENANT}


def b64url_int(n):
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


class Key:
    _cache = {}

    def __init__(self, kid):
        if kid not in Key._cache:  # RSA generation is slow; reuse per kid within the test run
            Key._cache[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key = Key._cache[kid]
        self.kid = kid
        self.pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())

    def jwk(self):
        pub = self.key.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "n": b64url_int(pub.n), "e": b64url_int(pub.e)}


def claims(**over):
    now = int(time.time())
    base = {
        "aud": "https://api.securitycenter.microsoft.com",
        "iss": "https://sts.windows.net/%s/" % TENANT,
        "iat": now, "nbf": now, "exp": now + 3599,
        "appid": CLIENT, "tid": TENANT, "roles": ["Alert.Read.All", "Machine.Read.All"], "ver": "1.0",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def make_token(key, **over):
    return jwt.encode(claims(**over), key.pem, algorithm="RS256", headers={"kid": key.kid})


class FakeResponse:
    def __init__(self, status, body):
        self.status_code = status
        self._body = body

    def json(self):
        if isinstance(self._body, (dict, list)):
            return self._body
        return json.loads(self._body)


class FakeSession:
    """Serves ``{LOGIN}/{tid}/v2.0/.well-known/openid-configuration`` and its jwks_uri; records requests."""

    def __init__(self, keys, tenants=(TENANT, OTHER_TENANT), domains=None):
        self.keys = list(keys)
        self.tenants = tenants
        self.domains = dict(DOMAINS if domains is None else domains)  # domain -> tenant GUID
        self.requests = []

    def get(self, url, timeout=None):
        self.requests.append(url)
        for domain, tid in self.domains.items():
            if url == "%s/%s/v2.0/.well-known/openid-configuration" % (LOGIN, domain):
                return FakeResponse(200, {"issuer": "https://login.microsoftonline.com/%s/v2.0" % tid,
                                          "jwks_uri": "%s/%s/discovery/v2.0/keys" % (LOGIN, tid)})
        for tid in self.tenants:
            if url == "%s/%s/v2.0/.well-known/openid-configuration" % (LOGIN, tid):
                return FakeResponse(200, {"issuer": "%s/%s/v2.0" % (LOGIN, tid),
                                          "jwks_uri": "%s/%s/discovery/v2.0/keys" % (LOGIN, tid)})
            if url == "%s/%s/discovery/v2.0/keys" % (LOGIN, tid):
                return FakeResponse(200, {"keys": [k.jwk() for k in self.keys]})
        return FakeResponse(404, {"error": "not found"})

    def jwks_fetches(self):
        return sum(1 for u in self.requests if u.endswith("/keys"))
