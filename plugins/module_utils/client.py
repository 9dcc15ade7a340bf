# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTTP client of the collection: session, retry policy, errors, paging.

Retry policy (urllib3's ``Retry``, with one rule changed):
- 429 is retried for every method after ``Retry-After``: a throttled request was not processed.
- 5xx and read errors are retried with backoff for GET only.
- Connection errors before anything was sent are retried for every method (urllib3 counts them apart).
- A POST or PATCH whose response is lost raises :class:`DefenderOutcomeUnknownError`; it is never re-sent.
- A 401 gets one fresh token and one retry (the token provider decides whether it can refresh).
"""

from __future__ import annotations

import collections
import json
import ssl
import threading
import time
from urllib.parse import quote

from ansible_collections.defender.endpoint.plugins.module_utils._version import COLLECTION_VERSION
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.module_utils.odata import MAX_PAGE_SIZE, Pager

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
MAX_RETRY_AFTER = 120  # seconds; a longer Retry-After is capped so a task cannot hang for hours


class DefenderRetry(Retry):
    """urllib3's Retry, except that a 429 is retried whatever the method."""

    def is_retry(self, method, status_code, has_retry_after=False):
        if status_code == 429:
            return True
        return super().is_retry(method, status_code, has_retry_after)

    budget = None  # a RateBudget: retries spend it too, or they would overrun the limit they are waiting out

    def new(self, **kw):
        retry = super().new(**kw)
        retry.budget = self.budget
        return retry

    def sleep(self, response=None):
        super().sleep(response)
        if self.budget is not None:
            self.budget.acquire()

    def get_retry_after(self, response):
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


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
    if value in (".", "..") or any(ord(c) < 32 for c in value):
        raise DefenderConfigError("%s %r is not a valid identifier" % (name, value[:60]))
    return quote(value, safe="")


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


def _error_from_response(response, method, path):
    code = message = target = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code, message, target = err.get("code"), err.get("message"), err.get("target")
    target = target or response.headers.get("request-id") or response.headers.get("x-ms-request-id")
    status = response.status_code
    if not message:
        message = "the Defender API answered %s %s" % (status, response.reason or "")
    hint = {
        401: "the access token was rejected (expired, wrong tenant or wrong audience)",
        403: "the app lacks a permission: add it under API permissions > WindowsDefenderATP, then grant admin consent",
        404: "not found",
        429: "still throttled after retrying; the API allows 100 calls per minute per app and tenant",
    }.get(status)
    if hint and hint not in message:
        message = "%s (%s)" % (message.rstrip("."), hint)
    return DefenderError(message, status=status, code=code, target=target, method=method, path=path)


class RateBudget:
    """A client-side budget shared by threads: at most ``per_period`` requests in any sliding window of
    ``period`` seconds, the way the API counts its per-app limit, so bulk work stays under it instead of
    collecting 429s. (A token bucket would let a full bucket plus a period's refill through in the first
    period: up to twice what the API allows.) The window is kept slightly longer than the API's, to absorb
    the latency between our clock and the server's."""

    MARGIN = 0.02

    def __init__(self, per_period, period=60.0, clock=time.monotonic, sleep=time.sleep):
        self.capacity = max(1, int(per_period))
        self.period = float(period)
        self.window = self.period * (1 + self.MARGIN)
        self.clock, self.sleep = clock, sleep
        self.sent = collections.deque()
        self.lock = threading.Lock()

    def acquire(self):
        while True:
            with self.lock:
                now = self.clock()
                while self.sent and self.sent[0] <= now - self.window:
                    self.sent.popleft()
                if len(self.sent) < self.capacity:
                    self.sent.append(now)
                    return
                wait = self.sent[0] + self.window - now
            self.sleep(max(wait, 0.001))


class DefenderClient:
    """Talks to the Defender for Endpoint API. ``token_provider`` supplies bearer tokens."""

    def __init__(self, api_url, token_provider, session, timeout=30, rate_budget=None, json_retries=2):
        if rate_budget is not None:
            for adapter in session.adapters.values():
                if isinstance(getattr(adapter, "max_retries", None), DefenderRetry):
                    adapter.max_retries.budget = rate_budget
        self.api_url = api_url.rstrip("/")
        self.tokens = token_provider
        self.session = session
        self.timeout = timeout
        self.rate_budget = rate_budget
        self.json_retries = json_retries
        self.request_count = 0

    def get(self, path, params=None):
        return self.request("GET", path, params=params)

    def post(self, path, body):
        return self.request("POST", path, body=body)

    def patch(self, path, body):
        return self.request("PATCH", path, body=body)

    def pages(self, path, params=None, page_size=MAX_PAGE_SIZE, limit=None):
        return Pager(self, path, params=params, page_size=page_size, limit=limit)

    def _send(self, method, url, params, body, token):
        if self.rate_budget is not None:
            self.rate_budget.acquire()
        headers = {"Authorization": "Bearer " + token}
        kwargs = {"params": params, "headers": headers, "timeout": self.timeout}
        if body is not None:
            kwargs["data"] = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        self.request_count += 1
        return self.session.request(method, url, **kwargs)

    def request(self, method, path, params=None, body=None):
        """Send one API request and return its parsed JSON (None for an empty body)."""
        method = method.upper()
        url = self.api_url + path
        refreshed = False
        bad_json = 0
        while True:
            token = self.tokens.token(force_refresh=refreshed)
            try:
                response = self._send(method, url, params, body, token)
            except requests.exceptions.RequestException as exc:
                if method in IDEMPOTENT and bad_json < self.json_retries and _body_lost(exc):
                    bad_json += 1  # urllib3 had already handed the response over; a GET can be read again
                    time.sleep(0.2 * bad_json)
                    continue
                raise self._transport_error(exc, method, path) from None
            if response.status_code == 401 and not refreshed and self.tokens.can_refresh:
                refreshed = True  # one fresh token, one retry: a 401 was not processed
                continue
            if response.status_code >= 500 and method not in IDEMPOTENT:
                # A gateway's 502/504 (or a 500) may come after the write was applied: the caller must re-read.
                error = _error_from_response(response, method, path)
                raise DefenderOutcomeUnknownError(
                    "%s; the service may or may not have applied the change, so it was not re-sent" % error.message,
                    status=error.status, code=error.code, target=error.target, method=method, path=path)
            if response.status_code >= 400:
                raise _error_from_response(response, method, path)
            if not response.content or response.status_code == 204:
                return None
            try:
                return response.json()
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
