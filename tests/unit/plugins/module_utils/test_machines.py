# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Machine resolution, action history reads and polling."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import machines as M
from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.fake_machines import (
    FakeMachines,
    action,
    machine,
    mid,
    needs_parser,
)

ID = mid(1)
T1 = "2026-01-30T10:00:00Z"


# --- input checks ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["", "   ", None, 42, "a\nb", "x" * 256])
def test_check_machine_ref_rejects(value):
    with pytest.raises(DefenderConfigError):
        M.check_machine_ref(value)


@pytest.mark.parametrize("value", ["abc", "g" * 40, "a" * 39, "a" * 41, ""])
def test_check_machine_id_rejects(value):
    with pytest.raises(DefenderConfigError):
        M.check_machine_id(value)


def test_machine_id_is_40_hex():
    assert M.is_machine_id("A" * 40) and M.check_machine_id("A" * 40) == "a" * 40
    assert not M.is_machine_id("desktop-01")


@pytest.mark.parametrize("value", ["nope", "5382f7ea-7557-4ab7-9782", "5382f7ea-7557-4ab7-9782-d50480024a4e/x"])
def test_check_action_id_rejects(value):
    with pytest.raises(DefenderConfigError):
        M.check_action_id(value)


# --- selection among machines sharing a name ------------------------------------------------------------------

def test_select_unique():
    m = machine(1, "a")
    assert M.select_machine("a", [m]) == (m, None)


def test_select_not_found():
    with pytest.raises(M.MachineResolutionError) as info:
        M.select_machine("a", [])
    assert info.value.code == "NotFound" and "'a'" in info.value.message


def test_select_prefers_the_one_not_flagged():
    fresh = machine(1, "shared", lastSeen="2026-01-30T10:00:00Z")
    stale = machine(2, "shared", lastSeen="2026-01-31T10:00:00Z", isPotentialDuplication=True,
                    mergedIntoMachineId=fresh["id"])
    chosen, note = M.select_machine("shared", [stale, fresh])
    assert chosen is fresh and "duplicates" in note


def test_select_merged_only_is_not_followed():
    m = machine(1, "a", mergedIntoMachineId=mid(9))
    with pytest.raises(M.MachineResolutionError) as info:
        M.select_machine("a", [m])
    assert info.value.code == "Ambiguous" and mid(9) in info.value.message


def test_select_single_flagged_but_unmerged_is_used():
    m = machine(1, "a", isPotentialDuplication=True)
    assert M.select_machine("a", [m])[0] is m


def test_select_two_recent_is_ambiguous_and_lists_candidates():
    a = machine(1, "amb", lastSeen="2026-01-30T10:00:00Z")
    b = machine(2, "amb", lastSeen="2026-01-30T07:00:00Z")
    with pytest.raises(M.MachineResolutionError) as info:
        M.select_machine("amb", [b, a])
    assert info.value.code == "Ambiguous"
    assert info.value.candidates == [a["id"], b["id"]]
    assert a["id"] in info.value.message and b["id"] in info.value.message


@pytest.mark.parametrize("old_seen, picks", [
    ("2026-01-31T00:00:00Z", False),   # seen at the same time: two live machines
    ("2026-01-30T12:00:00Z", False),   # the same day: both are reporting, ambiguous
    ("2026-01-30T00:00:01Z", False),   # just under a day
    ("2026-01-30T00:00:00Z", True),    # a day: one daily report missed, the other one replaced it
    ("2026-01-29T00:00:00Z", True),    # two days after the other: the reinstalled machine
    ("2026-01-01T00:00:00Z", True),
])
def test_select_clearly_newer(old_seen, picks):
    new = machine(1, "n", lastSeen="2026-01-31T00:00:00Z")
    old = machine(2, "n", lastSeen=old_seen)
    if picks:
        chosen, note = M.select_machine("n", [old, new])
        assert chosen is new and "at least 24 hours after the others" in note
    else:
        with pytest.raises(M.MachineResolutionError) as info:
            M.select_machine("n", [old, new])
        assert info.value.code == "Ambiguous" and sorted(info.value.candidates) == sorted([new["id"], old["id"]])


def test_select_newest_must_lead_every_other_live_machine():
    new = machine(1, "n", lastSeen="2026-01-31T00:00:00Z")
    twin = machine(2, "n", lastSeen="2026-01-30T20:00:00Z")
    old = machine(3, "n", lastSeen="2026-01-20T00:00:00Z")
    with pytest.raises(M.MachineResolutionError) as info:
        M.select_machine("n", [old, twin, new])
    assert info.value.candidates == [new["id"], twin["id"], old["id"]]


def test_select_flagged_and_merged_only_fails_even_with_one_unmerged():
    # no live candidate: the docstring once said a single unmerged one was used; the safe direction is to fail
    flagged = machine(1, "x", isPotentialDuplication=True, lastSeen="2026-01-31T00:00:00Z")
    merged = machine(2, "x", mergedIntoMachineId=mid(9))
    with pytest.raises(M.MachineResolutionError) as info:
        M.select_machine("x", [flagged, merged])
    assert info.value.code == "Ambiguous" and sorted(info.value.candidates) == sorted([mid(1), mid(2)])
    assert mid(9) in info.value.message and "pass the id" in info.value.message


def test_select_all_flagged_is_ambiguous():
    a = machine(1, "x", isPotentialDuplication=True)
    b = machine(2, "x", isPotentialDuplication=True)
    with pytest.raises(M.MachineResolutionError):
        M.select_machine("x", [a, b])


# --- lookups --------------------------------------------------------------------------------------------------

class Scripted:
    """Answers list queries by filter text; records them."""

    def __init__(self, answers):
        self.answers = answers
        self.filters = []

    def pages(self, path, params=None, page_size=None, limit=None):
        flt = params["$filter"]
        self.filters.append(flt)
        for key, value in self.answers.items():
            if key in flt:
                if isinstance(value, Exception):
                    raise value
                return list(value)
        return []

    def get(self, path, params=None):
        raise DefenderError("not found", status=404)


def test_names_compared_case_insensitively_on_this_side():
    client = Scripted({"computerDnsName eq": [machine(1, "Desktop-MIXED.Contoso.com"), machine(2, "desktop-mixed.x")]})
    found = M.find_by_names(client, ["desktop-mixed.contoso.com"])
    assert [m["id"] for m in found["desktop-mixed.contoso.com"]] == [mid(1)]
    assert client.filters == ["computerDnsName eq 'desktop-mixed.contoso.com'"]


def test_tolower_fallback_when_eq_finds_nothing():
    client = Scripted({"tolower(": [machine(1, "Desktop-MIXED.Contoso.com")]})
    found = M.find_by_names(client, ["DESKTOP-mixed.contoso.com"])
    assert [m["id"] for m in found["DESKTOP-mixed.contoso.com"]] == [mid(1)]
    assert client.filters[1] == "tolower(computerDnsName) eq 'desktop-mixed.contoso.com'"


def test_tolower_rejected_means_not_found():
    client = Scripted({"tolower(": DefenderError("bad", status=400, code="ODataError")})
    assert M.find_by_names(client, ["a"]) == {"a": []}


def test_other_errors_propagate():
    client = Scripted({"computerDnsName eq": DefenderError("forbidden", status=403)})
    with pytest.raises(DefenderError):
        M.find_by_names(client, ["a"])


def test_names_batched_in_or_queries():
    client = Scripted({})
    M.find_by_names(client, ["n%d" % i for i in range(45)])
    assert len(client.filters) == 6  # 3 eq batches of <= 20, then 3 tolower batches
    assert client.filters[0].startswith("(computerDnsName eq 'n0' or ")


def test_quote_is_escaped():
    client = Scripted({})
    M.find_by_names(client, ["o'brien"])
    assert client.filters[0] == "computerDnsName eq 'o''brien'"


def test_quote_name_and_injection_against_the_parser():
    fake = FakeMachines([machine(1, "o'brien-laptop.contoso.com"), machine(2, "other")])
    res = M.resolve(fake, ["O'Brien-laptop.contoso.com", "x' or computerDnsName ne '"])
    assert res["O'Brien-laptop.contoso.com"].machine["id"] == mid(1)
    bad = res["x' or computerDnsName ne '"]
    assert bad.machine is None and bad.error.code == "NotFound"


def test_resolve_ids_and_names_with_get_fallback_and_not_found():
    fake = FakeMachines([machine(1, "a"), machine(2, "b")])
    res = M.resolve(fake, [mid(1), "B", mid(7)])
    assert res[mid(1)].machine["id"] == mid(1)
    assert res["B"].machine["id"] == mid(2)
    assert res[mid(7)].error.code == "NotFound"
    # the missing id was confirmed with GET /api/machines/{id}
    assert ("GET", "/api/machines/" + mid(7), {}) in fake.calls
    assert not fake.posts()


def test_resolve_reports_ambiguous_without_raising():
    fake = FakeMachines([machine(1, "amb"), machine(2, "amb")])
    res = M.resolve(fake, ["amb"])["amb"]
    assert not res.ok and res.error.code == "Ambiguous" and sorted(res.error.candidates) == [mid(1), mid(2)]


def test_history_batched_and_grouped():
    ids = [mid(i) for i in range(25)]
    acts = [action(i, "Isolate") for i in ids] + [action(ids[0], "RunAntiVirusScan")]
    fake = FakeMachines([machine(i) for i in range(25)], acts)
    hist = M.action_history(fake, ids, ("Isolate", "Unisolate"))
    assert all(len(hist[i]) == 1 for i in ids)
    gets = [c for c in fake.calls if c[1] == "/api/machineactions"]
    assert len(gets) == 2
    assert "(type eq 'Isolate' or type eq 'Unisolate')" in gets[0][2]["$filter"]


# --- polling --------------------------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_until_final():
    a = action(ID, "Isolate", "Pending")
    fake = FakeMachines([], [a])
    polls = []

    def advance(f, act):
        polls.append(1)
        if len(polls) >= 3:
            act["status"] = "Succeeded"

    fake.on_get_action = advance
    clock = Clock()
    got = M.wait_for_actions(fake, [a["id"]], timeout=60, sleep=5, clock=clock, sleeper=clock.sleep)[a["id"]]
    assert got["status"] == "Succeeded" and len(polls) == 3 and clock.now == 10


def test_wait_times_out():
    a = action(ID, "Isolate", "InProgress")
    fake = FakeMachines([], [a])
    clock = Clock()
    got = M.wait_for_actions(fake, [a["id"]], timeout=12, sleep=5, clock=clock, sleeper=clock.sleep)[a["id"]]
    assert got["status"] == "InProgress" and not M.is_final(got) and clock.now == 12


def test_wait_for_many_is_batched():
    acts = [action(mid(i), "Isolate", "Succeeded") for i in range(30)]
    fake = FakeMachines([], acts)
    got = M.wait_for_actions(fake, [a["id"] for a in acts], timeout=5, sleep=1)
    assert len(got) == 30 and len(fake.calls) == 2


def test_chunks():
    assert list(M.chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(M.chunks(iter(range(3)))) == [[0, 1, 2]]
    assert list(M.chunks([])) == []


def test_dead_helpers_are_gone():
    # one way to wait (wait_for_actions) and to resolve (resolve); the single-item wrappers had no caller
    assert not hasattr(M, "wait_for_action") and not hasattr(M, "resolve_machine") and not hasattr(M, "_or")


def test_filters_come_from_odata_helpers():
    fake = FakeMachines([machine(1, "o'brien")], [action(mid(1), "Isolate", "Succeeded")])
    M.find_by_names(fake, ["O'Brien", "nobody"])
    M.action_history(fake, [mid(1), mid(2)], ("Isolate", "Unisolate"))
    flts = [c[2]["$filter"] for c in fake.calls]
    assert flts[0] == "(computerDnsName eq 'O''Brien' or computerDnsName eq 'nobody')"
    assert flts[1] == "tolower(computerDnsName) eq 'nobody'"
    assert flts[2] == ("(machineId eq '%s' or machineId eq '%s') and (type eq 'Isolate' or type eq 'Unisolate')"
                       % (mid(1), mid(2)))


def test_normalize_action_drops_odata_and_fills_last_update():
    a = M.normalize_action({"@odata.context": "x", "id": "1", "lastUpdateTimeUtc": T1})
    assert a == {"id": "1", "lastUpdateTimeUtc": T1, "lastUpdateDateTimeUtc": T1}


def test_action_summary():
    a = action(ID, "Isolate", "Failed", cancellationComment="by admin")
    text = M.action_summary(a)
    assert "Isolate" in text and "Failed" in text and "by admin" in text


# --- many machines given by id: a filtered list in pages, not one GET each -------------------------------------

def test_hundreds_of_ids_are_read_as_filtered_lists():
    fake = FakeMachines([machine(i) for i in range(500)])
    found = M.find_by_ids(fake, [mid(i) for i in range(500)])
    assert len(found) == 500 and all(found[mid(i)]["id"] == mid(i) for i in range(500))
    gets = [c for c in fake.calls if c[0] == "GET"]
    assert len(gets) == 25  # 500 ids / 20 per query
    assert all(c[1] == "/api/machines" and c[2]["$filter"].startswith("(id eq '") for c in gets)


def test_ids_given_twice_or_in_upper_case_are_read_once():
    fake = FakeMachines([machine(i) for i in range(3)])
    found = M.find_by_ids(fake, [mid(0), mid(0).upper(), mid(1), mid(2)])
    assert sorted(found) == [mid(0), mid(1), mid(2)] and len(fake.calls) == 1
    assert fake.calls[0][2]["$filter"].count(" or ") == 2


def test_only_ids_missing_from_the_list_get_a_get_each():
    fake = FakeMachines([machine(i) for i in range(40)])
    found = M.find_by_ids(fake, [mid(i) for i in range(40)] + [mid(900), mid(901)])
    assert found[mid(900)] is None and found[mid(901)] is None
    singles = [c[1] for c in fake.calls if c[1] != "/api/machines"]
    assert singles == ["/api/machines/" + mid(900), "/api/machines/" + mid(901)]
    assert len(fake.calls) == 2 + 3


def test_resolve_many_ids_and_names_counts_requests():
    fake = FakeMachines([machine(i) for i in range(300)])
    refs = [mid(i) for i in range(250)] + ["host-%03d.contoso.com" % i for i in range(250, 300)]
    res = M.resolve(fake, refs)
    assert all(res[r].ok for r in refs)
    assert fake.request_count == 13 + 3  # 250 ids in 13 lists, 50 names in 3


def test_long_names_stay_under_the_url_budget():
    names = ["%s-%s.contoso.com" % (i, "n" * 200) for i in range(12)]
    fake = FakeMachines([machine(i, names[i]) for i in range(12)])
    res = M.resolve(fake, names)
    assert all(res[n].ok for n in names)
    flts = [c[2]["$filter"] for c in fake.calls]
    assert len(flts) > 1 and all(odata.encoded_length(f) <= odata.MAX_FILTER_CHARS for f in flts)


@needs_parser
def test_start_results_in_order_once_per_machine_with_failures():
    fake = FakeMachines([machine(1, "web"), machine(2, "amb"), machine(3, "amb")])
    results, by_id, machines = M.start_results(fake, ["web", "nope", mid(1), "amb"], lambda ref, m: {
        "machine": ref, "machine_id": m.get("id") if m else None, "failed": False, "msg": ""})
    assert [r["machine"] for r in results] == ["web", "nope", "amb"]  # mid(1) is "web" again
    assert list(by_id) == [mid(1)] and machines[mid(1)]["computerDnsName"] == "web"
    assert results[1]["failed"] and "nothing was sent" in results[1]["msg"]
    assert results[2]["failed"] and sorted(results[2]["candidates"]) == [mid(2), mid(3)]


def test_select_sets_aside_devices_that_are_not_onboarded():
    """Issue 22 item 7: a discovered (not onboarded) device sharing a name is not an action target."""
    onboarded = machine(1, "twin", lastSeen="2026-01-30T07:00:00Z", onboardingStatus="Onboarded")
    printer = machine(2, "twin", lastSeen="2026-01-30T10:00:00Z", onboardingStatus="CanBeOnboarded")
    chosen, note = M.select_machine("twin", [printer, onboarded])
    assert chosen is onboarded and "not onboarded" in note
    # the API's other spelling of the status counts as onboarded
    lower = machine(3, "low", onboardingStatus="onboarded")
    assert M.select_machine("low", [lower]) == (lower, None)


@pytest.mark.parametrize("status", ["CanBeOnboarded", "Unsupported", "InsufficientInfo"])
def test_select_only_unmanaged_devices_fails_naming_them(status):
    router = machine(1, "router", onboardingStatus=status)
    with pytest.raises(M.MachineResolutionError) as info:
        M.select_machine("router", [router])
    assert info.value.code == "NotOnboarded" and status in info.value.message
    assert router["id"] in info.value.message and info.value.candidates == [router["id"]]
