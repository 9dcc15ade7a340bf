# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""alerts helpers: enums, the filter builder, the read modules' option checks."""

from __future__ import annotations

import datetime
import os
import sys
from urllib.parse import unquote

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import alerts as A
from ansible_collections.defender.endpoint.plugins.module_utils import validation
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError

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
    assert validation.normalize(value, A.SEVERITIES, "severity") == expected


@pytest.mark.parametrize("value", ["Critical", "", None, "Hi", 3])
def test_bad_enum(value):
    with pytest.raises(DefenderConfigError) as info:
        validation.normalize(value, A.SEVERITIES, "severity")
    assert "severity must be one of UnSpecified, Informational, Low, Medium, High" in str(info.value)


def test_normalize_list_dedupes_and_keeps_order():
    assert validation.normalize_list(["new", "InProgress", "NEW"], A.STATUSES, "status") == ["New", "InProgress"]
    assert validation.normalize_list("resolved", A.STATUSES, "status") == ["Resolved"]
    assert validation.normalize_list(None, A.STATUSES, "status") is None
    with pytest.raises(DefenderConfigError):
        validation.normalize_list([], A.STATUSES, "status")


def test_determinations_hold_both_name_sets():
    for name in ("Clean", "NotMalicious", "InsufficientData", "NoEnoughDataToValidate", "ConfirmedUserActivity",
                 "ConfirmedActivity", "CompromisedUser", "CompromisedAccount", "MultiStagedAttack", "Other"):
        assert validation.normalize(name.lower(), A.DETERMINATIONS, "determination") == name


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


# --- the read modules' option checks ----------------------------------------------------------

def test_info_params_with_id_send_no_filter():
    assert A.check_info_params({"id": "x", "page_size": 10}) == (None, 10)
    flt, _size = A.check_info_params({"status": ["new"], "page_size": 10})
    assert flt == "status eq 'New'"


@pytest.mark.parametrize("params,word", [({"id": " "}, "id"), ({"limit": 0}, "limit"), ({"page_size": 0}, "page_size")])
def test_info_params_errors(params, word):
    params.setdefault("page_size", 10)
    with pytest.raises(DefenderConfigError) as info:
        A.check_info_params(params)
    assert word in str(info.value)


def test_export_params_format_and_columns(tmp_path):
    base = {"page_size": 10, "format": None, "columns": None}
    _flt, _size, dest, fmt, columns = A.check_export_params(dict(base, dest=str(tmp_path / "a.CSV")))
    assert dest.endswith("a.CSV") and fmt == "csv" and columns == A.EXPORT_COLUMNS
    assert A.check_export_params(dict(base, dest=str(tmp_path / "a.txt")))[3:] == ("jsonl", None)
    with pytest.raises(DefenderConfigError, match="columns"):
        A.check_export_params(dict(base, dest=str(tmp_path / "a.jsonl"), columns=["id"]))


class OneAlertClient:
    def __init__(self):
        self.calls = []

    def get(self, path, params=None):
        self.calls.append((path, params))
        if path.endswith("/known"):
            return {"id": "known"}
        raise DefenderError("not found", status=404)


def test_read_one():
    client = OneAlertClient()
    assert A.read_one(client, " known ", expand_evidence=True) == [{"id": "known"}]
    assert A.read_one(client, "a/b") == []
    assert client.calls == [("/api/alerts/known", {"$expand": "evidence"}), ("/api/alerts/a%2Fb", None)]
