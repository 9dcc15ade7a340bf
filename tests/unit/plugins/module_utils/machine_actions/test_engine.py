# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_actions/engine.py on its own: read first, send at most once per machine, never for an unresolved one,
never in check mode, never again after a lost response (read back), follow with wait. The modules' tests cover
each action's rules on the same engine."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderOutcomeUnknownError
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import registry, specs
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.engine import Engine
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.fake_machines import (
    FakeMachines,
    action,
    machine,
    mid,
)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.now += s


def scan_engine(fake, check_mode=False, wait=False, **over):
    p = dict(action="av_scan", scan_type=None, sha1=None, dest=None, confirm_offboard=False,
             skip_if_done_within=None, comment="INC-1", wait=wait, wait_timeout=60, wait_sleep=5)
    p.update(over)
    _entry, spec = specs.one_shot(p)
    clock = Clock()
    return Engine.for_task(fake, spec, p, check_mode, sleeper=clock.sleep, clock=clock)


def test_one_post_per_resolved_machine_none_for_unresolved():
    fake = FakeMachines([machine(1, "a"), machine(2, "b")])
    out = scan_engine(fake).execute(["a", "b", "nobody", mid(1)], max_parallel=4)
    assert sorted(c[1] for c in fake.posts()) == ["/api/machines/%s/runAntiVirusScan" % mid(i) for i in (1, 2)]
    assert [r["machine"] for r in out] == ["a", "b", "nobody"]  # mid(1) is "a" named twice: handled once
    assert out[2]["failed"] and "nothing was sent" in out[2]["msg"]


def test_reads_come_before_any_post_and_check_mode_never_posts():
    fake = FakeMachines([machine(1)])
    [r] = scan_engine(fake, check_mode=True).execute([mid(1)])
    assert r["changed"] and r["msg"] == "would send RunAntiVirusScan" and not fake.posts()
    assert all(c[0] == "GET" for c in fake.calls)


def test_running_action_is_reported_not_sent_again():
    running = action(mid(1), "RunAntiVirusScan", "InProgress", scope="Quick")
    fake = FakeMachines([machine(1)], [running])
    [r] = scan_engine(fake).execute([mid(1)])
    assert not fake.posts() and not r["changed"] and r["action"]["id"] == running["id"]


@pytest.mark.parametrize("applied", [True, False])
def test_lost_post_is_read_back_never_sent_again(applied):
    fake = FakeMachines([machine(1)])

    def lose(f, machine_id, kind, body):
        if applied:
            f.new_action(machine_id, kind, body)
        raise DefenderOutcomeUnknownError("connection reset", method="POST")

    fake.on_post = lose
    [r] = scan_engine(fake).execute([mid(1)])
    assert len(fake.posts()) == 1
    assert fake.calls[-1][1] == "/api/machineactions", "the history was read again"
    if applied:
        assert r["changed"] and not r["failed"] and "found in the history" in r["msg"]
    else:
        assert r["failed"] and not r["changed"] and "outcome unknown" in r["msg"]


def test_wait_follows_to_the_final_status():
    fake = FakeMachines([machine(1)])
    fake.on_get_action = lambda f, a: a.update(status="Succeeded")
    [r] = scan_engine(fake, wait=True).execute([mid(1)])
    assert r["changed"] and r["action"]["status"] == "Succeeded" and r["state"] == "succeeded"


def test_declarative_engine_isolates_once_and_reruns_unchanged():
    fake = FakeMachines([machine(1)])
    p = dict(state="isolated", isolation_type="full", comment="INC-1", cancel_pending=None, wait=False,
             wait_timeout=60, wait_sleep=5)
    spec = specs.declarative(registry.ISOLATION, p)
    [r1] = Engine.for_task(fake, spec, p, False).execute([mid(1)])
    [r2] = Engine.for_task(fake, spec, p, False).execute([mid(1)])
    assert r1["changed"] and r1["state"] == "isolation_pending" and not r2["changed"]
    assert [c[2] for c in fake.posts()] == [{"Comment": "INC-1", "IsolationType": "Full"}]
