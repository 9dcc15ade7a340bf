# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared rate budget: windows, pacing, cooperative pause on 429, learning, plans; and the client's 429 handling
against a real (plain HTTP, loopback) server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import client as http, rate, transport
from ansible_collections.defender.endpoint.plugins.module_utils import settings as connection_settings
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.test_client import (  # noqa: F401  pylint: disable=unused-import
    Tokens,
    server,
)


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
    return rate.RateBudget(limits=limits, clock=clock, sleep=clock.sleep)


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
    b = rate.RateBudget(limits=((100, 60.0),))  # real clock, real threads
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


def simulate(processes, windows, total, latency=0.05):
    """Budgets told the documented limits (one per process, each on its own clock) against a service enforcing
    ``windows`` (sliding, shared by all): requests are judged in the order they are sent. Returns (time / bound,
    share of requests answered 429)."""
    clocks = [Clock() for _i in range(processes)]
    budgets = [budget(c) for c in clocks]
    pending = [b.acquire() for b in budgets]
    admitted, throttled, sent = [], 0, 0
    while len(admitted) < total:
        i = min(range(processes), key=lambda k: pending[k])
        at = pending[i]
        sent += 1
        wait = 0.0
        for n, s in windows:
            inside = [t for t in admitted if t > at - s]
            if len(inside) >= n:
                wait = max(wait, inside[len(inside) - n] + s - at)
        clocks[i].now = max(clocks[i].now, at + latency)
        if wait > 0:
            throttled += 1
            budgets[i].throttled(wait, sent_at=at)
        else:
            admitted.append(at)
        pending[i] = budgets[i].acquire()
    per_minute = min(n * 60.0 / s for n, s in windows)
    return admitted[-1] / (total / per_minute * 60), throttled / float(sent)


@pytest.mark.parametrize("processes, windows, goal_ratio, goal_429", [
    (1, [(100, 60)], 1.05, 0.0),              # the documented limit: paced, no 429
    (1, [(33, 60)], 1.5, 0.10),               # a third of it, not told
    (1, [(30, 5), (100, 60)], 1.5, 0.0),      # a short window, not told: pacing alone avoids it
    (2, [(100, 60)], 1.5, 0.15),              # two runs of one app at once
])
def test_an_unknown_stricter_or_shared_limit_is_learnt_with_few_429s(processes, windows, goal_ratio, goal_429):
    ratio, share = simulate(processes, windows, 600)
    assert ratio <= goal_ratio and share <= goal_429


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
    one = rate.shared_budget(owner, "https://api.example.test/x")
    assert rate.shared_budget(owner, "https://API.example.test") is one
    assert rate.shared_budget(("app", "t-shared", "other"), "https://api.example.test") is not one
    assert rate.shared_budget(owner, "https://eu.example.test") is not one
    batch = rate.shared_budget(owner, "https://api.example.test", "alerts_batch_update")
    assert batch is not one and batch.limits == ((10, 60.0), (500, 3600.0))
    assert rate.shared_budget(owner, "https://api.example.test", per_minute=50) is one
    assert one.limits == ((50, 60.0), (750, 3600.0))


def shared(path, clock, limits=((10, 60.0),)):
    return rate.SharedRateBudget(str(path), limits=limits, clock=clock, sleep=clock.sleep)


@pytest.mark.parametrize("one_file", [True, False])
def test_budgets_on_one_state_file_share_the_windows(tmp_path, one_file):
    clock = Clock()
    a, b = shared(tmp_path / "one", clock), shared(tmp_path / ("one" if one_file else "two"), clock)
    stamps = [x.acquire() for x in (a, b) * 10]
    if one_file:  # counted together: no minute holds more than 10 of the 20
        for i, t in enumerate(stamps):
            assert sum(1 for u in stamps[i:] if u < t + 60) <= 10
        assert stamps[-1] >= 60
    else:  # the control: two budgets of their own let 20 go within the minute
        assert stamps[-1] < 60


def test_a_429_pauses_and_slows_every_process_of_the_budget(tmp_path):
    clock = Clock()
    a, b = shared(tmp_path / "x", clock, ((100, 60.0),)), shared(tmp_path / "x", clock, ((100, 60.0),))
    sent = a.acquire()
    a.throttled(30.0, sent_at=sent)
    assert b.acquire() >= 30.0
    assert b.stats()["rate_per_minute"] < 100 * 0.75  # the cut is learnt by the other one too


def test_state_file_holds_times_only_and_bad_state_is_replaced(tmp_path):
    clock = Clock()
    (tmp_path / "x.json").write_text("{not json")
    b = shared(tmp_path / "x", clock)
    b.acquire()
    state = json.loads((tmp_path / "x.json").read_text())
    assert state["format"] == 1 and state["sent"] == [0.0]
    assert stat.S_IMODE(os.stat(tmp_path / "x.json").st_mode) == 0o600
    # a clock set back: the times written move back as much (no wait of the whole shift)
    clock.now = -1000.0
    assert b.acquire() == -1000.0  # the second of the burst, as it would have been


SPENDER = """
import json, sys
from ansible_collections.defender.endpoint.plugins.module_utils import rate
budget = rate.SharedRateBudget(sys.argv[1], limits=((12, 3.0),))
print(json.dumps([budget.acquire() for _i in range(8)]))
"""


def test_processes_at_once_stay_within_one_budget(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    procs = [subprocess.Popen([sys.executable, "-c", SPENDER, str(tmp_path / "b")], env=env, stdout=subprocess.PIPE,
                              text=True) for _i in range(3)]
    stamps = sorted(t for p in procs for t in json.loads(p.communicate(timeout=120)[0]))
    assert len(stamps) == 24
    for i, t in enumerate(stamps):  # 3 processes, 24 requests, never more than 12 in any 3 s
        assert sum(1 for u in stamps[i:] if u < t + 3.0) <= 12
    assert stamps[-1] - stamps[0] >= 3.0


HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(600)
"""


def test_a_killed_holder_of_the_lock_blocks_nobody(tmp_path):
    path = str(tmp_path / "b")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, path + ".lock"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        done = threading.Event()

        def spend():
            rate.SharedRateBudget(path, limits=((100, 60.0),)).acquire()
            done.set()

        threading.Thread(target=spend, daemon=True).start()
        assert not done.wait(1.0)  # the lock is really taken while its holder lives
        holder.kill()
        holder.wait()
        assert done.wait(60)  # the kernel released it when the holder died
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()


def test_budget_folder_private_or_none(tmp_path, monkeypatch):
    monkeypatch.setenv("DEFENDER_BUDGET_DIR", str(tmp_path / "fresh"))
    assert rate.budget_dir() == str(tmp_path / "fresh")
    assert stat.S_IMODE(os.stat(tmp_path / "fresh").st_mode) == 0o700
    budget = rate.shared_budget(("app", "t-file", "c-file"), "https://api.example.test")
    assert isinstance(budget, rate.SharedRateBudget)
    budget.acquire()
    assert [n for n in os.listdir(tmp_path / "fresh") if n.endswith(".json")]
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.setenv("DEFENDER_BUDGET_DIR", str(tmp_path / "link"))
    assert rate.budget_dir() is None
    monkeypatch.setenv("DEFENDER_BUDGET_DIR", str(tmp_path / "fresh"))
    monkeypatch.setenv("DEFENDER_SHARED_BUDGET", "false")
    assert rate.budget_dir() is None
    off = rate.shared_budget(("app", "t-off", "c-off"), "https://api.example.test")
    assert isinstance(off, rate.RateBudget) and not isinstance(off, rate.SharedRateBudget)


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
    assert rate.bucket_for(path) == bucket


def make_client(server, **kw):  # noqa: F811
    session = transport.build_session(retries=3, backoff=0.01)
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
    assert transport.retry_after_seconds(R("0.250")) == 0.25
    assert transport.retry_after_seconds(R("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0  # in the past: go now
    assert transport.retry_after_seconds(R("soon")) is None
    assert transport.retry_after_seconds(R("")) is None


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
    later = server.seen[1:]
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
    session = transport.build_session(retries=3, backoff=0.01)
    http.DefenderClient(server.url + "/api-host-elsewhere", Tokens(), session, timeout=5)
    # the API adapter is mounted for the API's scheme and host; sign-in (another host in real life) keeps its own
    login = session.get_adapter("https://login.example.test/")
    assert login.max_retries.retry_throttled
    api = session.get_adapter(server.url + "/api/alerts")
    assert not api.max_retries.retry_throttled


TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"


def settings(**over):
    opts = dict(tenant_id=TENANT, client_id=CLIENT, client_secret="s3cr3t-value", api_url="https://api.example.test")
    opts.update(over)
    return connection_settings.Settings(opts)


def test_max_retry_wait_default_env_and_bounds(monkeypatch):
    assert settings().max_retry_wait == transport.MAX_RETRY_WAIT == 300
    assert settings(max_retry_wait=30).max_retry_wait == 30
    assert settings(max_retry_wait="600").max_retry_wait == 600  # plugins pass strings from the environment
    for bad in (-1, 86401, "five"):
        with pytest.raises(DefenderConfigError) as info:
            settings(max_retry_wait=bad)
        assert "max_retry_wait" in str(info.value)
    spec = connection_settings.CONNECTION_ARGUMENT_SPEC["max_retry_wait"]
    assert spec["type"] == "int" and spec["fallback"][1] == ["DEFENDER_MAX_RETRY_WAIT"]


def test_the_budget_owner_is_the_application_never_a_secret():
    import base64
    import json
    owner = connection_settings.budget_owner(settings())
    assert owner == ("app", TENANT, CLIENT)
    claims = base64.urlsafe_b64encode(json.dumps({"appid": CLIENT.upper(), "tid": TENANT}).encode()).decode()
    token = "eyJhbGciOiJub25lIn0.%s.c2ln" % claims.rstrip("=")
    s = connection_settings.Settings(dict(access_token=token, api_url="https://api.example.test"))
    assert connection_settings.budget_owner(s) == owner  # a token of the same app shares the credentials' budget
    opaque = connection_settings.Settings(dict(access_token="a.b.c", api_url="https://api.example.test"))
    key = connection_settings.budget_owner(opaque)
    assert key[0] == "token" and "a.b.c" not in repr(key)
    assert "s3cr3t" not in repr(owner)


def test_clients_of_one_application_share_budgets_and_max_retry_wait(monkeypatch):
    one, _provider = connection_settings.connect(settings(max_retry_wait=42))
    two, _provider = connection_settings.connect(settings())
    assert one.rate_budget is two.rate_budget and one.max_retry_wait == 42
    assert one.budget_for("/api/alerts/batchUpdate") is two.budget_for("/api/alerts/batchUpdate")
    assert one.budget_for("/api/alerts/batchUpdate") is not one.rate_budget
    other, _provider = connection_settings.connect(settings(api_url="https://eu.example.test"))
    assert other.rate_budget is not one.rate_budget
