# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pin the endpoint table to Microsoft's pages (the API regions of api/exposed-apis-create-app-webapp, and gov)."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.apis import DEFENDER, GRAPH
from ansible_collections.defender.endpoint.plugins.module_utils.clouds import CLOUDS, REGIONS, resolve_endpoints
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError

# cloud: (sign-in host, API host, default token resource)
EXPECTED = {
    # 2.1: base URI api.security.microsoft.com; resource api.securitycenter.microsoft.com (1.2)
    "global": ("https://login.microsoftonline.com", "https://api.security.microsoft.com",
               "https://api.securitycenter.microsoft.com"),
    # 2.2: GCC signs in at .com; 2.3: resource undocumented, default = API host (msticpy)
    "gcc": ("https://login.microsoftonline.com", "https://api-gcc.securitycenter.microsoft.us",
            "https://api-gcc.securitycenter.microsoft.us"),
    "gcc_high": ("https://login.microsoftonline.us", "https://api-gov.securitycenter.microsoft.us",
                 "https://api-gov.securitycenter.microsoft.us"),
    "dod": ("https://login.microsoftonline.us", "https://api-gov.securitycenter.microsoft.us",
            "https://api-gov.securitycenter.microsoft.us"),
}


@pytest.mark.parametrize("cloud", sorted(EXPECTED))
def test_endpoint_table(cloud):
    e = resolve_endpoints(cloud)
    assert (e.login_url, e.api_url, e.resource) == EXPECTED[cloud]
    assert DEFENDER.scope(e) == EXPECTED[cloud][2] + "/.default"
    assert e.authority("contoso.onmicrosoft.com") == EXPECTED[cloud][0] + "/contoso.onmicrosoft.com"
    assert e.resource in e.audiences
    assert not e.custom_login


def test_no_other_clouds():
    assert sorted(CLOUDS) == sorted(EXPECTED)


def test_global_accepts_both_documented_resources():
    aud = resolve_endpoints("global").audiences
    assert "https://api.securitycenter.microsoft.com" in aud
    assert "https://securitycenter.onmicrosoft.com/windowsatpservice" in aud


def test_gov_high_accepts_the_community_alternative():
    for cloud in ("gcc_high", "dod"):
        assert "https://securitycenter.onmicrosoft.us/windowsatpservice" in resolve_endpoints(cloud).audiences


def test_geo_hosts():
    assert REGIONS == {
        "us": "https://us.api.security.microsoft.com",
        "eu": "https://eu.api.security.microsoft.com",
        "uk": "https://uk.api.security.microsoft.com",
        "au": "https://au.api.security.microsoft.com",
        "swa": "https://swa.api.security.microsoft.com",
        "ina": "https://ina.api.security.microsoft.com",
        "aea": "https://aea.api.security.microsoft.com",
    }
    assert resolve_endpoints("global", region="ina").api_url == "https://ina.api.security.microsoft.com"
    assert resolve_endpoints("global", region="aea").api_url == "https://aea.api.security.microsoft.com"
    e = resolve_endpoints("global", region="eu")
    assert e.api_url == "https://eu.api.security.microsoft.com"
    assert e.login_url == "https://login.microsoftonline.com"
    assert e.resource == "https://api.securitycenter.microsoft.com"


def test_region_only_in_global_cloud():
    with pytest.raises(DefenderConfigError, match="global cloud only"):
        resolve_endpoints("gcc_high", region="us")


def test_unknown_cloud_and_region():
    with pytest.raises(DefenderConfigError, match="cloud must be one of"):
        resolve_endpoints("china")
    with pytest.raises(DefenderConfigError, match="region must be one of"):
        resolve_endpoints("global", region="fr")


def test_resource_override_strips_default_suffix_and_leads_audiences():
    e = resolve_endpoints("gcc_high", resource="https://securitycenter.onmicrosoft.us/windowsatpservice/.default")
    assert e.resource == "https://securitycenter.onmicrosoft.us/windowsatpservice"
    assert DEFENDER.scope(e) == "https://securitycenter.onmicrosoft.us/windowsatpservice/.default"
    assert e.audiences[0] == e.resource
    assert "https://api-gov.securitycenter.microsoft.us" in e.audiences


def test_overrides_win_and_mark_custom_login():
    e = resolve_endpoints("global", api_url="https://127.0.0.1:8443/", login_url="https://127.0.0.1:8444")
    assert e.api_url == "https://127.0.0.1:8443" and e.login_url == "https://127.0.0.1:8444"
    assert e.custom_login


@pytest.mark.parametrize("bad", ["http://login.example", "ftp://login.example", "https://x?y=1", "https://"])
def test_override_must_be_https_base(bad):
    with pytest.raises(DefenderConfigError):
        resolve_endpoints("global", login_url=bad)


def test_bare_authority_host_gets_https_like_azure_identity():
    # AZURE_AUTHORITY_HOST is often a bare host in Azure tooling.
    e = resolve_endpoints("gcc_high", login_url="login.microsoftonline.us")
    assert e.login_url == "https://login.microsoftonline.us" and e.custom_login


def test_docs_say_gov_resource_is_undocumented():
    # Read as text: importing the fragment outside Ansible's plugin loader leaves it in sys.modules in a form the
    # loader later refuses ("unknown doc_fragment"), which broke the lookup tests that ran after this one.
    import os
    path = os.path.join(os.path.dirname(__file__), *[os.pardir] * 4 + ["plugins", "doc_fragments", "connection.py"])
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    assert "does not document the resource" in text and "V(gcc)" in text and "gcc_high" in text
    assert "securitycenter.onmicrosoft.us/windowsatpservice" in text


# 11.4: Graph root (= the app-only token resource) per cloud; GCC keeps the global Graph host.
GRAPH_EXPECTED = {
    "global": "https://graph.microsoft.com",
    "gcc": "https://graph.microsoft.com",
    "gcc_high": "https://graph.microsoft.us",
    "dod": "https://dod-graph.microsoft.us",
}


@pytest.mark.parametrize("cloud", sorted(GRAPH_EXPECTED))
def test_graph_table(cloud):
    e = resolve_endpoints(cloud)
    assert GRAPH.base_url(e) == e.graph_url == GRAPH.resource(e) == GRAPH_EXPECTED[cloud]
    assert GRAPH.scope(e) == GRAPH_EXPECTED[cloud] + "/.default"
    assert DEFENDER.base_url(e) == e.api_url and DEFENDER.resource(e) == e.resource


def test_graph_url_override_keeps_the_cloud_audience():
    e = resolve_endpoints("gcc_high", graph_url="https://127.0.0.1:8443/")
    assert e.graph_url == "https://127.0.0.1:8443"
    assert GRAPH.scope(e) == "https://graph.microsoft.us/.default"
    with pytest.raises(DefenderConfigError, match="graph_url must be an https"):
        resolve_endpoints("global", graph_url="http://graph.example")
