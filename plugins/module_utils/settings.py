# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared connection options, their resolution into :class:`Settings`, and :func:`connect` (settings -> client).

Used by modules (through ``module.DefenderModule``) and by controller plugins (``plugin_utils/_connection.py``)."""

from __future__ import annotations

import base64
import hashlib
import json
import os

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.defender.endpoint.plugins.module_utils.apis import api_named
from ansible_collections.defender.endpoint.plugins.module_utils.auth import TokenProvider
from ansible_collections.defender.endpoint.plugins.module_utils.client import DefenderClient
from ansible_collections.defender.endpoint.plugins.module_utils.clouds import CLOUDS, REGIONS, resolve_endpoints
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.transport import MAX_RETRY_WAIT, build_session
from ansible_collections.defender.endpoint.plugins.module_utils.validation import DOMAIN, GUID

# One place for the shared options; the doc fragment defender.endpoint.connection documents them.
CONNECTION_ARGUMENT_SPEC = dict(
    tenant_id=dict(type="str", fallback=(env_fallback, ["AZURE_TENANT_ID"])),
    client_id=dict(type="str", fallback=(env_fallback, ["AZURE_CLIENT_ID"])),
    client_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["AZURE_CLIENT_SECRET"])),
    client_certificate_path=dict(type="path", fallback=(env_fallback, ["AZURE_CLIENT_CERTIFICATE_PATH"])),
    client_certificate_password=dict(type="str", no_log=True,
                                     fallback=(env_fallback, ["AZURE_CLIENT_CERTIFICATE_PASSWORD"])),
    client_assertion_file=dict(type="path", fallback=(env_fallback, ["AZURE_FEDERATED_TOKEN_FILE"])),
    access_token=dict(type="str", no_log=True, fallback=(env_fallback, ["DEFENDER_ACCESS_TOKEN"])),
    cloud=dict(type="str", choices=sorted(CLOUDS), fallback=(env_fallback, ["DEFENDER_CLOUD"])),
    region=dict(type="str", choices=sorted(REGIONS), fallback=(env_fallback, ["DEFENDER_REGION"])),
    api_url=dict(type="str", fallback=(env_fallback, ["DEFENDER_API_URL"])),
    login_url=dict(type="str", fallback=(env_fallback, ["AZURE_AUTHORITY_HOST"])),
    resource=dict(type="str", fallback=(env_fallback, ["DEFENDER_RESOURCE"])),
    graph_url=dict(type="str", fallback=(env_fallback, ["DEFENDER_GRAPH_URL"])),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path", fallback=(env_fallback, ["DEFENDER_CA_PATH"])),
    timeout=dict(type="int", default=30),
    token_cache=dict(type="bool", fallback=(env_fallback, ["DEFENDER_TOKEN_CACHE"])),
    max_retry_wait=dict(type="int", fallback=(env_fallback, ["DEFENDER_MAX_RETRY_WAIT"])),
)

ENV_NAMES = {
    "client_secret": "AZURE_CLIENT_SECRET",
    "client_certificate_path": "AZURE_CLIENT_CERTIFICATE_PATH",
    "client_assertion_file": "AZURE_FEDERATED_TOKEN_FILE",
    "tenant_id": "AZURE_TENANT_ID",
    "client_id": "AZURE_CLIENT_ID",
}


def _bool(value, default, name):
    """Strict: a typo such as 'ture' must not quietly switch TLS verification off."""
    if value is None or value == "":
        return default
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise DefenderConfigError("%s must be a boolean (true/false), got %r" % (name, str(value)[:40])) from None


def _int(value, default, name):
    if value is None or value == "":
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        raise DefenderConfigError("%s must be a whole number, got %r" % (name, str(value)[:40])) from None


class Settings:
    """Resolved connection settings; built from module params or plugin options (same names)."""

    def __init__(self, options):
        get = options.get
        self.tenant_id = (get("tenant_id") or "").strip() or None
        self.client_id = (get("client_id") or "").strip() or None
        self.client_secret = get("client_secret") or None
        self.client_certificate_path = get("client_certificate_path") or None
        self.client_certificate_password = get("client_certificate_password") or None
        self.client_assertion_file = get("client_assertion_file") or None
        self.access_token = (get("access_token") or "").strip() or None
        self.validate_certs = _bool(get("validate_certs"), True, "validate_certs")
        self.ca_path = get("ca_path") or None
        self.timeout = get("timeout") if get("timeout") is not None else 30
        self.token_cache = _bool(get("token_cache"), True, "token_cache")
        self.max_retry_wait = _int(get("max_retry_wait"), MAX_RETRY_WAIT, "max_retry_wait")
        self.token_cache_dir = get("token_cache_dir") or os.environ.get("DEFENDER_TOKEN_CACHE_DIR") or None
        self.endpoints = resolve_endpoints(get("cloud") or "global", get("region") or None, get("api_url") or None,
                                           get("login_url") or None, get("resource") or None,
                                           get("graph_url") or None)
        self.credential_kind = self._credential_kind()
        self._check()

    def _credential_kind(self):
        kinds = [(name, kind) for name, kind in (("client_secret", "secret"), ("client_certificate_path", "certificate"),
                                                 ("client_assertion_file", "assertion")) if getattr(self, name)]
        if len(kinds) > 1:
            names = " and ".join("%s (or %s)" % (n, ENV_NAMES[n]) for n, _kind in kinds)
            raise DefenderConfigError("conflicting credentials: %s are set; use exactly one of client_secret, "
                                      "client_certificate_path or client_assertion_file" % names)
        if self.client_certificate_password and not self.client_certificate_path:
            raise DefenderConfigError("client_certificate_password is set but client_certificate_path is not")
        return kinds[0][1] if kinds else None

    def _check(self):
        if not isinstance(self.timeout, int) or not 1 <= self.timeout <= 600:
            raise DefenderConfigError("timeout must be between 1 and 600 seconds, got %r" % (self.timeout,))
        if not 0 <= self.max_retry_wait <= 86400:
            raise DefenderConfigError("max_retry_wait must be between 0 and 86400 seconds, got %r"
                                      % (self.max_retry_wait,))
        if self.access_token is not None:
            if any(c.isspace() for c in self.access_token) or self.access_token.count(".") != 2:
                raise DefenderConfigError("access_token is not a JWT (three dot-separated parts); pass the token "
                                          "string itself, without 'Bearer '")
        if self.credential_kind is None and self.access_token is None:
            raise DefenderConfigError("no credentials: set client_secret, client_certificate_path or "
                                      "client_assertion_file (or AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, "
                                      "AZURE_FEDERATED_TOKEN_FILE), or pass access_token")
        if self.credential_kind is not None:
            for name in ("tenant_id", "client_id"):
                if not getattr(self, name):
                    raise DefenderConfigError("%s is required to sign in (or set %s)" % (name, ENV_NAMES[name]))
            if not (GUID.match(self.tenant_id) or DOMAIN.match(self.tenant_id)):
                raise DefenderConfigError("tenant_id must be a GUID or a domain such as contoso.onmicrosoft.com, "
                                          "got %r" % self.tenant_id[:80])
            if not GUID.match(self.client_id):
                raise DefenderConfigError("client_id must be the application (client) ID, a GUID; got %r"
                                          % self.client_id[:80])
            for name in ("client_certificate_path", "client_assertion_file"):
                path = getattr(self, name)
                if path and not os.path.isfile(path):
                    raise DefenderConfigError("%s %s does not exist or is not a file" % (name, path))
        if self.ca_path and not os.path.isfile(self.ca_path):
            raise DefenderConfigError("ca_path %s does not exist or is not a file" % self.ca_path)


def budget_owner(settings):
    """Who the API counts requests for (application and tenant), as a key for the shared rate budgets: the
    credentials' ids, or the claims of a given token (read, not verified: only a key), never a secret."""
    if settings.credential_kind is not None:
        return ("app", settings.tenant_id.lower(), settings.client_id.lower())
    claims = {}
    try:
        payload = settings.access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, IndexError, AttributeError, TypeError):
        pass
    if isinstance(claims, dict) and (claims.get("appid") or claims.get("azp")):
        return ("app", str(claims.get("tid") or "").lower(), str(claims.get("appid") or claims.get("azp")).lower())
    return ("token", hashlib.sha256((settings.access_token or "").encode("utf-8")).hexdigest()[:16])


def connect(settings, warn=None, pool_size=10, rate_budget=None, api=None):
    """The client of ``api`` (``apis.DEFENDER``, the default, or ``apis.GRAPH``; or their names) and its token
    provider for these settings: the API's host in this cloud, a token for its audience (same credential and token
    cache), its error shape, paging and headers. Requests spend the process's shared budget of this application
    and API host (``rate_budget`` replaces its default bucket)."""
    api = api_named(api)
    session = build_session(settings.validate_certs, settings.ca_path, pool_size=pool_size)
    provider = TokenProvider(settings, session, warn=warn, api=api)
    client = DefenderClient(api.base_url(settings.endpoints), provider, session, timeout=settings.timeout,
                            rate_budget=rate_budget, budget_owner=budget_owner(settings),
                            max_retry_wait=settings.max_retry_wait, api=api)
    return client, provider
