# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API client facade: one :class:`DefenderClient` per API and credential, sending every request through the
transport (session and retries, ``transport``) within the rate budgets (``rate``), and paging (``odata.Pager``).

What the client adds to the transport:
- A 429 from the API pauses every worker sharing its :class:`rate.RateBudget` until ``Retry-After`` (at most
  ``max_retry_wait``), slows the budget down, and the request goes again whatever its method: it was not processed.
- A POST or PATCH whose response is lost raises :class:`DefenderOutcomeUnknownError`; it is never re-sent.
- A 401 gets one fresh token and one retry (the token provider decides whether it can refresh).
- A GET whose body broke off or is not JSON is read again (``json_retries``).
"""

from __future__ import annotations

import contextlib
import json
import time
from urllib.parse import quote, urlsplit

from ansible_collections.defender.endpoint.plugins.module_utils.apis import PAGING_NEXT_LINK, api_named
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.module_utils.odata import (
    NextLinkPager,
    Pager,
    TimeBoundaryPager,
    check_page_size,
)
from ansible_collections.defender.endpoint.plugins.module_utils.rate import (
    LIMITS,
    RateBudget,
    duration_text,
    scaled_limits,
    bucket_for,
    shared_budget,
)
from ansible_collections.defender.endpoint.plugins.module_utils.transport import (
    IDEMPOTENT,
    MAX_RETRY_WAIT,
    SERVER_ERROR_IS_ANSWER,
    THROTTLE_RETRIES,
    DefenderRetry,
    HTTPAdapter,
    body_lost,
    certificate_rejected,
    error_from_response,
    timed_out,
    was_sent,
    requests,
    retry_after_seconds,
)
from ansible_collections.defender.endpoint.plugins.module_utils.validation import has_control


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


class DefenderClient:
    """Talks to one API (``api``: an ``apis`` descriptor or its name; the Defender API by default) at ``api_url``.
    ``token_provider`` supplies bearer tokens for that API's audience. Every request carries the API's own headers
    (Graph: ``Prefer: include-unknown-enum-members``), and its errors are read the API's way (request id, hints).

    Every request spends the budget of its limit bucket (:func:`bucket_for`): ``rate_budget`` for the default one
    or, when ``budget_owner`` is given, the process's shared budgets of that credential and host
    (:func:`shared_budget`). A 429 pauses every worker of that budget until its ``Retry-After`` (up to
    ``max_retry_wait`` seconds; a longer wait fails, naming it), then the request goes again: it was not processed.
    """

    def __init__(self, api_url, token_provider, session, timeout=30, rate_budget=None, json_retries=2,
                 budget_owner=None, max_retry_wait=MAX_RETRY_WAIT, throttle_retries=THROTTLE_RETRIES,
                 api=None):
        self.api_url = api_url.rstrip("/")
        self.api = api_named(api)
        self.budget_owner = budget_owner
        if rate_budget is None and budget_owner is not None:
            rate_budget = shared_budget(budget_owner, self.api_url, self.api.default_bucket)
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
        bucket = bucket_for(path, self.api.default_bucket)
        if bucket == self.api.default_bucket or self.budget_owner is None:
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
            self.rate_budget = shared_budget(self.budget_owner, self.api_url, self.api.default_bucket,
                                             per_minute=per_minute)
        elif self.rate_budget is not None:
            self.rate_budget.configure(scaled_limits(LIMITS[self.api.default_bucket], per_minute))
        else:
            self.rate_budget = RateBudget(limits=scaled_limits(LIMITS[self.api.default_bucket], per_minute))
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
        before = getattr(SERVER_ERROR_IS_ANSWER, "on", False)
        SERVER_ERROR_IS_ANSWER.on = True
        try:
            yield self
        finally:
            SERVER_ERROR_IS_ANSWER.on = before

    def get_or_none(self, path, params=None):
        return get_or_none(self, path, params=params)

    def post(self, path, body):
        return self.request("POST", path, body=body)

    def patch(self, path, body):
        return self.request("PATCH", path, body=body)

    def post_form(self, path, fields, files):
        """POST multipart/form-data: ``fields`` {name: text}, ``files`` {name: (file name, bytes)} (bytes, not a
        file object, so that a throttled request goes again whole)."""
        return self.request("POST", path, form=(fields, files))

    def pages(self, path, params=None, page_size=None, limit=None, raw=False):
        """Every item of the collection at ``path``, paged the API's way: ``$top``/``$skip`` with overlap for the
        Defender API (:class:`odata.Pager`), ``@odata.nextLink`` for Graph (:class:`odata.NextLinkPager`); ids are
        de-duplicated either way. ``page_size`` defaults to the collection's cap and may not exceed it."""
        cap = self.api.page_size_cap(path)
        page_size = cap if page_size is None else check_page_size(page_size, cap)
        if self.api.paging == PAGING_NEXT_LINK:
            return NextLinkPager(self, path, params=params, page_size=page_size, limit=limit, raw=raw)
        return Pager(self, path, params=params, page_size=page_size, limit=limit, raw=raw)

    def pages_by_time(self, path, time_field, since=None, params=None, page_size=None, limit=None):
        """Every item of a large time-ordered collection, read by time boundary instead of a deep ``$skip`` (which
        stalls on Graph's security collections): ``$filter=<time_field> ge <cursor>``, ordered ascending,
        ``$skip=0``, the cursor moving to the last item's time (:class:`odata.TimeBoundaryPager`)."""
        cap = self.api.page_size_cap(path)
        page_size = cap if page_size is None else check_page_size(page_size, cap)
        return TimeBoundaryPager(self, path, time_field, since=since, params=params, page_size=page_size,
                                 limit=limit)

    def _send(self, method, url, params, body, token, budget, form=None):
        sent_at = budget.acquire() if budget is not None else None
        headers = dict(self.api.headers)
        headers["Authorization"] = "Bearer " + token
        kwargs = {"params": params, "headers": headers, "timeout": self.timeout}
        if form is not None:
            kwargs["data"], kwargs["files"] = form  # requests writes the multipart body and its Content-Type
        elif body is not None:
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
            error = error_from_response(response, method, path, self.api)
            raise error.reworded(
                "the API throttled the request and asked to wait %s (Retry-After: %s) before retrying, longer than "
                "max_retry_wait (%d s) allows; raise max_retry_wait (or DEFENDER_MAX_RETRY_WAIT) or run the task "
                "later: %s" % (duration_text(wait), response.headers.get("Retry-After"), self.max_retry_wait,
                               error.message))
        if attempt > self.throttle_retries:
            raise error_from_response(response, method, path, self.api)
        self.throttled += 1
        if budget is not None:
            budget.throttled(wait, sent_at)
        else:
            time.sleep(wait)

    def request(self, method, path, params=None, body=None, parse=None, form=None):
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
                response, sent_at = self._send(method, url, params, body, token, budget, form)
            except requests.exceptions.RequestException as exc:
                if method in IDEMPOTENT and bad_json < self.json_retries and body_lost(exc):
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
                error = error_from_response(response, method, path, self.api)
                raise error.reworded("%s; the service may or may not have applied the change, so it was not "
                                     "re-sent" % error.message, DefenderOutcomeUnknownError)
            if response.status_code >= 400:
                raise error_from_response(response, method, path, self.api)
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
        if isinstance(exc, requests.exceptions.SSLError) and certificate_rejected(exc):
            return DefenderError("TLS verification failed for %s: set ca_path to the CA bundle that signs it "
                                 "(validate_certs: false only for tests)" % self.api_url, method=method, path=path)
        if method not in IDEMPOTENT and was_sent(exc):
            return DefenderOutcomeUnknownError(
                "the request was sent but no response arrived (%s); it was not re-sent, because the service may "
                "have acted on it" % kind, method=method, path=path)
        if isinstance(exc, requests.exceptions.Timeout) or timed_out(exc):
            return DefenderError("no response within %s seconds after retrying (%s); raise timeout or retry later"
                                 % (self.timeout, kind), method=method, path=path)
        return DefenderError("cannot reach %s (%s)" % (self.api_url, kind), method=method, path=path)
