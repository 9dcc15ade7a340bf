# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The alerts event source: the feed's position (equal timestamps, restarts, late alerts), created vs updated, the
state file, argument checks, and the loop's handling of passing and fatal errors and of cancellation.

The source file is loaded by path, as ansible-rulebook loads it. The real client, ansible-rulebook and the emulator
are exercised in tests/e2e/test_fleet_events.py."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import importlib.util
import re
import stat

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.plugins.plugin_utils._alert_feed import AlertFeed, GraphAlertsSource

import ansible_collections.defender.endpoint as collection

SOURCE = os.path.join(list(collection.__path__)[0], "extensions", "eda", "plugins", "event_source", "alerts.py")
NOW = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def ts(minutes, micro=0):
    t = NOW + datetime.timedelta(minutes=minutes, microseconds=micro)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "1Z"  # 7 fractional digits, as the API writes them


def alert(n, updated, created=None, **kw):
    a = {"id": "da%04d" % n, "severity": "High", "status": "New", "lastUpdateTime": updated,
         "alertCreationTime": created or updated}
    a.update(kw)
    return a


class FakeClient:
    """Answers ``lastUpdateTime ge X`` from a list; alerts not yet 'visible' are left out."""

    def __init__(self, alerts=()):
        self.alerts = list(alerts)
        self.filters = []

    def pages(self, path, params=None, page_size=None):
        assert path == "/api/alerts"
        flt = params["$filter"]
        self.filters.append(flt)
        since = re.search(r"lastUpdateTime ge (\S+)", flt).group(1)
        low = datetime.datetime.fromisoformat(since.replace("Z", "+00:00"))
        return iter([a for a in self.alerts
                     if datetime.datetime.fromisoformat(a["lastUpdateTime"][:26] + "+00:00") >= low])


def feed(client, tmp_path, **kw):
    kw.setdefault("state_file", str(tmp_path / "state.json"))
    return AlertFeed(client, kw.pop("criteria", {"severity": ["High"]}), kw.pop("since", "2026-03-01T11:00:00Z"),
                     now=NOW, **kw)


def drain(f):
    """Poll once and hand every event over (mark + save), as the source loop does."""
    out = []
    for a, change in f.poll():
        out.append((a["id"], change))
        f.mark(a)
        f.save()
    return out


def test_first_poll_orders_changes_and_tells_created_from_updated(tmp_path):
    client = FakeClient([alert(2, ts(-10)), alert(1, ts(-20), created=ts(-600)), alert(3, ts(-10))])
    f = feed(client, tmp_path)
    assert drain(f) == [("da0001", "updated"), ("da0002", "created"), ("da0003", "created")]
    assert "severity eq 'High'" in client.filters[0]
    # the first window starts at since itself (the overlap is for changes already seen, not for since)
    assert "lastUpdateTime ge 2026-03-01T11:00:00Z" in client.filters[0]
    assert drain(f) == []


def test_since_is_not_widened_by_the_overlap(tmp_path):
    """Issue 22 item 9: alerts updated up to `overlap` before `since` were emitted on the first start."""
    before_since = alert(7, "2026-03-01T10:57:00.0000001Z")
    client = FakeClient([before_since, alert(8, "2026-03-01T11:01:00.0000001Z")])
    f = feed(client, tmp_path)
    assert drain(f) == [("da0008", "created")]
    # the watermark is now 11:01, its overlap reaches 10:56: still nothing from before since, also after a restart
    assert drain(f) == []
    assert drain(feed(client, tmp_path)) == []
    assert all("lastUpdateTime ge 2026-03-01T11:00:00Z" in flt for flt in client.filters)


def test_equal_timestamps_at_the_watermark_survive_a_restart(tmp_path):
    same = ts(-5)
    client = FakeClient([alert(1, same), alert(2, same), alert(3, same)])
    f = feed(client, tmp_path)
    events = f.poll()
    f.mark(events[0][0])  # one handed over, then the process dies before the others
    f.save()
    again = feed(client, tmp_path)
    assert drain(again) == [("da0002", "created"), ("da0003", "created")]
    assert drain(feed(client, tmp_path)) == []


def test_each_change_once_across_restarts(tmp_path):
    client = FakeClient([alert(1, ts(-30)), alert(2, ts(-20))])
    assert drain(feed(client, tmp_path)) == [("da0001", "created"), ("da0002", "created")]
    client.alerts[0] = alert(1, ts(-1), created=ts(-30), status="InProgress")
    client.alerts.append(alert(3, ts(-1, 5)))
    assert drain(feed(client, tmp_path)) == [("da0001", "updated"), ("da0003", "created")]
    assert drain(feed(client, tmp_path)) == []


def test_an_alert_shown_late_within_the_overlap_is_emitted_once(tmp_path):
    client = FakeClient([alert(1, ts(-1))])
    f = feed(client, tmp_path)
    assert drain(f) == [("da0001", "created")]
    client.alerts.append(alert(2, ts(-3)))      # updated before alert 1, visible only now
    client.alerts.append(alert(9, ts(-30)))     # older than the overlap: out of the window (documented)
    assert drain(f) == [("da0002", "created")]
    assert drain(feed(client, tmp_path)) == []


def test_no_state_file_starts_at_since_every_time(tmp_path):
    client = FakeClient([alert(1, ts(-5))])
    assert drain(feed(client, tmp_path, state_file=None)) == [("da0001", "created")]
    assert drain(feed(client, tmp_path, state_file=None)) == [("da0001", "created")]
    assert not os.listdir(tmp_path)


def test_state_file_is_private_and_replaced_atomically(tmp_path):
    client = FakeClient([alert(1, ts(-5))])
    drain(feed(client, tmp_path))
    path = tmp_path / "state.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["state.json"]
    state = json.loads(path.read_text())
    assert state["watermark"] == "2026-03-01T11:55:00Z"
    assert list(state["recent"]) == ["da0001"]


def test_old_entries_leave_the_state(tmp_path):
    client = FakeClient([alert(1, ts(-50)), alert(2, ts(-1))])
    f = feed(client, tmp_path, overlap=60)
    drain(f)
    assert list(json.loads((tmp_path / "state.json").read_text())["recent"]) == ["da0002"]


def test_state_of_another_query_is_not_reused(tmp_path):
    client = FakeClient([alert(1, ts(-5))])
    drain(feed(client, tmp_path))
    warnings = []
    f = feed(client, tmp_path, criteria={"severity": ["Medium"]}, warn=warnings.append)
    assert "another tenant, API or filter" in warnings[0]
    assert drain(f) == [("da0001", "created")]


@pytest.mark.parametrize("content", ["not json", json.dumps({"version": 99}), json.dumps([1])])
def test_damaged_state_is_a_clear_error(tmp_path, content):
    (tmp_path / "state.json").write_text(content)
    with pytest.raises(DefenderConfigError, match="state_file"):
        feed(FakeClient(), tmp_path)


def test_bad_criteria_fail_before_any_request(tmp_path):
    client = FakeClient()
    with pytest.raises(DefenderConfigError, match="severity"):
        feed(client, tmp_path, criteria={"severity": ["Urgent"]})
    with pytest.raises(DefenderConfigError, match="since"):
        feed(client, tmp_path, since="yesterday")
    assert client.filters == []


# --- the source file --------------------------------------------------------------------------------------------

@pytest.fixture
def source(monkeypatch):
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                 "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST", "DEFENDER_CLOUD", "DEFENDER_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEFENDER_API_URL", "https://api.example.test")
    # By path and outside any package, as ansible-rulebook runs it (runpy.run_path, which cannot be used here:
    # the collection finder that ansible-test installs claims every path as a package directory).
    spec = importlib.util.spec_from_file_location("defender_endpoint_alerts_source", SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return vars(module)


GOOD = {"access_token": "aaa.bbb.ccc", "state_file": None}


@pytest.mark.parametrize("args, message", [
    ({"intervall": 5}, "unknown argument(s) intervall"),
    ({"interval": 0}, "interval must be a whole number of at least 1"),
    ({"interval": "soon"}, "interval must be a whole number"),
    ({"overlap": -1}, "overlap must be"),
    ({"severity": ["Urgent"]}, "severity must be one of"),
    ({"since": "the dawn of time"}, "since must be"),
    ({"state_file": "/nonexistent-dir/state.json"}, "directory of state_file"),
    ({"access_token": None}, "no credentials"),
    ({"validate_certs": "flase"}, "validate_certs must be a boolean"),
])
def test_bad_arguments_raise_value_error(source, args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        source["build"](dict(GOOD, **args))


def test_credentials_come_from_the_environment_as_in_the_modules(source, monkeypatch, tmp_path):
    monkeypatch.setenv("DEFENDER_ACCESS_TOKEN", "aaa.bbb.ccc")
    feed_, interval, _err = source["build"]({"interval": "5", "eda_feedback_queue": object(),
                                             "state_file": str(tmp_path / "s.json")})
    assert interval == 5
    assert feed_.client.api_url == "https://api.example.test"


class ScriptedFeed:
    """poll() answers from a script of results or exceptions; records marks and saves."""

    api = "defender"

    def __init__(self, script):
        self.script = list(script)
        self.marked = []
        self.saves = []

    def poll(self):
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def mark(self, a):
        self.marked.append(a["id"])

    def save(self, durable=False):
        self.saves.append(durable)


class ListQueue:
    def __init__(self):
        self.events = []

    async def put(self, event):
        self.events.append(event)


def run_loop(source, script, stop_after):
    """Run the loop until ``stop_after`` sleeps have happened, then cancel it as ansible-rulebook does."""
    queue, feed_, sleeps = ListQueue(), ScriptedFeed(script), []

    async def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) >= stop_after:
            raise asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(source["run"](queue, feed_, 10, DefenderError, sleep=sleep))
    return queue, feed_, sleeps


def test_loop_hands_over_then_marks_and_saves_on_stop(source):
    queue, feed_, sleeps = run_loop(source, [[(alert(1, ts(0)), "created"), (alert(2, ts(0)), "updated")], []], 2)
    assert queue.events == [{"alert": alert(1, ts(0)), "change": "created", "api": "defender"},
                            {"alert": alert(2, ts(0)), "change": "updated", "api": "defender"}]
    assert feed_.marked == ["da0001", "da0002"]
    assert sleeps == [10, 10]
    assert feed_.saves[-1] is True  # the stop wrote the state durably


def test_passing_errors_back_off_and_recover(source):
    script = [DefenderError("throttled", status=429), DefenderError("bad gateway", status=502),
              DefenderError("cannot reach"), [(alert(1, ts(0)), "created")]]
    queue, _feed, sleeps = run_loop(source, script, 4)
    assert sleeps == [10, 20, 40, 10]
    assert [e["alert"]["id"] for e in queue.events] == ["da0001"]


@pytest.mark.parametrize("status", [401, 403, 400])
def test_fatal_errors_stop_the_source(source, status):
    feed_ = ScriptedFeed([DefenderError("denied", status=status)])
    with pytest.raises(RuntimeError, match="defender.endpoint.alerts: denied"):
        asyncio.run(source["run"](ListQueue(), feed_, 10, DefenderError))
    assert feed_.saves == [True]


# --- Microsoft Graph (api: graph) ---------------------------------------------------------------------------------


def graph_alert(n, updated, created=None):
    return {"id": "da%04d" % n, "severity": "high", "status": "new", "lastUpdateDateTime": updated,
            "createdDateTime": created or updated}


class FakeGraphClient:
    """Answers the time-boundary pager's queries (lastUpdateDateTime ge X, ascending, $top/$skip) from a list."""

    def __init__(self, alerts=()):
        self.alerts = list(alerts)
        self.calls = []

    def get(self, path, params=None, parse=None):
        assert path == "/v1.0/security/alerts_v2"
        self.calls.append(dict(params))
        assert params["$orderby"] == "lastUpdateDateTime asc"
        since = re.search(r"lastUpdateDateTime ge (\S+)", params["$filter"]).group(1)
        low = datetime.datetime.fromisoformat(since.replace("Z", "+00:00"))
        found = sorted((a for a in self.alerts
                        if datetime.datetime.fromisoformat(a["lastUpdateDateTime"][:26] + "+00:00") >= low),
                       key=lambda a: (a["lastUpdateDateTime"], a["id"]))
        skip, top = int(params.get("$skip") or 0), int(params["$top"])
        return {"value": found[skip:skip + top]}


def test_graph_feed_reads_alerts_v2_by_time_and_keeps_its_own_state(tmp_path):
    client = FakeGraphClient([graph_alert(2, ts(-10)), graph_alert(1, ts(-20), created=ts(-600)),
                              graph_alert(3, ts(-10))])
    f = feed(client, tmp_path, api="graph", source=GraphAlertsSource, page_size=None, criteria={"severity": ["High"]})
    assert f.page_size == 1000  # not given: the largest Graph page
    assert drain(f) == [("da0001", "updated"), ("da0002", "created"), ("da0003", "created")]
    assert "severity eq 'high'" in client.calls[0]["$filter"]
    assert "lastUpdateDateTime ge 2026-03-01T11:00:00" in client.calls[0]["$filter"]
    client.alerts.append(graph_alert(4, ts(-5)))
    f2 = feed(client, tmp_path, api="graph", source=GraphAlertsSource, page_size=None,
              criteria={"severity": ["High"]})  # a restart
    assert drain(f2) == [("da0004", "created")]
    warnings = []
    f3 = feed(FakeGraphClient(), tmp_path, warn=warnings.append)  # the Defender API: the Graph state is not reused
    assert f3.scope != f2.scope and "another tenant, API or filter" in warnings[0]


def test_source_api_argument_and_default_warning(source, monkeypatch):
    monkeypatch.delenv("DEFENDER_ALERTS_API", raising=False)
    warnings = []
    assert source["_api"]({}, warnings.append) == "defender"
    assert len(warnings) == 1 and "2027-02-01" in warnings[0] and "api: graph" in warnings[0]
    assert source["_api"]({"api": "graph"}, warnings.append) == "graph"
    monkeypatch.setenv("DEFENDER_ALERTS_API", "graph")
    assert source["_api"]({}, warnings.append) == "graph" and len(warnings) == 1
    with pytest.raises(ValueError, match="api must be one of"):
        source["_api"]({"api": "xdr"}, warnings.append)
