# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_actions/specs.py: option checks before any request, the plan of a task from its registry entry."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import registry, specs

NOW = datetime.datetime(2026, 2, 1, 12, 0, tzinfo=datetime.timezone.utc)


def params(**over):
    p = dict(machine="web", machines=None, comment="INC-1", wait=False, wait_timeout=300, wait_sleep=5,
             max_parallel=8, requests_per_minute=100, action="av_scan", scan_type=None, sha1=None, dest=None,
             confirm_offboard=False, skip_if_done_within=None)
    p.update(over)
    return p


@pytest.mark.parametrize("over, message", [
    (dict(machines=["a"]), "either machine or machines"),
    (dict(machine=None), "one of machine or machines"),
    (dict(machine=None, machines=[]), "must not be empty"),
    (dict(comment=" "), "comment must not be empty"),
    (dict(comment="x" * 1001), "longer than 1000"),
    (dict(wait_timeout=-1), "wait_timeout"),
    (dict(wait_sleep=0), "wait_sleep"),
    (dict(max_parallel=65), "max_parallel"),
    (dict(requests_per_minute=0), "requests_per_minute"),
])
def test_common_checks(over, message):
    with pytest.raises(DefenderConfigError, match=message):
        specs.check_common_params(params(**over))


def test_refs_deduplicated_in_order():
    assert specs.check_common_params(params(machine=None, machines=[" b", "a", "b "])) == (["b", "a"], False)


@pytest.mark.parametrize("over, message", [
    (dict(action="reboot"), "action must be one of av_scan, collect_investigation_package"),
    (dict(action="av_scan", sha1="ab" * 20), "sha1 is only used with action=stop_and_quarantine_file"),
    (dict(action="offboard", confirm_offboard=True, scan_type="full"), "scan_type is only used with action=av_scan"),
    (dict(action="av_scan", confirm_offboard=True), "confirm_offboard is only used with action=offboard"),
    (dict(action="av_scan", dest="/tmp"), "dest is only used with action=collect_investigation_package"),
    (dict(action="stop_and_quarantine_file", sha1="xyz"), "sha1 must be the SHA-1"),
    (dict(action="offboard"), "confirm_offboard: true"),
    (dict(skip_if_done_within="yesterday"), "skip_if_done_within"),
])
def test_one_shot_checks(over, message):
    with pytest.raises(DefenderConfigError, match=message):
        specs.one_shot(params(**over))


def test_one_shot_spec_from_the_entry():
    entry, spec = specs.one_shot(params(action="av_scan", scan_type="full", skip_if_done_within="24h"), now=NOW)
    assert entry is registry.AV_SCAN and spec.path == "runAntiVirusScan" and spec.kind == "RunAntiVirusScan"
    assert spec.body == {"Comment": "INC-1", "ScanType": "Full"} and spec.permission == "Machine.Scan"
    assert spec.since == NOW - datetime.timedelta(hours=24)


def test_offboard_counts_a_success_however_old():
    _entry, spec = specs.one_shot(params(action="offboard", confirm_offboard=True))
    assert spec.since.year == 1970


@pytest.mark.parametrize("toggle, state, cancel, body", [
    (registry.ISOLATION, "isolated", False, {"Comment": "INC-1", "IsolationType": "Selective"}),
    (registry.ISOLATION, "released", True, {"Comment": "INC-1"}),
    (registry.RESTRICTION, "restricted", False, {"Comment": "INC-1"}),
    (registry.RESTRICTION, "unrestricted", True, {"Comment": "INC-1"}),
])
def test_declarative_spec(toggle, state, cancel, body):
    spec = specs.declarative(toggle, params(state=state, isolation_type="selective", cancel_pending=None))
    assert spec.wanted == state and spec.cancel_pending is cancel and spec.body == body
    assert spec.path == registry.TOGGLE_ENTRIES[toggle][state].path
    assert specs.declarative(toggle, params(state=state, cancel_pending=not cancel)).cancel_pending is (not cancel)
