# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rate: the API's documented limits per bucket, and the budgets that keep a process (all its threads and
clients of one credential and API host) within them: windows, pacing, and learning from 429s."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import stat
import threading
import time
from urllib.parse import urlsplit

try:
    import fcntl
except ImportError:  # not on Windows, where Ansible's controller does not run either
    fcntl = None

# The API's documented limits per application and tenant (the "Limitations" of each page under
# https://learn.microsoft.com/en-us/defender-endpoint/api/), as (calls, seconds) windows, by bucket: most
# endpoints share "default"; the endpoints with lower limits are counted apart, as the service counts them.
LIMITS = {
    "default": ((100, 60.0), (1500, 3600.0)),
    "alerts_batch_update": ((10, 60.0), (500, 3600.0)),
    "indicators_import": ((30, 60.0), (1500, 3600.0)),
    "indicators_batch_delete": ((30, 60.0), (1500, 3600.0)),
    "advanced_queries": ((45, 60.0), (1500, 3600.0)),
    "investigation_package": ((2, 60.0), (120, 3600.0)),  # GET .../getPackageUri (api/get-package-sas-uri)
    # POST /api/machines/{id}/runliveresponse: 10 calls a minute, no hourly figure (api/run-live-response.md)
    "live_response": ((10, 60.0), (600, 3600.0)),
    # Microsoft Graph runHuntingQuery: "at least 45 per minute" per tenant, no hourly figure
    # (https://learn.microsoft.com/en-us/graph/api/resources/security-api-overview); its host
    # differs from the Defender API's, so this budget is its own.
    "graph_hunting": ((45, 60.0), (2700, 3600.0)),
    # Every other Microsoft Graph security request (incidents, alerts_v2): Graph's "security detections and
    # incidents" limit is 150 per minute per app and tenant, listed for `alert` (whether it covers alerts_v2 and
    # incidents is not stated); no hourly figure, so the minute's rate for an hour.
    "graph": ((150, 60.0), (9000, 3600.0)),
    # Vulnerability management: one machine's vulnerabilities (get-discovered-vulnerabilities), the JSON assessment
    # exports, full and delta, and the file export (get-assessment-software-vulnerabilities)
    "machine_vulnerabilities": ((50, 60.0), (1500, 3600.0)),
    "vulnerability_export_json": ((30, 60.0), (1000, 3600.0)),
    "vulnerability_export_files": ((5, 60.0), (20, 3600.0)),
}
_BUCKET_PATHS = (
    ("/api/alerts/batchupdate", "alerts_batch_update"),
    ("/api/indicators/import", "indicators_import"),
    ("/api/indicators/batchdelete", "indicators_batch_delete"),
    ("/api/advancedqueries", "advanced_queries"),
    ("/v1.0/security/runhuntingquery", "graph_hunting"),
    ("/api/machines/softwarevulnerabilitiesbymachine", "vulnerability_export_json"),
    ("/api/machines/softwarevulnerabilitychangesbymachine", "vulnerability_export_json"),
    ("/api/machines/softwarevulnerabilitiesexport", "vulnerability_export_files"),
)


def bucket_for(path, default="default"):
    """The limit bucket of an API path (case-insensitive, as the service routes); ``default`` (the API's own, see
    ``apis.Api.default_bucket``) when the path has no lower limit of its own."""
    low = (path or "").split("?", 1)[0].lower().rstrip("/")
    for prefix, bucket in _BUCKET_PATHS:
        if low.startswith(prefix):
            return bucket
    if low.startswith("/api/machineactions/") and low.endswith("/getpackageuri"):
        return "investigation_package"
    if low.startswith("/api/machines/") and low.endswith("/runliveresponse"):
        return "live_response"
    if low.startswith("/api/machines/") and low.endswith("/vulnerabilities"):
        return "machine_vulnerabilities"
    return default


def duration_text(seconds):
    seconds = int(round(seconds))
    if seconds < 90:
        return "%d s" % seconds
    if seconds < 5400:
        return "%d min" % round(seconds / 60.0)
    return "%d h %02d min" % (seconds // 3600, round((seconds % 3600) / 60.0) % 60)


class BudgetPlan:
    """What a budget expects for ``calls`` more requests: ``seconds`` at the least, and whether they exceed the
    hourly quota (``message`` then says so, with the time)."""

    def __init__(self, calls, seconds, hourly, exceeds_hour):
        self.calls, self.seconds, self.hourly, self.exceeds_hour = calls, seconds, hourly, exceeds_hour

    @property
    def message(self):
        if not self.exceeds_hour:
            return None
        return ("%d API calls are needed, more than the %d per hour the API allows this application, so this task "
                "will take about %s (the client waits for the quota instead of failing)"
                % (self.calls, self.hourly, duration_text(self.seconds)))


class RateBudget:
    """The client side of the API's limits, shared by every thread (and client) using one credential on one API
    host; see :func:`shared_budget`.

    - **Windows**: at most ``n`` requests in any sliding ``s`` seconds for every documented window (per minute and
      per hour), counted the way the service counts; each window is kept slightly longer, for clock skew.
    - **Pacing**: requests leave evenly spaced at the current rate, after a small initial burst, so a service that
      counts over a shorter window than documented (say 30 per 5 s) sees no burst.
    - **Learning** (AIMD): a 429 pauses every worker until its ``Retry-After`` and cuts the rate (once per episode,
      however many workers meet it) to 70 %, or to the rate the service admitted over the last period if lower; each
      quiet ``period`` after that gives back a twentieth of the documented rate, up to it. An unknown, stricter or
      shared limit is met with few 429s.
    """

    MARGIN = 0.02
    DECREASE = 0.7    # rate kept after a 429
    INCREASE = 0.05   # of the documented rate, given back per quiet period
    MIN_FRACTION = 1 / 64.0

    def __init__(self, per_period=None, period=60.0, limits=None, clock=time.monotonic, sleep=time.sleep):
        if limits is None:
            limits = ((per_period if per_period is not None else 100, period),)
        self.clock, self.sleep = clock, sleep
        self.lock = self._new_lock()
        self.sent = collections.deque()
        self.refused = collections.deque()  # send times of the requests answered 429, over the last period
        self.first_sent = None
        now = clock()
        self.refilled = now
        self.paused_until = now
        self.last_cut = None      # clock time of the last rate cut
        self.last_change = now    # last cut or increase
        self.throttled_count = 0  # 429 answers reported
        self.cuts = 0
        self.waited = 0.0         # seconds spent waiting in acquire, all threads
        self.configure(limits)

    def _new_lock(self):
        return threading.Lock()

    def configure(self, limits):
        """(Re)set the windows: ((calls, seconds), ...). What was sent stays counted."""
        with self.lock:
            self.limits = tuple((max(1, int(n)), float(s)) for n, s in limits)
            self.capacity, self.period = min(self.limits, key=lambda w: w[1])  # pace by the shortest window
            learnt = self.rate / self.max_rate if getattr(self, "max_rate", None) else 1.0  # keep what was learnt
            self.max_rate = self.capacity / (self.period * (1 + self.MARGIN))  # requests per second
            self.rate = self.max_rate * learnt
            self.burst = float(max(2, min(10, self.capacity // 10)))
            self.tokens = self.burst
            self.longest = max(s for _n, s in self.limits) * (1 + self.MARGIN)

    def _refill(self, now):
        if self.rate < self.max_rate and now - self.last_change >= self.period and \
                (self.last_cut is None or now - self.last_cut >= self.period):
            self.rate = min(self.max_rate, self.rate + self.INCREASE * self.max_rate)
            self.last_change = now
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now

    def _window_wait(self, now):
        while self.sent and self.sent[0] <= now - self.longest:
            self.sent.popleft()
        wait = 0.0
        for n, s in self.limits:
            if len(self.sent) < n:
                continue
            window = s * (1 + self.MARGIN)
            # the n-th newest send must leave the window before one more may go
            oldest = self.sent[len(self.sent) - n]
            wait = max(wait, oldest + window - now)
        return wait

    def acquire(self):
        """Block until one more request may go; returns the clock time it went (for :meth:`throttled`)."""
        started = None
        while True:
            with self.lock:
                now = self.clock()
                if started is None:
                    started = now
                self._refill(now)
                wait = max(self.paused_until - now, self._window_wait(now))
                if wait <= 1e-9 and self.tokens < 1 - 1e-9:
                    wait = (1 - self.tokens) / self.rate
                if wait <= 1e-9:
                    self.tokens -= 1
                    self.sent.append(now)
                    if self.first_sent is None:
                        self.first_sent = now
                    self.waited += now - started
                    return now
            self.sleep(max(wait, 0.001))

    def throttled(self, retry_after, sent_at=None):
        """A request was answered 429: every worker waits ``retry_after`` seconds, and the rate is cut unless a cut
        already followed the sending of that request (the other workers' 429s of the same burst)."""
        with self.lock:
            now = self.clock()
            self.throttled_count += 1
            self.paused_until = max(self.paused_until, now + max(0.0, retry_after))
            self.refused.append(sent_at if sent_at is not None else now)
            if sent_at is None or self.last_cut is None or sent_at > self.last_cut:
                self.rate = max(self.max_rate * self.MIN_FRACTION, min(self.rate * self.DECREASE, self._admitted(now)))
                self.last_cut = self.last_change = now
                self.cuts += 1
            self.tokens = min(self.tokens, 1.0)  # no burst after a pause

    def _admitted(self, now):
        """The rate the service admitted over the last full ``period`` (requests sent minus those refused), when this
        budget has been sending for that long and enough to tell: a bound on the limit it meets. Else no bound."""
        window = self.period * (1 + self.MARGIN)
        if self.first_sent is None or now - self.first_sent < window:
            return float("inf")
        while self.refused and self.refused[0] <= now - window:
            self.refused.popleft()
        admitted = sum(1 for t in self.sent if t > now - window) - len(self.refused)
        if admitted < max(2, self.capacity // 10):
            return float("inf")  # too little traffic to say anything about the limit
        return admitted / window

    def plan(self, calls):
        """A :class:`BudgetPlan` for ``calls`` more requests at the documented limits (ignoring what the budget
        learnt since: a cut is temporary)."""
        calls = max(0, int(calls))
        with self.lock:
            now = self.clock()
            seconds = max(0.0, calls - self.burst) / self.max_rate
            for n, s in self.limits:
                used = sum(1 for t in self.sent if t > now - s)
                over = calls - (n - used)
                if over > 0:  # k more windows must pass; the last batch then leaves paced
                    k = -(-over // n)
                    seconds = max(seconds, k * s + (over - (k - 1) * n) / self.max_rate)
        hourly = [n for n, s in self.limits if s >= 3600.0]
        hour = min(hourly) if hourly else None
        return BudgetPlan(calls, seconds, hour, hour is not None and calls > hour)

    def stats(self):
        with self.lock:
            return {"throttled": self.throttled_count, "rate_cuts": self.cuts, "waited": round(self.waited, 3),
                    "rate_per_minute": round(self.rate * 60, 2)}


def scaled_limits(limits, per_minute):
    """``limits`` with the per-minute window set to ``per_minute`` and the others scaled in proportion."""
    per_minute = int(per_minute)
    minute = [n for n, s in limits if s == 60.0][0]
    return tuple((per_minute if s == 60.0 else max(1, n * per_minute // minute), s) for n, s in limits)


class SharedRateBudget(RateBudget):
    """A :class:`RateBudget` whose state lives in a small file, so that every process on this controller using the
    same credential, API host and limit bucket (playbooks run at once, the tasks of one playbook, inventory updates)
    spends one budget.

    Shared: the windows (what every process sent), the pause after a 429 and the learnt rate, so together the
    processes never exceed a documented window and all of them slow down after a 429. Each process keeps its own
    pacing (its small burst and even spacing): a short task is not made to wait for the pace of another run, at the
    price that N runs at once may send N bursts together (still within every window).

    Each use of the budget's state (a few microseconds of arithmetic; never a sleep) runs under ``flock`` on a lock
    file beside the state file: the kernel releases it when its holder exits or is killed, so a crashed run cannot
    block the others. The state is replaced atomically (temporary file, then rename) and times are wall-clock
    (``time.time``), which every process reads alike. What the file holds: send times of the last hour, the pause,
    the learnt share of the rate; no secret, no request.

    It cannot coordinate processes on other machines or in other containers (AWX runs each job in its own pod):
    there the cooperative 429 pause does it, each process pausing at the service's ``Retry-After`` and slowing down
    (see :class:`RateBudget`), which converges on a share of the limit at the cost of a few 429s.
    """

    def __init__(self, path, limits=None, clock=time.time, sleep=time.sleep):
        self.path = path
        self._fd = None
        super().__init__(limits=limits, clock=clock, sleep=sleep)

    def _new_lock(self):
        return _StateLock(self)

    def lock_fd(self):
        if self._fd is None:
            self._fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        return self._fd

    def load_state(self):
        """Take the shared state (if any, and sane) into this object."""
        try:
            with open(self.path + ".json", encoding="utf-8") as handle:
                state = json.load(handle)
            if not isinstance(state, dict) or state.get("format") != 1:
                return
            now = self.clock()
            # a clock set back since the state was written: move every time back as much, keeping the schedule
            shift = max(0.0, float(state["written"]) - now)

            def at(value):
                return None if value is None else float(value) - shift

            self.sent = collections.deque(min(at(t), now) for t in state["sent"])
            self.refused = collections.deque(min(at(t), now) for t in state["refused"])
            self.first_sent = at(state["first_sent"])
            self.refilled = min(self.refilled, now)  # this process's own pacing, on the same clock
            self.paused_until = at(state["paused_until"])
            self.rate = self.max_rate * min(1.0, max(self.MIN_FRACTION, float(state["learnt"])))
            self.last_cut = at(state["last_cut"])
            self.last_change = at(state["last_change"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError):
            return  # unreadable or from another version: this budget's own state goes on, and replaces it

    def save_state(self):
        now = self.clock()
        while self.sent and self.sent[0] <= now - self.longest:
            self.sent.popleft()
        while self.refused and self.refused[0] <= now - self.longest:
            self.refused.popleft()
        state = {"format": 1, "written": now, "sent": list(self.sent), "refused": list(self.refused),
                 "first_sent": self.first_sent,
                 "paused_until": self.paused_until,
                 "learnt": self.rate / self.max_rate, "last_cut": self.last_cut, "last_change": self.last_change}
        from ansible_collections.defender.endpoint.plugins.module_utils.files import write_atomically
        try:  # a file of ours in the private cache folder: a link or other file there is replaced, never followed
            write_atomically(self.path + ".json", json.dumps(state, separators=(",", ":")), encoding="utf-8",
                             durable=False, replace_link=True)
        except OSError:  # a full disk or a removed folder: this process goes on with its own state
            pass


class _StateLock:
    """The lock of a :class:`SharedRateBudget`: this process's threads first, then the other processes (``flock``);
    the shared state is read on entry and written back on exit. Without a usable file it is the thread lock alone."""

    def __init__(self, budget):
        self.budget = budget
        self.threads = threading.Lock()
        self.held = self.synced = False

    def __enter__(self):
        self.threads.acquire()
        b = self.budget
        try:
            fd = b.lock_fd()
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self.held = True
        except OSError:
            self.held = False
            return self
        # the first configure() of a new budget has no windows yet to read the state against (nor to write)
        self.synced = getattr(b, "max_rate", None) is not None
        if self.synced:
            b.load_state()
        return self

    def __exit__(self, *exc):
        b = self.budget
        try:
            if self.held:
                if self.synced:
                    b.save_state()
                if fcntl is not None:
                    fcntl.flock(b.lock_fd(), fcntl.LOCK_UN)
        finally:
            self.held = False
            self.threads.release()


def budget_dir():
    """The private folder of the shared budgets' state (``DEFENDER_BUDGET_DIR``, else ``defender.endpoint/budgets``
    in the user's cache folder), created 0700; None when sharing is off (``DEFENDER_SHARED_BUDGET=false``) or the
    folder is not this user's own."""
    if os.environ.get("DEFENDER_SHARED_BUDGET", "").strip().lower() in ("0", "false", "no", "off"):
        return None
    directory = os.environ.get("DEFENDER_BUDGET_DIR")
    if not directory:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        directory = os.path.join(base, "defender.endpoint", "budgets")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        st = os.lstat(directory)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            return None
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(directory, 0o700)
        if not os.access(directory, os.W_OK | os.X_OK):
            return None
    except OSError:
        return None
    return directory


def _new_budget(key, limits):
    directory = budget_dir() if fcntl is not None else None
    if directory is None:
        return RateBudget(limits=limits)
    name = hashlib.sha256(json.dumps(key, default=str).encode("utf-8")).hexdigest()[:40]
    return SharedRateBudget(os.path.join(directory, name), limits=limits)


_SHARED = {}
_SHARED_LOCK = threading.Lock()


def shared_budget(owner, api_url, bucket="default", per_minute=None):
    """The one budget of this controller (a :class:`SharedRateBudget`, or this process's :class:`RateBudget` when
    no private folder can hold its state; see :func:`budget_dir`) for ``owner`` (a credential's identity, e.g.
    tenant and client id; see ``settings.budget_owner``), the API host of ``api_url`` and a limit ``bucket`` of
    :data:`LIMITS`.

    ``per_minute`` replaces the documented per-minute limit (the hourly one follows in proportion); given again
    for the same budget it applies from then on."""
    host = urlsplit(api_url).netloc.lower() if "//" in (api_url or "") else (api_url or "")
    key = (owner, host, bucket)
    limits = LIMITS.get(bucket, LIMITS["default"])
    if per_minute is not None:
        limits = scaled_limits(limits, per_minute)
    with _SHARED_LOCK:
        budget = _SHARED.get(key)
        if budget is None:
            budget = _SHARED[key] = _new_budget(key, limits)
        elif per_minute is not None and budget.limits != limits:
            budget.configure(limits)
        return budget
