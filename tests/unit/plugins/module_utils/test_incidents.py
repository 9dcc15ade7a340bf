# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""incidents helpers: the filter builder, the update logic (what differs, tags, comment once), the reader's
$expand fallback."""

from __future__ import annotations

import contextlib
import datetime

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import incidents as I
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError

NOW = datetime.datetime(2026, 1, 31, 12, 0, 0, tzinfo=datetime.timezone.utc)


def test_filter_normalises_enums_and_escapes_values():
    flt = I.build_filter({"status": ["ACTIVE", "inprogress"], "severity": ["High"], "assigned_to": ["o'brien@x"],
                          "created_after": "24h", "updated_before": "2026-01-31T10:00:00+02:00",
                          "filter": "classification eq 'unknown' or determination eq 'malware'"}, now=NOW)
    assert flt == ("(status eq 'active' or status eq 'inProgress') and severity eq 'high' and "
                   "assignedTo eq 'o''brien@x' and createdDateTime ge 2026-01-30T12:00:00Z and "
                   "lastUpdateDateTime lt 2026-01-31T08:00:00Z and "
                   "(classification eq 'unknown' or determination eq 'malware')")
    assert I.build_filter({}) is None


@pytest.mark.parametrize("params, text", [
    ({"status": ["open"]}, "status must be one of"),
    ({"severity": []}, "must not be an empty list"),
    ({"created_after": "1h", "created_before": "2h"}, "must be earlier than"),
    ({"filter": "status eq 'active') or (1 eq 1"}, "unbalanced"),
    ({"assigned_to": ["a\nb"]}, "control character"),
])
def test_bad_filters_fail_before_any_request(params, text):
    with pytest.raises(DefenderConfigError, match=text):
        I.build_filter(params, now=NOW)


@pytest.mark.parametrize("size", [0, 51, "50", None])
def test_page_size_is_at_most_50(size):
    with pytest.raises(DefenderConfigError, match="between 1 and 50"):
        I.check_page_size(size)


@pytest.mark.parametrize("value", ["", "  ", "..", "a\tb"])
def test_bad_ids(value):
    with pytest.raises(DefenderConfigError):
        I.check_id(value)


INCIDENT = {"id": "7", "status": "Active", "classification": "unknown", "determination": "notMalicious",
            "severity": "high", "assignedTo": "SecOp1@contoso.com", "displayName": "x", "description": None,
            "summary": None, "customTags": ["a", "b"],
            "comments": [{"comment": "done", "createdBy": "someone", "createdTime": "2026-01-01T00:00:00Z"}]}


def _wanted(**params):
    return I.wanted_state(params)


def test_same_values_in_other_casing_or_name_change_nothing():
    wanted = _wanted(status="active", assigned_to="secop1@contoso.com", determination="clean", severity="HIGH",
                     comment=" done ", custom_tags=["b"], custom_tags_state="present")
    assert I.changes_for(INCIDENT, wanted) == ({}, None)


def test_only_differences_are_sent():
    wanted = _wanted(status="Resolved", classification="TruePositive", determination="malware", summary="s",
                     comment="new")
    body, comment = I.changes_for(INCIDENT, wanted)
    assert body == {"status": "resolved", "classification": "truePositive", "determination": "malware",
                    "summary": "s"}
    assert comment == "new"
    after = I.predict(INCIDENT, body, comment)
    assert after["status"] == "resolved" and I.managed_view(after)["comments"] == ["done", "new"]
    assert INCIDENT["status"] == "Active"  # the prediction does not touch the incident read


@pytest.mark.parametrize("state, tags, expected", [
    ("present", ["c", "a"], ["a", "b", "c"]),
    ("absent", ["a", "z"], ["b"]),
    ("exact", ["b", "a"], None),   # same set, other order: nothing to send
    ("exact", [], []),
    ("exact", ["c"], ["c"]),
    ("present", ["a"], None),
    ("absent", ["z"], None),
])
def test_custom_tags(state, tags, expected):
    body, _comment = I.changes_for(INCIDENT, _wanted(custom_tags=tags, custom_tags_state=state))
    assert body.get("customTags") == expected


@pytest.mark.parametrize("params, text", [
    ({}, "nothing to update"),
    ({"status": "inProgress"}, "status must be one of active, resolved"),
    ({"status": "redirected"}, "status must be one of"),
    ({"classification": "bad"}, "classification must be one of"),
    ({"assigned_to": " "}, "assigned_to must not be empty"),
    ({"comment": "  "}, "comment must not be empty"),
    ({"custom_tags": [], "custom_tags_state": "present"}, "custom_tags is empty"),
    ({"custom_tags": ["a\nb"]}, "control character"),
    ({"display_name": "a\x1bb"}, "control character"),
])
def test_bad_updates_fail_before_any_request(params, text):
    with pytest.raises(DefenderConfigError, match=text):
        I.wanted_state(params)


class FakeClient:
    """Answers by path; records what was asked. A 500 for $expand when ``expand_fails``."""

    def __init__(self, expand_fails=False):
        self.expand_fails = expand_fails
        self.calls = []
        self.final = False

    @contextlib.contextmanager
    def server_errors_final(self):
        self.final = True
        try:
            yield self
        finally:
            self.final = False

    def _expand(self, params, path):
        if (params or {}).get("$expand") == "alerts":
            assert self.final  # the expand is never retried with back-off
        if (params or {}).get("$expand") == "alerts" and self.expand_fails:
            raise DefenderError("An error has occurred.", status=500, method="GET", path=path)

    def get(self, path, params=None):
        self.calls.append(("GET", path, dict(params or {})))
        self._expand(params, path)
        if path.endswith("/404"):
            raise DefenderError("not found", status=404, method="GET", path=path)
        inc = {"id": path.rsplit("/", 1)[1]}
        if (params or {}).get("$expand") == "alerts":
            inc["alerts"] = [{"id": "a-" + inc["id"]}]
        return inc

    def get_or_none(self, path, params=None):
        try:
            return self.get(path, params)
        except DefenderError as exc:
            if exc.status == 404:
                return None
            raise

    def pages(self, path, params=None, page_size=None, limit=None):
        self.calls.append(("PAGES", path, dict(params or {}, page_size=page_size)))
        self._expand(params, path)
        if path.endswith("/alerts"):
            return iter([{"id": "a-" + path.split("/")[-2]}, {"id": "a-" + path.split("/")[-2]}])
        items = [{"id": "1"}, {"id": "2"}, {"id": "1"}]
        if (params or {}).get("$expand") == "alerts":
            for item in items:
                item["alerts"] = [{"id": "a-" + item["id"]}]
        return iter(items[:limit] if limit else items)


def test_reader_expands_alerts_when_that_works():
    client = FakeClient()
    reader = I.Reader(client, include_alerts=True)
    many = reader.many("status eq 'active'", page_size=20)
    assert [i["id"] for i in many] == ["1", "2"]  # de-duplicated by id
    assert reader.alerts_source == "expand" and many[0]["alerts"] == [{"id": "a-1"}]
    assert client.calls == [("PAGES", I.INCIDENTS_PATH, {"$filter": "status eq 'active'", "$expand": "alerts",
                                                         "page_size": 20})]


def test_reader_falls_back_to_incident_alerts_after_a_server_error():
    client = FakeClient(expand_fails=True)
    reader = I.Reader(client, include_alerts=True)
    many = reader.many(None)
    assert reader.alerts_source == "incident_alerts" and not reader.expand_works
    assert [i["alerts"] for i in many] == [[{"id": "a-1"}], [{"id": "a-2"}]]
    one = reader.one("9")
    assert one["alerts"] == [{"id": "a-9"}]
    expands = [c for c in client.calls if c[2].get("$expand")]
    assert len(expands) == 1  # tried once per run, not for every incident


def test_reader_other_errors_are_not_swallowed():
    class Denied(FakeClient):
        def pages(self, path, params=None, page_size=None, limit=None):
            raise DefenderError("Forbidden", status=403, method="GET", path=path)
    with pytest.raises(DefenderError, match="Forbidden"):
        I.Reader(Denied(), include_alerts=True).many(None)


def test_reader_unknown_id_is_none():
    assert I.Reader(FakeClient(), include_alerts=True).one("404") is None
    assert I.Reader(FakeClient()).one("404") is None


def test_server_errors_are_final_only_inside_the_block():
    from ansible_collections.defender.endpoint.plugins.module_utils import client as C, transport
    retry = transport.build_retry()
    dc = C.DefenderClient.__new__(C.DefenderClient)  # the context needs no connection
    assert retry.is_retry("GET", 500) and retry.is_retry("GET", 503)
    with dc.server_errors_final():
        assert not retry.is_retry("GET", 500) and not retry.is_retry("GET", 502)
        assert retry.is_retry("GET", 429)
    assert retry.is_retry("GET", 500)
