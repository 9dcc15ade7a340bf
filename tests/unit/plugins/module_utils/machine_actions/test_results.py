# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_actions/results.py: machines named by computer name and id (or as given, when unresolved), summary,
failure message, diff."""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import results
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.engine import new_result
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.fake_machines import machine, mid


def test_an_unresolved_machine_is_named_as_given_not_none():
    # The message used to read "None: no machine named ..." (a second machine_label shadowed the first).
    unresolved = dict(new_result("web-99"), failed=True, msg="no machine named 'web-99' was found")
    msg = results.failure_msg([unresolved])
    assert msg.startswith("1 of 1 machines failed: web-99: no machine named") and "None" not in msg


def test_labels_name_and_id():
    r = new_result("web", machine(1, "web.contoso.com"))
    assert results.machine_label(r) == "web.contoso.com (%s)" % mid(1)
    assert results.machine_label(new_result(mid(2), {"id": mid(2)})) == mid(2)


def test_summary_and_diff_list_resolved_machines():
    a = dict(new_result("a", machine(1, "a")), changed=True, previous_state="released", state="isolation_pending")
    b = dict(new_result("b"), failed=True, msg="no machine named 'b' was found")
    assert results.summary([a, b]) == "2 machines: 1 changed (a (%s)), 1 unchanged" % mid(1)
    assert results.state_diff([a, b]) == {"before": {"a (%s)" % mid(1): "released"},
                                          "after": {"a (%s)" % mid(1): "isolation_pending"}}


def test_failure_message_lists_at_most_twenty():
    failed = [dict(new_result("m%d" % i), failed=True, msg="x") for i in range(25)]
    msg = results.failure_msg(failed)
    assert "m19: x" in msg and "m20" not in msg and msg.endswith("(and 5 more)")
