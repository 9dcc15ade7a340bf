# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory stand-in for DefenderClient with the indicators endpoints, backed by the emulator's own
indicator store and OData parser (tests/emulator), for module unit tests."""

from __future__ import annotations

import copy
import os
import sys

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError

EMULATOR_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator"))
try:  # the emulator's indicator store and filter parser are required: missing ones fail the run, never skip
    sys.path.insert(0, EMULATOR_DIR)
    import indicators as TI  # pylint: disable=import-error
    from emulator_odata import parse_filter  # pylint: disable=import-error
finally:
    if sys.path and sys.path[0] == EMULATOR_DIR:
        sys.path.pop(0)

CONNECTION = {"access_token": "aaa.bbb.ccc", "api_url": "https://api.example.test"}
APP = "0a1b2c3d-0001-4000-8000-00000000f011"


class FakeIndicators:
    def __init__(self, roles=("Ti.ReadWrite.All",)):
        self.store = TI.IndicatorStore()
        self.claims = {"appid": APP, "roles": list(roles)}
        self.calls = []
        self.fail_on = None  # callable(method, path, data, call_no) -> exception or None

    def _check(self, method, path, data):
        self.calls.append((method, path, copy.deepcopy(data)))
        if self.fail_on:
            exc = self.fail_on(method, path, data, len(self.calls))
            if exc is not None:
                raise exc

    def seed(self, *bodies, app=APP):
        for body in bodies:
            self.store.upsert({"appid": app, "roles": ["Ti.ReadWrite"]}, TI.validate(dict(body)), "seed")

    def get(self, path, params=None):
        params = dict(params or {})
        self._check("GET", path, params)
        assert path == "/api/indicators"
        items = sorted(self.store.visible(self.claims), key=lambda i: int(i["id"]))
        if params.get("$filter"):
            pred = parse_filter(params["$filter"], fields=TI.FILTER_FIELDS)
            items = [i for i in items if pred(i)]
        skip, top = params.get("$skip", 0), params.get("$top", 10000)
        return {"value": copy.deepcopy(items[skip:skip + top])}

    def post(self, path, body):
        self._check("POST", path, body)
        try:
            if path == "/api/indicators":
                return copy.deepcopy(self.store.upsert(self.claims, TI.validate(dict(body)), "app"))
            if path == "/api/indicators/import":
                out = []
                for one in body["Indicators"]:
                    try:
                        item = self.store.upsert(self.claims, TI.validate(dict(one)), "app")
                        out.append({"id": item["id"], "indicator": one["indicatorValue"], "isFailed": False,
                                    "failureReason": None})
                    except TI.IndicatorError as exc:
                        out.append({"id": None, "indicator": one.get("indicatorValue"), "isFailed": True,
                                    "failureReason": exc.message})
                return {"value": out}
            if path == "/api/indicators/BatchDelete":
                missing = self.store.delete(self.claims, body["IndicatorIds"])
                if missing:
                    raise DefenderError("not found: %s" % missing, status=404, code="NotFound")
                return None
        except TI.IndicatorError as exc:
            raise DefenderError(exc.message, status=exc.status, code=exc.code) from None
        raise AssertionError("unexpected POST %s" % path)

    def request(self, method, path, params=None, body=None):
        if method == "DELETE":
            self._check(method, path, None)
            ident = path.rsplit("/", 1)[1]
            if self.store.delete(self.claims, [ident]):
                raise DefenderError("Indicator %s was not found" % ident, status=404, code="NotFound")
            return None
        raise AssertionError("unexpected %s" % method)

    def pages(self, path, params=None, page_size=odata.MAX_PAGE_SIZE, limit=None):
        return odata.Pager(self, path, params=params, page_size=page_size, limit=limit)

    def writes(self):
        return [c for c in self.calls if c[0] in ("POST", "DELETE")]


@pytest.fixture
def fake_ti(monkeypatch):
    """Install a FakeIndicators as every DefenderModule's client."""
    instance = FakeIndicators()

    def client(self, pool_size=10, rate_budget=None, api="defender"):
        return instance

    monkeypatch.setattr(DefenderModule, "client", client)
    return instance
