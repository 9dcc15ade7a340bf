# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory sign-in host for msal (its ``http_client``): discovery and the v2 token endpoint."""

from __future__ import annotations

import json
import os
import time
from urllib.parse import parse_qs

from .token_helpers import CLIENT, LOGIN, Key, make_token


class Resp:
    def __init__(self, status, body):
        self.status_code = status
        self.text = json.dumps(body)
        self.headers = {"content-type": "application/json"}

    def json(self):
        return json.loads(self.text)

    def raise_for_status(self):
        if self.status_code >= 400:
            raise RuntimeError("HTTP %s" % self.status_code)


class FakeIdP:
    def __init__(self, expires_in=3599, error=None):
        self.key = Key("kid-one")
        self.expires_in = expires_in
        self.error = error
        self.token_posts = []
        self.gets = []

    def get(self, url, params=None, headers=None, **kwargs):
        self.gets.append(url)
        tenant = url[len(LOGIN) + 1:].split("/")[0]
        if url.endswith("/.well-known/openid-configuration"):
            return Resp(200, {"issuer": "%s/%s/v2.0" % (LOGIN, tenant),
                              "token_endpoint": "%s/%s/oauth2/v2.0/token" % (LOGIN, tenant),
                              "authorization_endpoint": "%s/%s/oauth2/v2.0/authorize" % (LOGIN, tenant),
                              "jwks_uri": "%s/%s/discovery/v2.0/keys" % (LOGIN, tenant)})
        return Resp(404, {})

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        form = data if isinstance(data, dict) else {k: v[0] for k, v in parse_qs(data or "").items()}
        tenant = url[len(LOGIN) + 1:].split("/")[0]
        self.token_posts.append({"tenant": tenant, "form": form})
        if self.error:
            return Resp(400, self.error)
        scope = form["scope"].split()[0]
        tok = make_token(self.key, tid=tenant, iss="https://sts.windows.net/%s/" % tenant,
                         aud=scope[:-len("/.default")], appid=form.get("client_id", CLIENT),
                         exp=int(time.time()) + self.expires_in, uti=os.urandom(8).hex())
        answered = getattr(self, "expires_in_answered", self.expires_in)
        return Resp(200, {"token_type": "Bearer", "expires_in": answered, "ext_expires_in": answered,
                          "access_token": tok})

    def close(self):
        pass
