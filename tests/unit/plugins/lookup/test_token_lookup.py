# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The token lookup: options and env: entries, reuse within a run, clean errors."""

from __future__ import annotations

import os
import sys

import pytest

from ansible.errors import AnsibleLookupError
from ansible.plugins.loader import init_plugin_loader, lookup_loader

from ansible_collections.defender.endpoint.plugins.module_utils import auth, settings

from ..module_utils.fake_idp import FakeIdP
from ..module_utils.token_helpers import CLIENT, LOGIN, TENANT, Key, make_token

SECRET = "abc8Q~not-a-real-secret-value-0123456789"


def collections_root():
    """The directory that holds ansible_collections/ (as imported)."""
    import ansible_collections
    return os.path.dirname(list(ansible_collections.__path__)[0])


@pytest.fixture
def lookup(monkeypatch, tmp_path):
    monkeypatch.setattr(auth, "_PROCESS_TOKENS", {})
    monkeypatch.setenv("DEFENDER_TOKEN_CACHE_DIR", str(tmp_path / "tokens"))
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                 "AZURE_FEDERATED_TOKEN_FILE", "DEFENDER_ACCESS_TOKEN", "AZURE_AUTHORITY_HOST", "DEFENDER_CLOUD",
                 "DEFENDER_TOKEN_CACHE"):
        monkeypatch.delenv(name, raising=False)
    from ansible.utils.collection_loader import AnsibleCollectionConfig
    try:
        finder = AnsibleCollectionConfig.collection_finder
    except NotImplementedError:
        finder = None
    if finder is None:  # plain pytest; ansible-test units installs the finder itself
        init_plugin_loader([collections_root()])
    package = sys.modules.get("ansible_collections.defender.endpoint")
    if package is not None and not hasattr(package, "_collection_meta"):
        # imported by pytest before the finder existed: give it the (empty) meta the finder would have loaded
        package._collection_meta = {}
    plugin = lookup_loader.get("defender.endpoint.token")
    assert plugin is not None
    return plugin


@pytest.fixture
def idp(monkeypatch):
    fake = FakeIdP()
    monkeypatch.setattr(settings, "build_session", lambda *a, **kw: fake)
    return fake


def test_returns_one_token_and_reuses_it(lookup, idp):
    opts = dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, login_url=LOGIN)
    first = lookup.run([], variables={}, **opts)
    assert isinstance(first, list) and len(first) == 1 and first[0].count(".") == 2
    for dummy in range(20):
        assert lookup.run([], variables={}, **opts) == first
    assert len(idp.token_posts) == 1


def test_environment_variables(lookup, idp, monkeypatch):
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", LOGIN)
    [tok] = lookup.run([], variables={})
    assert idp.token_posts[0]["tenant"] == TENANT and idp.token_posts[0]["form"]["client_id"] == CLIENT
    assert tok


def test_token_cache_env_off(lookup, idp, monkeypatch, tmp_path):
    monkeypatch.setenv("DEFENDER_TOKEN_CACHE", "false")
    lookup.run([], variables={}, tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, login_url=LOGIN)
    assert not (tmp_path / "tokens").exists()


def test_given_token_is_returned(lookup, monkeypatch):
    monkeypatch.setattr(settings, "build_session", lambda *a, **kw: None)
    tok = make_token(Key("kid-one"))
    assert lookup.run([], variables={}, access_token=tok) == [tok]


def test_terms_are_refused(lookup):
    with pytest.raises(AnsibleLookupError, match="takes no terms"):
        lookup.run(["something"], variables={})


def test_config_error_is_clean(lookup):
    with pytest.raises(AnsibleLookupError) as info:
        lookup.run([], variables={}, tenant_id=TENANT, client_id=CLIENT)
    assert "no credentials" in str(info.value)
    assert info.value.__cause__ is None


def test_sign_in_error_is_clean(lookup, monkeypatch):
    fake = FakeIdP(error={"error": "invalid_grant", "error_codes": [65001],
                          "error_description": "AADSTS65001: The user or administrator has not consented."})
    monkeypatch.setattr(settings, "build_session", lambda *a, **kw: fake)
    with pytest.raises(AnsibleLookupError) as info:
        lookup.run([], variables={}, tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, login_url=LOGIN)
    msg = str(info.value)
    assert msg.startswith("defender.endpoint.token: sign-in failed") and "AADSTS65001" in msg
    assert "prompt=consent" in msg and SECRET not in msg
    assert info.value.__cause__ is None


def test_misspelled_options_fail_instead_of_using_the_environment(lookup, idp, monkeypatch):
    """tenant= and clientsecret= must not fall back to the tenant of the environment (another customer's)."""
    other = "11111111-2222-4333-8444-555555555555"
    monkeypatch.setenv("AZURE_TENANT_ID", other)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", LOGIN)
    with pytest.raises(AnsibleLookupError) as info:
        lookup.run([], variables={}, tenant=TENANT, clientsecret="x" * 30)
    msg = str(info.value)
    assert msg.startswith("defender.endpoint.token: unknown option(s) clientsecret (did you mean client_secret?), "
                          "tenant (did you mean ")
    assert "valid options are " in msg and "tenant_id" in msg and "client_secret" in msg
    assert idp.token_posts == [] and SECRET not in msg
    # the same credentials, correctly named, are used as given
    lookup.run([], variables={}, tenant_id=TENANT)
    assert [p["tenant"] for p in idp.token_posts] == [TENANT]


def test_graph_token_is_a_second_sign_in_for_the_graph_resource_and_cached(lookup, idp):
    opts = dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, login_url=LOGIN)
    [mde] = lookup.run([], variables={}, **opts)
    [graph] = lookup.run([], variables={}, api="graph", **opts)
    assert mde != graph
    scopes = [p["form"]["scope"] for p in idp.token_posts]
    assert scopes == ["https://api.securitycenter.microsoft.com/.default", "https://graph.microsoft.com/.default"]
    assert lookup.run([], variables={}, api="graph", **opts) == [graph]  # cached per resource
    assert lookup.run([], variables={}, **opts) == [mde]
    assert len(idp.token_posts) == 2


def test_graph_token_audience_per_cloud(lookup, idp):
    opts = dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, login_url=LOGIN, api="graph")
    lookup.run([], variables={}, cloud="dod", **opts)
    lookup.run([], variables={}, cloud="gcc", graph_url="https://127.0.0.1:1", **opts)
    scopes = [p["form"]["scope"] for p in idp.token_posts]
    assert scopes == ["https://dod-graph.microsoft.us/.default", "https://graph.microsoft.com/.default"]


def test_api_choice_is_checked(lookup):
    from ansible.errors import AnsibleError
    with pytest.raises(AnsibleError, match="'xdr'"):
        lookup.run([], variables={}, api="xdr", access_token=make_token(Key("kid-one")))
