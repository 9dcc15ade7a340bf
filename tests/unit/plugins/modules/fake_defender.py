# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory stand-in for DefenderClient with the alerts endpoints, for module unit tests.

Filters are evaluated with the emulator's own OData parser (tests/emulator/emulator_odata.py).
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from urllib.parse import unquote

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError

EMULATOR_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator"))
try:  # the emulator's filter parser is required: a missing one fails the run, it never skips tests
    sys.path.insert(0, EMULATOR_DIR)
    from emulator_odata import parse_filter  # pylint: disable=import-error
finally:
    if sys.path and sys.path[0] == EMULATOR_DIR:
        sys.path.pop(0)

CONNECTION = {"access_token": "aaa.bbb.ccc", "api_url": "https://api.example.test"}


def make_alert(i, **over):
    alert = {
        "id": "da%06d_%d" % (i, i * 7),
        "title": "Alert %d" % i,
        "severity": ("Informational", "Low", "Medium", "High")[i % 4],
        "status": ("New", "InProgress", "Resolved")[i % 3],
        "category": ("Malware", "Execution", "SuspiciousActivity")[i % 3],
        "machineId": "m%03d" % (i % 10),
        "assignedTo": None,
        "classification": None,
        "determination": None,
        "alertCreationTime": "2026-01-%02dT10:00:00.0000000Z" % (1 + i % 28),
        "lastUpdateTime": "2026-01-%02dT11:00:00.0000000Z" % (1 + i % 28),
        "comments": [],
        "evidence": [{"entityType": "File", "fileName": "x%d.exe" % i}],
    }
    alert.update(over)
    return alert


class FakeDefender:
    def __init__(self, alerts=(), fail_on=None):
        self.alerts = {a["id"]: copy.deepcopy(a) for a in alerts}
        self.order = [a["id"] for a in alerts]
        self.calls = []          # (method, path, params or body)
        self.fail_on = fail_on   # callable(method, path, params_or_body, call_no) -> exception or None
        self.client_created = False
        self.indent = None        # the JSON text of collections, for raw readers: json.dumps(indent=..., ...)
        self.ensure_ascii = True

    # DefenderClient's interface ---------------------------------------------------------------
    def _check(self, method, path, data):
        self.calls.append((method, path, copy.deepcopy(data)))
        if self.fail_on:
            exc = self.fail_on(method, path, data, len(self.calls))
            if exc is not None:
                raise exc

    def _public(self, alert, evidence):
        out = copy.deepcopy(alert)
        if not evidence:
            out["evidence"] = []
        return out

    def get(self, path, params=None, parse=None):
        if parse is not None:  # the service's text: json.dumps' spacing, or pretty-printed when asked to
            return parse(json.dumps(self.get(path, params), indent=self.indent, ensure_ascii=self.ensure_ascii))
        params = dict(params or {})
        self._check("GET", path, params)
        by_machine = re.match(r"^/api/machines/([^/]+)/alerts$", path)
        if path == "/api/alerts" or by_machine:
            top = params.get("$top")
            if top is not None and top > 10000:
                raise DefenderError("top too big", status=400, code="ODataError")
            items = [self.alerts[i] for i in self.order]
            if by_machine:
                machine = unquote(by_machine.group(1))
                if not any(a["machineId"] == machine for a in items):
                    raise DefenderError("Machine %s was not found" % machine, status=404, code="ResourceNotFound")
                items = [a for a in items if a["machineId"] == machine]
            if params.get("$filter"):
                pred = parse_filter(params["$filter"])
                items = [a for a in items if pred(a)]
            skip = params.get("$skip", 0)
            items = items[skip:skip + top] if top is not None else items[skip:skip + 10000]
            return {"value": [self._public(a, params.get("$expand") == "evidence") for a in items]}
        alert_id = unquote(path.rsplit("/", 1)[1])
        if alert_id not in self.alerts:
            raise DefenderError("Alert %s was not found" % alert_id, status=404, code="NotFound")
        return self._public(self.alerts[alert_id], True)

    def _apply(self, alert, body):
        for key in ("status", "assignedTo", "classification", "determination"):
            if key in body:
                alert[key] = body[key]
        if body.get("comment"):
            alert["comments"] = alert["comments"] + [{"comment": body["comment"], "createdBy": "app",
                                                      "createdTime": "2026-01-31T12:00:00Z"}]

    def patch(self, path, body):
        self._check("PATCH", path, body)
        alert_id = unquote(path.rsplit("/", 1)[1])
        self._apply(self.alerts[alert_id], body)
        return self._public(self.alerts[alert_id], True)

    def post(self, path, body):
        self._check("POST", path, body)
        assert path == "/api/alerts/batchUpdate"
        for alert_id in body["alertIds"]:
            self._apply(self.alerts[alert_id], body)
        return None

    def pages(self, path, params=None, page_size=odata.MAX_PAGE_SIZE, limit=None, raw=False):
        return odata.Pager(self, path, params=params, page_size=page_size, limit=limit, raw=raw)

    # helpers ---------------------------------------------------------------------------------
    def writes(self):
        return [c for c in self.calls if c[0] in ("PATCH", "POST")]


@pytest.fixture
def fake(monkeypatch):
    """Install a FakeDefender as every DefenderModule's client; tests fill ``fake.alerts``."""
    instance = FakeDefender()

    def client(self, pool_size=10, rate_budget=None):
        instance.client_created = True
        return instance

    monkeypatch.setattr(DefenderModule, "client", client)
    return instance


def load(fake, alerts):
    fake.alerts = {a["id"]: copy.deepcopy(a) for a in alerts}
    fake.order = [a["id"] for a in alerts]
    return fake
