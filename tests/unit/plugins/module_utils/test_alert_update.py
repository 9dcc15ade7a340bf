# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""alert_update: the wanted state, the update diff logic, reading by ids."""

from __future__ import annotations

import os
import sys
from urllib.parse import unquote

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import alert_update, alerts
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError

# the emulator's filter parser is a requirement of these tests: a missing one fails the run.
EMULATOR_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator"))
try:
    sys.path.insert(0, EMULATOR_DIR)
    from emulator_odata import parse_filter  # pylint: disable=import-error
finally:
    if sys.path and sys.path[0] == EMULATOR_DIR:
        sys.path.pop(0)


# --- updates ---------------------------------------------------------------------------------

ALERT = {
    "id": "a1", "status": "New", "assignedTo": "SecOp@Contoso.com", "classification": None,
    "determination": None, "comments": [{"comment": "seen", "createdBy": "x", "createdTime": "t"}],
}


def test_wanted_state_normalises():
    wanted = alert_update.wanted_state({"status": "resolved", "classification": "falsepositive",
                                        "determination": "notmalicious", "assigned_to": " a@b.c ", "comment": "done"})
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
        alert_update.wanted_state(params)
    assert word in str(info.value)


def test_no_changes_when_equal():
    wanted = {"status": "New", "assignedTo": "secop@contoso.com", "comment": "seen"}
    assert alert_update.changes_for(ALERT, wanted) == {}


def test_only_differing_fields():
    wanted = {"status": "Resolved", "assignedTo": "secop@contoso.com", "classification": "FalsePositive",
              "comment": "new text"}
    assert alert_update.changes_for(ALERT, wanted) == {"status": "Resolved", "classification": "FalsePositive",
                                                       "comment": "new text"}


def test_comment_verbatim_only():
    assert alert_update.changes_for(ALERT, {"comment": " seen "}) == {}
    assert alert_update.changes_for(ALERT, {"comment": "Seen"}) == {"comment": "Seen"}
    assert alert_update.changes_for({"id": "x"}, {"comment": "c"}) == {"comment": "c"}
    assert alert_update.changes_for({"id": "x", "comments": None}, {"comment": "c"}) == {"comment": "c"}


def test_determination_aliases_are_equal():
    alert = dict(ALERT, determination="Clean")
    assert alert_update.changes_for(alert, {"determination": "NotMalicious"}) == {}
    assert alert_update.changes_for(dict(ALERT, determination="NoEnoughDataToValidate"),
                                    {"determination": "InsufficientData"}) == {}
    assert alert_update.changes_for(alert, {"determination": "Malware"}) == {"determination": "Malware"}


@pytest.mark.parametrize("read_back, wanted", [
    ("notMalicious", "Clean"), ("NOTMALICIOUS", "NotMalicious"), ("clean", "NotMalicious"),
    ("confirmedActivity", "ConfirmedUserActivity"), ("noEnoughDataToValidate", "InsufficientData"),
    ("compromisedAccount", "CompromisedUser"), ("malware", "Malware"), (" Malware ", "Malware"),
])
def test_read_back_determination_in_any_page_spelling_is_not_a_change(read_back, wanted):
    """The service may read back another page's name or casing for the value it accepted: no PATCH every run."""
    assert alert_update.changes_for(dict(ALERT, determination=read_back), {"determination": wanted}) == {}


@pytest.mark.parametrize("read_back", ["falsePositive", "FALSEPOSITIVE", " FalsePositive"])
def test_read_back_classification_casing_is_not_a_change(read_back):
    assert alert_update.changes_for(dict(ALERT, classification=read_back), {"classification": "FalsePositive"}) == {}


def test_a_different_determination_is_still_a_change():
    assert alert_update.changes_for(dict(ALERT, determination="notMalicious"), {"determination": "Malware"}) == \
        {"determination": "Malware"}
    assert alert_update.canonical_determination("SomethingNew") == "SomethingNew"


def test_predict_and_view():
    after = alert_update.predict(ALERT, {"status": "Resolved", "comment": "fixed"})
    assert after["status"] == "Resolved" and alert_update.comment_texts(after) == ["seen", "fixed"]
    assert ALERT["status"] == "New" and len(ALERT["comments"]) == 1  # input untouched
    assert alert_update.managed_view(after) == {"status": "Resolved", "assignedTo": "SecOp@Contoso.com",
                                                "classification": None, "determination": None,
                                                "comments": ["seen", "fixed"]}
    assert alert_update.changes_for(after, {"status": "Resolved", "comment": "fixed"}) == {}


def test_group_changes():
    plan = [("a", {"status": "Resolved", "comment": "c"}), ("b", {}), ("c", {"status": "Resolved"}),
            ("d", {"comment": "c", "status": "Resolved"}), ("e", {"status": "Resolved"})]
    assert alert_update.group_changes(plan) == [({"status": "Resolved", "comment": "c"}, ["a", "d"]),
                                                ({"status": "Resolved"}, ["c", "e"])]


def test_check_ids():
    assert alert_update.check_ids(["a", " b ", "a"]) == ["a", "b"]
    for bad in ([], None, [""], ["x", None], ["a\nb"]):
        with pytest.raises(DefenderConfigError):
            alert_update.check_ids(bad)


# --- read_alerts -----------------------------------------------------------------------------

class FakeClient:
    def __init__(self, stored, accept=("in", "or")):
        self.alerts = {a["id"]: a for a in stored}
        self.accept = accept
        self.calls = []

    def get(self, path, params=None):
        self.calls.append((path, dict(params or {})))
        if path == alerts.ALERTS_PATH:
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
    stored = [{"id": "id%03d'q" % i} for i in range(250)]
    client = FakeClient(stored, accept)
    ids = [a["id"] for a in stored[:230]] + ["missing"]
    found = alert_update.read_alerts(client, ids)
    assert set(found) == set(ids) - {"missing"}
    list_calls = [c for c in client.calls if c[0] == alerts.ALERTS_PATH]
    if style == "in":
        assert len(list_calls) == 3 and all(c[1]["$filter"].startswith("id in (") for c in list_calls)
    elif style == "or":
        assert all(" or " in c[1]["$filter"] for c in list_calls[1:])
    else:
        assert len([c for c in client.calls if c[0] != alerts.ALERTS_PATH]) == 231


def test_read_one_uses_get():
    client = FakeClient([{"id": "a/b"}])
    assert alert_update.read_alerts(client, ["a/b"]) == {"a/b": {"id": "a/b"}}
    assert client.calls == [("/api/alerts/a%2Fb", {})]
    assert alert_update.read_alerts(client, ["nope"]) == {}


def test_read_alerts_other_errors_propagate():
    class Boom:
        def get(self, path, params=None):
            raise DefenderError("forbidden", status=403)

    with pytest.raises(DefenderError):
        alert_update.read_alerts(Boom(), ["a", "b"])
