# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API descriptors (apis.py) and what the client, token provider, pagers and errors take from them."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import apis, odata, transport
from ansible_collections.defender.endpoint.plugins.module_utils.apis import DEFENDER, GRAPH, api_named
from ansible_collections.defender.endpoint.plugins.module_utils.auth import TokenProvider
from ansible_collections.defender.endpoint.plugins.module_utils.client import DefenderClient
from ansible_collections.defender.endpoint.plugins.module_utils.clouds import resolve_endpoints
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.settings import Settings, connect


class Response:
    def __init__(self, status=200, body=None, headers=None, reason="OK"):
        self.status_code = status
        self.body = body
        self.headers = headers or {}
        self.reason = reason
        self.content = b"{}" if body is not None else b""

    def json(self):
        if self.body is None:
            raise ValueError("no body")
        return self.body


class Session:
    """Records each request and answers from ``answers`` (a function of method and url)."""

    def __init__(self, answer):
        self.answer = answer
        self.sent = []

    def request(self, method, url, **kwargs):
        self.sent.append((method, url, kwargs))
        return self.answer(method, url)


class Tokens:
    can_refresh = False

    def token(self, force_refresh=False):
        return "header.payload.signature"


def test_names_and_descriptors_resolve_to_one_descriptor():
    assert api_named(None) is DEFENDER and api_named("defender") is DEFENDER
    assert api_named("graph") is GRAPH and api_named(GRAPH) is GRAPH
    with pytest.raises(DefenderConfigError, match="api must be one of defender, graph"):
        api_named("xdr")


@pytest.mark.parametrize("cloud, graph", [("global", "https://graph.microsoft.com"),
                                          ("gcc", "https://graph.microsoft.com"),
                                          ("gcc_high", "https://graph.microsoft.us"),
                                          ("dod", "https://dod-graph.microsoft.us")])
def test_host_and_audience_per_cloud(cloud, graph):
    endpoints = resolve_endpoints(cloud)
    assert GRAPH.base_url(endpoints) == graph and GRAPH.scope(endpoints) == graph + "/.default"
    assert GRAPH.audiences(endpoints) == (graph, "00000003-0000-0000-c000-000000000000")
    assert DEFENDER.base_url(endpoints) == endpoints.api_url and DEFENDER.audiences(endpoints) == endpoints.audiences
    # an emulator or proxy URL moves the host, never the token audience
    moved = resolve_endpoints(cloud, graph_url="https://127.0.0.1:8443")
    assert GRAPH.base_url(moved) == "https://127.0.0.1:8443" and GRAPH.resource(moved) == graph


def test_page_size_caps_and_paging_style():
    assert DEFENDER.paging == apis.PAGING_SKIP and DEFENDER.page_size_cap("/api/alerts") == 10000
    assert GRAPH.paging == apis.PAGING_NEXT_LINK
    assert GRAPH.page_size_cap("/v1.0/security/incidents") == 50
    assert GRAPH.page_size_cap("/v1.0/security/Incidents/?$expand=alerts") == 50
    assert GRAPH.page_size_cap("/v1.0/security/alerts_v2") == 1000
    assert GRAPH.page_size_cap("/v1.0/security/incidentsX") == 1000  # a prefix of a name is not that collection


def test_client_pages_respect_the_collection_cap():
    client = DefenderClient("https://graph.example", Tokens(), Session(None), api=GRAPH)
    assert isinstance(client.pages("/v1.0/security/alerts_v2"), odata.NextLinkPager)
    assert client.pages("/v1.0/security/incidents").params["$top"] == 50
    with pytest.raises(DefenderConfigError, match="page_size must be between 1 and 50"):
        client.pages("/v1.0/security/incidents", page_size=51)
    defender = DefenderClient("https://api.example", Tokens(), Session(None))
    assert isinstance(defender.pages("/api/alerts"), odata.Pager) and defender.api is DEFENDER


@pytest.mark.parametrize("api, prefer", [(GRAPH, "include-unknown-enum-members"), (DEFENDER, None)])
def test_graph_requests_ask_for_unknown_enum_members(api, prefer):
    session = Session(lambda method, url: Response(200, {"value": []}))
    client = DefenderClient("https://host.example", Tokens(), session, api=api)
    client.get("/v1.0/security/incidents")
    client.post("/v1.0/security/incidents/1/comments", {"@odata.type": "microsoft.graph.security.alertComment"})
    for _method, _url, kwargs in session.sent:
        assert kwargs["headers"].get("Prefer") == prefer
        assert kwargs["headers"]["Authorization"] == "Bearer header.payload.signature"
    assert "Authorization" not in api.headers  # each request's headers are its own copy


def test_error_shapes_keep_the_request_id():
    graph_body = {"error": {"code": "", "message": "The limit of '50' for Top query has been exceeded.",
                            "innerError": {"date": "2026-01-01T00:00:00", "request-id": "g-123",
                                           "client-request-id": "c-9"}}}
    err = transport.error_from_response(Response(400, graph_body), "GET", "/v1.0/security/incidents", GRAPH)
    assert err.target == "g-123" and err.code is None and "request id g-123" in str(err)
    defender_body = {"error": {"code": "Forbidden", "message": "Missing role", "target": "d-456"}}
    err = transport.error_from_response(Response(403, defender_body), "GET", "/api/alerts", DEFENDER)
    assert err.target == "d-456" and err.code == "Forbidden" and "WindowsDefenderATP" in err.message
    bare = transport.error_from_response(Response(403, None, {"request-id": "h-789"}, "Forbidden"), "GET",
                                         "/v1.0/security/alerts_v2", "graph")
    assert bare.target == "h-789" and bare.message.startswith("the Microsoft Graph API answered 403")
    assert "Microsoft Graph permission" in bare.message


def test_graph_client_spends_its_own_budget_per_host():
    settings = Settings({"access_token": "a.b.c", "api_url": "https://api.example.test",
                         "graph_url": "https://graph.example.test"})
    defender, _provider = connect(settings)
    graph, provider = connect(settings, api=GRAPH)
    assert graph.api is GRAPH and graph.api_url == "https://graph.example.test"
    assert isinstance(provider, TokenProvider) and provider.scope == "https://graph.microsoft.com/.default"
    assert graph.rate_budget is not defender.rate_budget
    assert graph.budget_for("/v1.0/security/incidents").limits[0] == (150, 60.0)
    assert graph.budget_for("/v1.0/security/runHuntingQuery").limits[0] == (45, 60.0)
    again, _provider = connect(settings, api="graph")
    assert again.rate_budget is graph.rate_budget  # one budget per credential and API host in a process


class Collection:
    """A client double: ``answers`` maps a path to a body or to an HTTP status to fail with."""

    def __init__(self, api, answers, api_url="https://api.example"):
        self.api, self.api_url, self.answers, self.asked = api, api_url, answers, []

    def get(self, path, params=None):
        self.asked.append(path)
        answer = self.answers.get(path.split("?", 1)[0], 404)
        if isinstance(answer, int):
            raise DefenderError("Resource not found", status=answer, method="GET", path=path)
        return answer


def test_first_page_404_of_machines_is_empty_only_when_the_api_answers_elsewhere():
    empty = Collection(DEFENDER, {"/api/machineactions": {"value": []}})
    assert list(odata.Pager(empty, "/api/machines")) == []
    assert empty.asked == ["/api/machines", "/api/machineactions"]
    forbidden = Collection(DEFENDER, {"/api/machineactions": 403})  # the API is there, if out of reach
    assert list(odata.Pager(forbidden, "/api/machines")) == []


def test_wrong_api_url_fails_naming_the_url():
    """Before: every first-page 404 read as an empty collection, so a wrong api_url gave an empty inventory."""
    wrong = Collection(DEFENDER, {}, api_url="https://api.security.microsoft.com/api")
    with pytest.raises(DefenderError) as caught:
        list(odata.Pager(wrong, "/api/machines"))
    assert caught.value.status == 404
    assert "https://api.security.microsoft.com/api/api/machines" in str(caught.value) and "api_url" in str(caught.value)


@pytest.mark.parametrize("api, path, pager", [(DEFENDER, "/api/alerts", odata.Pager),
                                              (DEFENDER, "/api/indicators", odata.Pager),
                                              (GRAPH, "/v1.0/security/incidents", odata.NextLinkPager)])
def test_first_page_404_elsewhere_is_an_error_without_a_probe(api, path, pager):
    client = Collection(api, {"/api/machineactions": {"value": []}})
    with pytest.raises(DefenderError, match="answered 404 for https://api.example" + path):
        list(pager(client, path))
    assert client.asked == [path]
