# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OData pieces for the Defender API: literals, filters and a $skip pager.

Every user value reaches a ``$filter`` through :func:`literal` (strings) or :func:`datetime_literal`,
so a quote in a machine name can never end the literal early.
"""

from __future__ import annotations

import collections
import datetime
import itertools
import json
import operator
import re

from urllib.parse import parse_qs, quote_plus, urlparse

from ansible_collections.defender.endpoint.plugins.module_utils.apis import DEFENDER
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.validation import has_control

MAX_PAGE_SIZE = 10000  # the API rejects a larger $top
# Overlap between consecutive pages: absorbs items that leave the result set while we page, and
# proves continuity (see Pager).
PAGE_OVERLAP = 50

_PROPERTY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
_RELATIVE = re.compile(r"^\s*(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def literal(value, name=None):
    """An OData string literal: single quotes doubled, control characters refused."""
    if not isinstance(value, str):
        value = str(value)
    if has_control(value):
        raise DefenderConfigError("%svalue %r contains a control character (newline, tab...) and cannot be used in a "
                                  "filter" % ("%s: " % name if name else "", value[:40]))
    return "'" + value.replace("'", "''") + "'"


def prop(name):
    """A property name, checked so it cannot carry an expression."""
    if not _PROPERTY.match(name or ""):
        raise DefenderConfigError("invalid OData property name %r" % (name,))
    return name


def _utc(dt):
    if dt.tzinfo is None:
        return dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc)


def parse_time(value, name="time", now=None):
    """An ISO 8601 timestamp or a relative age (``24h``, ``7d``, ``30m``) as an aware UTC datetime."""
    if isinstance(value, datetime.datetime):
        return _utc(value)
    if not isinstance(value, str) or not value.strip():
        raise DefenderConfigError("%s must be an ISO 8601 time or an age such as 24h or 7d, got %r"
                                  % (name, value[:80] if isinstance(value, str) else value))
    text = value.strip()
    rel = _RELATIVE.match(text)
    try:
        if rel:
            now = _utc(now) if now else datetime.datetime.now(datetime.timezone.utc)
            seconds = int(rel.group(1)) * _UNITS[rel.group(2)[0].lower()]
            return now - datetime.timedelta(seconds=seconds)
        return _parse_iso(text, name, value)
    except OverflowError:  # "999999999d", or a UTC conversion past year 1 or 9999
        raise DefenderConfigError("%s is out of range (years 1 to 9999), got %r" % (name, value[:80])) from None


def _parse_iso(text, name, value):
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    # Python 3.10 fromisoformat rejects 7-digit fractions as the API writes them; trim to microseconds.
    iso = re.sub(r"(\.\d{6})\d+", r"\1", iso)
    try:
        parsed = datetime.datetime.fromisoformat(iso)
    except ValueError:
        raise DefenderConfigError("%s must be an ISO 8601 time (2026-01-31T08:00:00Z) or an age such as 24h or 7d, "
                                  "got %r" % (name, value[:80])) from None
    return _utc(parsed)


def datetime_literal(value, name="time"):
    """The unquoted UTC form the API expects: ``2026-01-31T08:00:00Z`` (fractions kept if present)."""
    dt = parse_time(value, name)
    # Not strftime("%Y"): it writes year 1 as "1", which is not an OData datetime.
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)
    if dt.microsecond:
        text += (".%06d" % dt.microsecond).rstrip("0")
    return text + "Z"


def eq(name, value):
    return "%s eq %s" % (prop(name), literal(value, name))


def any_of(name, values):
    """``(p eq 'a' or p eq 'b')``; a single value needs no parentheses."""
    values = list(values)
    if not values:
        raise DefenderConfigError("an empty list cannot be used as a filter for %s" % name)
    if len(values) == 1:
        return eq(name, values[0])
    return "(" + " or ".join(eq(name, v) for v in values) + ")"


def compare(name, op, value, name_for_errors=None):
    if op not in ("eq", "ne", "gt", "ge", "lt", "le"):
        raise DefenderConfigError("unsupported OData operator %r" % op)
    return "%s %s %s" % (prop(name), op, datetime_literal(value, name_for_errors or name))


def raw_clause(text, name="filter"):
    """A user's raw OData clause as one parenthesised operand: the one helper every raw ``filter`` option
    (alerts, machines, indicators, the inventory...) goes through.

    The clause is sent as written, except for surrounding white space, and always parenthesised, so an ``or``
    inside it stays inside our ``and``. Refused before any request: an empty clause, a control character
    (also a newline or a tab: write the clause on one line, or fold it with YAML's ``>-``), and quotes or
    parentheses that do not balance outside string literals, since such a clause could close our
    parenthesis and append an ``or`` of its own (``title eq 'a')) or ((severity eq 'Low'``).
    """
    if not isinstance(text, str) or not text.strip():
        raise DefenderConfigError("%s must be a non-empty OData expression" % name)
    text = text.strip()
    if has_control(text):
        raise DefenderConfigError("%s contains a control character (newline, tab, escape...); write the expression "
                                  "on one line" % name)
    depth = 0
    quoted = False
    for c in text:
        if c == "'":
            quoted = not quoted  # a doubled quote toggles twice
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
            if depth < 0:
                break
    if quoted or depth != 0:
        raise DefenderConfigError("%s has unbalanced quotes or parentheses, so it could not stay one clause of the "
                                  "query: %r (a quote inside a string is written twice: 'O''Brien')" % (name, text[:80]))
    return text if _enclosed(text) else "(%s)" % text


def and_all(*clauses):
    """Join clauses with ``and``; raw user clauses are parenthesised so their ``or`` stays inside."""
    parts = [c for c in clauses if c]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " and ".join("(%s)" % part if re.search(r"\bor\b", part, re.I) and not _enclosed(part) else part
                        for part in parts)


def _enclosed(text):
    """True when one pair of parentheses encloses all of ``text`` (quotes respected)."""
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    quoted = False
    for i, c in enumerate(text):
        if c == "'":
            quoted = not quoted  # a doubled quote toggles twice: still right
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
            if depth == 0 and i != len(text) - 1:
                return False
    return depth == 0 and not quoted


def check_page_size(page_size, cap=MAX_PAGE_SIZE):
    """``page_size`` when it is a whole number from 1 to ``cap`` (the collection's largest ``$top``)."""
    if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1 or page_size > cap:
        raise DefenderConfigError("page_size must be between 1 and %d, got %r" % (cap, page_size))
    return page_size


def missing_collection_error(client, path, exc):
    """What a 404 on the first page of the collection at ``path`` means: None for "nothing matches" where the API
    documents that (``apis.Api.empty_on_404``: the Defender API's ``/api/machines`` only) and a sibling collection
    answers, proving the API is there; else the error to raise, naming the URL (a wrong ``api_url``, a retired
    endpoint, an id the service does not know), so that it is not mistaken for an empty result."""
    api = getattr(client, "api", DEFENDER)
    probe = api.empty_on_404(path)
    if probe:
        try:
            client.get(probe, params={"$top": 1})
            return None
        except DefenderError as probe_exc:
            if probe_exc.status != 404:
                return None  # answered (if only 403): the API is there, so the 404 was the documented "none"
    return exc.reworded("%s (%s answered 404 for %s%s: check api_url, cloud and region, and the ids in the path)"
                        % (exc.message, api.title, getattr(client, "api_url", ""), path))


_SCAN = json.JSONDecoder().scan_once  # the C scanner json.loads itself uses: one JSON value from an index
_SPACE = re.compile(r"[ \t\n\r]*")


class RawPage(list):
    """The items of one collection response as their own JSON text (a ``list`` of ``str``), with ``ids`` (the
    ``id`` of each item, None where there is none) and ``members`` (``@odata.nextLink`` and the like)."""

    ids = ()
    members = None


def split_collection(text):
    """A collection response (``{"@odata.context": ..., "value": [...]}``) split into a :class:`RawPage`.

    Each item of ``value`` is kept as the exact JSON text the service sent, so an export writes it without a
    decode-and-encode round trip (half of an export's CPU time): every item is still fully parsed, by the
    standard library's own scanner, to check it and to read its ``id``; nothing else is kept of the parsed
    item. An item sent over several lines (pretty-printed JSON) is re-encoded on one line. Raises ValueError
    for anything that is not one JSON object with a ``value`` array, as ``json.loads`` would.
    """
    try:
        return _split_collection(text)
    except (IndexError, StopIteration, KeyError):  # the scanner's ways of saying "not JSON here"
        raise ValueError("the response is not a JSON collection") from None


def _split_collection(text):
    page = RawPage()
    page.members = {}
    ids = []
    i = _SPACE.match(text, 0).end()
    if text[i] != "{":
        raise ValueError("the response is not a JSON object")
    i = _SPACE.match(text, i + 1).end()
    found = False
    while text[i] != "}":
        key, i = _SCAN(text, i)
        if not isinstance(key, str):
            raise ValueError("a member name is not a string")
        i = _SPACE.match(text, i).end()
        if text[i] != ":":
            raise ValueError("':' expected")
        i = _SPACE.match(text, i + 1).end()
        if key == "value" and text[i] == "[" and not found:
            found = True
            i = _SPACE.match(text, i + 1).end()
            while text[i] != "]":
                item, end = _SCAN(text, i)
                ids.append(item.get("id") if isinstance(item, dict) else None)
                raw = text[i:end]
                if "\n" in raw or "\r" in raw:  # white space between tokens only: strings cannot hold them
                    raw = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
                page.append(raw)
                i = _next(text, end, "]")
            i += 1
        else:
            page.members[key], i = _SCAN(text, i)
        i = _next(text, i, "}")
    if not found or _SPACE.match(text, i + 1).end() != len(text):
        raise ValueError("the response is not a JSON collection")
    page.ids = ids
    return page


def _next(text, i, close):
    """The index of the next value after a ',' (never the ``close`` bracket: no trailing comma), or of
    ``close``."""
    i = _SPACE.match(text, i).end()
    if text[i] == ",":
        i = _SPACE.match(text, i + 1).end()
        if text[i] == close:
            raise ValueError("a value expected after ','")
        return i
    if text[i] != close:
        raise ValueError("',' or %r expected" % close)
    return i


class Pager:
    """Reads every item of a collection with ``$top``/``$skip``, as a generator (of items, or of blocks).

    The real API sends no ``@odata.nextLink`` when ``$top`` is given, so we advance ``$skip``
    ourselves until a short page. Consecutive pages overlap by :data:`PAGE_OVERLAP` items: ids seen
    before are dropped (so an item that moves between pages is yielded once), and at least one id of
    the previous page's tail must reappear in the next page, which proves that nothing slid past the
    page boundary. When it does not, the pager steps back and re-reads; if that keeps failing the run
    ends in a clear error rather than in silently incomplete data.

    With ``raw=True`` the items are each item's JSON text as the service sent it (:func:`split_collection`),
    for writers that pass items on without looking into them.
    """

    whole_pages = True  # hand usual pages over whole (tests turn it off to compare with the item-by-item path)

    def __init__(self, client, path, params=None, page_size=MAX_PAGE_SIZE, limit=None, overlap=PAGE_OVERLAP,
                 max_realign=10, raw=False):
        self.client = client
        self.path = path
        self.params = dict(params or {})
        self.page_size = check_page_size(page_size)
        self.limit = limit
        self.overlap = min(overlap, max(page_size // 4, 0))
        self.max_realign = max_realign
        self.raw = raw
        self.requests = 0

    def _get(self, skip, top):
        """``(items, ids, next_skip)`` of one page."""
        params = dict(self.params)
        params["$top"] = top
        if skip:
            params["$skip"] = skip
        self.requests += 1
        try:
            if self.raw:
                body = self.client.get(self.path, params=params, parse=split_collection)
                return body, body.ids, self._next_skip(body.members.get("@odata.nextLink"), skip)
            body = self.client.get(self.path, params=params)
        except DefenderError as exc:
            # GET /api/machines answers 404 instead of an empty list when there are no recent machines; only the
            # first page can mean that, and only where it is documented (missing_collection_error).
            if exc.status != 404 or skip:
                raise
            error = missing_collection_error(self.client, self.path, exc)
            if error is not None:
                raise error from None
            return [], [], None
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise DefenderError("the API returned a list response without a 'value' array", path=self.path)
        page = body["value"]
        try:
            ids = list(map(dict.get, page, itertools.repeat("id")))  # C speed: no Python call per item
        except TypeError:  # an item that is not an object
            ids = [item.get("id") if isinstance(item, dict) else None for item in page]
        return page, ids, self._next_skip(body.get("@odata.nextLink"), skip)

    def _next_skip(self, link, skip):
        """The ``$skip`` of a nextLink that is well-formed, for this collection, and moves forward."""
        if not isinstance(link, str):
            return None
        parsed = urlparse(link)
        if parsed.scheme != "https" or not parsed.path.rstrip("/").endswith(self.path.rstrip("/")):
            return None
        values = parse_qs(parsed.query).get("$skip")
        if not values or len(values) != 1 or not values[0].isdigit():
            return None
        nxt = int(values[0])
        return nxt if nxt > skip else None

    def __iter__(self):
        return itertools.chain.from_iterable(map(operator.itemgetter(1), self.blocks()))

    def blocks(self):
        """``(ids, items)`` of the new items of each page, two lists of the same length; the consumer should
        drop a block before asking for the next, so that memory stays within one page."""
        # Ids of the last few pages only: an item can reappear only in a nearby window (a larger shift fails
        # the continuity check), and memory must not grow with the size of the collection.
        recent = collections.deque(maxlen=3)
        yielded = 0
        skip = 0
        tail = []  # ids of the last items of the previous page
        realigns = 0
        while True:
            top = self.page_size
            if self.limit is not None:
                # Enough for the rest plus the overlap that proves continuity.
                top = min(self.page_size, self.limit - yielded + (self.overlap if skip else 0))
            page, ids, next_skip = self._get(skip, top)
            if tail and not (set(tail) & set(ids)):
                # The previous tail is not in this window (an empty page included): items left the result set
                # and the rest slid back past our $skip. Step back until the tail is in view again; the ids
                # already seen are dropped, so nothing is yielded twice.
                realigns += 1
                if realigns > self.max_realign or skip == 0:
                    raise DefenderError("the result set changed too much while it was being read (%s); "
                                        "narrow the filter or retry" % self.path, path=self.path)
                skip = max(0, skip - self.page_size + self.overlap)
                continue
            fresh = set(ids)
            again = set().union(*[fresh & r for r in recent])  # seen in the last pages (not one set of them all)
            if self.whole_pages and None not in fresh and len(fresh) == len(ids) and \
                    (not again or again == set(ids[:len(again)])):
                # The usual page: distinct ids, and those seen before are just its head (the overlap). Hand the
                # rest over whole instead of testing each item: per-item Python work is what separates an export
                # from a bare requests loop.
                new_ids, new_items = ids[len(again):], page[len(again):]
                seen = fresh  # the overlap included: those ids were seen anyway
            else:
                previous = set().union(*recent)
                seen = set()
                new_ids, new_items = [], []
                for item, item_id in zip(page, ids):
                    if item_id is not None:
                        if item_id in seen or item_id in previous:
                            continue
                        seen.add(item_id)
                    new_ids.append(item_id)
                    new_items.append(item)
                # Remember every id of the page, not only the new ones (as the whole-page path does): an id seen
                # again here must stay in the window of the last pages, or a later page would yield it twice.
                seen = fresh - {None}
            recent.append(seen)
            done = False
            if self.limit is not None and yielded + len(new_items) >= self.limit:
                del new_ids[self.limit - yielded:], new_items[self.limit - yielded:]
                done = True
            short = len(page) < top
            if not short:
                tail = [i for i in ids[-self.overlap:] if i is not None] if self.overlap else []
                skip += len(page) - (len(tail) if tail else 0)
            elif next_skip is not None and page:
                # A short page with a valid nextLink: the server capped the page; continue where it says.
                tail = []
                skip = next_skip
            else:
                done = True
            page = ids = fresh = again = None  # let this page go before the next one is read: one page in memory
            if new_items:
                yielded += len(new_items)
                yield new_ids, new_items
                new_ids = new_items = None
            if done:
                return


def _ids(page):
    try:
        return list(map(dict.get, page, itertools.repeat("id")))  # C speed: no Python call per item
    except TypeError:  # an item that is not an object
        return [item.get("id") if isinstance(item, dict) else None for item in page]


def _collection(body, path):
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise DefenderError("the API returned a list response without a 'value' array", path=path)
    return body["value"]


class NextLinkPager:
    """Reads every item of a collection by following ``@odata.nextLink``, whatever it holds (``$skiptoken``,
    ``$skip``): how Microsoft Graph pages. Items are de-duplicated by id over the whole read (ids only are kept), so
    an item that a ``$skip`` link shows twice, or a link that repeats a page, yields each item once. A link is
    followed only on the client's own API host and collection (the token never goes elsewhere); one seen before
    ends the read with an error instead of a loop. ``raw=True`` yields each item's JSON text as :class:`Pager` does.
    """

    def __init__(self, client, path, params=None, page_size=MAX_PAGE_SIZE, limit=None, raw=False):
        self.client = client
        self.path = path
        self.params = dict(params or {})
        self.params.setdefault("$top", page_size)
        self.limit = limit
        self.raw = raw
        self.requests = 0

    def _follow(self, link):
        """The path and query (relative to the client's API URL) of a nextLink, or None to stop."""
        if not isinstance(link, str) or not link:
            return None
        base = urlparse(self.client.api_url.rstrip("/"))
        parsed = urlparse(link)
        if parsed.scheme != "https" or parsed.netloc.lower() != base.netloc.lower() or \
                parsed.path.rstrip("/").lower() != (base.path + self.path).rstrip("/").lower():
            raise DefenderError("the API's next page link leaves %s%s; stopped rather than send the token elsewhere"
                                % (self.client.api_url.rstrip("/"), self.path), path=self.path)
        return parsed.path[len(base.path):] + ("?" + parsed.query if parsed.query else "")

    def __iter__(self):
        return itertools.chain.from_iterable(map(operator.itemgetter(1), self.blocks()))

    def blocks(self):
        """``(ids, items)`` of the new items of each page (see :meth:`Pager.blocks`)."""
        seen = set()
        links = set()
        yielded = 0
        path, params = self.path, self.params
        while path is not None:
            self.requests += 1
            try:
                if self.raw:
                    page = self.client.get(path, params=params, parse=split_collection)
                    ids, link = page.ids, page.members.get("@odata.nextLink")
                else:
                    body = self.client.get(path, params=params)
                    page = _collection(body, self.path)
                    ids, link = _ids(page), body.get("@odata.nextLink")
            except DefenderError as exc:
                if exc.status != 404 or self.requests > 1:
                    raise
                error = missing_collection_error(self.client, self.path, exc)
                if error is not None:
                    raise error from None
                return
            new_ids, new_items = [], []
            for item, item_id in zip(page, ids):
                if item_id is not None:
                    if item_id in seen:
                        continue
                    seen.add(item_id)
                new_ids.append(item_id)
                new_items.append(item)
            if self.limit is not None and yielded + len(new_items) >= self.limit:
                del new_ids[self.limit - yielded:], new_items[self.limit - yielded:]
                path = None
            else:
                path, params = self._follow(link), None
                if path is not None:
                    if link in links:
                        raise DefenderError("the API sent the same next page link twice while paging %s"
                                            % self.path, path=self.path)
                    links.add(link)
            body = page = ids = None
            if new_items:
                yielded += len(new_items)
                yield new_ids, new_items
                new_ids = new_items = None


class TimeBoundaryPager:
    """Reads a large time-ordered collection by time boundary, where a deep ``$skip`` stalls (Graph's security
    collections under volume): ``$filter=<time_field> ge <cursor>`` (and the caller's filter),
    ``$orderby=<time_field> asc``, ``$skip=0``; after a full page the cursor moves to the last item's time. Items at
    the boundary come again with ``ge``: their ids are dropped. When a whole page shares the cursor's time (more
    items at one instant than a page holds), ``$skip`` counts past the boundary items already read, so the read
    still moves on. A short page ends the read. ``since`` (ISO 8601 or an age) is the first cursor.
    """

    max_stalls = 3  # full pages in a row with nothing new (the collection shifting under us) before giving up

    def __init__(self, client, path, time_field, since=None, params=None, page_size=MAX_PAGE_SIZE, limit=None):
        self.client = client
        self.path = path
        self.time_field = prop(time_field)
        self.cursor = datetime_literal(since, "since") if since is not None else None
        self.params = dict(params or {})
        self.page_size = page_size
        self.limit = limit
        self.requests = 0

    def _query(self, skip):
        params = dict(self.params)
        flt = params.pop("$filter", None)
        bound = compare(self.time_field, "ge", self.cursor) if self.cursor else None
        combined = and_all(flt, bound)
        if combined:
            params["$filter"] = combined
        params["$orderby"] = "%s asc" % self.time_field
        params["$top"] = self.page_size
        params["$skip"] = skip
        return params

    def _time(self, item):
        value = item.get(self.time_field) if isinstance(item, dict) else None
        if not isinstance(value, str):
            raise DefenderError("an item of %s has no %s to page by" % (self.path, self.time_field), path=self.path)
        return parse_time(value, self.time_field)

    def __iter__(self):
        return itertools.chain.from_iterable(map(operator.itemgetter(1), self.blocks()))

    def blocks(self):
        """``(ids, items)`` of the new items of each page (see :meth:`Pager.blocks`)."""
        boundary = set()  # ids of the items read at the cursor's time
        skip = 0
        stalls = 0
        yielded = 0
        while True:
            self.requests += 1
            body = self.client.get(self.path, params=self._query(skip))
            page = _collection(body, self.path)
            new_ids, new_items = [], []
            for item, item_id in zip(page, _ids(page)):
                if item_id is not None and item_id in boundary:
                    continue
                new_ids.append(item_id)
                new_items.append(item)
            done = len(page) < self.page_size
            if self.limit is not None and yielded + len(new_items) >= self.limit:
                del new_ids[self.limit - yielded:], new_items[self.limit - yielded:]
                done = True
            if not done:
                last = self._time(page[-1])
                cursor = parse_time(self.cursor, self.time_field) if self.cursor else None
                at_last = []  # the ids at the last item's time: the page's tail, as it is in ascending order
                for item_id, item in zip(reversed(_ids(page)), reversed(page)):
                    if self._time(item) != last:
                        break
                    at_last.append(item_id)
                if cursor is not None and last == cursor:
                    # The whole page is at the cursor's time: count past what was read there.
                    before = len(boundary)
                    boundary.update(at_last)
                    stalls = 0 if len(boundary) > before else stalls + 1
                    if stalls >= self.max_stalls:
                        raise DefenderError("the result set changed too much while it was being read by time (%s); "
                                            "narrow the filter or retry" % self.path, path=self.path)
                    skip = len(boundary)
                else:
                    self.cursor = datetime_literal(last, self.time_field)
                    boundary = set(at_last)
                    skip = 0
                    stalls = 0
            body = page = None
            if new_items:
                yielded += len(new_items)
                yield new_ids, new_items
                new_ids = new_items = None
            if done:
                return


# A $filter travels in the URL. Servers commonly refuse long ones (IIS, for one, limits a query string to 2,048
# bytes by default) and OData services limit the nodes of a filter (ASP.NET OData's default MaxNodeCount is 100;
# one "p eq 'v'" is three nodes, each "or" one more). So a list of values is asked for in chunks that stay under
# both: at most MAX_OR_VALUES values and MAX_FILTER_CHARS characters once URL-encoded. Neither limit of the real
# service is documented; these keep well inside the usual defaults.
MAX_OR_VALUES = 20
MAX_FILTER_CHARS = 1500


def encoded_length(text):
    """The length of ``text`` as it travels in a query string (what requests sends: ``quote_plus``)."""
    return len(quote_plus(text))


def filter_chunks(name, values, extra=None, max_values=MAX_OR_VALUES, max_chars=MAX_FILTER_CHARS, build=None):
    """``(chunk, filter)`` pairs for consecutive chunks of ``values``, each within ``max_values`` values and
    ``max_chars`` encoded characters. The filter is ``any_of(name, chunk)`` (joined with ``extra`` by ``and``
    when given), or ``build(chunk)``. A single value longer than the budget still gets its own chunk (it cannot
    be split)."""
    if build is None:
        def build(part):
            return and_all(any_of(name, part), extra)
    chunk = []
    for value in values:
        if chunk and (len(chunk) >= max_values or encoded_length(build(chunk + [value])) > max_chars):
            yield chunk, build(chunk)
            chunk = []
        chunk.append(value)
    if chunk:
        yield chunk, build(chunk)
