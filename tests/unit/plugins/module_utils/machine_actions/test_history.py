# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_actions/history.py: the state of a toggle from the history, the decision table, and the plan of a
one-shot action (running, done within the window, a success that no longer holds)."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.registry import ISOLATION
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.fake_machines import action, mid

ID = mid(1)


# --- state from history ---------------------------------------------------------------------------------------

T1, T2, T3 = "2026-01-30T10:00:00Z", "2026-01-30T11:00:00.1234567Z", "2026-01-30T12:00:00Z"


@pytest.mark.parametrize("type_, status, state", [
    ("Isolate", "Succeeded", "isolated"),
    ("Isolate", "Pending", "isolation_pending"),
    ("Isolate", "InProgress", "isolation_pending"),
    ("Isolate", "Failed", "released"),
    ("Isolate", "TimeOut", "released"),
    ("Isolate", "Cancelled", "released"),
    ("Unisolate", "Succeeded", "released"),
    ("Unisolate", "Pending", "release_pending"),
    ("Unisolate", "InProgress", "release_pending"),
    ("Unisolate", "Failed", "isolated"),
    ("Unisolate", "TimeOut", "isolated"),
    ("Unisolate", "Cancelled", "isolated"),
])
def test_state_after_an_isolation(type_, status, state):
    hist = [action(ID, "Isolate", "Succeeded", T1)]
    if type_ == "Isolate":
        hist = []
    hist.append(action(ID, type_, status, T2))
    assert ISOLATION.state(hist)[0] == state


def test_no_history_is_released():
    assert ISOLATION.state([]) == ("released", None)
    assert ISOLATION.state([action(ID, "RunAntiVirusScan", "Succeeded")]) == ("released", None)


@pytest.mark.parametrize("field", ["lastUpdateDateTimeUtc", "lastUpdateTimeUtc"])
def test_out_of_order_completion_decides(field):
    # Isolate created first but applied (completed) after the Unisolate: the machine ends isolated.
    iso = action(ID, "Isolate", "Succeeded", T1, updated=T3, update_field=field)
    uni = action(ID, "Unisolate", "Succeeded", T2, updated=T2, update_field=field)
    state, decider = ISOLATION.state([uni, iso])
    assert state == "isolated" and decider["id"] == iso["id"]
    assert decider["lastUpdateDateTimeUtc"] == T3  # normalized from either spelling


def test_creation_order_when_not_overtaken_and_sorting_is_ours():
    a = action(ID, "Isolate", "Succeeded", T1, updated=T1)
    b = action(ID, "Unisolate", "Succeeded", T2, updated=T2)
    c = action(ID, "Isolate", "Succeeded", T3, updated=T3)
    assert ISOLATION.state([c, a, b])[1]["id"] == c["id"]
    assert ISOLATION.state([b, a])[0] == "released"


def test_pending_outranks_completed():
    pending = action(ID, "Isolate", "Pending", T1)
    done = action(ID, "Unisolate", "Succeeded", T2, updated=T3)
    assert ISOLATION.state([done, pending])[0] == "isolation_pending"


def test_unknown_status_is_treated_as_pending():
    assert ISOLATION.state([action(ID, "Isolate", "Queued", T1)])[0] == "isolation_pending"


# --- decision table -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("history, wanted, plan", [
    ([], "isolated", "send"),
    ([], "released", "none"),
    ([("Isolate", "Succeeded")], "isolated", "none"),
    ([("Isolate", "Succeeded")], "released", "send"),
    ([("Isolate", "Pending")], "isolated", "none"),
    ([("Isolate", "InProgress")], "isolated", "none"),
    ([("Isolate", "Pending")], "released", "wait"),
    ([("Isolate", "InProgress")], "released", "wait"),
    ([("Isolate", "Failed")], "isolated", "send"),
    ([("Isolate", "Failed")], "released", "none"),
    ([("Isolate", "Succeeded"), ("Unisolate", "Succeeded")], "isolated", "send"),
    ([("Isolate", "Succeeded"), ("Unisolate", "Succeeded")], "released", "none"),
    ([("Isolate", "Succeeded"), ("Unisolate", "Pending")], "released", "none"),
    ([("Isolate", "Succeeded"), ("Unisolate", "Pending")], "isolated", "wait"),
    ([("Isolate", "Succeeded"), ("Unisolate", "Cancelled")], "released", "send"),
    ([("Isolate", "Succeeded"), ("Unisolate", "TimeOut")], "isolated", "none"),
    # an older pending action of the other kind blocks even when the newest one points the right way
    ([("Unisolate", "Pending"), ("Isolate", "Pending")], "isolated", "wait"),
    ([("Isolate", "Pending"), ("Unisolate", "Pending")], "released", "wait"),
])
def test_decision_table(history, wanted, plan):
    times = [T1, T2, T3]
    hist = [action(ID, t, s, times[i], updated=times[i]) for i, (t, s) in enumerate(history)]
    assert ISOLATION.plan(wanted, hist)[0] == plan
