# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""settings: the shared connection options resolved into Settings."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import settings as connection_settings
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError


def test_validate_certs_typo_is_an_error_not_false():
    for name in ("validate_certs", "token_cache"):
        with pytest.raises(DefenderConfigError) as info:
            connection_settings.Settings({"access_token": "a.b.c", name: "ture"})
        assert name in str(info.value)
    assert connection_settings.Settings({"access_token": "a.b.c", "validate_certs": "no"}).validate_certs is False
