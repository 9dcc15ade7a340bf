# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""transport: which failures were sent (outcome unknown) and which were not, which bodies were cut, what a TLS
failure is. The retry policy against a real server is in test_client.py (through the client)."""

from __future__ import annotations

import ssl

import pytest
import requests

from ansible_collections.defender.endpoint.plugins.module_utils import transport
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderOutcomeUnknownError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.test_client import (  # noqa: F401  pylint: disable=unused-import
    make_client,
    server,
)


def test_5xx_on_a_write_is_outcome_unknown_and_not_resent(server):  # noqa: F811
    server.plan = [(502, {}, {"error": {"code": "BadGateway", "message": "upstream", "target": "r-9"}})]
    with pytest.raises(DefenderOutcomeUnknownError) as info:
        make_client(server).patch("/api/alerts/a1", {"status": "Resolved"})
    assert info.value.status == 502 and info.value.target == "r-9"
    assert [s["method"] for s in server.seen] == ["PATCH"]


def test_cut_get_body_is_read_again():
    exc = requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
    assert transport.body_lost(exc)
    assert not transport.body_lost(requests.exceptions.ConnectTimeout("x"))


def test_only_certificate_failures_are_called_tls_verification_failures():
    verify = requests.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed"))
    record = requests.exceptions.SSLError(ssl.SSLError(1, "decryption failed or bad record mac"))
    assert transport.certificate_rejected(verify) and not transport.was_sent(verify)
    assert not transport.certificate_rejected(record) and transport.was_sent(record)
    assert transport.body_lost(record) and not transport.body_lost(verify)
