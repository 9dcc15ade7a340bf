# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""hunting: the query and timespan checks of advanced_hunting (the module's runs are in tests/unit/plugins/modules)."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import hunting
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError


@pytest.mark.parametrize("value,expected", [("7d", "P7D"), ("24h", "PT24H"), ("30m", "PT30M"), (None, None),
                                            ("P7D", "P7D"), ("P7D/2026-11-08T00:00:00Z", "P7D/2026-11-08T00:00:00Z"),
                                            ("2026-11-01T00:00:00Z/2026-11-08T00:00:00Z",
                                             "2026-11-01T00:00:00Z/2026-11-08T00:00:00Z")])
def test_timespan_forms(value, expected):
    assert hunting.check_timespan(value) == expected


@pytest.mark.parametrize("value", ["forever", "P7D/P1D", "a/b/c", "7 days"])
def test_bad_timespan_is_refused_naming_it(value):
    with pytest.raises(DefenderConfigError, match="timespan"):
        hunting.check_timespan(value)


def test_query_may_span_lines_but_holds_no_other_control_character():
    assert hunting.check_query("DeviceInfo\n| take 1\t") == "DeviceInfo\n| take 1\t"
    for bad in ("", "  ", "DeviceInfo\x1b"):
        with pytest.raises(DefenderConfigError, match="query"):
            hunting.check_query(bad)


def test_unreadable_query_file_names_the_file(tmp_path):
    with pytest.raises(DefenderConfigError) as info:
        hunting.read_query_file(str(tmp_path / "missing.kql"))
    assert "missing.kql" in str(info.value)
