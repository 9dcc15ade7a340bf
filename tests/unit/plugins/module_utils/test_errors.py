# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""errors: what an error says (status, code, method and path, request id) and what a failed module returns."""

from __future__ import annotations

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
