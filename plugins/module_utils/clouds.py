# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where each Microsoft cloud signs in and serves the Defender for Endpoint API.

Sources: Microsoft's ``defender-endpoint/gov.md`` (sign-in and API hosts per US Government cloud),
``exposed-apis-create-app-webapp.md`` (commercial resource URIs) and
``includes/improve-request-performance.md`` (geo API hosts). Microsoft does not document the token
resource for GCC High and DoD; the default follows msticpy (resource = the API host), the most
credible public source, and ``resource`` overrides it.

Microsoft Graph (advanced hunting through ``security/runHuntingQuery``) is a second API with its own host and
token audience per cloud (Graph's ``concepts/deployments.md`` and ``concepts/sdks/national-clouds.md``): GCC
keeps the global Graph host while its Defender API is on a ``.us`` host; GCC High and DoD have their own.
"""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError

GLOBAL_RESOURCE = "https://api.securitycenter.microsoft.com"
# The application (client) id of the WindowsDefenderATP service principal. Entra puts the API's client id in the
# ``aud`` of v2.0 tokens (and may in v1.0 ones), so a token for the Defender API can carry it instead of an App ID
# URI. Microsoft's Defender pages do not print it; it is the appId the tenant's Enterprise applications list shows for
# WindowsDefenderATP, and the one public role-assignment scripts use (see docs/tokens.md).
WINDOWS_DEFENDER_ATP_APP_ID = "fc780465-2017-40d4-a0c5-307022471b92"
LEGACY_RESOURCE = "https://securitycenter.onmicrosoft.com/windowsatpservice"

CLOUDS = {
    "global": {
        "login_url": "https://login.microsoftonline.com",
        "api_url": "https://api.security.microsoft.com",
        "resource": GLOBAL_RESOURCE,
        # Both documented resource URIs issue valid tokens; the windows.com one is the legacy form.
        "audiences": (GLOBAL_RESOURCE, LEGACY_RESOURCE, "https://api.securitycenter.windows.com",
                      WINDOWS_DEFENDER_ATP_APP_ID),
    },
    "gcc": {
        "login_url": "https://login.microsoftonline.com",
        "api_url": "https://api-gcc.securitycenter.microsoft.us",
        "resource": "https://api-gcc.securitycenter.microsoft.us",
        "audiences": ("https://api-gcc.securitycenter.microsoft.us", GLOBAL_RESOURCE, LEGACY_RESOURCE,
                      WINDOWS_DEFENDER_ATP_APP_ID),
    },
    "gcc_high": {
        "login_url": "https://login.microsoftonline.us",
        "api_url": "https://api-gov.securitycenter.microsoft.us",
        "resource": "https://api-gov.securitycenter.microsoft.us",
        "audiences": ("https://api-gov.securitycenter.microsoft.us",
                      "https://securitycenter.onmicrosoft.us/windowsatpservice", WINDOWS_DEFENDER_ATP_APP_ID),
    },
    "dod": {
        "login_url": "https://login.microsoftonline.us",
        "api_url": "https://api-gov.securitycenter.microsoft.us",
        "resource": "https://api-gov.securitycenter.microsoft.us",
        "audiences": ("https://api-gov.securitycenter.microsoft.us",
                      "https://securitycenter.onmicrosoft.us/windowsatpservice", WINDOWS_DEFENDER_ATP_APP_ID),
    },
}

# Microsoft Graph root and app-only token resource per cloud; the resource is the Graph host itself.
GRAPH = {
    "global": "https://graph.microsoft.com",
    "gcc": "https://graph.microsoft.com",
    "gcc_high": "https://graph.microsoft.us",
    "dod": "https://dod-graph.microsoft.us",
}
# Graph's well-known application id: a v2 Graph token may carry it as ``aud`` instead of the URI.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

# Geo hosts serve the same API closer to the tenant's data (commercial cloud only).
REGIONS = {
    "us": "https://us.api.security.microsoft.com",
    "eu": "https://eu.api.security.microsoft.com",
    "uk": "https://uk.api.security.microsoft.com",
    "au": "https://au.api.security.microsoft.com",
    "swa": "https://swa.api.security.microsoft.com",
    "ina": "https://ina.api.security.microsoft.com",
    "aea": "https://aea.api.security.microsoft.com",
}


class Endpoints:
    """The resolved sign-in host and, for each API, its base URL, token resource and accepted audiences, for one
    run (``apis.DEFENDER`` and ``apis.GRAPH`` say which attribute is whose)."""

    def __init__(self, cloud, login_url, api_url, resource, audiences, custom_login, graph_url=None):
        self.cloud = cloud
        self.graph_url = graph_url or GRAPH[cloud]
        # The token audience stays the cloud's Graph host when only the URL is overridden (an emulator, a proxy).
        self.graph_resource = GRAPH[cloud]
        self.graph_audiences = (self.graph_resource, GRAPH_APP_ID)
        self.login_url = login_url
        self.api_url = api_url
        self.resource = resource
        self.audiences = audiences
        # msal's instance discovery only knows Microsoft's hosts; a custom host must skip it.
        self.custom_login = custom_login

    def authority(self, tenant_id):
        return "%s/%s" % (self.login_url, tenant_id)


def _https_url(name, value):
    value = value.strip().rstrip("/")
    if not value.lower().startswith("https://") or len(value) <= len("https://"):
        raise DefenderConfigError("%s must be an https:// URL, got %r" % (name, value))
    if any(c in value for c in " \t\r\n?#"):
        raise DefenderConfigError("%s must be a plain base URL without spaces, query or fragment" % name)
    return value


def resolve_endpoints(cloud="global", region=None, api_url=None, login_url=None, resource=None, graph_url=None):
    cloud = cloud or "global"
    if cloud not in CLOUDS:
        raise DefenderConfigError("cloud must be one of %s, got %r" % (", ".join(sorted(CLOUDS)), cloud))
    table = CLOUDS[cloud]
    if region:
        if region not in REGIONS:
            raise DefenderConfigError("region must be one of %s, got %r" % (", ".join(sorted(REGIONS)), region))
        if cloud != "global":
            raise DefenderConfigError("region applies to the global cloud only, not to cloud=%s" % cloud)
    base = _https_url("api_url", api_url) if api_url else (REGIONS[region] if region else table["api_url"])
    if login_url and "://" not in login_url:
        # Azure tooling sets AZURE_AUTHORITY_HOST to a bare host (login.microsoftonline.us) and adds https itself.
        login_url = "https://" + login_url.strip()
    login = _https_url("login_url", login_url) if login_url else table["login_url"]
    if resource:
        resource = resource.strip()
        if resource.endswith("/.default"):
            resource = resource[: -len("/.default")]
        resource = _https_url("resource", resource)
        audiences = (resource,) + tuple(a for a in table["audiences"] if a != resource)
    else:
        resource = table["resource"]
        audiences = table["audiences"]
    graph = _https_url("graph_url", graph_url) if graph_url else None
    return Endpoints(cloud, login, base, resource, audiences, custom_login=bool(login_url), graph_url=graph)


# The Microsoft Defender portal of each cloud (https://learn.microsoft.com/en-us/defender-endpoint/gov): GCC
# keeps the commercial portal. Reports link machines, alerts and incidents there.
PORTALS = {
    "global": "https://security.microsoft.com",
    "gcc": "https://security.microsoft.com",
    "gcc_high": "https://security.microsoft.us",
    "dod": "https://security.apps.mil",
}


def portal_url(cloud):
    """The Defender portal's base URL for ``cloud`` (``global`` when unknown)."""
    return PORTALS.get(cloud or "global", PORTALS["global"])
