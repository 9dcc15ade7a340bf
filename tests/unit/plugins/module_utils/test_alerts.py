# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""alerts helpers: enums, the filter builder, the update diff logic, reading by ids."""

from __future__ import annotations

import datetime
import os
import sys
from urllib.parse import unquote

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import alerts as A
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.client import segment

# hypothesis and the emulator's filter parser are requirements of these tests: a missing one fails the run.
from hypothesis import given, strategies as st  # noqa: E402

EMULATOR_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator"))
try:
    sys.path.insert(0, EMULATOR_DIR)
    from emulator_odata import parse_filter  # pylint: disable=import-error
finally:
    if sys.path and sys.path[0] == EMULATOR_DIR:
        sys.path.pop(0)

NOW = datetime.datetime(2026, 1, 31, 12, 0, 0, tzinfo=datetime.timezone.utc)
SAFE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40).filter(
    lambda s: s.strip())


# --- enums -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [("high", "High"), ("HIGH", "High"), (" unspecified ", "UnSpecified"),
                                            ("informational", "Informational")])
def test_severity_normalised(value, expected):
    assert A.normalize(value, A.SEVERITIES, "severity") == expected


@pytest.mark.parametrize("value", ["Critical", "", None, "Hi", 3])
def test_bad_enum(value):
    with pytest.raises(DefenderConfigError) as info:
        A.normalize(value, A.SEVERITIES, "severity")
    assert "severity must be one of UnSpecified, Informational, Low, Medium, High" in str(info.value)


def test_normalize_list_dedupes_and_keeps_order():
    assert A.normalize_list(["new", "InProgress", "NEW"], A.STATUSES, "status") == ["New", "InProgress"]
    assert A.normalize_list("resolved", A.STATUSES, "status") == ["Resolved"]
    assert A.normalize_list(None, A.STATUSES, "status") is None
    with pytest.raises(DefenderConfigError):
        A.normalize_list([], A.STATUSES, "status")


def test_determinations_hold_both_name_sets():
    for name in ("Clean", "NotMalicious", "InsufficientData", "NoEnoughDataToValidate", "ConfirmedUserActivity",
                 "ConfirmedActivity", "CompromisedUser", "CompromisedAccount", "MultiStagedAttack", "Other"):
        assert A.normalize(name.lower(), A.DETERMINATIONS, "determination") == name


# --- filter builder --------------------------------------------------------------------------

def test_empty_filter():
    assert A.build_filter({}) is None
    assert A.build_filter({"severity": None, "filter": None}) is None


def test_full_filter():
    flt = A.build_filter({
        "severity": ["high", "Medium"], "status": ["new"], "category": ["Malware"],
        "machine_id": ["m1", "m2"], "created_after": "24h", "created_before": "2026-01-31T12:00:00Z",
        "updated_after": "2026-01-30T00:00:00+02:00", "filter": "title eq 'x' or title eq 'y'",
    }, now=NOW)
    assert flt == (
        "(severity eq 'High' or severity eq 'Medium') and status eq 'New' and category eq 'Malware' and "
        "alertCreationTime ge 2026-01-30T12:00:00Z and "
        "alertCreationTime lt 2026-01-31T12:00:00Z and lastUpdateTime ge 2026-01-29T22:00:00Z and "
        "(title eq 'x' or title eq 'y')")


def test_raw_filter_alone_is_one_parenthesised_clause():
    assert A.build_filter({"filter": "  status ne 'Resolved'  "}) == "(status ne 'Resolved')"


@pytest.mark.parametrize("raw", ["not (status eq 'New')", "a eq 'b'", "(a eq 'b') or (c eq 'd')"])
def test_raw_filter_is_parenthesised_when_joined(raw):
    flt = A.build_filter({"status": ["New"], "filter": raw})
    assert flt.startswith("status eq 'New' and (")
    assert flt.endswith(")")


def test_raw_filter_already_enclosed_is_not_double_wrapped():
    assert A.build_filter({"status": ["New"], "filter": "(a eq 'b' or c eq 'd')"}) == \
        "status eq 'New' and (a eq 'b' or c eq 'd')"


@pytest.mark.parametrize("params,word", [
    ({"severity": ["Critical"]}, "severity"),
    ({"status": ["Closed"]}, "status"),
    ({"status": []}, "status"),
    ({"created_after": "yesterday"}, "created_after"),
    ({"created_before": "2026-02-30"}, "created_before"),
    ({"updated_after": "7y"}, "updated_after"),
    ({"created_after": "2026-01-31T00:00:00Z", "created_before": "2026-01-30T00:00:00Z"}, "earlier"),
    ({"category": ["bad\nvalue"]}, "control character"),
    ({"category": [""]}, "category"),
    ({"filter": "   "}, "filter"),
    ({"filter": "a eq 'b'\x00"}, "control character"),
])
def test_bad_filter_params(params, word):
    with pytest.raises(DefenderConfigError) as info:
        A.build_filter(params, now=NOW)
    assert word in str(info.value)


@given(st.lists(SAFE_TEXT, min_size=1, max_size=4), SAFE_TEXT)
def test_category_values_are_escaped(categories, probe):
    pred = parse_filter(A.build_filter({"category": categories, "severity": ["High"]}))
    for c in categories:
        assert pred({"category": c, "severity": "High"})
        assert not pred({"category": c, "severity": "Low"})
    assert pred({"category": probe, "severity": "High"}) == (probe in categories)


@given(SAFE_TEXT)
def test_machine_ids_never_reach_the_filter_and_stay_one_path_segment(mid):
    if mid.strip() in (".", ".."):
        return
    """machineId is not a documented alert filter field: a machine's alerts come from /api/machines/{id}/alerts."""
    assert A.build_filter({"machine_id": [mid], "severity": ["High"]}) == "severity eq 'High'"
    [path] = A.AlertPages(None, {"machine_id": [mid]}, None, 100).paths()
    assert path.startswith("/api/machines/") and path.endswith("/alerts")
    assert unquote(path[len("/api/machines/"):-len("/alerts")]) == mid.strip()
    assert path.count("/") == 4


def test_machine_ids_are_checked_before_any_request():
    for bad in (["a\nb"], [""], [], [".."]):
        with pytest.raises(DefenderConfigError):
            A.build_filter({"machine_id": bad})
    assert A.machine_ids({"machine_id": ["m1", " m1 ", "m2"]}) == ["m1", "m2"]


def test_time_filters_in_the_emulators_parser():
    pred = parse_filter(A.build_filter({"created_after": "24h", "created_before": "1h"}, now=NOW))
    assert pred({"alertCreationTime": "2026-01-31T00:00:00.0000000Z"})
    assert not pred({"alertCreationTime": "2026-01-30T11:59:59.0000000Z"})
    assert not pred({"alertCreationTime": "2026-01-31T11:00:00.0000000Z"})


# --- updates ---------------------------------------------------------------------------------

ALERT = {
    "id": "a1", "status": "New", "assignedTo": "SecOp@Contoso.com", "classification": None,
    "determination": None, "comments": [{"comment": "seen", "createdBy": "x", "createdTime": "t"}],
}


def test_wanted_state_normalises():
    wanted = A.wanted_state({"status": "resolved", "classification": "falsepositive", "determination": "notmalicious",
                             "assigned_to": " a@b.c ", "comment": "done"})
    assert wanted == {"status": "Resolved", "classification": "FalsePositive", "determination": "NotMalicious",
                      "assignedTo": "a@b.c", "comment": "done"}


@pytest.mark.parametrize("params,word", [
    ({}, "nothing to update"),
    ({"status": "Unknown"}, "status"),          # not settable
    ({"status": "Closed"}, "status"),
    ({"classification": "Benign"}, "classification"),
    ({"determination": "Apt"}, "determination"),  # deprecated
    ({"comment": "  "}, "comment"),
    ({"assigned_to": ""}, "assigned_to"),
])
def test_wanted_state_errors(params, word):
    with pytest.raises(DefenderConfigError) as info:
        A.wanted_state(params)
    assert word in str(info.value)


def test_no_changes_when_equal():
    wanted = {"status": "New", "assignedTo": "secop@contoso.com", "comment": "seen"}
    assert A.changes_for(ALERT, wanted) == {}


def test_only_differing_fields():
    wanted = {"status": "Resolved", "assignedTo": "secop@contoso.com", "classification": "FalsePositive",
              "comment": "new text"}
    assert A.changes_for(ALERT, wanted) == {"status": "Resolved", "classification": "FalsePositive",
                                            "comment": "new text"}


def test_comment_verbatim_only():
    assert A.changes_for(ALERT, {"comment": " seen "}) == {}
    assert A.changes_for(ALERT, {"comment": "Seen"}) == {"comment": "Seen"}
    assert A.changes_for({"id": "x"}, {"comment": "c"}) == {"comment": "c"}
    assert A.changes_for({"id": "x", "comments": None}, {"comment": "c"}) == {"comment": "c"}


def test_determination_aliases_are_equal():
    alert = dict(ALERT, determination="Clean")
    assert A.changes_for(alert, {"determination": "NotMalicious"}) == {}
    assert A.changes_for(dict(ALERT, determination="NoEnoughDataToValidate"),
                         {"determination": "InsufficientData"}) == {}
    assert A.changes_for(alert, {"determination": "Malware"}) == {"determination": "Malware"}


@pytest.mark.parametrize("read_back, wanted", [
    ("notMalicious", "Clean"), ("NOTMALICIOUS", "NotMalicious"), ("clean", "NotMalicious"),
    ("confirmedActivity", "ConfirmedUserActivity"), ("noEnoughDataToValidate", "InsufficientData"),
    ("compromisedAccount", "CompromisedUser"), ("malware", "Malware"), (" Malware ", "Malware"),
])
def test_read_back_determination_in_any_page_spelling_is_not_a_change(read_back, wanted):
    """The service may read back another page's name or casing for the value it accepted: no PATCH every run."""
    assert A.changes_for(dict(ALERT, determination=read_back), {"determination": wanted}) == {}


@pytest.mark.parametrize("read_back", ["falsePositive", "FALSEPOSITIVE", " FalsePositive"])
def test_read_back_classification_casing_is_not_a_change(read_back):
    assert A.changes_for(dict(ALERT, classification=read_back), {"classification": "FalsePositive"}) == {}


def test_a_different_determination_is_still_a_change():
    assert A.changes_for(dict(ALERT, determination="notMalicious"), {"determination": "Malware"}) == \
        {"determination": "Malware"}
    assert A.canonical_determination("SomethingNew") == "SomethingNew"


def test_predict_and_view():
    after = A.predict(ALERT, {"status": "Resolved", "comment": "fixed"})
    assert after["status"] == "Resolved" and A.comment_texts(after) == ["seen", "fixed"]
    assert ALERT["status"] == "New" and len(ALERT["comments"]) == 1  # input untouched
    assert A.managed_view(after) == {"status": "Resolved", "assignedTo": "SecOp@Contoso.com", "classification": None,
                                     "determination": None, "comments": ["seen", "fixed"]}
    assert A.changes_for(after, {"status": "Resolved", "comment": "fixed"}) == {}


def test_group_changes():
    plan = [("a", {"status": "Resolved", "comment": "c"}), ("b", {}), ("c", {"status": "Resolved"}),
            ("d", {"comment": "c", "status": "Resolved"}), ("e", {"status": "Resolved"})]
    assert A.group_changes(plan) == [({"status": "Resolved", "comment": "c"}, ["a", "d"]),
                                     ({"status": "Resolved"}, ["c", "e"])]


def test_check_ids():
    assert A.check_ids(["a", " b ", "a"]) == ["a", "b"]
    for bad in ([], None, [""], ["x", None], ["a\nb"]):
        with pytest.raises(DefenderConfigError):
            A.check_ids(bad)


# --- read_alerts -----------------------------------------------------------------------------

class FakeClient:
    def __init__(self, alerts, accept=("in", "or")):
        self.alerts = {a["id"]: a for a in alerts}
        self.accept = accept
        self.calls = []

    def get(self, path, params=None):
        self.calls.append((path, dict(params or {})))
        if path == A.ALERTS_PATH:
            flt = params["$filter"]
            style = "in" if flt.startswith("id in (") else "or"
            if style not in self.accept:
                raise DefenderError("bad filter", status=400, code="ODataError")
            pred = parse_filter(flt)
            return {"value": [a for a in self.alerts.values() if pred(a)][:params["$top"]]}
        alert_id = unquote(path.rsplit("/", 1)[1])
        if alert_id not in self.alerts:
            raise DefenderError("nf", status=404)
        return self.alerts[alert_id]


@pytest.mark.parametrize("accept,style", [(("in", "or"), "in"), (("or",), "or"), ((), "get")])
def test_read_alerts_fallbacks(accept, style):
    alerts = [{"id": "id%03d'q" % i} for i in range(250)]
    client = FakeClient(alerts, accept)
    ids = [a["id"] for a in alerts[:230]] + ["missing"]
    found = A.read_alerts(client, ids, segment)
    assert set(found) == set(ids) - {"missing"}
    list_calls = [c for c in client.calls if c[0] == A.ALERTS_PATH]
    if style == "in":
        assert len(list_calls) == 3 and all(c[1]["$filter"].startswith("id in (") for c in list_calls)
    elif style == "or":
        assert all(" or " in c[1]["$filter"] for c in list_calls[1:])
    else:
        assert len([c for c in client.calls if c[0] != A.ALERTS_PATH]) == 231


def test_read_one_uses_get():
    client = FakeClient([{"id": "a/b"}])
    assert A.read_alerts(client, ["a/b"], segment) == {"a/b": {"id": "a/b"}}
    assert client.calls == [("/api/alerts/a%2Fb", {})]
    assert A.read_alerts(client, ["nope"], segment) == {}


def test_read_alerts_other_errors_propagate():
    class Boom:
        def get(self, path, params=None):
            raise DefenderError("forbidden", status=403)

    with pytest.raises(DefenderError):
        A.read_alerts(Boom(), ["a", "b"], segment)
