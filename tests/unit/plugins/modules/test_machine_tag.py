# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_tag: exact bodies, per-machine vs multi-machine endpoint, chunks of 500, reruns and check mode send
nothing, lost responses read back never re-sent, a 404 from the bulk call goes machine by machine, bad input refused
before any request."""

from __future__ import annotations

import copy
import re
from urllib.parse import unquote

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import machine_tags as T
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.modules import machine_tag as mod
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.fake_machines import (
    label,
    CONNECTION,
    FakeMachines,
    install,
    machine,
    mid,
    refuse_client,
)
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module

RESULT_KEYS = {"machine", "machine_id", "computer_dns_name", "changed", "previous_tags", "tags", "added", "removed",
               "failed", "msg"}


class FakeTags(FakeMachines):
    """FakeMachines plus the two tag endpoints, as documented; ``on_tag_post`` may raise or answer instead."""

    on_tag_post = None  # callable(fake, path, body) -> answer, or raise; None: the default behaviour

    def post(self, path, body):
        if not (path == T.BULK_PATH or re.match(r"^/api/machines/[^/]+/tags$", path)):
            return super().post(path, body)
        with self.lock:
            self.calls.append(("POST", path, copy.deepcopy(body)))
            self.request_count += 1
        if self.on_tag_post is not None:
            out = self.on_tag_post(self, path, body)
            if out is not None:
                return out
        return self.apply(path, body)

    def apply(self, path, body):
        ids = body["MachineIds"] if path == T.BULK_PATH else [unquote(path.split("/")[3])]
        found = [m for i in ids for m in self.machines if m["id"] == i.lower()]
        if len(found) != len(ids):
            raise DefenderError("Machine was not found", status=404, code="ResourceNotFound")
        for m in found:
            if body["Action"] == "Add" and body["Value"] not in m["machineTags"]:
                m["machineTags"].append(body["Value"])
            elif body["Action"] == "Remove":
                m["machineTags"] = [t for t in m["machineTags"] if t != body["Value"]]
        if path == T.BULK_PATH:
            return {"value": copy.deepcopy(found)}
        return copy.deepcopy(found[0])

    def tag_posts(self):
        return [c for c in self.calls if c[0] == "POST"]

    def tags(self, i):
        return next(m["machineTags"] for m in self.machines if m["id"] == mid(i))


def raising(error):
    def post(fake, path, body):
        raise error
    return post


def run(fake, refs, tags, state="present", check_mode=False):
    return T.TagWork(fake, T.check_tags(tags), state, check_mode).execute(refs)


def test_one_machine_uses_the_per_machine_endpoint_with_exact_body():
    fake = FakeTags([machine(1, "web", machineTags=["Finance"])])
    [r] = run(fake, ["WEB"], ["INC-1"])
    assert fake.tag_posts() == [("POST", "/api/machines/%s/tags" % mid(1), {"Value": "INC-1", "Action": "Add"})]
    assert set(r) == RESULT_KEYS and r["changed"] and not r["failed"]
    assert r["previous_tags"] == ["Finance"] and r["tags"] == ["Finance", "INC-1"] and r["added"] == ["INC-1"]
    # a rerun reads the tags and sends nothing
    [r2] = run(fake, ["WEB"], ["INC-1"])
    assert len(fake.tag_posts()) == 1 and not r2["changed"] and r2["tags"] == ["Finance", "INC-1"]
    assert "already present" in r2["msg"]


def test_many_machines_use_the_multi_machine_endpoint_one_call_per_tag():
    fake = FakeTags([machine(i, machineTags=["INC-1"] if i == 2 else []) for i in range(5)])
    results = run(fake, [mid(i) for i in range(5)], ["INC-1", "contained"])
    posts = fake.tag_posts()
    assert posts == [
        ("POST", T.BULK_PATH, {"Value": "INC-1", "Action": "Add", "MachineIds": [mid(0), mid(1), mid(3), mid(4)]}),
        ("POST", T.BULK_PATH, {"Value": "contained", "Action": "Add", "MachineIds": [mid(i) for i in range(5)]}),
    ]
    assert all(r["changed"] for r in results)
    assert results[2]["added"] == ["contained"] and results[2]["tags"] == ["INC-1", "contained"]
    assert all(fake.tags(i)[-1] == "contained" for i in range(5))


def test_a_tag_needed_on_one_machine_only_goes_per_machine():
    fake = FakeTags([machine(1, machineTags=["a"]), machine(2, machineTags=[])])
    run(fake, [mid(1), mid(2)], ["a", "b"])
    assert [(c[1], c[2]["Value"]) for c in fake.tag_posts()] == [
        ("/api/machines/%s/tags" % mid(2), "a"), (T.BULK_PATH, "b")]


def test_1200_machines_in_chunks_of_500_and_reads_in_pages():
    fake = FakeTags([machine(i) for i in range(1200)])
    work = T.TagWork(fake, ["INC-9"], "present", False)
    results = work.execute([mid(i) for i in range(1200)])
    assert work.calls == 3
    bulk = fake.tag_posts()
    assert [len(c[2]["MachineIds"]) for c in bulk] == [500, 500, 200]
    reads = [c for c in fake.calls if c[0] == "GET"]
    assert len(reads) == 60 and all(c[1] == "/api/machines" for c in reads)  # 1200 ids / 20 per list query
    assert all(r["changed"] and r["tags"] == ["INC-9"] for r in results)


def test_absent_removes_only_the_given_tags_that_are_there():
    fake = FakeTags([machine(1, machineTags=["keep", "INC-1", "old"]), machine(2, machineTags=["keep"])])
    r1, r2 = run(fake, [mid(1), mid(2)], ["INC-1", "old", "never"], state="absent")
    assert [(c[1], c[2]) for c in fake.tag_posts()] == [
        ("/api/machines/%s/tags" % mid(1), {"Value": "INC-1", "Action": "Remove"}),
        ("/api/machines/%s/tags" % mid(1), {"Value": "old", "Action": "Remove"})]
    assert r1["removed"] == ["INC-1", "old"] and r1["tags"] == ["keep"] and not r2["changed"]


def test_tags_compare_exactly():
    fake = FakeTags([machine(1, machineTags=["inc-1"])])
    [r] = run(fake, [mid(1)], ["INC-1"])
    assert r["added"] == ["INC-1"] and len(fake.tag_posts()) == 1


def test_check_mode_predicts_and_sends_nothing():
    fake = FakeTags([machine(i, machineTags=["x"] if i == 1 else []) for i in range(3)])
    results = run(fake, [mid(i) for i in range(3)], ["x", "y"], check_mode=True)
    assert not fake.tag_posts()
    assert [r["tags"] for r in results] == [["x", "y"], ["x", "y"], ["x", "y"]]
    assert [r["added"] for r in results] == [["x", "y"], ["y"], ["x", "y"]]
    assert "would add" in results[0]["msg"]


def test_unresolved_machine_fails_alone_and_nothing_is_sent_for_it():
    fake = FakeTags([machine(1, "web")])
    r1, r2 = run(fake, ["web", "nope"], ["t"])
    assert r1["changed"] and not r1["failed"]
    assert r2["failed"] and "nothing was sent" in r2["msg"] and r2["machine_id"] is None
    assert len(fake.tag_posts()) == 1


def test_same_machine_by_name_and_id_is_handled_once():
    fake = FakeTags([machine(1, "web")])
    results = run(fake, ["web", mid(1)], ["t"])
    assert len(results) == 1 and len(fake.tag_posts()) == 1


def test_lost_response_is_read_back_not_resent():
    fake = FakeTags([machine(i) for i in range(3)])

    def lose(f, path, body):
        f.apply(path, body)  # the service applied it, the answer never arrived
        raise DefenderOutcomeUnknownError("connection reset", method="POST", path=path)

    fake.on_tag_post = lose
    results = run(fake, [mid(i) for i in range(3)], ["INC-1"])
    assert len(fake.tag_posts()) == 1
    assert all(r["changed"] and not r["failed"] and r["tags"] == ["INC-1"] for r in results)
    assert len([c for c in fake.calls if c[0] == "GET"]) == 2  # the resolve and one read-back


def test_lost_response_not_applied_fails_without_resending():
    fake = FakeTags([machine(1)])
    fake.on_tag_post = raising(DefenderOutcomeUnknownError("502 Bad Gateway", status=502, method="POST"))
    [r] = run(fake, [mid(1)], ["INC-1"])
    assert len(fake.tag_posts()) == 1
    assert r["failed"] and "outcome unknown" in r["msg"] and not r["changed"] and r["tags"] == []


def test_bulk_404_is_bisected_down_to_the_missing_machine():
    fake = FakeTags([machine(i) for i in range(3)] + [machine(i) for i in range(4, 8)])
    calls = []

    def gone(f, path, body):
        calls.append(len(body["MachineIds"]) if path == T.BULK_PATH else path)
        if (path == T.BULK_PATH and mid(3) in body["MachineIds"]) or mid(3) in path:
            raise DefenderError("Machine %s was not found" % mid(3), status=404, code="ResourceNotFound")
        return None

    fake.on_tag_post = gone
    # mid(3) resolves (it is in the first read) but is gone by the time the tags are sent
    fake.machines.append(machine(3))
    results = run(fake, [mid(i) for i in range(8)], ["t"])
    fake.machines.pop()
    # 8 -> [0..3] fails -> [0,1] ok, [2,3] fails -> 2 alone ok, 3 alone fails; [4..7] ok: 7 calls, not 8 singles
    assert calls == [8, 4, 2, 2, "/api/machines/%s/tags" % mid(2), "/api/machines/%s/tags" % mid(3), 4]
    gone_one = results[3]
    assert gone_one["failed"] and "not found" in gone_one["msg"] and not gone_one["changed"]
    assert all(r["changed"] and not r["failed"] and r["tags"] == ["t"] for i, r in enumerate(results) if i != 3)


def test_bulk_404_on_two_machines_ends_in_single_calls():
    fake = FakeTags([machine(1), machine(2)])
    seen = []

    def gone(f, path, body):
        seen.append(path)
        if path == T.BULK_PATH or mid(2) in path:
            raise DefenderError("Machine was not found", status=404, code="ResourceNotFound")
        return None

    fake.on_tag_post = gone
    r1, r2 = run(fake, [mid(1), mid(2)], ["t"])
    assert seen == [T.BULK_PATH, "/api/machines/%s/tags" % mid(1), "/api/machines/%s/tags" % mid(2)]
    assert r1["changed"] and not r1["failed"] and r2["failed"] and r2["tags"] == []


def test_forbidden_fails_every_machine_of_the_call_with_a_hint():
    fake = FakeTags([machine(1), machine(2)])
    fake.on_tag_post = raising(DefenderError("Missing application roles", status=403, code="Forbidden"))
    results = run(fake, [mid(1), mid(2)], ["t"])
    assert all(r["failed"] and "Machine.ReadWrite.All" in r["msg"] for r in results)
    assert len(fake.tag_posts()) == 1


def test_answer_tags_win_over_the_prediction():
    fake = FakeTags([machine(1)])
    fake.on_tag_post = lambda f, path, body: dict(copy.deepcopy(f.machines[0]), machineTags=["INC-1", "auto"])
    [r] = run(fake, [mid(1)], ["INC-1"])
    assert r["tags"] == ["INC-1", "auto"]


# --- the module -----------------------------------------------------------------------------------------------

def test_run_module_with_diff_and_rerun(monkeypatch):
    fake = FakeTags([machine(1, "web", machineTags=["a"])])
    install(monkeypatch, fake)
    result, failed = run_module(mod.main, dict(CONNECTION, machine="web", tags=["b"], _ansible_diff=True), monkeypatch)
    assert not failed and result["changed"] and result["msg"] == "1 machine: 1 changed (web (%s)), 0 unchanged" % mid(1)
    assert result["diff"] == {"before": {label(1, "web"): ["a"]}, "after": {label(1, "web"): ["a", "b"]}}
    result, failed = run_module(mod.main, dict(CONNECTION, machine="web", tags=["b"]), monkeypatch)
    assert not failed and not result["changed"] and len(fake.tag_posts()) == 1


def test_run_module_check_mode(monkeypatch):
    fake = FakeTags([machine(1, "web")])
    install(monkeypatch, fake)
    result, failed = run_module(mod.main, dict(CONNECTION, machines=["web"], tags=["b"], _ansible_check_mode=True),
                                monkeypatch)
    assert not failed and result["changed"] and not fake.tag_posts()


def test_run_module_fails_at_the_end_with_results(monkeypatch):
    fake = FakeTags([machine(1), machine(2)])
    install(monkeypatch, fake)
    result, failed = run_module(mod.main, dict(CONNECTION, machines=[mid(1), "nope", mid(2)], tags=["t"]),
                                monkeypatch)
    assert failed and result["changed"] and "1 of 3 machines failed" in result["msg"] and "nope" in result["msg"]
    assert len(result["results"]) == 3 and len(fake.tag_posts()) == 1


@pytest.mark.parametrize("args, message", [
    (dict(machine="web", machines=["a"], tags=["t"]), "mutually exclusive"),
    (dict(tags=["t"]), "one of the following is required"),
    (dict(machine="web"), "missing required arguments: tags"),
    (dict(machine="web", tags=[]), "tags must be a non-empty list"),
    (dict(machine="web", tags=[""]), "tags[0] must be a non-empty string"),
    (dict(machine="web", tags=["ok", " padded"]), "tags[1]"),
    (dict(machine="web", tags=["a\tb"]), "control character"),
    (dict(machine="web", tags=["t"], state="on"), "state"),
    (dict(machines=[], tags=["t"]), "machines must not be empty"),
    (dict(machines=["ok", ""], tags=["t"]), "machines[1]"),
    (dict(machine="bad\nname", tags=["t"]), "not a valid"),
    (dict(machine="web", tags=["t"], requests_per_minute=0), "requests_per_minute"),
])
def test_bad_input_fails_before_any_request(monkeypatch, args, message):
    refuse_client(monkeypatch)
    result, failed = run_module(mod.main, dict(CONNECTION, **args), monkeypatch)
    assert failed and message in result["msg"]


@pytest.mark.parametrize("many", [False, True])
def test_an_accepted_call_whose_answer_does_not_show_the_tag_yet_is_not_a_failure(many):
    """Tags can take a while to appear: the call succeeded, so the change is reported (with a warning), and the
    answer that does not show it yet is not taken as the machine's tags (it used to report tags without it)."""
    fake = FakeTags([machine(i, machineTags=["Finance"]) for i in (1, 2)])

    def accepted_not_shown(f, path, body):
        ids = body["MachineIds"] if path == T.BULK_PATH else [unquote(path.split("/")[3])]
        shown = [copy.deepcopy(m) for m in f.machines if m["id"] in ids]  # the machines as they were
        f.apply(path, body)
        return {"value": shown} if path == T.BULK_PATH else shown[0]

    fake.on_tag_post = accepted_not_shown
    warnings = []
    refs = [mid(1), mid(2)] if many else [mid(1)]
    results = T.TagWork(fake, ["INC-1"], "present", False, warn=warnings.append).execute(refs)
    assert len(fake.tag_posts()) == 1
    for r in results:
        assert r["changed"] and not r["failed"] and r["tags"] == ["Finance", "INC-1"] and r["added"] == ["INC-1"]
        assert "not shown yet: INC-1" in r["msg"]
    assert len(warnings) == 1 and "take a while to appear" in warnings[0]
