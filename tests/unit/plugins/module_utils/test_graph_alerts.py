# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""graph_alerts: the API choice, Graph filters (checked by the emulator's parser with Graph's field list), local
matches, the update diff, comments once, and reads back instead of re-sending."""

from __future__ import annotations

import datetime
import os
import sys

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import graph_alerts as G
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)

EMULATOR_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator"))
try:
    sys.path.insert(0, EMULATOR_DIR)
    from emulator_odata import parse_filter  # pylint: disable=import-error
finally:
    if sys.path and sys.path[0] == EMULATOR_DIR:
        sys.path.pop(0)

NOW = datetime.datetime(2026, 12, 4, 12, 0, 0, tzinfo=datetime.timezone.utc)
GRAPH_FILTER_FIELDS = ["assignedTo", "classification", "determination", "createdDateTime", "lastUpdateDateTime",
                       "severity", "serviceSource", "status"]


def test_default_api_is_defender_with_one_warning_naming_the_date_and_option():
    warnings = []
    assert G.choose_api(None, warnings.append) == "defender"
    assert len(warnings) == 1
    assert "2027-02-01" in warnings[0] and "api: graph" in warnings[0] and "DEFENDER_ALERTS_API" in warnings[0]
    warnings = []
    assert G.choose_api("graph", warnings.append) == "graph"
    assert G.choose_api("defender", warnings.append) == "defender"
    assert warnings == []
    with pytest.raises(DefenderConfigError):
        G.choose_api("xdr")


def test_graph_only_options_refused_on_defender():
    with pytest.raises(DefenderConfigError, match="service_source"):
        G.check_options_for_api({"service_source": ["microsoftSentinel"]}, "defender")
    G.check_options_for_api({"service_source": ["microsoftSentinel"]}, "graph")


def test_filter_uses_graph_fields_and_values_in_either_spelling():
    flt, local = G.build_filter({"severity": ["High", "unspecified"], "status": ["InProgress"],
                                 "service_source": ["MicrosoftDefenderForEndpoint"], "created_after": "24h",
                                 "updated_after": "2026-12-01T00:00:00Z"}, now=NOW)
    assert local is None
    assert "severity eq 'high'" in flt and "severity eq 'unknown'" in flt
    assert "status eq 'inProgress'" in flt and "serviceSource eq 'microsoftDefenderForEndpoint'" in flt
    assert "createdDateTime ge 2026-12-03T12:00:00Z" in flt and "lastUpdateDateTime ge 2026-12-01T00:00:00Z" in flt
    parse_filter(flt, fields=GRAPH_FILTER_FIELDS, functions=(), allow_in=False, allow_lambda=False)  # the service's


def test_filter_escapes_and_keeps_raw_clause_apart():
    flt, _local = G.build_filter({"filter": "assignedTo eq 'o''brien@contoso.com' or assignedTo eq null",
                                  "status": ["new"]})
    assert flt == "status eq 'new' and (assignedTo eq 'o''brien@contoso.com' or assignedTo eq null)"
    parse_filter(flt, fields=GRAPH_FILTER_FIELDS, functions=(), allow_in=False, allow_lambda=False)
    for bad in ({"severity": ["Severe"]}, {"status": []}, {"filter": "status eq 'new') or (1 eq 1"},
                {"created_after": "1d", "created_before": "2d"}, {"category": ["x\n"]}):
        with pytest.raises(DefenderConfigError):
            G.build_filter(bad, now=NOW)


def test_category_and_machine_id_are_matched_on_each_alert():
    flt, local = G.build_filter({"category": ["Malware"], "machine_id": ["ABC123"]})
    assert flt is None
    device = {"@odata.type": "#microsoft.graph.security.deviceEvidence", "mdeDeviceId": "abc123"}
    assert local({"category": "Malware", "evidence": [device]})
    assert not local({"category": "Execution", "evidence": [device]})
    assert not local({"category": "Malware", "evidence": [dict(device, mdeDeviceId="other")]})
    assert not local({"category": "Malware", "evidence": [{"@odata.type": "#microsoft.graph.security.fileEvidence",
                                                           "mdeDeviceId": "abc123"}]})


def test_page_size_cap():
    assert G.check_page_size(None) == 1000
    assert G.check_page_size(50) == 50
    with pytest.raises(DefenderConfigError, match="1000"):
        G.check_page_size(10000)


class FakePager:
    def __init__(self, pages):
        self.pages = pages
        self.requests = 0

    def blocks(self):
        for page in self.pages:
            self.requests += 1
            yield [a["id"] for a in page], list(page)


def test_pages_apply_local_match_before_limit(monkeypatch):
    pages = [[{"id": str(i), "category": "Malware" if i % 2 else "Other"} for i in range(n, n + 10)]
             for n in (0, 10, 20)]
    made = {}

    def fake(client, path, params=None, page_size=None, limit=None):
        made.update(path=path, params=params, limit=limit)
        return FakePager(pages)

    monkeypatch.setattr(G, "NextLinkPager", fake)
    got = list(G.GraphAlertPages(object(), "status eq 'new'", G.local_match({"category": ["Malware"]}), limit=7))
    assert [a["id"] for a in got] == ["1", "3", "5", "7", "9", "11", "13"]
    assert made == {"path": "/v1.0/security/alerts_v2", "params": {"$filter": "status eq 'new'"}, "limit": None}


def test_pages_by_time_use_the_time_boundary_pager(monkeypatch):
    made = {}

    def fake(client, path, time_field, since=None, params=None, page_size=None, limit=None):
        made.update(time_field=time_field, since=since, limit=limit, page_size=page_size)
        return FakePager([[{"id": "a"}]])

    monkeypatch.setattr(G, "TimeBoundaryPager", fake)
    assert [a["id"] for a in G.GraphAlertPages(object(), by_time=True, since="1h", limit=5, page_size=500)] == ["a"]
    assert made == {"time_field": "lastUpdateDateTime", "since": "1h", "limit": 5, "page_size": 500}


ALERT = {"id": "da1_2", "status": "new", "assignedTo": None, "classification": "unknown", "determination": "unknown",
         "comments": [{"comment": "seen", "createdByDisplayName": "x", "createdDateTime": "t"}]}


def test_wanted_state_and_changes_only_what_differs():
    wanted = G.wanted_state({"status": "Resolved", "classification": "TruePositive", "determination": "Malware",
                             "assigned_to": "SecOp@contoso.com", "comment": "seen"})
    assert wanted == {"status": "resolved", "classification": "truePositive", "determination": "malware",
                      "assignedTo": "SecOp@contoso.com", "comment": "seen"}
    # the comment is already there: not again
    assert G.changes_for(ALERT, wanted) == {"status": "resolved", "classification": "truePositive",
                                            "determination": "malware", "assignedTo": "SecOp@contoso.com"}
    after = dict(ALERT, status="Resolved", classification="truePositive", determination="notMalicious",
                 assignedTo="secop@contoso.com")
    assert G.changes_for(after, G.wanted_state({"status": "resolved", "determination": "clean",
                                                "assigned_to": "SECOP@contoso.com", "comment": "new one"})) == \
        {"comment": "new one"}
    predicted = G.predict(ALERT, {"status": "resolved", "comment": "new one"})
    assert predicted["status"] == "resolved" and G.comment_texts(predicted) == ["seen", "new one"]
    assert G.managed_view(predicted) == {"status": "resolved", "assignedTo": None, "classification": "unknown",
                                         "determination": "unknown", "comments": ["seen", "new one"]}
    with pytest.raises(DefenderConfigError):
        G.wanted_state({})
    with pytest.raises(DefenderConfigError):
        G.wanted_state({"status": "unknown"})
    assert G.wanted_state({"determination": "NoEnoughDataToValidate"})["determination"] == "notEnoughDataToValidate"


class FakeClient:
    def __init__(self, alert, fail=None):
        self.alert = dict(alert)
        self.calls = []
        self.fail = fail or {}

    def patch(self, path, body):
        self.calls.append(("PATCH", path, body))
        self.alert.update(body)
        if "PATCH" in self.fail:
            raise DefenderOutcomeUnknownError("no answer", method="PATCH", path=path)
        return dict(self.alert)

    def post(self, path, body):
        self.calls.append(("POST", path, body))
        if self.fail.get("POST") != "lost-before":
            self.alert["comments"] = self.alert["comments"] + [{"comment": body["comment"]}]
        if "POST" in self.fail:
            raise DefenderOutcomeUnknownError("no answer", method="POST", path=path)
        return {"value": list(self.alert["comments"])}


@pytest.fixture(autouse=True)
def reads(monkeypatch):
    def get_or_none(client, path):
        client.calls.append(("GET", path, None))
        return dict(client.alert)
    monkeypatch.setattr(G, "get_or_none", get_or_none)


def test_update_patches_then_comments_and_uses_the_answers():
    client = FakeClient(ALERT)
    after = G.apply_changes(client, "da1_2", ALERT, {"status": "resolved", "comment": "closing"}, None)
    assert [c[0] for c in client.calls] == ["PATCH", "POST"]
    assert client.calls[0][2] == {"status": "resolved"}
    assert client.calls[1][1] == "/v1.0/security/alerts_v2/da1_2/comments"
    assert client.calls[1][2] == {"@odata.type": "microsoft.graph.security.alertComment", "comment": "closing"}
    assert after["status"] == "resolved" and G.comment_texts(after) == ["seen", "closing"]


def test_lost_answers_are_read_back_never_resent():
    warnings = []
    client = FakeClient(ALERT, fail={"PATCH": True, "POST": True})
    after = G.apply_changes(client, "da1_2", ALERT, {"status": "resolved", "comment": "closing"}, warnings.append)
    assert [c[0] for c in client.calls] == ["PATCH", "GET", "POST", "GET"]
    assert after["status"] == "resolved" and len(warnings) == 2
    client = FakeClient(ALERT, fail={"POST": "lost-before"})
    with pytest.raises(DefenderError, match="not re-sent"):
        G.apply_changes(client, "da1_2", ALERT, {"comment": "closing"}, warnings.append)
    assert [c[0] for c in client.calls] == ["POST", "GET"]
    assert client.calls[1][1] == "/v1.0/security/alerts_v2/da1_2"
