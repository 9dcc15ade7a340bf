# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incidents event source: Graph incidents through the alerts source's feed (each change once across restarts,
created vs updated by createdDateTime), the request it sends, its arguments, and the loop's events.

The source file is loaded by path, as ansible-rulebook loads it; the real client and the emulator are exercised in
tests/e2e/test_incidents.py."""

from __future__ import annotations

import asyncio
import datetime
import importlib.util
import os
import re

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import incidents as I
from ansible_collections.defender.endpoint.plugins.plugin_utils._alert_feed import AlertFeed
from ansible_collections.defender.endpoint.plugins.plugin_utils._incident_feed import IncidentSource

import ansible_collections.defender.endpoint as collection

SOURCE = os.path.join(list(collection.__path__)[0], "extensions", "eda", "plugins", "event_source", "incidents.py")
NOW = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def ts(minutes):
    return (NOW + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "1Z"


def incident(n, updated, created=None, **kw):
    i = {"id": str(n), "severity": "high", "status": "active", "lastUpdateDateTime": updated,
         "createdDateTime": created or updated}
    i.update(kw)
    return i


class FakeGraph:
    """Answers ``lastUpdateDateTime ge X`` on /security/incidents, as Graph's pages would."""

    def __init__(self, items=()):
        self.items = list(items)
        self.calls = []

    def pages(self, path, params=None, page_size=None, limit=None):
        assert path == I.INCIDENTS_PATH
        self.calls.append((dict(params), page_size))
        since = re.search(r"lastUpdateDateTime ge (\S+)", params["$filter"]).group(1)
        low = datetime.datetime.fromisoformat(since.replace("Z", "+00:00"))
        return iter([i for i in self.items
                     if datetime.datetime.fromisoformat(i["lastUpdateDateTime"][:26] + "+00:00") >= low])


def feed(client, tmp_path, **kw):
    kw.setdefault("state_file", str(tmp_path / "state.json"))
    return AlertFeed(client, kw.pop("criteria", {"severity": ["High"]}), kw.pop("since", "2026-03-01T11:00:00Z"),
                     now=NOW, api="graph", source=IncidentSource, **kw)


def drain(f):
    out = []
    for item, change in f.poll():
        out.append((item["id"], change))
        f.mark(item)
        f.save()
    return out


def test_each_incident_change_once_across_restarts(tmp_path):
    client = FakeGraph([incident(2, ts(-10)), incident(1, ts(-20), created=ts(-600))])
    assert drain(feed(client, tmp_path)) == [("1", "updated"), ("2", "created")]
    params, page_size = client.calls[0]
    assert params["$filter"] == "severity eq 'high' and lastUpdateDateTime ge 2026-03-01T11:00:00Z"
    assert params["$orderby"] == "lastUpdateDateTime asc" and page_size == 50
    assert drain(feed(client, tmp_path)) == []
    client.items[1] = incident(1, ts(-1), created=ts(-600), status="resolved")
    assert drain(feed(client, tmp_path)) == [("1", "updated")]
    assert drain(feed(client, tmp_path)) == []


def test_state_of_the_alerts_source_is_not_reused(tmp_path):
    client = FakeGraph([incident(1, ts(-5))])
    drain(feed(client, tmp_path))
    alerts = AlertFeed(client, {"severity": ["High"]}, "2026-03-01T11:00:00Z", now=NOW, api="graph",
                       state_file=str(tmp_path / "state.json"), warn=lambda m: None)
    assert alerts.scope != feed(client, tmp_path).scope


@pytest.mark.parametrize("size", [0, 51])
def test_page_size_is_graphs(tmp_path, size):
    with pytest.raises(Exception, match="between 1 and 50"):
        feed(FakeGraph(), tmp_path, page_size=size)


def _load():
    spec = importlib.util.spec_from_file_location("defender_incidents_source", SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_arguments_are_checked_before_any_request(tmp_path):
    source = _load()
    with pytest.raises(ValueError, match="unknown argument"):
        source.build({"severty": ["high"]})
    with pytest.raises(ValueError, match="interval must be a whole number"):
        source.build({"interval": "soon"})
    with pytest.raises(ValueError, match="status must be one of"):
        source.build({"status": ["open"], "tenant_id": "6f1c2b9e-4d8a-4c1e-9b7a-3e5d2c1f0a11",
                      "client_id": "0a1b2c3d-0001-4000-8000-00000000f011", "client_secret": "s",
                      "state_file": str(tmp_path / "s.json")})


def test_events_carry_the_incident_and_the_position_moves_after_each(tmp_path):
    source = _load()
    client = FakeGraph([incident(1, ts(-5)), incident(2, ts(-4))])
    f = feed(client, tmp_path)
    queue = asyncio.Queue()
    seen = []

    async def stop_after_first_sleep(_seconds):
        raise asyncio.CancelledError

    async def run():
        from ansible_collections.defender.endpoint.plugins.plugin_utils import _event_source as E
        with pytest.raises(asyncio.CancelledError):
            await E.poll_forever(queue, f, 60, Exception, source.event, source.NAME, sleep=stop_after_first_sleep)
        while not queue.empty():
            seen.append(queue.get_nowait())

    asyncio.run(run())
    assert [(e["incident"]["id"], e["change"], e["api"]) for e in seen] == [("1", "created", "graph"),
                                                                           ("2", "created", "graph")]
    assert drain(feed(client, tmp_path)) == []  # the state was written after each event
