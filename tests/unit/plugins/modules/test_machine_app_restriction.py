# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_app_restriction: declarative from the RestrictCodeExecution/UnrestrictCodeExecution history."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderOutcomeUnknownError
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import registry, specs
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.engine import Engine
from ansible_collections.defender.endpoint.plugins.modules import machine_app_restriction as mod
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.fake_machines import (
    label,
    CONNECTION,
    FakeMachines,
    action,
    install,
    machine,
    mid,
    needs_parser,
    refuse_client,
)
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module

pytestmark = needs_parser

RESULT_KEYS = {"machine", "machine_id", "computer_dns_name", "changed", "action", "previous_state", "state",
               "failed", "msg", "cancelled"}
OLD = "2026-01-20T10:00:00Z"
OLDER = "2026-01-10T10:00:00Z"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.now += s


def run(fake, refs, check_mode=False, **over):
    p = dict(state="restricted", comment="INC-1", wait=False, wait_timeout=300, wait_sleep=5, cancel_pending=None,
             max_parallel=4, requests_per_minute=100)
    p.update(over)
    clock = Clock()
    spec = specs.declarative(registry.RESTRICTION, p)
    return Engine.for_task(fake, spec, p, check_mode, sleeper=clock.sleep, clock=clock).execute(refs, max_parallel=4)


def test_restrict_sends_exact_body_once_and_rerun_sends_nothing():
    fake = FakeMachines([machine(1, "web")])
    [r] = run(fake, ["web"])
    assert fake.posts() == [("POST", "/api/machines/%s/restrictCodeExecution" % mid(1), {"Comment": "INC-1"})]
    assert r["changed"] and r["previous_state"] == "unrestricted" and r["state"] == "restriction_pending"
    assert set(r) == RESULT_KEYS and r["action"]["type"] == "RestrictCodeExecution"
    [r2] = run(fake, ["web"])
    assert len(fake.posts()) == 1 and not r2["changed"] and r2["action"]["id"] == r["action"]["id"]


def test_unrestrict_body_and_states():
    fake = FakeMachines([machine(1)], [action(mid(1), "RestrictCodeExecution", "Succeeded", OLD, scope=None)])
    [r] = run(fake, [mid(1)], state="unrestricted")
    assert fake.posts() == [("POST", "/api/machines/%s/unrestrictCodeExecution" % mid(1), {"Comment": "INC-1"})]
    assert r["previous_state"] == "restricted" and r["state"] == "unrestriction_pending"


@pytest.mark.parametrize("history, wanted", [
    ([("RestrictCodeExecution", "Succeeded")], "restricted"),
    ([("RestrictCodeExecution", "Pending")], "restricted"),
    ([], "unrestricted"),
    ([("Isolate", "Succeeded")], "unrestricted"),  # isolation is another pair: it does not count
    ([("RestrictCodeExecution", "Succeeded"), ("UnrestrictCodeExecution", "Succeeded")], "unrestricted"),
])
def test_nothing_sent_when_already_there(history, wanted):
    times = [OLDER, OLD]
    fake = FakeMachines([machine(1)], [action(mid(1), t, s, times[i]) for i, (t, s) in enumerate(history)])
    [r] = run(fake, [mid(1)], state=wanted)
    assert not fake.posts() and not r["changed"] and not r["failed"]


def test_unrestrict_cancels_a_pending_restriction_by_default():
    done = action(mid(1), "RestrictCodeExecution", "Succeeded", OLDER)
    stuck = action(mid(1), "RestrictCodeExecution", "Pending", OLD)
    fake = FakeMachines([machine(1)], [done, stuck])
    [r] = run(fake, [mid(1)], state="unrestricted")
    assert [c[1] for c in fake.posts()] == ["/api/machineactions/%s/cancel" % stuck["id"],
                                            "/api/machines/%s/unrestrictCodeExecution" % mid(1)]
    assert r["changed"] and not r["failed"] and r["cancelled"][0]["id"] == stuck["id"]


def test_restrict_waits_for_a_pending_unrestriction_without_cancelling():
    fake = FakeMachines([machine(1)], [action(mid(1), "RestrictCodeExecution", "Succeeded", OLDER),
                                       action(mid(1), "UnrestrictCodeExecution", "Pending", OLD)])
    [r] = run(fake, [mid(1)], wait_timeout=20)
    assert not fake.posts() and r["failed"] and "out of order" in r["msg"]


def test_check_mode_predicts_without_post():
    fake = FakeMachines([machine(1), machine(2)], [action(mid(2), "RestrictCodeExecution", "Succeeded", OLD)])
    r1, r2 = run(fake, [mid(1), mid(2)], check_mode=True)
    assert not fake.posts() and r1["changed"] and r1["state"] == "restricted" and not r2["changed"]


def test_lost_post_is_read_back_never_resent():
    fake = FakeMachines([machine(1)])

    def drop(f, machine_id, kind, body):
        f.new_action(machine_id, kind, body)
        raise DefenderOutcomeUnknownError("no response", method="POST")

    fake.on_post = drop
    [r] = run(fake, [mid(1)])
    assert len(fake.posts()) == 1 and r["changed"] and "lost" in r["msg"]


def test_wait_confirms_the_state_from_the_history():
    fake = FakeMachines([machine(1)])
    fake.on_get_action = lambda f, a: a.update(status="Succeeded", lastUpdateDateTimeUtc="2030-01-01T00:00:00Z")
    [r] = run(fake, [mid(1)], wait=True)
    assert not r["failed"] and r["state"] == "restricted" and r["action"]["status"] == "Succeeded"


def test_run_module_single_with_diff(monkeypatch):
    fake = FakeMachines([machine(1, "web")])
    install(monkeypatch, fake)
    result, failed = run_module(mod.main, dict(CONNECTION, machine="web", comment="x", _ansible_diff=True),
                                monkeypatch)
    assert not failed and result["changed"] and result["state"] == "restriction_pending"
    assert result["diff"] == {"before": {label(1, "web"): "unrestricted"}, "after": {label(1, "web"): "restriction_pending"}}


@pytest.mark.parametrize("args, message", [
    (dict(machine="web", comment=""), "comment must not be empty"),
    (dict(machine="web", comment="x", state="isolated"), "state"),
    (dict(machines=[], comment="x"), "machines must not be empty"),
    (dict(machine="web", comment="x", wait_sleep=0), "wait_sleep"),
])
def test_bad_input_fails_before_any_request(monkeypatch, args, message):
    refuse_client(monkeypatch)
    result, failed = run_module(mod.main, dict(CONNECTION, **args), monkeypatch)
    assert failed and message in result["msg"]
