#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: token
short_description: Get an app-only access token for the Microsoft Defender for Endpoint API
description:
  - Signs in to Entra ID (Azure AD) with the client credentials flow and returns the access token for the
    Defender for Endpoint API (C(WindowsDefenderATP)), with its expiry and its decoded claims.
  - Works with every credential kind of the collection, a client secret, a certificate (PEM with key and
    certificate) or a federated assertion file. Exactly one must be set.
  - Tokens are cached in a file of the user's cache directory, so later tasks (and later runs, until about five
    minutes before expiry) reuse the token instead of signing in again. O(token_cache=false) turns that off;
    see C(docs/tokens.md) for what the cache stores.
  - When only O(access_token) is given, nothing is sent; the module decodes that token and returns its claims and
    expiry (Ansible masks the token itself in the result, because it is a C(no_log) option).
  - The claims are decoded, not verified. Use M(defender.endpoint.token_info) to check a token.
  - The task output is always hidden (as with C(no_log)), because it holds a bearer token; the registered
    result is complete. Still, add C(no_log=true) to the task so that no log or callback sees it.
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  api:
    description:
      - Which API the token is for.
      - V(defender) is the Defender for Endpoint API (C(WindowsDefenderATP), the resource from O(cloud) or
        O(resource)).
      - V(graph) is Microsoft Graph (resource C(https://graph.microsoft.com) in the global cloud, the cloud's Graph
        host elsewhere), used by M(defender.endpoint.advanced_hunting); its permissions (such as
        C(ThreatHunting.Read.All)) are Microsoft Graph application permissions.
      - One sign-in gives a token for one resource only, so a Graph token is a second token from the same
        credential, cached separately.
    type: str
    choices: [defender, graph]
    default: defender
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.info
notes:
  - Check mode also signs in, since getting a token changes nothing in the tenant.
  - A token is good for about an hour. The collection's other modules take the credentials themselves and share
    the same cache, so passing a token explicitly is only needed for other tools (for example M(ansible.builtin.uri)).
seealso:
  - module: defender.endpoint.token_info
  - plugin: defender.endpoint.token
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Get a token for the Defender API (a secret from the environment or a vault)
  defender.endpoint.token:
    tenant_id: "{{ defender_tenant_id }}"
    client_id: "{{ defender_client_id }}"
    client_secret: "{{ defender_client_secret }}"
  register: defender_token
  no_log: true

- name: Show what the token allows (claims carry no secret)
  ansible.builtin.debug:
    msg: "roles {{ defender_token.claims.roles }}, expires {{ defender_token.expires_on }}"

- name: Use the token in later tasks
  defender.endpoint.alert_info:
    access_token: "{{ defender_token.access_token }}"
    severity: [High]

- name: Or pass it to every Defender task at once
  module_defaults:
    group/defender.endpoint.all:
      access_token: "{{ defender_token.access_token }}"
  block:
    - name: Find a machine
      defender.endpoint.machine_info:
        name: host1.contoso.com
      register: found

- name: Call an API endpoint the collection has no module for
  ansible.builtin.uri:
    url: https://api.security.microsoft.com/api/machines?$top=1
    headers:
      Authorization: "Bearer {{ defender_token.access_token }}"
  no_log: true

- name: Certificate credential (encrypted key), US Government GCC High
  defender.endpoint.token:
    tenant_id: "{{ defender_tenant_id }}"
    client_id: "{{ defender_client_id }}"
    client_certificate_path: /etc/defender/app.pem
    client_certificate_password: "{{ defender_cert_password }}"
    cloud: gcc_high
  register: defender_token
  no_log: true

- name: A Microsoft Graph token (advanced hunting), from the same credential
  defender.endpoint.token:
    api: graph
  register: graph_token
  no_log: true

- name: Workload identity (the federated token file of the CI system or Kubernetes)
  defender.endpoint.token:
    tenant_id: "{{ defender_tenant_id }}"
    client_id: "{{ defender_client_id }}"
    client_assertion_file: /var/run/secrets/azure/tokens/azure-identity-token
  register: defender_token
  no_log: true
"""

RETURN = r"""
access_token:
  description:
    - The bearer token. Send it in the C(Authorization) header as C(Bearer <token>). Treat it as a secret.
    - When the token was given in O(access_token), Ansible masks it here.
  returned: success
  type: str
  sample: eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiJ9.eyJhdWQiOiIuLi4ifQ.c2lnbmF0dXJl
token_type:
  description: The token type, always C(Bearer).
  returned: success
  type: str
  sample: Bearer
expires_on:
  description: When the token expires, in seconds since the epoch (UTC).
  returned: success
  type: int
  sample: 1767225599
expires_in:
  description: Seconds until the token expires, counted when the module returned.
  returned: success
  type: int
  sample: 3598
resource:
  description: The resource (audience) the token is for.
  returned: success
  type: str
  sample: https://api.securitycenter.microsoft.com
portal_url:
  description:
    - The Microsoft Defender portal of the O(cloud), for links to machines (C(/machines/v2/<id>/overview)), alerts
      (C(/alerts/<id>)) and incidents (C(/incidents/<id>)); add C(?tid=<tenant>) to open the right tenant.
  returned: success
  type: str
  sample: https://security.microsoft.com
source:
  description:
    - Where the token came from, V(identity_provider) (a sign-in happened), V(cache) (a cached token was still
      good) or V(given) (the O(access_token) option).
  returned: success
  type: str
  sample: cache
claims:
  description:
    - The token's claims, decoded without verification.
  returned: success
  type: dict
  contains:
    aud:
      description: Audience, the Defender API resource.
      type: str
      sample: https://api.securitycenter.microsoft.com
    iss:
      description: Issuer, C(https://sts.windows.net/<tid>/) for v1 tokens.
      type: str
      sample: https://sts.windows.net/6f1c2b9e-4d8a-4c1e-9b7a-3e5d2c1f0a11/
    tid:
      description: The tenant the token belongs to.
      type: str
      sample: 6f1c2b9e-4d8a-4c1e-9b7a-3e5d2c1f0a11
    appid:
      description: The application (client) ID (C(azp) in v2 tokens).
      type: str
      sample: 0a1b2c3d-0001-4000-8000-00000000f011
    roles:
      description: The application permissions granted (with admin consent) to the app.
      type: list
      elements: str
      sample: [Alert.Read.All, Machine.Read.All]
    exp:
      description: Expiry, seconds since the epoch.
      type: int
      sample: 1767225599
  sample:
    aud: https://api.securitycenter.microsoft.com
    iss: https://sts.windows.net/6f1c2b9e-4d8a-4c1e-9b7a-3e5d2c1f0a11/
    tid: 6f1c2b9e-4d8a-4c1e-9b7a-3e5d2c1f0a11
    appid: 0a1b2c3d-0001-4000-8000-00000000f011
    roles: [Alert.Read.All, Machine.Read.All]
    exp: 1767225599
"""

import time

from ansible_collections.defender.endpoint.plugins.module_utils.auth import jwt_claims
from ansible_collections.defender.endpoint.plugins.module_utils.clouds import portal_url
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.apis import APIS, api_named
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError


def token_result(token, source, settings, expires_on=None, token_type="Bearer", api=None):
    claims = jwt_claims(token)
    if expires_on is None and isinstance(claims.get("exp"), (int, float)):
        expires_on = int(claims["exp"])
    aud = claims.get("aud")
    return {
        "access_token": token,
        "token_type": token_type or "Bearer",
        "expires_on": expires_on,
        "expires_in": max(0, int(expires_on - time.time())) if expires_on else None,
        "resource": aud if isinstance(aud, str) and source == "given" else api_named(api).resource(settings.endpoints),
        "claims": claims,
        "source": source,
        "portal_url": portal_url(settings.endpoints.cloud),
    }


def run(m):
    settings = m.settings
    if settings.access_token and settings.credential_kind is None:
        if not jwt_claims(settings.access_token):
            raise DefenderConfigError("access_token cannot be decoded: it is not a JWT")
        m.exit(changed=False, **token_result(settings.access_token, "given", settings))
    api = m.params["api"]
    got = m.provider(api).acquire()
    m.exit(changed=False, **token_result(got["access_token"], got.get("source") or "identity_provider", settings,
                                         expires_on=got.get("expires_on"), token_type=got.get("token_type"), api=api))


def main():
    m = DefenderModule(argument_spec=dict(api=dict(type="str", choices=sorted(APIS), default="defender")),
                       supports_check_mode=True)
    m.run(run)


if __name__ == "__main__":
    main()
