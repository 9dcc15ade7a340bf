# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared rate budget: windows, pacing, cooperative pause on 429, learning, plans; and the client's 429 handling
against a real (plain HTTP, loopback) server."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import client as http
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError

from .test_client import Tokens, server  # noqa: F401  pylint: disable=unused-import


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def budget(clock, limits=((100, 60.0), (1500, 3600.0))):
    return http.RateBudget(limits=limits, clock=clock, sleep=clock.sleep)


def stamps_of(b, n):
    return [b.acquire() for _i in range(n)]


def test_requests_are_paced_evenly_after_a_small_burst():
    clock = Clock()
    stamps = stamps_of(budget(clock), 40)
    assert stamps[:10] == [0.0] * 10  # the burst: a tenth of the per-minute limit
    gaps = [b - a for a, b in zip(stamps[10:], stamps[11:])]
    assert all(g == pytest.approx(0.612, abs=0.002) for g in gaps)  # 60 s / 100, plus the 2 % margin
    # so a service counting over a short window (30 per 5 s) never sees more than 18 in 5 s
    assert max(sum(1 for u in stamps if t <= u < t + 5) for t in stamps) <= 18


def test_no_window_ever_holds_more_than_its_limit():
    clock = Clock()
    stamps = stamps_of(budget(clock, ((10, 60.0), (25, 600.0))), 60)
    for i, t in enumerate(stamps):
        assert sum(1 for u in stamps[i:] if u < t + 60) <= 10
        assert sum(1 for u in stamps[i:] if u < t + 600) <= 25
    assert stamps[25] >= 600  # the 26th waits for the first to leave the longer window


def test_a_429_pauses_every_worker_until_retry_after():
    b = http.RateBudget(limits=((100, 60.0),))  # real clock, real threads
    b.acquire()
    b.throttled(0.6)
    went = []

    def worker():
        start = time.monotonic()
        b.acquire()
        went.append(time.monotonic() - start)

    threads = [threading.Thread(target=worker) for _i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(went) == 3 and min(went) >= 0.55


def test_a_429_cuts_the_rate_once_per_episode_and_quiet_periods_give_it_back():
    clock = Clock()
    b = budget(clock)
    sent = [b.acquire() for _i in range(5)]
    full = b.rate
    for at in sent:  # five workers all answered 429 for requests sent before the cut: one cut
        b.throttled(2, sent_at=at)
    assert b.rate == pytest.approx(full * 0.7) and b.cuts == 1 and b.throttled_count == 5
    later = b.acquire()
    assert later >= 2  # paused
    b.throttled(2, sent_at=later)  # a request sent after the cut: the limit is still lower, cut again
    assert b.rate == pytest.approx(full * 0.49) and b.cuts == 2
    clock.now += 60 * 8
    b.acquire()
    assert b.rate == pytest.approx(full * 0.54)  # one step (a twentieth of the documented rate) per quiet minute
    for _minute in range(20):
        clock.now += 61
        b.acquire()
    assert b.rate == pytest.approx(full)  # never above the documented rate


def test_a_stricter_unknown_limit_is_learnt_with_few_429s():
    """Simulate a service allowing a third of the documented 100/min (sliding window) against the budget."""
    clock = Clock()
    b = budget(clock)
    admitted, throttled = [], 0
    while len(admitted) < 300:
        at = b.acquire()
        inside = [t for t in admitted if t > at - 60]
        if len(inside) >= 33:
            throttled += 1
            b.throttled(inside[len(inside) - 33] + 60 - at, sent_at=at)
        else:
            admitted.append(at)
    bound = 300 / 33.0 * 60
    assert throttled <= 0.10 * 300
    assert admitted[-1] <= 1.5 * bound


def test_plan_says_when_the_hourly_quota_is_exceeded_and_how_long_it_takes():
    clock = Clock()
    b = budget(clock)
    small = b.plan(50)
    assert not small.exceeds_hour and small.message is None and small.seconds < 60
    big = b.plan(3400)
    assert big.exceeds_hour and big.seconds >= 2 * 3600
    assert "3400 API calls" in big.message and "1500 per hour" in big.message and "2 h" in big.message


def test_shared_budget_is_one_per_credential_host_and_bucket():
    owner = ("app", "t-shared", "c-shared")
    one = http.shared_budget(owner, "https://api.example.test/x")
    assert http.shared_budget(owner, "https://API.example.test") is one
    assert http.shared_budget(("app", "t-shared", "other"), "https://api.example.test") is not one
    assert http.shared_budget(owner, "https://eu.example.test") is not one
    batch = http.shared_budget(owner, "https://api.example.test", "alerts_batch_update")
    assert batch is not one and batch.limits == ((10, 60.0), (500, 3600.0))
    assert http.shared_budget(owner, "https://api.example.test", per_minute=50) is one
    assert one.limits == ((50, 60.0), (750, 3600.0))


@pytest.mark.parametrize("path, bucket", [
    ("/api/alerts/batchUpdate", "alerts_batch_update"),
    ("/api/indicators/import", "indicators_import"),
    ("/api/indicators/BatchDelete", "indicators_batch_delete"),
    ("/api/advancedqueries/run", "advanced_queries"),
    ("/api/machineactions/a1/GetPackageUri", "investigation_package"),
    ("/api/alerts/abc", "default"),
    ("/api/machines/m/isolate", "default"),
])
def test_paths_map_to_their_documented_limit(path, bucket):
    assert http.bucket_for(path) == bucket


def make_client(server, **kw):  # noqa: F811
    session = http.build_session(retries=3, backoff=0.01)
    return http.DefenderClient(server.url, Tokens(), session, timeout=5, **kw)


def test_a_retry_after_beyond_max_retry_wait_fails_naming_the_wait(server):  # noqa: F811
    server.plan = [(429, {"Retry-After": "900"}, {"error": {"code": "TooManyRequests", "message": "slow"}})]
    client = make_client(server, max_retry_wait=300)
    with pytest.raises(DefenderError) as info:
        client.post("/api/machines/m/isolate", {"Comment": "c"})
    text = str(info.value)
    assert "15 min" in text and "900" in text and "max_retry_wait (300 s)" in text and info.value.status == 429
    assert len(server.seen) == 1  # nothing re-sent early


def test_a_long_retry_after_within_max_retry_wait_is_waited_out_not_capped(server):  # noqa: F811
    server.plan = [(429, {"Retry-After": "2"}, {}), (201, {}, {"id": "a1"})]
    client = make_client(server, max_retry_wait=2)
    assert client.post("/api/machines/m/isolate", {"Comment": "c"}) == {"id": "a1"}
    assert server.seen[1]["time"] - server.seen[0]["time"] >= 1.95


def test_fractional_and_date_retry_after_are_understood():
    class R:
        def __init__(self, value):
            self.headers = {"Retry-After": value}
    assert http.retry_after_seconds(R("0.250")) == 0.25
    assert http.retry_after_seconds(R("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0  # in the past: go now
    assert http.retry_after_seconds(R("soon")) is None
    assert http.retry_after_seconds(R("")) is None


def test_a_429_pauses_the_other_workers_of_the_client(server):  # noqa: F811
    """Worker A is answered 429 (Retry-After 1); worker B, starting right after, waits for the pause too."""
    server.plan = [(429, {"Retry-After": "1"}, {})]
    client = make_client(server, budget_owner=("app", "t-coop", "c-coop"))
    a = threading.Thread(target=client.get, args=("/api/alerts/a",))
    a.start()
    deadline = time.monotonic() + 5
    while not server.seen and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    client.get("/api/alerts/b")
    a.join(10)
    first = server.seen[0]["time"]
    later = [s for s in server.seen[1:]]
    assert len(later) == 2 and all(s["time"] - first >= 0.95 for s in later)
    assert client.rate_budget.stats()["throttled"] == 1 and client.throttled == 1


def test_persistent_429_gives_up_with_the_throttling_hint(server):  # noqa: F811
    server.plan = [(429, {"Retry-After": "0"}, {})] * 20
    client = make_client(server, throttle_retries=3)
    with pytest.raises(DefenderError) as info:
        client.get("/api/alerts")
    assert "throttled" in str(info.value) and info.value.status == 429 and len(server.seen) == 4


def test_sign_in_on_the_same_session_keeps_urllib3_retrying_429(server):  # noqa: F811
    server.plan = [(429, {"Retry-After": "0"}, {}), (200, {}, {"access_token": "x"})]
    session = http.build_session(retries=3, backoff=0.01)
    http.DefenderClient(server.url + "/api-host-elsewhere", Tokens(), session, timeout=5)
    # the API adapter is mounted for the API's scheme and host; sign-in (another host in real life) keeps its own
    login = session.get_adapter("https://login.example.test/")
    assert login.max_retries.retry_throttled
    api = session.get_adapter(server.url + "/api/alerts")
    assert not api.max_retries.retry_throttled
