# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two APIs the collection talks to, each described once: the Defender for Endpoint API and Microsoft Graph.

A descriptor says where the API lives in each cloud (from ``clouds.Endpoints``), which token audience it takes, how
it reports an error and its request id, how its collections page and how large a page may be, and what every request
carries. The token provider (``auth``), the client, the pagers (``odata``) and the errors (``transport``) read it, so
a module only asks for a client of an API: ``m.client(api=GRAPH)``.
"""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError

PAGING_SKIP = "skip"          # $top/$skip advanced by the client (the Defender API sends no nextLink with $top)
PAGING_NEXT_LINK = "nextlink"  # follow @odata.nextLink, whatever it holds ($skiptoken, $skip)


class Api:
    """What the shared client needs to know about one API (see the module docstring)."""

    def __init__(self, name, title, paging, max_page_size, url_of, resource_of, audiences_of,
                 page_size_caps=(), headers=None, hints=None, default_bucket="default", empty_when_404=None):
        self.name = name
        self.title = title
        self.paging = paging
        self.max_page_size = max_page_size
        self._url_of, self._resource_of, self._audiences_of = url_of, resource_of, audiences_of
        self.page_size_caps = tuple((prefix.lower(), cap) for prefix, cap in page_size_caps)
        self.headers = dict(headers or {})
        self.hints = dict(hints or {})
        self.default_bucket = default_bucket
        self.empty_when_404 = dict((path.lower(), probe) for path, probe in (empty_when_404 or {}).items())

    def __repr__(self):
        return "Api(%s)" % self.name

    def base_url(self, endpoints):
        """The API's root URL for these endpoints (cloud, region or an override such as ``graph_url``)."""
        return self._url_of(endpoints)

    def resource(self, endpoints):
        """The token resource (audience) to sign in for."""
        return self._resource_of(endpoints)

    def scope(self, endpoints):
        return self.resource(endpoints).rstrip("/") + "/.default"

    def audiences(self, endpoints):
        """Every ``aud`` a token for this API may carry."""
        return self._audiences_of(endpoints)

    def page_size_cap(self, path):
        """The largest ``$top`` the collection at ``path`` accepts."""
        low = (path or "").split("?", 1)[0].lower().rstrip("/")
        for prefix, cap in self.page_size_caps:
            if low == prefix or low.startswith(prefix + "/"):
                return cap
        return self.max_page_size

    def empty_on_404(self, path):
        """Where Microsoft documents a 404 on a collection's first page as "nothing matches": the path of a sibling
        collection that answers when the API is there (to tell that 404 from a wrong ``api_url``); else None."""
        return self.empty_when_404.get((path or "").split("?", 1)[0].lower().rstrip("/"))

    @staticmethod
    def request_id(error, headers):
        """The request id Microsoft support asks for: the Defender API puts it in ``error.target``, Graph in
        ``error.innerError["request-id"]``; both send it as a header too."""
        target = error.get("target") if isinstance(error, dict) else None
        inner = (error.get("innerError") or error.get("innererror")) if isinstance(error, dict) else None
        if not target and isinstance(inner, dict):
            target = inner.get("request-id")
        return target or headers.get("request-id") or headers.get("x-ms-request-id")


DEFENDER = Api(
    "defender", "Defender API", PAGING_SKIP, 10000,
    url_of=lambda e: e.api_url, resource_of=lambda e: e.resource, audiences_of=lambda e: e.audiences,
    hints={
        401: "the access token was rejected (expired, wrong tenant or wrong audience)",
        403: "the app lacks a permission: add it under API permissions > WindowsDefenderATP, then grant admin consent",
        404: "not found",
        429: "still throttled after retrying; the API allows 100 calls per minute per app and tenant",
    },
    # "404 if there are no recent machines" is documented for GET /api/machines only (Microsoft's get-machines.md); a
    # wrong api_url answers 404 there too, so /api/machineactions (same permission, never 404) must answer. A 404
    # anywhere else (a wrong api_url, a retired endpoint, an unknown id) is an error.
    empty_when_404={"/api/machines": "/api/machineactions"},
)

GRAPH = Api(
    "graph", "Microsoft Graph API", PAGING_NEXT_LINK, 1000,
    url_of=lambda e: e.graph_url, resource_of=lambda e: e.graph_resource, audiences_of=lambda e: e.graph_audiences,
    # Incidents answer 400 above $top=50 (observed, not on the v1.0 pages); alerts_v2 accepted 100, and the
    # 1,000 cap written for the legacy /security/alerts is the safe bound used for the rest [uncertain].
    page_size_caps=(("/v1.0/security/incidents", 50), ("/beta/security/incidents", 50)),
    # Without it Graph hides enum members added after v1.0 (awaitingAction, microsoftSentinel...) as
    # unknownFutureValue.
    headers={"Prefer": "include-unknown-enum-members"},
    hints={
        401: "Microsoft Graph rejected the access token (expired, wrong tenant, or not a Graph token)",
        403: "the app lacks a Microsoft Graph permission: add it under API permissions > Microsoft Graph > "
             "Application permissions, then grant admin consent",
        404: "not found",
        429: "still throttled after retrying: Graph's call rate or the tenant's hunting CPU quota (blocked until "
             "the next 15-minute cycle) was reached",
    },
    default_bucket="graph",
)

APIS = {DEFENDER.name: DEFENDER, GRAPH.name: GRAPH}


def api_named(api):
    """The descriptor for ``api``: a descriptor, its name (``defender``, ``graph``), or None for the Defender API."""
    if isinstance(api, Api):
        return api
    found = APIS.get(api or DEFENDER.name)
    if found is None:
        raise DefenderConfigError("api must be one of %s, got %r" % (", ".join(sorted(APIS)), api))
    return found
