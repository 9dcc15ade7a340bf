# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_actions/registry.py: every entry names a documented action type, path and permission; options belong
to one entry; the modules' choices come from the registry; bodies per entry."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import machines, permissions
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import registry
from ansible_collections.defender.endpoint.plugins.modules import machine_action, machine_isolation

ENTRIES = list(registry.ONE_SHOT.values()) + [e for pair in registry.TOGGLE_ENTRIES.values() for e in pair.values()]
# POST /api/machines/{id}/<path> per action type, as the API reference lists them
DOCUMENTED_PATHS = {"Isolate": "isolate", "Unisolate": "unisolate", "RunAntiVirusScan": "runAntiVirusScan",
                    "RestrictCodeExecution": "restrictCodeExecution",
                    "UnrestrictCodeExecution": "unrestrictCodeExecution",
                    "CollectInvestigationPackage": "collectInvestigationPackage", "Offboard": "offboard",
                    "StopAndQuarantineFile": "StopAndQuarantineFile"}


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_entry_is_a_documented_action(entry):
    assert entry.api_type in machines.ACTION_TYPES
    assert DOCUMENTED_PATHS[entry.api_type] == entry.path
    assert entry.permission in permissions.ROLES


def test_names_and_options_are_unique():
    assert len(set(e.name for e in ENTRIES)) == len(ENTRIES)
    owned = [o for e in registry.ONE_SHOT.values() for o in e.options]
    assert len(owned) == len(set(owned)), "an option belongs to one action"


def test_toggle_pairs_hold_their_entries_states():
    for toggle, by_state in registry.TOGGLE_ENTRIES.items():
        assert set(by_state) == {toggle.on_state, toggle.off_state}
        for state, entry in by_state.items():
            assert toggle.kind_of[state] == entry.api_type and toggle.pending_of[state] == entry.pending_state


def test_module_choices_come_from_the_registry():
    # the docs list the same choices (sanity compares docs and argument spec)
    assert "choices: [%s]" % ", ".join(registry.ONE_SHOT) in machine_action.DOCUMENTATION
    assert "choices: [%s]" % ", ".join(registry.ISOLATION_TYPES) in machine_isolation.DOCUMENTATION


@pytest.mark.parametrize("entry, params, body", [
    (registry.AV_SCAN, {}, {"ScanType": "Quick"}),
    (registry.AV_SCAN, {"scan_type": "full"}, {"ScanType": "Full"}),
    (registry.QUARANTINE, {"sha1": " %s " % ("AB" * 20)}, {"Sha1": "ab" * 20}),
    (registry.COLLECT, {}, {}),
    (registry.OFFBOARD, {"confirm_offboard": True}, {}),
    (registry.ISOLATE, {"isolation_type": "unmanaged_device"}, {"IsolationType": "UnManagedDevice"}),
    (registry.RELEASE, {"isolation_type": "full"}, {}),
    (registry.RESTRICT, {}, {}),
])
def test_bodies(entry, params, body):
    assert entry.body(dict(params, comment="INC-1")) == dict(body, Comment="INC-1")


def test_follow_up_and_waits_only_where_declared():
    assert registry.COLLECT.follow_up is not None and registry.COLLECT.waits({"dest": "/x"})
    assert not registry.COLLECT.waits({"dest": None})
    assert all(e.follow_up is None and not e.waits({"dest": "/x"}) for e in ENTRIES if e is not registry.COLLECT)
