# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared connection and sign-in options: MODULES (env through the argument spec) and PLUGINS (env: entries)."""

from __future__ import annotations


class ModuleDocFragment:

    # Modules read the environment variables through their argument spec.
    # One plain string: ansible-test's yamllint sanity test cannot parse a concatenated fragment.
    DOCUMENTATION = r"""
options:
  tenant_id:
    description:
      - The Entra ID (Azure AD) tenant, as a GUID or a domain such as C(contoso.onmicrosoft.com).
      - For a partner (multi-tenant) app, the customer's tenant.
      - Required to sign in; not needed when O(access_token) is given.
      - If not set, the environment variable E(AZURE_TENANT_ID) is used.
    type: str
  client_id:
    description:
      - The application (client) ID of the app registration.
      - If not set, the environment variable E(AZURE_CLIENT_ID) is used.
    type: str
  client_secret:
    description:
      - A client secret of the app registration (its Value, not its ID).
      - Use exactly one of O(client_secret), O(client_certificate_path) and O(client_assertion_file).
      - If not set, the environment variable E(AZURE_CLIENT_SECRET) is used.
    type: str
  client_certificate_path:
    description:
      - Path to a PEM file that holds the private key and the certificate registered on the app.
      - The thumbprint is derived from the certificate.
      - If not set, the environment variable E(AZURE_CLIENT_CERTIFICATE_PATH) is used.
    type: path
  client_certificate_password:
    description:
      - Passphrase of an encrypted private key in O(client_certificate_path).
      - If not set, the environment variable E(AZURE_CLIENT_CERTIFICATE_PASSWORD) is used.
    type: str
  client_assertion_file:
    description:
      - Path to a file holding a signed federated assertion (workload identity, CI OIDC token).
      - Read again on every sign-in, so a rotated file is picked up.
      - If not set, the environment variable E(AZURE_FEDERATED_TOKEN_FILE) is used.
    type: path
  access_token:
    description:
      - A token obtained earlier, for example with the P(defender.endpoint.token#lookup) lookup or the
        M(defender.endpoint.token) module. No sign-in happens.
      - When credentials are set as well, they are used to get a new token if this one is rejected.
      - If not set, the environment variable E(DEFENDER_ACCESS_TOKEN) is used.
    type: str
  cloud:
    description:
      - The Microsoft cloud, which picks the sign-in host, the API host and the token resource.
      - Defaults to V(global) when neither this option nor its environment variable is set.
      - If not set, the environment variable E(DEFENDER_CLOUD) is used.
    type: str
    choices: [dod, gcc, gcc_high, global]
  region:
    description:
      - A geo API host (commercial cloud only), for example V(eu) for C(https://eu.api.security.microsoft.com).
      - The hosts are those Microsoft lists to improve request performance, V(us), V(eu), V(uk), V(au), V(swa),
        V(ina) and V(aea) (C(<region>.api.security.microsoft.com)).
      - If not set, the environment variable E(DEFENDER_REGION) is used.
    type: str
    choices: [aea, au, eu, ina, swa, uk, us]
  api_url:
    description:
      - Base URL of the API, overriding O(cloud) and O(region), for example the bundled emulator's URL.
      - If not set, the environment variable E(DEFENDER_API_URL) is used.
    type: str
  login_url:
    description:
      - Sign-in host, overriding O(cloud), for example C(https://login.microsoftonline.us) or the emulator.
      - When set, msal's instance discovery is skipped, so any https host works.
      - If not set, the environment variable E(AZURE_AUTHORITY_HOST) is used.
    type: str
  resource:
    description:
      - Token audience, overriding the cloud's default (C(https://api.securitycenter.microsoft.com) for V(global)).
      - V(/.default) is appended when the token is requested.
      - Microsoft does not document the resource for V(gcc), V(gcc_high) and V(dod); the default there is the API
        host, as community tooling (msticpy) uses it. Set this if your tenant needs
        C(https://securitycenter.onmicrosoft.com/windowsatpservice) (GCC) or
        C(https://securitycenter.onmicrosoft.us/windowsatpservice) (GCC High, DoD) instead.
      - If not set, the environment variable E(DEFENDER_RESOURCE) is used.
    type: str
  graph_url:
    description:
      - Base URL of Microsoft Graph, overriding O(cloud), for modules that call Graph (such as
        M(defender.endpoint.advanced_hunting)) and for Graph tokens.
      - By default C(https://graph.microsoft.com) for V(global) and V(gcc), C(https://graph.microsoft.us) for
        V(gcc_high) and C(https://dod-graph.microsoft.us) for V(dod). The Graph token audience stays that cloud's
        Graph host when only this URL is overridden (for example with the bundled emulator).
      - If not set, the environment variable E(DEFENDER_GRAPH_URL) is used.
    type: str
  validate_certs:
    description:
      - Whether TLS certificates are verified (API, sign-in and key discovery).
      - Turning this off warns; prefer O(ca_path).
    type: bool
    default: true
  ca_path:
    description:
      - PEM bundle of CAs to trust for the API, sign-in and key discovery. It wins over
        E(REQUESTS_CA_BUNDLE) and E(CURL_CA_BUNDLE).
      - If not set, the environment variable E(DEFENDER_CA_PATH) is used.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP response.
    type: int
    default: 30
  token_cache:
    description:
      - Whether acquired tokens are kept in a file of the user's cache directory
        (C($XDG_CACHE_HOME/defender.endpoint/tokens), mode 0600) so later tasks reuse them.
      - Defaults to V(true). Set V(false) to keep tokens in memory only.
      - If not set, the environment variable E(DEFENDER_TOKEN_CACHE) is used.
    type: bool
  max_retry_wait:
    description:
      - The longest wait, in seconds, that a throttled request (HTTP 429) waits out before it is sent again, as the
        API's C(Retry-After) asks. Every parallel worker of the task using the same application waits with it.
      - When the API asks for a longer wait, the task fails and its message names the wait asked for.
      - Defaults to V(300) (five minutes). V(0) fails at the first 429 that asks for any wait.
      - If not set, the environment variable E(DEFENDER_MAX_RETRY_WAIT) is used.
    type: int
notes:
  - Proxies come from the standard E(HTTPS_PROXY) and E(NO_PROXY) environment variables and apply to sign-in too.
  - These tasks run where the task runs, normally the controller (C(localhost)); that Python needs
    requests, msal and PyJWT (C(requirements.txt) of the collection).
requirements:
  - requests >= 2.31.0
  - msal >= 1.28.0
  - PyJWT[crypto] >= 2.8.0
seealso:
  - name: Create an app to access Defender for Endpoint without a user
    description: Register the app, add WindowsDefenderATP application permissions and grant admin consent.
    link: https://learn.microsoft.com/en-us/defender-endpoint/api/exposed-apis-create-app-webapp
"""

    PLUGINS = r"""
options:
  tenant_id:
    description:
      - The Entra ID (Azure AD) tenant, as a GUID or a domain. For a partner app, the customer's tenant.
    type: str
    env:
      - name: AZURE_TENANT_ID
  client_id:
    description:
      - The application (client) ID of the app registration.
    type: str
    env:
      - name: AZURE_CLIENT_ID
  client_secret:
    description:
      - A client secret of the app registration. Use exactly one credential kind.
    type: str
    env:
      - name: AZURE_CLIENT_SECRET
  client_certificate_path:
    description:
      - Path to a PEM file with the private key and the certificate registered on the app.
    type: path
    env:
      - name: AZURE_CLIENT_CERTIFICATE_PATH
  client_certificate_password:
    description:
      - Passphrase of an encrypted private key.
    type: str
    env:
      - name: AZURE_CLIENT_CERTIFICATE_PASSWORD
  client_assertion_file:
    description:
      - Path to a file holding a signed federated assertion, read again on each sign-in.
    type: path
    env:
      - name: AZURE_FEDERATED_TOKEN_FILE
  access_token:
    description:
      - A token obtained earlier; no sign-in happens.
    type: str
    env:
      - name: DEFENDER_ACCESS_TOKEN
  cloud:
    description:
      - The Microsoft cloud. Defaults to V(global).
    type: str
    choices: [dod, gcc, gcc_high, global]
    env:
      - name: DEFENDER_CLOUD
  region:
    description:
      - A geo API host (commercial cloud only).
    type: str
    choices: [aea, au, eu, ina, swa, uk, us]
    env:
      - name: DEFENDER_REGION
  api_url:
    description:
      - Base URL of the API, overriding O(cloud) and O(region).
    type: str
    env:
      - name: DEFENDER_API_URL
  login_url:
    description:
      - Sign-in host, overriding O(cloud); instance discovery is skipped when set.
    type: str
    env:
      - name: AZURE_AUTHORITY_HOST
  resource:
    description:
      - Token audience, overriding the cloud's default; V(/.default) is appended.
    type: str
    env:
      - name: DEFENDER_RESOURCE
  graph_url:
    description:
      - Base URL of Microsoft Graph, overriding O(cloud) (Graph tokens and Graph calls).
    type: str
    env:
      - name: DEFENDER_GRAPH_URL
  validate_certs:
    description:
      - Whether TLS certificates are verified, as a boolean.
      - A value that is not a boolean is an error, so a typo cannot switch verification off.
    type: raw
    default: true
  ca_path:
    description:
      - PEM bundle of CAs to trust for the API, sign-in and key discovery.
    type: path
    env:
      - name: DEFENDER_CA_PATH
  timeout:
    description:
      - Seconds to wait for each HTTP response.
    type: int
    default: 30
  token_cache:
    description:
      - Whether acquired tokens are kept in a file of the user's cache directory (mode 0600) for later tasks.
    type: raw
    default: true
    env:
      - name: DEFENDER_TOKEN_CACHE
  max_retry_wait:
    description:
      - The longest C(Retry-After) wait, in seconds, a throttled request (HTTP 429) waits out before it is sent again;
        a longer one fails, naming the wait asked for. Defaults to V(300).
    type: int
    env:
      - name: DEFENDER_MAX_RETRY_WAIT
"""
