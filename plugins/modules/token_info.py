#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: token_info
short_description: Validate a Defender for Endpoint access token and check its permissions
description:
  - Validates the token given in O(access_token), or one acquired from the credentials when O(access_token) is not
    set, the way the Defender API would, and fails with every reason when it is not valid.
  - The signature is checked against the keys the token's tenant publishes (its OpenID discovery document at
    C(<login_url>/<tid>/v2.0/.well-known/openid-configuration) names the C(jwks_uri)). When the token names a key
    the tenant does not publish, the keys are downloaded once more, since keys rotate.
  - The audience (C(aud)) must be one of the Defender API's audience forms for the O(cloud) (or O(resource)), the
    App ID URIs C(https://api.securitycenter.microsoft.com), C(https://securitycenter.onmicrosoft.com/windowsatpservice)
    and the legacy C(https://api.securitycenter.windows.com) (global cloud), or the WindowsDefenderATP application
    id C(fc780465-2017-40d4-a0c5-307022471b92), which Entra ID puts in C(aud) of v2.0 tokens; the issuer
    (C(iss)) must be the v1 form C(https://sts.windows.net/<tid>/) or the v2 form C(<login_url>/<tid>/v2.0) of the
    token's own tenant; when O(tenant_id) is set the token must belong to that tenant (a domain such as
    C(contoso.onmicrosoft.com) is resolved to its tenant GUID through the issuer of
    C(<login_url>/<domain>/v2.0/.well-known/openid-configuration), also with O(verify_signature=false)); C(exp) and
    C(nbf) are checked with O(leeway).
  - With O(required_roles), fails when any of these application permissions is missing from the token's C(roles),
    naming each one with the display name the Entra portal shows, for example C(Machine.Isolate) ("Isolate
    machine"), and reminding that admin consent must be granted after a permission is added.
  - Key discovery uses the same TLS settings (O(ca_path), O(validate_certs)) and proxies as sign-in.
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  api:
    description:
      - Which API the token is for - V(defender) (the Defender for Endpoint API, WindowsDefenderATP permissions)
        or V(graph) (Microsoft Graph, for incidents, Graph alerts and hunting; its permissions such as
        C(SecurityIncident.ReadWrite.All) and C(ThreatHunting.Read.All)).
      - With V(graph), the token is acquired for Graph's resource of the O(cloud) (or O(graph_url)'s cloud) and
        its audience must be Graph's.
    type: str
    choices: [defender, graph]
    default: defender
  required_roles:
    description:
      - Application permissions (C(roles) claim) the token must carry, for example V(Machine.Isolate).
      - Names are case-sensitive, as in the token.
    type: list
    elements: str
    default: []
  leeway:
    description:
      - Seconds of clock difference tolerated when checking C(exp) and C(nbf).
    type: int
    default: 60
  verify_signature:
    description:
      - Whether the signature is checked against the tenant's published keys.
      - V(false) checks the claims only, offline. That is much weaker, since anyone can write a token with any
        claims; the module warns when it is used. Use it only to inspect a token when the sign-in host is out of
        reach.
    type: bool
    default: true
  roles_only:
    description:
      - Check only that the token carries O(required_roles) (its C(roles) claim, decoded) and nothing else, no
        signature, audience, issuer, tenant or time check, and no request to the sign-in host.
      - For a playbook that gates on the permissions it needs before it acts (the M(defender.endpoint.token) it just
        got is used as is); the Defender API remains the authority on whether it accepts the token. RV(valid) then
        only says that the token decodes.
    type: bool
    default: false
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.info
notes:
  - Check mode runs the same checks; nothing is changed in the tenant either way.
  - Microsoft asks clients to treat access tokens as opaque. This module is for checking set-up (permissions,
    tenant, cloud) and for tests; the Defender API remains the authority on what it accepts.
seealso:
  - module: defender.endpoint.token
  - name: Application permissions of the Defender API
    description: Which permission each API call needs.
    link: https://learn.microsoft.com/en-us/defender-endpoint/api/exposed-apis-list
"""

EXAMPLES = r"""
- name: Check that the app may isolate machines before an incident needs it
  defender.endpoint.token_info:
    tenant_id: "{{ defender_tenant_id }}"
    client_id: "{{ defender_client_id }}"
    client_secret: "{{ defender_client_secret }}"
    required_roles:
      - Machine.Read.All
      - Machine.Isolate
# Fails with, for example: App ... lacks the application permission Machine.Isolate ("Isolate machine").
# Add them ... then select 'Grant admin consent' ...

- name: Check the Microsoft Graph permissions the incident playbooks need
  defender.endpoint.token_info:
    api: graph
    required_roles:
      - SecurityIncident.ReadWrite.All
      - SecurityAlert.Read.All

- name: Validate a token obtained earlier
  defender.endpoint.token_info:
    access_token: "{{ defender_token.access_token }}"
    tenant_id: "{{ defender_tenant_id }}"
  register: checked

- name: Inspect a token without reaching the sign-in host (claims only; weaker)
  defender.endpoint.token_info:
    access_token: "{{ lookup('ansible.builtin.env', 'DEFENDER_ACCESS_TOKEN') }}"
    verify_signature: false
  register: checked
  ignore_errors: true

- name: Show why it is not valid
  ansible.builtin.debug:
    var: checked.reasons
"""

RETURN = r"""
valid:
  description: Whether the token passed every check (signature, audience, issuer, tenant, time). Roles are
    reported apart, in RV(missing_roles).
  returned: always
  type: bool
  sample: true
reasons:
  description: Why the token is not valid, one sentence per failed check; empty when valid.
  returned: always
  type: list
  elements: str
  sample: ["the token expired 120 seconds ago (at 2026-01-01 10:00:00 UTC)"]
claims:
  description: The token's claims (C(aud), C(iss), C(tid), C(appid), C(roles), C(exp), C(nbf), ...).
  returned: always
  type: dict
  sample:
    aud: https://api.securitycenter.microsoft.com
    iss: https://sts.windows.net/6f1c2b9e-4d8a-4c1e-9b7a-3e5d2c1f0a11/
    tid: 6f1c2b9e-4d8a-4c1e-9b7a-3e5d2c1f0a11
    appid: 0a1b2c3d-0001-4000-8000-00000000f011
    roles: [Machine.Read.All, Machine.Isolate]
    exp: 1767225599
roles:
  description: The application permissions in the token (its C(roles) claim).
  returned: always
  type: list
  elements: str
  sample: [Machine.Read.All, Machine.Isolate]
missing_roles:
  description: The O(required_roles) the token lacks.
  returned: always
  type: list
  elements: str
  sample: []
missing_role_names:
  description: Portal display names of RV(missing_roles), in the same order (the role name when unknown).
  returned: always
  type: list
  elements: str
  sample: ["Isolate machine"]
expires_on:
  description: The token's expiry (C(exp)), seconds since the epoch; null when the token has none.
  returned: always
  type: int
  sample: 1767225599
signature_verified:
  description: Whether the signature was checked and matched a published key.
  returned: always
  type: bool
  sample: true
source:
  description: Where the validated token came from, V(given), V(cache) or V(identity_provider).
  returned: always
  type: str
  sample: given
"""

from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.token_validation import (
    MAX_LEEWAY,
    ROLE_DISPLAY_NAMES,
    SigningKeys,
    check_required_roles,
    failure_message,
    roles_only,
    validate_token,
)


def run(m):
    p = m.params
    settings = m.settings
    required = check_required_roles(p["required_roles"])
    leeway = p["leeway"]
    if not 0 <= leeway <= MAX_LEEWAY:
        raise DefenderConfigError("leeway must be between 0 and %d seconds, got %d" % (MAX_LEEWAY, leeway))
    if not p["verify_signature"] and not p["roles_only"]:
        m.warn("verify_signature is false: only the claims are checked, and anyone can write a token with any "
               "claims; do not rely on this result for trust decisions")
    api = p["api"]
    provider = m.provider(api=api)
    got = provider.acquire(check_expiry=False)  # an expired given token is reported with its reasons
    if p["roles_only"]:
        result = roles_only(got["access_token"], required)
    else:
        # Also without verify_signature: a domain tenant_id is resolved to its GUID through the same discovery.
        keys = SigningKeys(m.client(api=api).session, settings.endpoints.login_url, timeout=settings.timeout)
        result = validate_token(got["access_token"], settings, keys=keys, required_roles=required, leeway=leeway,
                                verify_signature=p["verify_signature"], api=api)
    out = {
        "valid": result["valid"],
        "reasons": result["reasons"],
        "claims": result["claims"],
        "roles": result["roles"],
        "missing_roles": result["missing_roles"],
        "missing_role_names": [ROLE_DISPLAY_NAMES.get(r, r) for r in result["missing_roles"]],
        "expires_on": result["expires_on"],
        "signature_verified": result["signature_verified"],
        "source": got.get("source") or "identity_provider",
    }
    if not result["valid"] or result["missing_roles"]:
        m.fail(failure_message(result, settings), **out)
    m.exit(changed=False, **out)


def main():
    m = DefenderModule(
        argument_spec=dict(
            api=dict(type="str", choices=["defender", "graph"], default="defender"),
            required_roles=dict(type="list", elements="str", default=[]),
            leeway=dict(type="int", default=60),
            verify_signature=dict(type="bool", default=True),
            roles_only=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    m.run(run)


if __name__ == "__main__":
    main()
