# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_query: the one machine filter builder (machine_info and the inventory), findbyip and the selectors."""

from __future__ import annotations

import datetime
import os
import sys

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import machine_query
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError

EMULATOR_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator"))
try:
    sys.path.insert(0, EMULATOR_DIR)
    from emulator_odata import parse_filter  # pylint: disable=import-error
finally:
    if sys.path and sys.path[0] == EMULATOR_DIR:
        sys.path.pop(0)


def test_no_filters_no_filter():
    assert machine_query.build_filter({}) is None
    assert machine_query.build_filter({"health_status": None, "filter": None}) is None


def test_every_list_filter_is_one_or_and_they_are_joined_with_and():
    flt = machine_query.build_filter({"health_status": ["Active", "Inactive", "Active"], "os_platform": ["Linux"],
                                      "risk_score": ["High"], "exposure_level": ["Low"],
                                      "filter": "lastSeen gt 2026-01-01T00:00:00Z"})
    assert flt == ("(healthStatus eq 'Active' or healthStatus eq 'Inactive') and osPlatform eq 'Linux' and "
                   "riskScore eq 'High' and exposureLevel eq 'Low' and (lastSeen gt 2026-01-01T00:00:00Z)")
    pred = parse_filter(flt)
    machine = {"healthStatus": "Inactive", "osPlatform": "Linux", "riskScore": "High", "exposureLevel": "Low",
               "lastSeen": "2026-02-01T00:00:00Z"}
    assert pred(machine) and not pred(dict(machine, osPlatform="Windows11"))


def test_values_are_escaped():
    assert machine_query.build_filter({"os_platform": ["O'Brien OS"]}) == "osPlatform eq 'O''Brien OS'"


@pytest.mark.parametrize("options,prefix,word", [
    ({"health_status": ["Sick"]}, "", "health_status must be among"),
    ({"risk_score": []}, "filters.", "filters.risk_score must be a non-empty list"),
    ({"exposure_level": ["Low", ""]}, "filters.", "filters.exposure_level must hold non-empty strings"),
    ({"os_platform": "Linux\n"}, "", "os_platform"),
    ({"filter": "a eq 'b') or (c eq 'd'"}, "filters.", "filters.filter"),
])
def test_bad_values_name_the_option(options, prefix, word):
    with pytest.raises(DefenderConfigError) as info:
        machine_query.build_filter(options, prefix=prefix)
    assert word in str(info.value)


def test_narrow_on_this_side():
    items = [{"id": "a", "healthStatus": "Active", "riskScore": "Low"},
             {"id": "b", "healthStatus": "Inactive", "riskScore": "Low"}]
    assert machine_query.narrow(items, {"health_status": ["Inactive"]}) == [items[1]]
    assert machine_query.narrow(items, {"health_status": None}) == items


def test_by_ipv6_is_canonical_and_quoted():
    path = machine_query.findbyip_path(" FE80:0:0::1 ", "2026-01-31T08:00:00+01:00")
    assert path == "/api/machines/findbyip(ip='fe80::1',timestamp=2026-01-31T07:00:00Z)"


@pytest.mark.parametrize("value", ["fe80::1%eth0", "fe80::1%x')?$top=1#", "::1%'"])
def test_scoped_ipv6_is_refused_naming_ip(value):
    with pytest.raises(DefenderConfigError) as info:
        machine_query.findbyip_path(value, "2026-01-31T08:00:00Z")
    assert "ip" in str(info.value) and "zone" in str(info.value)


def test_check_timestamp_window():
    now = datetime.datetime(2026, 1, 31, tzinfo=datetime.timezone.utc)
    with pytest.raises(DefenderConfigError, match="future"):
        machine_query.check_timestamp("2026-02-02T00:00:00Z", now=now)
    with pytest.raises(DefenderConfigError, match="30 days"):
        machine_query.check_timestamp("2025-12-01T00:00:00Z", now=now)
    assert machine_query.check_timestamp(None, now=now) == now


def test_selector():
    assert machine_query.selector({"id": None, "name": "host", "ip": None, "tag": None}) == "name"
    assert machine_query.selector({}) is None
