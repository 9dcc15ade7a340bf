# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTTP client of the collection: session, retry policy, errors, paging.

Retry policy (urllib3's ``Retry``, with one rule changed, and the client's own handling of 429):
- A 429 from the API pauses every worker sharing its :class:`RateBudget` until ``Retry-After`` (at most
  ``max_retry_wait``), slows the budget down, and the request goes again whatever its method: it was not processed.
- 5xx and read errors are retried with backoff for GET only.
- Connection errors before anything was sent are retried for every method (urllib3 counts them apart).
- A POST or PATCH whose response is lost raises :class:`DefenderOutcomeUnknownError`; it is never re-sent.
- A 401 gets one fresh token and one retry (the token provider decides whether it can refresh).
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import json
import math
import ssl
import threading
import time
from urllib.parse import quote, urlsplit

from ansible_collections.defender.endpoint.plugins.module_utils._version import COLLECTION_VERSION
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.module_utils.odata import MAX_PAGE_SIZE, Pager
from ansible_collections.defender.endpoint.plugins.module_utils.validation import has_control

try:
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError
    from urllib3.util.retry import Retry
except ImportError:
    requests = None
    HTTPAdapter = object
    Retry = object

USER_AGENT = "defender.endpoint/%s (Ansible collection)" % COLLECTION_VERSION
IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS"))
MAX_RETRY_AFTER = 120  # seconds; urllib3's cap for a 503's Retry-After (a 429's is the client's: max_retry_wait)
MAX_RETRY_WAIT = 300  # default of the shared option max_retry_wait: the longest Retry-After a 429 is waited out
THROTTLE_RETRIES = 10  # 429 answers to one request before it fails (the budget slows down meanwhile)


# Set (per thread) while a request whose server error is an answer, not a passing fault, is sent: a 5xx is then
# handed back at once instead of retried with back-off (Graph's $expand=alerts fails for good on large tenants).
_SERVER_ERROR_IS_ANSWER = threading.local()


class DefenderRetry(Retry):
    """urllib3's Retry, except that a 429 is retried whatever the method (for sign-in; the API's 429s are left to
    :class:`DefenderClient`, which pauses every worker sharing the budget: ``retry_throttled`` False)."""

    budget = None  # a RateBudget: retries spend it too, or they would overrun the limit they are waiting out
    retry_throttled = True

    def is_retry(self, method, status_code, has_retry_after=False):
        if status_code == 429:
            return self.retry_throttled
        if status_code >= 500 and getattr(_SERVER_ERROR_IS_ANSWER, "on", False):
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def new(self, **kw):
        retry = super().new(**kw)
        retry.budget = self.budget
        retry.retry_throttled = self.retry_throttled
        return retry

    def sleep(self, response=None):
        super().sleep(response)
        if self.budget is not None:
            self.budget.acquire()

    def get_retry_after(self, response):
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


def retry_after_seconds(response):
    """A response's Retry-After in seconds (a number, possibly fractional, or an HTTP date), or None."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        import email.utils  # only for the rare HTTP-date form; not a cost for every task
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def build_retry(retries=5, backoff=0.5):
    return DefenderRetry(
        total=retries + 3,
        connect=retries,
        read=retries,
        status=retries + 3,
        other=0,
        backoff_factor=backoff,
        allowed_methods=IDEMPOTENT,
        status_forcelist=(500, 502, 503, 504),
        respect_retry_after_header=True,
        raise_on_status=False,  # hand the last response back, so its error body reaches the user
    )


class _Session(requests.Session if requests else object):
    """A session whose ``verify`` beats ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``.

    requests lets those variables override ``Session.verify``; an explicit ``ca_path`` (or
    ``validate_certs: false``) must win, while proxies still come from the environment.
    """

    pinned_verify = None

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.pinned_verify is not None:
            settings["verify"] = self.pinned_verify
        return settings


def build_session(validate_certs=True, ca_path=None, pool_size=10, retries=5, backoff=0.5):
    """The session used for the API, sign-in (msal's ``http_client``) and key discovery."""
    if requests is None:
        raise DefenderConfigError("the Python library 'requests' is required (pip install -r requirements.txt)")
    session = _Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    adapter = HTTPAdapter(max_retries=build_retry(retries, backoff), pool_connections=2, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if not validate_certs:
        session.pinned_verify = False
    elif ca_path:
        session.pinned_verify = ca_path
    session.verify = session.pinned_verify if session.pinned_verify is not None else True
    return session


def segment(value, name="id"):
    """One URL path segment from a user value: percent-encoded, never a path of its own."""
    if not isinstance(value, str) or not value.strip():
        raise DefenderConfigError("%s must be a non-empty string" % name)
    if value in (".", "..") or has_control(value):
        raise DefenderConfigError("%s %r is not a valid identifier" % (name, value[:60]))
    return quote(value, safe="")


def get_or_none(client, path, params=None):
    """GET one entity through ``client``; None when the API answers 404, every other error raised as usual.

    The one place that decides "404 means absent": an info module returns nothing for an unknown id instead
    of failing, and only a 404 is read that way (never a 403, a 400 or a 5xx)."""
    try:
        return client.get(path, params=params)
    except DefenderError as exc:
        if exc.status == 404:
            return None
        raise


def _causes(exc):
    """The exception and everything it wraps (args, urllib3's reason, context), without loops."""
    todo, seen = [exc], set()
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo.extend(item.args)
        todo.extend((getattr(item, "reason", None), item.__cause__, item.__context__))


def _certificate_rejected(exc):
    """True when TLS failed because the peer's certificate was not trusted (so nothing was sent)."""
    for item in _causes(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return True
        text = str(item)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return True
    return False


def _body_lost(exc):
    """A GET whose answer broke off mid-way (cut body, TLS record error, dropped connection): read again."""
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return not _certificate_rejected(exc)
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        return isinstance(exc.args[0], ProtocolError) and not isinstance(exc.args[0], MaxRetryError)
    return False


def _was_sent(exc):
    """False only when the failure certainly happened before the request left this host."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ProxyError,
                        requests.exceptions.InvalidURL)):
        return False
    if isinstance(exc, requests.exceptions.SSLError) and _certificate_rejected(exc):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", None)
        if isinstance(reason, (NewConnectionError, ConnectTimeoutError)):
            return False
    return True


def _timed_out(exc):
    """True for read timeouts that urllib3 retried until it gave up: requests reports those as a ConnectionError."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, ReadTimeoutError)


_HINTS = {
    "defender": {
        401: "the access token was rejected (expired, wrong tenant or wrong audience)",
        403: "the app lacks a permission: add it under API permissions > WindowsDefenderATP, then grant admin consent",
        404: "not found",
        429: "still throttled after retrying; the API allows 100 calls per minute per app and tenant",
    },
    "graph": {
        401: "Microsoft Graph rejected the access token (expired, wrong tenant, or not a Graph token)",
        403: "the app lacks a Microsoft Graph permission: add it under API permissions > Microsoft Graph > "
             "Application permissions, then grant admin consent",
        404: "not found",
        429: "still throttled after retrying: Graph's call rate or the tenant's hunting CPU quota (blocked until "
             "the next 15-minute cycle) was reached",
    },
}


def _error_from_response(response, method, path, api="defender"):
    code = message = target = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code, message, target = err.get("code"), err.get("message"), err.get("target")
        inner = err.get("innerError") or err.get("innererror")
        if not target and isinstance(inner, dict):
            target = inner.get("request-id")  # Graph's envelope
    target = target or response.headers.get("request-id") or response.headers.get("x-ms-request-id")
    status = response.status_code
    if not message:
        message = "the %s answered %s %s" % ("Microsoft Graph API" if api == "graph" else "Defender API", status,
                                             response.reason or "")
    hint = _HINTS.get(api, _HINTS["defender"]).get(status)
    if hint and hint not in message:
        message = "%s (%s)" % (message.rstrip("."), hint)
    return DefenderError(message, status=status, code=code, target=target, method=method, path=path)


# The API's documented limits per application and tenant (facts §8.1), as (calls, seconds) windows, by bucket: most
# endpoints share "default"; the endpoints with lower limits are counted apart, as the service counts them.
LIMITS = {
    "default": ((100, 60.0), (1500, 3600.0)),
    "alerts_batch_update": ((10, 60.0), (500, 3600.0)),
    "indicators_import": ((30, 60.0), (1500, 3600.0)),
    "indicators_batch_delete": ((30, 60.0), (1500, 3600.0)),
    "advanced_queries": ((45, 60.0), (1500, 3600.0)),
    "investigation_package": ((2, 60.0), (120, 3600.0)),  # GET .../getPackageUri (facts §13)
    # Microsoft Graph runHuntingQuery: "at least 45 per minute" per tenant, no hourly figure (facts §11.5); its host
    # differs from the Defender API's, so this budget is its own.
    "graph_hunting": ((45, 60.0), (2700, 3600.0)),
}
_BUCKET_PATHS = (
    ("/api/alerts/batchupdate", "alerts_batch_update"),
    ("/api/indicators/import", "indicators_import"),
    ("/api/indicators/batchdelete", "indicators_batch_delete"),
    ("/api/advancedqueries", "advanced_queries"),
    ("/v1.0/security/runhuntingquery", "graph_hunting"),
)


def bucket_for(path):
    """The limit bucket of an API path (case-insensitive, as the service routes)."""
    low = (path or "").split("?", 1)[0].lower().rstrip("/")
    for prefix, bucket in _BUCKET_PATHS:
        if low.startswith(prefix):
            return bucket
    if low.startswith("/api/machineactions/") and low.endswith("/getpackageuri"):
        return "investigation_package"
    return "default"


def _duration(seconds):
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
                % (self.calls, self.hourly, _duration(self.seconds)))


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
        self.lock = threading.Lock()
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


def _scaled_limits(limits, per_minute):
    """``limits`` with the per-minute window set to ``per_minute`` and the others scaled in proportion."""
    per_minute = int(per_minute)
    minute = [n for n, s in limits if s == 60.0][0]
    return tuple((per_minute if s == 60.0 else max(1, n * per_minute // minute), s) for n, s in limits)


_SHARED = {}
_SHARED_LOCK = threading.Lock()


def shared_budget(owner, api_url, bucket="default", per_minute=None):
    """The one :class:`RateBudget` of this process for ``owner`` (a credential's identity, e.g. tenant and client id;
    see ``common.budget_owner``), the API host of ``api_url`` and a limit ``bucket`` of :data:`LIMITS`.

    ``per_minute`` replaces the documented per-minute limit (the hourly one follows in proportion); given again
    for the same budget it applies from then on."""
    host = urlsplit(api_url).netloc.lower() if "//" in (api_url or "") else (api_url or "")
    key = (owner, host, bucket)
    limits = LIMITS.get(bucket, LIMITS["default"])
    if per_minute is not None:
        limits = _scaled_limits(limits, per_minute)
    with _SHARED_LOCK:
        budget = _SHARED.get(key)
        if budget is None:
            budget = _SHARED[key] = RateBudget(limits=limits)
        elif per_minute is not None and budget.limits != limits:
            budget.configure(limits)
        return budget


class DefenderClient:
    """Talks to the Defender for Endpoint API. ``token_provider`` supplies bearer tokens.

    Every request spends the budget of its limit bucket (:func:`bucket_for`): ``rate_budget`` for the default one
    or, when ``budget_owner`` is given, the process's shared budgets of that credential and host
    (:func:`shared_budget`). A 429 pauses every worker of that budget until its ``Retry-After`` (up to
    ``max_retry_wait`` seconds; a longer wait fails, naming it), then the request goes again: it was not processed.
    """

    def __init__(self, api_url, token_provider, session, timeout=30, rate_budget=None, json_retries=2,
                 budget_owner=None, max_retry_wait=MAX_RETRY_WAIT, throttle_retries=THROTTLE_RETRIES,
                 api="defender"):
        self.api_url = api_url.rstrip("/")
        self.api = api  # "defender" or "graph": which service's error shape and hints apply
        self.budget_owner = budget_owner
        if rate_budget is None and budget_owner is not None:
            rate_budget = shared_budget(budget_owner, self.api_url)
        self.tokens = token_provider
        self.session = session
        self.timeout = timeout
        self.rate_budget = rate_budget
        self.json_retries = json_retries
        self.max_retry_wait = max_retry_wait
        self.throttle_retries = throttle_retries
        self.request_count = 0
        self.throttled = 0  # 429 answers this client met
        self._mount_api_adapter()

    def _mount_api_adapter(self):
        """An adapter of its own for the API host, whose urllib3 retries leave 429s to :meth:`request` (sign-in on
        the same session keeps urllib3's) and spend the default budget on their 5xx retries."""
        if requests is None or not isinstance(self.session, requests.Session):
            return  # a test double
        try:
            base = self.session.get_adapter(self.api_url + "/")
        except Exception:  # pylint: disable=broad-except  # no adapter for this scheme: requests will say so
            return
        retry = getattr(base, "max_retries", None)
        if not isinstance(retry, DefenderRetry):
            return
        retry = retry.new()
        retry.retry_throttled = False
        retry.budget = self.rate_budget
        adapter = HTTPAdapter(max_retries=retry, pool_connections=1,
                              pool_maxsize=getattr(base, "_pool_maxsize", 10))
        parts = urlsplit(self.api_url)
        self.session.mount("%s://%s/" % (parts.scheme, parts.netloc), adapter)

    def budget_for(self, path):
        """The budget a request to ``path`` spends (None: no client-side budget)."""
        bucket = bucket_for(path)
        if bucket == "default" or self.budget_owner is None:
            return self.rate_budget
        return shared_budget(self.budget_owner, self.api_url, bucket)

    def plan(self, calls, path="/api/machines"):
        """A :class:`BudgetPlan` for ``calls`` requests like ``path`` (None without a budget). Bulk work calls this
        first and warns with its ``message``, which is set when the calls exceed the hourly quota."""
        budget = self.budget_for(path)
        return budget.plan(calls) if budget is not None else None

    def announce(self, calls, warn, path="/api/machines"):
        """Say up front (through ``warn``) when ``calls`` requests exceed the hourly quota, with the time they will
        take; returns the plan. For bulk work (machine actions, indicator imports, tags) before it starts."""
        plan = self.plan(calls, path)
        if plan is not None and plan.message and warn is not None:
            warn(plan.message)
        return plan

    def limit_rate(self, per_minute):
        """Replace the documented per-minute limit of the default budget (a task's ``requests_per_minute``); the
        hourly limit follows in proportion."""
        if self.budget_owner is not None:
            self.rate_budget = shared_budget(self.budget_owner, self.api_url, per_minute=per_minute)
        elif self.rate_budget is not None:
            self.rate_budget.configure(_scaled_limits(LIMITS["default"], per_minute))
        else:
            self.rate_budget = RateBudget(limits=_scaled_limits(LIMITS["default"], per_minute))
            adapter = self.session.get_adapter(self.api_url + "/") \
                if requests is not None and isinstance(self.session, requests.Session) else None
            if isinstance(getattr(adapter, "max_retries", None), DefenderRetry):
                adapter.max_retries.budget = self.rate_budget
        return self.rate_budget

    def get(self, path, params=None, parse=None):
        return self.request("GET", path, params=params, parse=parse)

    @contextlib.contextmanager
    def server_errors_final(self):
        """Within it, a GET's server error is an answer (raised at once as DefenderError), not retried with back-off:
        for reads with an alternative when they fail (incidents' ``$expand=alerts``, which fails for good on large
        tenants)."""
        before = getattr(_SERVER_ERROR_IS_ANSWER, "on", False)
        _SERVER_ERROR_IS_ANSWER.on = True
        try:
            yield self
        finally:
            _SERVER_ERROR_IS_ANSWER.on = before

    def get_or_none(self, path, params=None):
        return get_or_none(self, path, params=params)

    def post(self, path, body):
        return self.request("POST", path, body=body)

    def patch(self, path, body):
        return self.request("PATCH", path, body=body)

    def pages(self, path, params=None, page_size=MAX_PAGE_SIZE, limit=None, raw=False):
        return Pager(self, path, params=params, page_size=page_size, limit=limit, raw=raw)

    def _send(self, method, url, params, body, token, budget):
        sent_at = budget.acquire() if budget is not None else None
        headers = {"Authorization": "Bearer " + token}
        if self.api == "graph":
            # Without it Graph hides enum members added after v1.0 (awaitingAction...) as unknownFutureValue.
            headers["Prefer"] = "include-unknown-enum-members"
        kwargs = {"params": params, "headers": headers, "timeout": self.timeout}
        if body is not None:
            kwargs["data"] = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        self.request_count += 1
        return self.session.request(method, url, **kwargs), sent_at

    def _throttled(self, response, method, path, budget, sent_at, attempt):
        """A 429: wait (all workers of the budget) and say to go again, or raise when that is not reasonable."""
        wait = retry_after_seconds(response)
        if wait is None:
            wait = min(60.0, 2.0 ** attempt)  # no Retry-After: back off
        if wait > self.max_retry_wait:
            error = _error_from_response(response, method, path, self.api)
            raise DefenderError(
                "the API throttled the request and asked to wait %s (Retry-After: %s) before retrying, longer than "
                "max_retry_wait (%d s) allows; raise max_retry_wait (or DEFENDER_MAX_RETRY_WAIT) or run the task "
                "later: %s" % (_duration(wait), response.headers.get("Retry-After"), self.max_retry_wait,
                               error.message),
                status=429, code=error.code, target=error.target, method=method, path=path)
        if attempt > self.throttle_retries:
            raise _error_from_response(response, method, path, self.api)
        self.throttled += 1
        if budget is not None:
            budget.throttled(wait, sent_at)
        else:
            time.sleep(wait)

    def request(self, method, path, params=None, body=None, parse=None):
        """Send one API request and return its parsed JSON (None for an empty body).

        ``parse(text)`` replaces ``json.loads`` (:func:`odata.split_collection` keeps items as JSON text); it
        raises ValueError for a body it cannot read, which is retried as garbled JSON is.
        """
        method = method.upper()
        url = self.api_url + path
        budget = self.budget_for(path)
        refreshed = False
        bad_json = 0
        throttled = 0
        while True:
            token = self.tokens.token(force_refresh=refreshed)
            try:
                response, sent_at = self._send(method, url, params, body, token, budget)
            except requests.exceptions.RequestException as exc:
                if method in IDEMPOTENT and bad_json < self.json_retries and _body_lost(exc):
                    bad_json += 1  # urllib3 had already handed the response over; a GET can be read again
                    time.sleep(0.2 * bad_json)
                    continue
                raise self._transport_error(exc, method, path) from None
            if response.status_code == 429:
                throttled += 1  # a throttled request was not processed: it goes again, whatever the method
                self._throttled(response, method, path, budget, sent_at, throttled)
                continue
            if response.status_code == 401 and not refreshed and self.tokens.can_refresh:
                refreshed = True  # one fresh token, one retry: a 401 was not processed
                continue
            if response.status_code >= 500 and method not in IDEMPOTENT:
                # A gateway's 502/504 (or a 500) may come after the write was applied: the caller must re-read.
                error = _error_from_response(response, method, path, self.api)
                raise DefenderOutcomeUnknownError(
                    "%s; the service may or may not have applied the change, so it was not re-sent" % error.message,
                    status=error.status, code=error.code, target=error.target, method=method, path=path)
            if response.status_code >= 400:
                raise _error_from_response(response, method, path, self.api)
            if not response.content or response.status_code == 204:
                return None
            try:
                if parse is None:
                    return response.json()
                # JSON is UTF-8 (RFC 8259; json.loads accepts a BOM and UTF-16/32 too): never requests' guess of
                # the encoding, which reads the whole body a second time when the header names no charset
                content = response.content
                return parse(content.decode(json.detect_encoding(content), "surrogatepass"))
            except ValueError:
                if method in IDEMPOTENT and bad_json < self.json_retries:
                    bad_json += 1  # truncated or garbled JSON: a GET can simply be read again
                    time.sleep(0.2 * bad_json)
                    continue
                if method in IDEMPOTENT:
                    raise DefenderError("the API returned a response that is not valid JSON", status=response.status_code,
                                        method=method, path=path) from None
                raise DefenderOutcomeUnknownError(
                    "the API accepted the request but its response could not be read; the change may have been made",
                    status=response.status_code, method=method, path=path) from None

    def _transport_error(self, exc, method, path):
        kind = type(exc).__name__
        if isinstance(exc, requests.exceptions.SSLError) and _certificate_rejected(exc):
            return DefenderError("TLS verification failed for %s: set ca_path to the CA bundle that signs it "
                                 "(validate_certs: false only for tests)" % self.api_url, method=method, path=path)
        if method not in IDEMPOTENT and _was_sent(exc):
            return DefenderOutcomeUnknownError(
                "the request was sent but no response arrived (%s); it was not re-sent, because the service may "
                "have acted on it" % kind, method=method, path=path)
        if isinstance(exc, requests.exceptions.Timeout) or _timed_out(exc):
            return DefenderError("no response within %s seconds after retrying (%s); raise timeout or retry later"
                                 % (self.timeout, kind), method=method, path=path)
        return DefenderError("cannot reach %s (%s)" % (self.api_url, kind), method=method, path=path)
