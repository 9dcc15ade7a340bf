# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory stand-in for DefenderClient with the machines and machine actions endpoints.

Filters are evaluated with the emulator's OData parser (tests/emulator/emulator_odata.py); POSTs to the action
endpoints (isolate, unisolate, runAntiVirusScan, ...) are answered by ``on_post`` (default: a new Pending action),
cancels by ``on_cancel`` (default: a non-final action becomes Cancelled, a final one is refused with 400),
``getPackageUri`` by ``on_package_uri`` (default: 404 until the action succeeded, then a quoted HTTPS link).
"""

from __future__ import annotations

import copy
import datetime
import itertools
import os
import re
import sys
import threading
import uuid
from urllib.parse import unquote

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError

EMULATOR_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator"))
try:  # the emulator's filter parser is required: a missing one fails the run, it never skips tests
    sys.path.insert(0, EMULATOR_DIR)
    from emulator_odata import parse_filter  # pylint: disable=import-error
finally:
    if sys.path and sys.path[0] == EMULATOR_DIR:
        sys.path.pop(0)

# The parser above is imported unconditionally (missing, it fails the run). The name stays for the test files that
# mark themselves with it; the mark only requests a built-in fixture, so it can never skip anything.
needs_parser = pytest.mark.usefixtures("monkeypatch")

CONNECTION = {"access_token": "aaa.bbb.ccc", "api_url": "https://api.example.test"}
_counter = itertools.count(1)
VERBS = {"isolate": "Isolate", "unisolate": "Unisolate", "runantivirusscan": "RunAntiVirusScan",
         "restrictcodeexecution": "RestrictCodeExecution", "unrestrictcodeexecution": "UnrestrictCodeExecution",
         "collectinvestigationpackage": "CollectInvestigationPackage", "offboard": "Offboard",
         "stopandquarantinefile": "StopAndQuarantineFile"}
PACKAGE_URL = "https://download.example.test/safedownload/WDATP_Investigation_Package.zip?token=SIGNED-SECRET"


def mid(i):
    return "%040x" % (0xabc0000 + i)


def label(i, name=None):
    """How machine i (named as ``machine`` names it) appears in a diff: computer name and id."""
    return "%s (%s)" % (name or "host-%03d.contoso.com" % i, mid(i))


def machine(i, name=None, **over):
    m = {"id": mid(i), "computerDnsName": name or "host-%03d.contoso.com" % i, "lastSeen": "2026-01-30T10:00:00Z",
         "healthStatus": "Active", "riskScore": "Low", "osPlatform": "Windows11", "machineTags": [],
         "isPotentialDuplication": False, "mergedIntoMachineId": None}
    m.update(over)
    return m


def action(machine_id, type_="Isolate", status="Succeeded", created="2026-01-30T10:00:00Z", updated=None,
           update_field="lastUpdateDateTimeUtc", **over):
    a = {"id": str(uuid.UUID(int=next(_counter))), "type": type_, "status": status, "machineId": machine_id,
         "computerDnsName": "x", "creationDateTimeUtc": created, "scope": "Full" if type_ == "Isolate" else None,
         "requestorComment": "seed"}
    a[update_field] = updated or created
    a.update(over)
    return a


class FakeMachines:
    def __init__(self, machines=(), actions=()):
        self.machines = [copy.deepcopy(m) for m in machines]
        self.actions = [copy.deepcopy(a) for a in actions]
        self.calls = []
        self.lock = threading.Lock()
        self.on_post = None       # callable(fake, machine_id, kind, body) -> action dict, or raise
        self.on_get_action = None  # callable(fake, action) -> action (e.g. advance its status)
        self.on_cancel = None     # callable(fake, action_id, body) -> action dict to answer, None for default, or raise
        self.on_package_uri = None  # callable(fake, action) -> answer dict, or raise
        self.request_count = 0
        self.rate_limits = []     # limit_rate() calls
        self.announced = []       # announce() calls: planned request counts

    # --- budget interface (DefenderClient's) -------------------------------------------------------------------
    def limit_rate(self, per_minute):
        self.rate_limits.append(per_minute)

    def announce(self, calls, warn, path="/api/machines"):
        self.announced.append(calls)
        if calls > 1500 and warn is not None:
            warn("%d API calls are needed, more than the 1500 per hour" % calls)

    # --- helpers for tests --------------------------------------------------------------------------------
    def posts(self, machine_id=None):
        return [c for c in self.calls if c[0] == "POST" and (machine_id is None or machine_id in c[1])]

    def new_action(self, machine_id, kind, body, status="Pending"):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        a = action(machine_id, kind, status, created=now, requestorComment=body.get("Comment"),
                   scope=body.get("IsolationType") or body.get("ScanType"))
        if body.get("Sha1"):
            a["relatedFileInfo"] = {"fileIdentifier": body["Sha1"], "fileIdentifierType": "Sha1"}
        self.actions.append(a)
        return copy.deepcopy(a)

    # --- client interface ---------------------------------------------------------------------------------
    def _filter(self, items, params, fields):
        flt = (params or {}).get("$filter")
        if not flt:
            return list(items)
        pred = parse_filter(flt, fields)
        return [i for i in items if pred(i)]

    def get(self, path, params=None):
        with self.lock:
            self.calls.append(("GET", path, dict(params or {})))
            self.request_count += 1
            return self._get(path, params)

    def _get(self, path, params):
        if path == "/api/machines":
            items = self._filter(self.machines, params, None)
        elif path == "/api/machineactions":
            items = self._filter(self.actions, params, None)
        elif path.startswith("/api/machineactions/") and path.endswith("/getPackageUri"):
            aid = unquote(path.split("/")[3])
            for a in self.actions:
                if a["id"] == aid:
                    if self.on_package_uri:
                        return self.on_package_uri(self, a)
                    if a["status"] == "Succeeded" and a["type"] == "CollectInvestigationPackage":
                        return {"value": '"%s"' % PACKAGE_URL}
            raise DefenderError("not found", status=404, code="NotFound", method="GET", path=path)
        elif path.startswith("/api/machineactions/"):
            aid = unquote(path.rsplit("/", 1)[1])
            for a in self.actions:
                if a["id"] == aid:
                    if self.on_get_action:
                        self.on_get_action(self, a)
                    return copy.deepcopy(a)
            raise DefenderError("not found", status=404, code="NotFound", method="GET", path=path)
        elif path.startswith("/api/machines/"):
            key = unquote(path.rsplit("/", 1)[1])
            if key.startswith("findbyip("):
                return {"value": [copy.deepcopy(m) for m in self.machines if m.get("lastIpAddress") in key]}
            if key == "findbytag":
                tag = params["tag"].lower()
                starts = params["useStartsWithFilter"] == "true"
                return {"value": [copy.deepcopy(m) for m in self.machines
                                  if any(t.lower().startswith(tag) if starts else t.lower() == tag
                                         for t in m["machineTags"])]}
            for m in self.machines:
                if m["id"] == key.lower():
                    return copy.deepcopy(m)
            raise DefenderError("Machine %s was not found" % key, status=404, code="ResourceNotFound",
                                method="GET", path=path)
        else:
            raise AssertionError("unexpected GET %s" % path)
        skip = int(params.get("$skip", 0))
        top = int(params.get("$top", odata.MAX_PAGE_SIZE))
        return {"value": copy.deepcopy(items[skip:skip + top])}

    def cancel(self, action_id, body):
        """POST /api/machineactions/{id}/cancel: ``on_cancel`` first, then as the API: 400 when final."""
        if self.on_cancel:
            out = self.on_cancel(self, action_id, body)
            if out is not None:
                return out
        with self.lock:
            for a in self.actions:
                if a["id"] == action_id:
                    if a["status"] in ("Succeeded", "Failed", "TimeOut", "Cancelled"):
                        raise DefenderError("Machine action %s is already in a final state (%s)."
                                            % (action_id, a["status"]), status=400, code="BadRequest")
                    a.update(status="Cancelled", cancellationComment=body.get("Comment"),
                             cancellationDateTimeUtc="2026-01-31T12:00:00Z")
                    return copy.deepcopy(a)
        raise DefenderError("not found", status=404, code="NotFound")

    def pages(self, path, params=None, page_size=odata.MAX_PAGE_SIZE, limit=None):
        return odata.Pager(self, path, params=params, page_size=page_size, limit=limit)

    def post(self, path, body):
        with self.lock:
            self.calls.append(("POST", path, copy.deepcopy(body)))
            self.request_count += 1
        c = re.match(r"^/api/machineactions/([^/]+)/cancel$", path)
        if c:
            return self.cancel(unquote(c.group(1)), body)
        m = re.match(r"^/api/machines/([0-9a-f]{40})/([A-Za-z]+)$", path)
        assert m and m.group(2).lower() in VERBS, path
        kind = VERBS[m.group(2).lower()]
        if self.on_post:
            return self.on_post(self, m.group(1), kind, body)
        with self.lock:
            return self.new_action(m.group(1), kind, body)


def install(monkeypatch, fake):
    """Make DefenderModule.client() return ``fake``."""
    from ansible_collections.defender.endpoint.plugins.module_utils import module as module_base

    monkeypatch.setattr(module_base.DefenderModule, "client", lambda self, **kw: fake)


def refuse_client(monkeypatch):
    from ansible_collections.defender.endpoint.plugins.module_utils import module as module_base

    def refuse(self, **kw):
        raise AssertionError("a request was about to be sent")

    monkeypatch.setattr(module_base.DefenderModule, "client", refuse)
