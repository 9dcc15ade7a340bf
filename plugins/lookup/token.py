# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: token
short_description: Get an app-only access token for the Microsoft Defender for Endpoint API
description:
  - Returns an access token for the Defender for Endpoint API, signing in with the client credentials flow
    (client secret, certificate or federated assertion file), as the M(defender.endpoint.token) module does.
  - Takes the same options and environment variables as the collection's modules.
  - Repeated lookups in one run reuse the token while it has more than five minutes left, and so do the modules;
    all of them share the token cache file (see O(token_cache)), so one playbook run signs in once.
  - Runs on the controller. Takes no terms.
  - An option name it does not know (a misspelling such as C(tenant=) for O(tenant_id)) fails the lookup and
    lists the valid names, instead of being ignored; otherwise the token would silently come from the
    credentials in the environment, possibly those of another tenant.
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  api:
    description:
      - Which API the token is for, V(defender) (Defender for Endpoint) or V(graph) (Microsoft Graph, for
        example for M(defender.endpoint.advanced_hunting) or a raw Graph call).
      - The same credential signs in once per API; each token is cached separately.
    type: str
    choices: [defender, graph]
    default: defender
extends_documentation_fragment:
  - defender.endpoint.connection.plugins
notes:
  - The token is a secret. Pass it only to options marked C(no_log) (such as O(access_token) of the collection's
    modules) or set C(no_log=true) on tasks that use it elsewhere.
seealso:
  - module: defender.endpoint.token
  - module: defender.endpoint.token_info
"""

EXAMPLES = r"""
# In a play, set the token once for every Defender task (lazy: the lookup runs when a task uses it, and the
# token cache makes later lookups free):
#   module_defaults:
#     group/defender.endpoint.all:
#       access_token: "{{ lookup('defender.endpoint.token') }}"

- name: Read high-severity alerts with a token from the lookup
  defender.endpoint.alert_info:
    access_token: "{{ lookup('defender.endpoint.token', tenant_id=defender_tenant_id, client_id=defender_client_id,
                     client_secret=defender_client_secret) }}"
    severity: [High]

- name: A Microsoft Graph token for a raw Graph call
  ansible.builtin.uri:
    url: https://graph.microsoft.com/v1.0/security/runHuntingQuery
    method: POST
    body_format: json
    body: {Query: "DeviceInfo | take 1"}
    headers:
      Authorization: "Bearer {{ lookup('defender.endpoint.token', api='graph') }}"
  no_log: true

- name: Credentials from AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, token in a raw API call
  ansible.builtin.uri:
    url: https://api.security.microsoft.com/api/machines?$top=1
    headers:
      Authorization: "Bearer {{ lookup('defender.endpoint.token') }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: A list with one element, the access token.
  type: list
  elements: str
"""

from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError
from ansible_collections.defender.endpoint.plugins.plugin_utils._connection import check_known_keys, plugin_client


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        if terms:
            raise AnsibleLookupError("the defender.endpoint.token lookup takes no terms, only options "
                                     "(tenant_id=..., client_id=..., ...)")
        self.set_options(var_options=variables, direct=kwargs)
        # Ansible drops unknown keyword names; a misspelled one (tenant= for tenant_id=) would quietly sign in to
        # the tenant of the environment instead.
        check_known_keys(kwargs, self._options, "defender.endpoint.token", error=AnsibleLookupError)
        try:
            _client, provider = plugin_client(self, api=self.get_option("api"))
            return [provider.token()]
        except DefenderError as exc:
            raise AnsibleLookupError("defender.endpoint.token: %s" % exc) from None
        except AnsibleLookupError:
            raise
        except AnsibleError as exc:  # plugin_settings turns option errors into AnsibleError
            raise AnsibleLookupError("defender.endpoint.token: %s" % exc.message) from None
