# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""errors: what an error says (status, code, method and path, request id) and what a failed module returns."""

from __future__ import annotations

import os
import re

from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)


def test_message_names_status_code_request_and_request_id():
    exc = DefenderError("denied", status=403, code="Forbidden", target="r-1", method="GET", path="/api/alerts")
    assert str(exc) == "denied (HTTP 403, Forbidden, GET /api/alerts, request id r-1)"
    assert exc.to_result() == {"status": 403, "error_code": "Forbidden", "request_id": "r-1"}


def test_a_bare_message_stays_bare():
    assert str(DefenderConfigError("limit must be 1 or more")) == "limit must be 1 or more"


def test_the_kinds_are_defender_errors():
    assert issubclass(DefenderOutcomeUnknownError, DefenderError) and issubclass(DefenderConfigError, DefenderError)


PLUGINS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins")


def test_reworded_keeps_status_code_request_id_method_and_path():
    lost = DefenderOutcomeUnknownError("no answer", status=504, code="GatewayTimeout", target="req-1", method="POST",
                                       path="/api/indicators")
    plain = lost.reworded("%s; read again, 1 of 2 indicator(s) do not show the change" % lost.message)
    assert not isinstance(plain, DefenderOutcomeUnknownError) and plain.message.startswith("no answer; read again")
    assert (plain.status, plain.code, plain.target, plain.method, plain.path) == \
        (504, "GatewayTimeout", "req-1", "POST", "/api/indicators")
    assert "request id req-1" in str(plain)
    kept = lost.reworded("still unknown", DefenderOutcomeUnknownError)
    assert isinstance(kept, DefenderOutcomeUnknownError) and kept.target == "req-1"


def test_no_error_is_re_worded_by_hand():
    """Re-wording goes through DefenderError.reworded (hand re-wraps dropped the request id six times out of 11)."""
    by_hand = re.compile(r"Defender\w*Error\([^()]*(\([^()]*\)[^()]*)*status=\w+\.status\b", re.S)
    found = []
    for root, _dirs, files in os.walk(PLUGINS):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(root, name), encoding="utf-8") as handle:
                    if by_hand.search(handle.read()):
                        found.append(name)
    assert found == [], found
