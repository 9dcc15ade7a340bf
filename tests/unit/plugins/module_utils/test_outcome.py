# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""outcome.py: after a lost response, read back (once), keep what shows the change, one wording for the rest,
the lost request's status and request id kept; nothing is ever sent from here."""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.module_utils import outcome
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderError,
    DefenderOutcomeUnknownError,
)

LOST = DefenderOutcomeUnknownError("no response", status=502, target="req-1", method="POST", path="/api/x")


def test_every_key_showing_the_change_is_complete():
    reads = []

    def read(keys):
        reads.append(list(keys))
        return {"a": {"status": "Resolved"}, "b": {"status": "Resolved"}}

    found = outcome.read_back(LOST, ["a", "b"], read, lambda _k, v: v["status"] == "Resolved")
    assert found.complete and reads == [["a", "b"]] and set(found.seen) == {"a", "b"}
    assert found.message("alert(s)") == ""


def test_missing_keys_are_named_and_the_error_keeps_the_lost_request():
    found = outcome.read_back(LOST, ["a", "b", "c"], lambda keys: {"a": 1, "b": 0},
                              lambda _k, v: v == 1)
    assert not found.complete and found.missing == ["b", "c"] and found.current == {"a": 1, "b": 0}
    err = found.error("alert(s)")
    assert isinstance(err, DefenderError) and (err.status, err.target, err.path) == (502, "req-1", "/api/x")
    assert "read again, 2 of 3 alert(s) do not show the change yet (b, c)" in err.message
    assert "not re-sent" in err.message and "outcome unknown" in err.message
    assert str(err).count("HTTP 502") == 1, "the status is said once"
    assert found.message("alert(s)", only=["a"]) == ""
    assert "1 of 1 alert(s)" in found.message("alert(s)", only=["c"])


def test_a_failed_read_leaves_everything_missing():
    def read(keys):
        raise DefenderError("gateway timeout", status=504)

    found = outcome.read_back(LOST, ["a"], read, lambda _k, _v: True)
    assert found.missing == ["a"] and isinstance(found.read_error, DefenderError)
    assert "could not be read again (gateway timeout (HTTP 504))" in found.message("indicator(s)")


def test_not_resent_says_so_and_keeps_the_request():
    err = outcome.not_resent(LOST, "the hunting query", "Run the task again.")
    assert err.message == "no answer to the hunting query (no response); it was not sent again. Run the task again."
    assert err.target == "req-1"
