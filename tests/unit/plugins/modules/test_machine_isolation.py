# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_isolation: decisions, POST bodies, lost responses, duplicates, bulk results, input errors."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.module_utils import machines as M
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import registry, specs
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.engine import Engine, new_result
from ansible_collections.defender.endpoint.plugins.modules import machine_isolation as mod
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.fake_machines import (
    label,
    CONNECTION,
    FakeMachines,
    action,
    install,
    machine,
    mid,
    refuse_client,
)
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module

RESULT_KEYS = {"machine", "machine_id", "computer_dns_name", "changed", "action", "previous_state", "state",
               "failed", "msg", "cancelled"}
OLD = "2026-01-20T10:00:00Z"


def params(**over):
    p = dict(state="isolated", isolation_type="full", comment="INC-1", wait=False, wait_timeout=300, wait_sleep=5,
             max_parallel=4, requests_per_minute=100)
    p.update(over)
    return p


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.now += s


def run(fake, refs, check_mode=False, **over):
    clock = Clock()
    return engine(fake, params(**over), check_mode, clock).execute(refs, max_parallel=4)


def engine(fake, p, check_mode=False, clock=None):
    clock = clock or Clock()
    spec = specs.declarative(registry.ISOLATION, p)
    return Engine.for_task(fake, spec, p, check_mode, sleeper=clock.sleep, clock=clock)


def test_isolate_by_name_sends_exact_body_once():
    fake = FakeMachines([machine(1, "Web-01.contoso.com")])
    [r] = run(fake, ["web-01.contoso.com"])
    assert fake.posts() == [("POST", "/api/machines/%s/isolate" % mid(1), {"Comment": "INC-1", "IsolationType": "Full"})]
    assert r["changed"] and r["previous_state"] == "released" and r["state"] == "isolation_pending"
    assert r["action"]["type"] == "Isolate" and set(r) == RESULT_KEYS
    # a rerun reads the pending action and sends nothing
    [r2] = run(fake, ["web-01.contoso.com"])
    assert len(fake.posts()) == 1 and not r2["changed"] and r2["action"]["id"] == r["action"]["id"]


@pytest.mark.parametrize("itype, scope", [("selective", "Selective"), ("unmanaged_device", "UnManagedDevice")])
def test_isolation_type_mapping(itype, scope):
    fake = FakeMachines([machine(1)])
    run(fake, [mid(1)], isolation_type=itype)
    assert fake.posts()[0][2] == {"Comment": "INC-1", "IsolationType": scope}


def test_release_body_has_only_comment():
    fake = FakeMachines([machine(1)], [action(mid(1), "Isolate", "Succeeded", OLD)])
    [r] = run(fake, [mid(1)], state="released")
    assert fake.posts() == [("POST", "/api/machines/%s/unisolate" % mid(1), {"Comment": "INC-1"})]
    assert r["previous_state"] == "isolated" and r["state"] == "release_pending"


@pytest.mark.parametrize("history, wanted", [
    ([("Isolate", "Succeeded")], "isolated"),
    ([("Isolate", "Pending")], "isolated"),
    ([("Isolate", "InProgress")], "isolated"),
    ([], "released"),
    ([("Isolate", "Succeeded"), ("Unisolate", "Pending")], "released"),
])
def test_nothing_sent_when_done_or_pending(history, wanted):
    times = ["2026-01-20T10:00:00Z", "2026-01-21T10:00:00Z"]
    fake = FakeMachines([machine(1)], [action(mid(1), t, s, times[i]) for i, (t, s) in enumerate(history)])
    [r] = run(fake, [mid(1)], state=wanted)
    assert not fake.posts() and not r["changed"] and not r["failed"]


def test_check_mode_predicts_without_post():
    fake = FakeMachines([machine(1), machine(2)], [action(mid(2), "Isolate", "Succeeded", OLD)])
    results = run(fake, [mid(1), mid(2)], check_mode=True)
    assert not fake.posts()
    assert [r["changed"] for r in results] == [True, False]
    assert results[0]["previous_state"] == "released" and results[0]["state"] == "isolated"


@pytest.mark.parametrize("status, over", [("InProgress", {}), ("Pending", {"cancel_pending": False})])
def test_release_waits_for_active_isolate_then_sends(status, over):
    iso = action(mid(1), "Isolate", status, OLD)
    fake = FakeMachines([machine(1)], [iso])
    polls = []

    def advance(f, a):
        polls.append(a["id"])
        if len(polls) == 2:
            a["status"] = "Succeeded"

    fake.on_get_action = advance
    [r] = run(fake, [mid(1)], state="released", **over)
    assert len(polls) == 2
    assert [p[1] for p in fake.posts()] == ["/api/machines/%s/unisolate" % mid(1)]
    assert r["changed"] and r["previous_state"] == "isolation_pending" and r["state"] == "release_pending"
    assert r["cancelled"] == []


@pytest.mark.parametrize("over", [{"cancel_pending": False}, {"state": "isolated", "cancel_pending": None}])
def test_without_cancel_pending_a_stuck_other_action_sends_nothing_and_fails(over):
    kind = "Unisolate" if over.get("state") == "isolated" else "Isolate"
    fake = FakeMachines([machine(1)], [action(mid(1), "Isolate", "Succeeded", "2026-01-10T10:00:00Z"),
                                       action(mid(1), kind, "Pending", OLD)])
    args = dict(dict(state="released"), **over)
    [r] = run(fake, [mid(1)], wait_timeout=20, **args)
    assert not fake.posts() and r["failed"] and "out of order" in r["msg"] and r["cancelled"] == []


def test_release_check_mode_with_pending_isolate_does_not_wait():
    fake = FakeMachines([machine(1)], [action(mid(1), "Isolate", "Pending", OLD)])
    [r] = run(fake, [mid(1)], state="released", check_mode=True)
    assert r["changed"] and not fake.posts()
    assert not [c for c in fake.calls if c[1].startswith("/api/machineactions/")]


def test_active_request_already_exists_is_not_changed():
    fake = FakeMachines([machine(1)])

    def refuse(f, machine_id, kind, body):
        f.new_action(machine_id, kind, body)  # someone else's request landed just before ours
        raise DefenderError("Action is already in progress", status=400, code="ActiveRequestAlreadyExists")

    fake.on_post = refuse
    [r] = run(fake, [mid(1)])
    assert not r["changed"] and not r["failed"] and r["action"]["status"] == "Pending"


@pytest.mark.parametrize("code, message", [
    (None, "Action is already in progress"),            # the documented message, no code
    ("BadRequest", "Action is already in progress."),   # the documented message with another code
])
def test_documented_already_in_progress_message_is_recognised(code, message):
    fake = FakeMachines([machine(1)])

    def refuse(f, machine_id, kind, body):
        f.new_action(machine_id, kind, body)
        raise DefenderError(message, status=400, code=code)

    fake.on_post = refuse
    [r] = run(fake, [mid(1)])
    assert not r["changed"] and not r["failed"] and r["action"]["status"] == "Pending"
    assert len(fake.posts()) == 1


def test_already_in_progress_helper():
    assert M.already_in_progress(DefenderError("x", status=400, code="ActiveRequestAlreadyExists"))
    assert M.already_in_progress(DefenderError("Action is already in progress", status=400))
    assert not M.already_in_progress(DefenderError("Action is already in progress", status=409))
    assert not M.already_in_progress(DefenderError("Invalid body", status=400, code="InvalidRequestBody"))


def test_active_request_of_other_kind_fails():
    fake = FakeMachines([machine(1)], [action(mid(1), "Isolate", "Succeeded", OLD)])

    def refuse(f, machine_id, kind, body):
        f.actions.append(action(machine_id, "RunAntiVirusScan", "Pending"))
        raise DefenderError("Action is already in progress", status=400, code="ActiveRequestAlreadyExists")

    fake.on_post = refuse
    [r] = run(fake, [mid(1)], state="released")
    assert r["failed"] and not r["changed"]


def test_201_with_an_action_already_in_the_history_is_not_changed():
    # duplicate_mode return_pending: the API answers 201 with an action it already had instead of a new one.
    known = action(mid(1), "Isolate", "Cancelled", OLD)  # in the history read, but not effective: a POST is planned
    fake = FakeMachines([machine(1)])
    fake.on_post = lambda f, m, k, b: dict(known, status="Pending")
    res = new_result(mid(1), machine(1))
    engine(fake, params()).handle(res, [known])
    assert len(fake.posts()) == 1
    assert not res["changed"] and not res["failed"] and "already pending" in res["msg"]
    assert res["state"] == "isolation_pending"


def test_201_with_an_action_of_the_other_kind_fails():
    fake = FakeMachines([machine(1)])
    fake.on_post = lambda f, m, k, b: action(m, "Unisolate", "Pending")
    [r] = run(fake, [mid(1)])
    assert r["failed"] and "answered with" in r["msg"]


def test_lost_post_with_action_visible_reports_it_once():
    fake = FakeMachines([machine(1)])

    def drop(f, machine_id, kind, body):
        f.new_action(machine_id, kind, body)
        raise DefenderOutcomeUnknownError("the request was sent but no response arrived", method="POST")

    fake.on_post = drop
    [r] = run(fake, [mid(1)])
    assert len(fake.posts()) == 1
    assert r["changed"] and not r["failed"] and r["action"]["type"] == "Isolate" and "lost" in r["msg"]


def test_lost_post_with_nothing_visible_fails_without_resending():
    fake = FakeMachines([machine(1)])

    def drop(f, machine_id, kind, body):
        raise DefenderOutcomeUnknownError("the request was sent but no response arrived", method="POST")

    fake.on_post = drop
    [r] = run(fake, [mid(1)], wait=True)
    assert len(fake.posts()) == 1
    assert r["failed"] and "outcome unknown" in r["msg"] and "re-run" in r["msg"].lower()
    # the history was read again right after the lost POST
    post_index = max(i for i, c in enumerate(fake.calls) if c[0] == "POST")
    assert fake.calls[post_index + 1][1] == "/api/machineactions"


@pytest.mark.parametrize("applied", [True, False])
def test_5xx_on_post_is_handled_like_a_lost_response(applied):
    # The shared client turns a 5xx answer to a POST into DefenderOutcomeUnknownError with the status set.
    fake = FakeMachines([machine(1)])

    def boom(f, machine_id, kind, body):
        if applied:
            f.new_action(machine_id, kind, body)
        raise DefenderOutcomeUnknownError("Bad gateway; the service may or may not have applied the change",
                                          status=502, code="BadGateway", method="POST")

    fake.on_post = boom
    [r] = run(fake, [mid(1)])
    assert len(fake.posts()) == 1
    if applied:
        assert r["changed"] and not r["failed"] and "lost" in r["msg"]
    else:
        assert r["failed"] and not r["changed"] and "outcome unknown" in r["msg"] and "HTTP 502" in r["msg"]


def test_a_plain_error_on_post_is_not_second_guessed_as_lost():
    # Which answers leave the outcome unknown is the shared client's decision, not this module's: a DefenderError
    # that is not DefenderOutcomeUnknownError (whatever its status) was not applied, so the history is not re-read.
    fake = FakeMachines([machine(1)])

    def boom(f, machine_id, kind, body):
        raise DefenderError("internal", status=500, code="InternalServerError")

    fake.on_post = boom
    [r] = run(fake, [mid(1)])
    assert r["failed"] and not r["changed"] and "internal" in r["msg"] and "lost" not in r["msg"]
    history_reads = [c for c in fake.calls if c[1] == "/api/machineactions"]
    assert len(history_reads) == 1, "only the read before the POST"


def test_other_post_errors_fail_that_machine():
    fake = FakeMachines([machine(1)])

    def forbidden(f, machine_id, kind, body):
        raise DefenderError("missing Machine.Isolate", status=403, code="Forbidden")

    fake.on_post = forbidden
    [r] = run(fake, [mid(1)])
    assert r["failed"] and "Machine.Isolate" in r["msg"] and not r["changed"]


@pytest.mark.parametrize("final, failed", [("Succeeded", False), ("Failed", True), ("TimeOut", True),
                                           ("Cancelled", True)])
def test_wait_final_status(final, failed):
    fake = FakeMachines([machine(1)])

    def advance(f, a):
        a["status"] = final
        a["lastUpdateTimeUtc"] = "2030-01-01T00:00:00Z"

    fake.on_get_action = advance
    [r] = run(fake, [mid(1)], wait=True)
    assert r["action"]["status"] == final and r["failed"] is failed
    assert r["state"] == ("isolated" if final == "Succeeded" else "released")
    if failed:
        assert final in r["msg"] and r["action"]["id"] in r["msg"]


def test_wait_timeout_fails():
    fake = FakeMachines([machine(1)])
    [r] = run(fake, [mid(1)], wait=True, wait_timeout=10)
    assert r["failed"] and "not final after 10 seconds" in r["msg"]


def test_bulk_partial_failure_shape():
    machines = [machine(i) for i in range(1, 6)] + [machine(10, "amb"), machine(11, "amb")]
    fake = FakeMachines(machines, [action(mid(2), "Isolate", "Succeeded", OLD)])
    refs = [mid(1), mid(2), "host-003.contoso.com", "missing", "amb", mid(4), mid(5), "HOST-001.contoso.com"]

    def forbid_five(f, machine_id, kind, body):
        if machine_id == mid(5):
            raise DefenderError("denied", status=403)
        return f.new_action(machine_id, kind, body)

    fake.on_post = forbid_five
    results = run(fake, refs)
    # one result per distinct machine (host-001 named twice), in the order given
    assert [r["machine"] for r in results] == refs[:-1]
    assert all(set(r) - {"candidates"} == RESULT_KEYS for r in results)
    by = {r["machine"]: r for r in results}
    assert by[mid(1)]["changed"] and not by[mid(2)]["changed"]
    assert by["missing"]["failed"] and by["missing"]["machine_id"] is None
    assert by["amb"]["failed"] and sorted(by["amb"]["candidates"]) == [mid(10), mid(11)]
    assert by[mid(5)]["failed"]
    posted = sorted(p[1].split("/")[3] for p in fake.posts())
    assert posted == sorted([mid(1), mid(3), mid(4), mid(5)])  # nothing for unresolved or already isolated


def test_run_module_bulk_failure_fails_at_the_end(monkeypatch):
    fake = FakeMachines([machine(1), machine(2)])
    install(monkeypatch, fake)
    result, failed = run_module(mod.main, dict(CONNECTION, machines=[mid(1), "nope", mid(2)], comment="x"),
                                monkeypatch)
    assert failed and result["changed"] is True
    assert "1 of 3 machines failed" in result["msg"] and "nope" in result["msg"]
    # the unresolved machine is named as given (the message used to read "None: no machine named 'nope'")
    assert "failed: nope: machine nope was not found" in result["msg"] or "failed: nope: no machine named" in \
        result["msg"], result["msg"]
    assert "None" not in result["msg"]
    assert len(result["results"]) == 3 and len(fake.posts()) == 2
    assert "action" not in result  # top-level convenience keys only with `machine`
    # the task's requests_per_minute sets the shared budget, and the planned calls are announced up front
    assert fake.rate_limits == [100] and fake.announced == [3 + 2]


def test_run_module_single_with_diff(monkeypatch):
    fake = FakeMachines([machine(1, "web")])
    install(monkeypatch, fake)
    result, failed = run_module(mod.main, dict(CONNECTION, machine="web", comment="x", _ansible_diff=True),
                                monkeypatch)
    assert not failed and result["changed"]
    assert result["previous_state"] == "released" and result["state"] == "isolation_pending"
    assert result["action"]["type"] == "Isolate"
    assert result["diff"] == {"before": {label(1, "web"): "released"}, "after": {label(1, "web"): "isolation_pending"}}


def test_run_module_check_mode(monkeypatch):
    fake = FakeMachines([machine(1, "web")])
    install(monkeypatch, fake)
    result, failed = run_module(mod.main, dict(CONNECTION, machine="web", comment="x", _ansible_check_mode=True),
                                monkeypatch)
    assert not failed and result["changed"] and not fake.posts()


@pytest.mark.parametrize("args, message", [
    (dict(machine="web", machines=["a"], comment="x"), "mutually exclusive"),
    (dict(comment="x"), "one of the following is required"),
    (dict(machine="web", comment="   "), "comment must not be empty"),
    (dict(machine="web", comment=""), "comment must not be empty"),
    (dict(machine="web"), "missing required arguments: comment"),
    (dict(machine="web", comment="x", isolation_type="partial"), "isolation_type"),
    (dict(machine="web", comment="x", state="on"), "state"),
    (dict(machines=[], comment="x"), "machines must not be empty"),
    (dict(machines=["ok", ""], comment="x"), "machines[1]"),
    (dict(machine="bad\nname", comment="x"), "not a valid"),
    (dict(machine="web", comment="x", max_parallel=0), "max_parallel"),
    (dict(machine="web", comment="x", wait_sleep=0), "wait_sleep"),
    (dict(machine="web", comment="x", requests_per_minute=0), "requests_per_minute"),
])
def test_bad_input_fails_before_any_request(monkeypatch, args, message):
    refuse_client(monkeypatch)
    result, failed = run_module(mod.main, dict(CONNECTION, **args), monkeypatch)
    assert failed and message in result["msg"]


# --- wait: errors while following the actions that were sent ---------------------------------------------------

def _fail_action_polls(fake, error, after=0):
    """Make GET /api/machineactions/{id} raise ``error`` from the ``after``-th poll on."""
    original = fake.get
    polls = []

    def get(path, params=None):
        if path.startswith("/api/machineactions/"):
            polls.append(path)
            if len(polls) > after:
                with fake.lock:
                    fake.calls.append(("GET", path, {}))
                raise error
        return original(path, params)

    fake.get = get
    return polls


def test_wait_poll_error_keeps_changed_and_results(monkeypatch):
    fake = FakeMachines([machine(1, "web")])
    install(monkeypatch, fake)
    _fail_action_polls(fake, DefenderError("service unavailable", status=503, code="ServiceUnavailable"))
    result, failed = run_module(mod.main, dict(CONNECTION, machine="web", comment="x", wait=True, wait_sleep=1),
                                monkeypatch)
    assert failed
    assert result["changed"] is True, "the isolate was sent: changed must survive a polling error"
    [r] = result["results"]
    assert r["changed"] and r["failed"] and r["action"]["type"] == "Isolate"
    assert "waiting for it failed" in r["msg"] and "service unavailable" in r["msg"]
    assert r["state"] == "isolation_pending" and result["state"] == "isolation_pending"
    assert len(fake.posts()) == 1, "nothing re-sent"


def test_wait_poll_error_after_some_actions_finished():
    fake = FakeMachines([machine(1), machine(2)])
    rounds = []
    original = fake.get

    # two actions are polled with one id-filter list query: in the first round the first machine's action has
    # completed and the second is still Pending; the second round (a GET of the one left) fails
    def get(path, params=None):
        if path.startswith("/api/machineactions/"):
            raise DefenderError("gateway timeout", status=504)
        if path == "/api/machineactions" and "id eq" in (params or {}).get("$filter", ""):
            rounds.append(1)
            if len(rounds) > 1:
                raise DefenderError("gateway timeout", status=504)
            for a in fake.actions:
                if a["machineId"] == mid(1):
                    a["status"] = "Succeeded"
        return original(path, params)

    fake.get = get
    r1, r2 = run(fake, [mid(1), mid(2)], wait=True)
    assert r1["changed"] and r2["changed"] and r1["failed"] and r2["failed"]
    assert r1["action"]["status"] == "Succeeded" and r1["state"] == "isolated"
    assert "gateway timeout" in r1["msg"] and "not read again" in r1["msg"]
    assert r2["state"] == "isolation_pending" and "waiting for it failed" in r2["msg"]
    assert len(fake.posts()) == 2


def test_wait_final_history_read_error_keeps_results():
    fake = FakeMachines([machine(1)])

    def advance(f, a):
        a["status"] = "Succeeded"

    fake.on_get_action = advance
    original = fake.get
    reads = []

    def get(path, params=None):
        if path == "/api/machineactions" and "machineId eq" in (params or {}).get("$filter", ""):
            reads.append(1)
            if len(reads) > 1:  # the first read plans; the one after the wait fails
                raise DefenderError("internal", status=500)
        return original(path, params)

    fake.get = get
    [r] = run(fake, [mid(1)], wait=True)
    assert r["changed"] and r["failed"] and r["action"]["status"] == "Succeeded"
    assert r["state"] == "isolated" and "could not be read again" in r["msg"]


def test_wait_treats_404_on_a_new_action_as_not_visible_yet():
    fake = FakeMachines([machine(1)])
    polls = _fail_action_polls(fake, DefenderError("not found", status=404, code="NotFound"))
    original_get = fake.get

    def get(path, params=None):
        if path.startswith("/api/machineactions/") and len(polls) >= 2:
            for a in fake.actions:
                a["status"] = "Succeeded"
            return FakeMachines._get(fake, path, params)
        return original_get(path, params)

    fake.get = get
    [r] = run(fake, [mid(1)], wait=True)
    assert len(polls) == 2, "two 404s were polled through"
    assert not r["failed"] and r["changed"] and r["state"] == "isolated", r["msg"]


def test_wait_404_until_the_deadline_fails_as_not_final():
    fake = FakeMachines([machine(1)])
    _fail_action_polls(fake, DefenderError("not found", status=404, code="NotFound"))
    [r] = run(fake, [mid(1)], wait=True, wait_timeout=10)
    assert r["changed"] and r["failed"] and "not final after 10 seconds" in r["msg"]
    assert len(fake.posts()) == 1


# --- cancel_pending: an action of the other kind stuck in Pending ------------------------------------------------

def _cancels(fake):
    return [c for c in fake.calls if c[0] == "POST" and c[1].endswith("/cancel")]


def _isolated_then_pending_isolate():
    """Isolated long ago, then a second Isolate that was never picked up (machine offline)."""
    done = action(mid(1), "Isolate", "Succeeded", "2026-01-10T10:00:00Z")
    stuck = action(mid(1), "Isolate", "Pending", OLD)
    return done, stuck


def test_release_cancels_a_pending_isolate_then_sends_unisolate():
    done, stuck = _isolated_then_pending_isolate()
    fake = FakeMachines([machine(1)], [done, stuck])
    [r] = run(fake, [mid(1)], state="released")
    posts = [(c[1], c[2]) for c in fake.posts()]
    assert posts == [("/api/machineactions/%s/cancel" % stuck["id"], {"Comment": "INC-1"}),
                     ("/api/machines/%s/unisolate" % mid(1), {"Comment": "INC-1"})]
    assert r["changed"] and not r["failed"] and r["state"] == "release_pending"
    assert [(a["id"], a["status"]) for a in r["cancelled"]] == [(stuck["id"], "Cancelled")]
    assert r["msg"].startswith("cancelled Isolate action %s is Cancelled" % stuck["id"])
    # no waiting for wait_timeout: the cancelled action is read once and is final
    assert len([c for c in fake.calls if c[1].startswith("/api/machineactions/") and c[0] == "GET"]) <= 1
    # a re-run is idempotent: release pending, nothing sent
    [r2] = run(fake, [mid(1)], state="released")
    assert len(fake.posts()) == 2 and not r2["changed"] and r2["cancelled"] == []


def test_release_cancels_a_pending_isolate_and_needs_nothing_more():
    stuck = action(mid(1), "Isolate", "Pending", OLD)  # never isolated: cancelling it leaves the machine released
    fake = FakeMachines([machine(1)], [stuck])
    [r] = run(fake, [mid(1)], state="released", wait=True)
    assert [c[1] for c in fake.posts()] == ["/api/machineactions/%s/cancel" % stuck["id"]]
    assert r["changed"] and not r["failed"] and r["state"] == "released"
    assert r["previous_state"] == "isolation_pending" and r["cancelled"][0]["status"] == "Cancelled"


@pytest.mark.parametrize("history, state, sends", [
    ("isolated", "released", True),
    ("never", "released", False),
])
def test_check_mode_predicts_the_cancel(history, state, sends):
    done, stuck = _isolated_then_pending_isolate()
    fake = FakeMachines([machine(1)], [done, stuck] if history == "isolated" else [stuck])
    [r] = run(fake, [mid(1)], state="released", check_mode=True)
    assert not fake.posts() and r["changed"] and not r["failed"]
    assert [a["id"] for a in r["cancelled"]] == [stuck["id"]]
    assert r["state"] == state and r["msg"].startswith("would cancel Isolate action %s" % stuck["id"])
    assert ("would send Unisolate" in r["msg"]) is sends
    assert not [c for c in fake.calls if c[1].startswith("/api/machineactions/")]


def test_isolate_cancels_a_pending_release_only_when_asked():
    done = action(mid(1), "Isolate", "Succeeded", "2026-01-10T10:00:00Z")
    release = action(mid(1), "Unisolate", "Pending", OLD)
    fake = FakeMachines([machine(1)], [done, release])
    [r] = run(fake, [mid(1)], state="isolated", cancel_pending=True)
    assert [c[1] for c in fake.posts()] == ["/api/machineactions/%s/cancel" % release["id"]]
    assert r["changed"] and not r["failed"] and r["state"] == "isolated"


def test_in_progress_isolate_is_not_cancelled():
    iso = action(mid(1), "Isolate", "InProgress", OLD)
    fake = FakeMachines([machine(1)], [iso])
    [r] = run(fake, [mid(1)], state="released", wait_timeout=10)
    assert not fake.posts() and r["failed"] and "not final after 10 seconds" in r["msg"]


def test_cancel_refused_fails_without_sending_unisolate():
    done, stuck = _isolated_then_pending_isolate()
    fake = FakeMachines([machine(1)], [done, stuck])

    def forbid(f, action_id, body):
        raise DefenderError("Forbidden", status=403, code="Forbidden")

    fake.on_cancel = forbid
    [r] = run(fake, [mid(1)], state="released")
    assert len(_cancels(fake)) == 1 and len(fake.posts()) == 1
    assert r["failed"] and not r["changed"] and "Machine.Isolate" in r["msg"] and "Unisolate was not sent" in r["msg"]


def test_cancel_of_an_action_that_completed_meanwhile_goes_on():
    done, stuck = _isolated_then_pending_isolate()
    fake = FakeMachines([machine(1)], [done, stuck])

    def completed(f, action_id, body):
        for a in f.actions:
            if a["id"] == action_id:
                a["status"] = "Succeeded"
                a["lastUpdateDateTimeUtc"] = "2026-01-30T10:00:00Z"
        return None  # the default answer: 400, already final

    fake.on_cancel = completed
    [r] = run(fake, [mid(1)], state="released")
    assert [c[1].rsplit("/", 1)[1] for c in fake.posts()] == ["cancel", "unisolate"]
    assert r["changed"] and not r["failed"] and r["cancelled"] == []


@pytest.mark.parametrize("applied", [True, False])
def test_cancel_with_lost_response_is_read_again_never_resent(applied):
    done, stuck = _isolated_then_pending_isolate()
    fake = FakeMachines([machine(1)], [done, stuck])

    def lost(f, action_id, body):
        if applied:
            for a in f.actions:
                if a["id"] == action_id:
                    a["status"] = "Cancelled"
        raise DefenderOutcomeUnknownError("bad gateway", status=502, method="POST")

    fake.on_cancel = lost
    [r] = run(fake, [mid(1)], state="released")
    assert len(_cancels(fake)) == 1
    if applied:
        assert [c[1].rsplit("/", 1)[1] for c in fake.posts()] == ["cancel", "unisolate"]
        assert r["changed"] and not r["failed"] and r["cancelled"][0]["status"] == "Cancelled"
    else:
        assert len(fake.posts()) == 1 and r["failed"] and not r["changed"]
        assert "outcome unknown" in r["msg"] and "Unisolate was not sent" in r["msg"]


def test_run_module_cancel_pending_option(monkeypatch):
    done, stuck = _isolated_then_pending_isolate()
    fake = FakeMachines([machine(1, "web")], [done, stuck])
    install(monkeypatch, fake)
    result, failed = run_module(mod.main, dict(CONNECTION, machine="web", state="released", comment="x",
                                               cancel_pending=False, wait_timeout=0), monkeypatch)
    assert failed and not _cancels(fake) and not fake.posts()
    result, failed = run_module(mod.main, dict(CONNECTION, machine="web", state="released", comment="x",
                                               _ansible_diff=True), monkeypatch)
    assert not failed and result["changed"] and len(_cancels(fake)) == 1
    assert result["results"][0]["cancelled"][0]["id"] == stuck["id"]
    assert result["diff"] == {"before": {label(1, "web"): "isolation_pending"}, "after": {label(1, "web"): "release_pending"}}
