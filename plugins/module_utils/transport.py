# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transport: the HTTP session, its retry policy, and how a failed response or connection becomes an error.

Retry policy (urllib3's ``Retry``, with one rule changed; the API's 429s are handled by ``client.DefenderClient``):
- 5xx and read errors are retried with backoff for GET only.
- Connection errors before anything was sent are retried for every method (urllib3 counts them apart).
- A 429 at sign-in is retried whatever the method (urllib3 honours its ``Retry-After``).
"""

from __future__ import annotations

import datetime
import math
import ssl
import threading

from ansible_collections.defender.endpoint.plugins.module_utils._version import COLLECTION_VERSION
from ansible_collections.defender.endpoint.plugins.module_utils.apis import api_named
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError

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
SERVER_ERROR_IS_ANSWER = threading.local()


class DefenderRetry(Retry):
    """urllib3's Retry, except that a 429 is retried whatever the method (for sign-in; the API's 429s are left to
    :class:`DefenderClient`, which pauses every worker sharing the budget: ``retry_throttled`` False)."""

    budget = None  # a RateBudget: retries spend it too, or they would overrun the limit they are waiting out
    retry_throttled = True

    def is_retry(self, method, status_code, has_retry_after=False):
        if status_code == 429:
            return self.retry_throttled
        if status_code >= 500 and getattr(SERVER_ERROR_IS_ANSWER, "on", False):
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


def certificate_rejected(exc):
    """True when TLS failed because the peer's certificate was not trusted (so nothing was sent)."""
    for item in _causes(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return True
        text = str(item)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return True
    return False


def body_lost(exc):
    """A GET whose answer broke off mid-way (cut body, TLS record error, dropped connection): read again."""
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return not certificate_rejected(exc)
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        return isinstance(exc.args[0], ProtocolError) and not isinstance(exc.args[0], MaxRetryError)
    return False


def was_sent(exc):
    """False only when the failure certainly happened before the request left this host."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ProxyError,
                        requests.exceptions.InvalidURL)):
        return False
    if isinstance(exc, requests.exceptions.SSLError) and certificate_rejected(exc):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", None)
        if isinstance(reason, (NewConnectionError, ConnectTimeoutError)):
            return False
    return True


def timed_out(exc):
    """True for read timeouts that urllib3 retried until it gave up: requests reports those as a ConnectionError."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, ReadTimeoutError)


def error_from_response(response, method, path, api=None):
    """The :class:`DefenderError` of an error response of ``api`` (a descriptor or its name): the service's code and
    message, its request id, and a hint of what to do for the usual statuses."""
    api = api_named(api)
    code = message = None
    try:
        body = response.json()
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        code, message = err.get("code"), err.get("message")
    target = api.request_id(err, response.headers)
    status = response.status_code
    if not message:
        message = "the %s answered %s %s" % (api.title, status, response.reason or "")
    hint = api.hints.get(status)
    if hint and hint not in message:
        message = "%s (%s)" % (message.rstrip("."), hint)
    return DefenderError(message, status=status, code=code or None, target=target, method=method, path=path)
