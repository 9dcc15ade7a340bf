# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""odata: literals (property tests), datetimes, and_all, relative times, and the $skip pager."""

from __future__ import annotations

import datetime
import json
import os
import sys

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError

# hypothesis and the emulator's filter parser are requirements of these tests: a missing one fails the run.
from hypothesis import example, given, settings, strategies as st  # noqa: E402

EMULATOR_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator")
try:
    sys.path.insert(0, os.path.abspath(EMULATOR_DIR))
    from emulator_odata import parse_filter as emulator_parse_filter  # pylint: disable=import-error
finally:
    if sys.path and sys.path[0] == os.path.abspath(EMULATOR_DIR):
        sys.path.pop(0)

# Any text without control characters (what literal() accepts).
SAFE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=60)
NOW = datetime.datetime(2026, 1, 31, 12, 0, 0, tzinfo=datetime.timezone.utc)


def parse_string_literal(text, pos=0):
    """A tiny OData string-literal reader: returns (value, end). '' inside is one quote."""
    assert text[pos] == "'", "a literal starts with a quote"
    out = []
    i = pos + 1
    while True:
        if i >= len(text):
            raise ValueError("unterminated literal")
        c = text[i]
        if c == "'":
            if i + 1 < len(text) and text[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(c)
        i += 1


# --- literals --------------------------------------------------------------------------------

@given(SAFE_TEXT)
def test_literal_round_trips(value):
    lit = odata.literal(value)
    parsed, end = parse_string_literal(lit)
    assert parsed == value
    assert end == len(lit), "the literal must end exactly where it was meant to"


@given(SAFE_TEXT, SAFE_TEXT)
def test_literal_cannot_end_early_inside_a_clause(value, other):
    clause = "%s and title eq %s" % (odata.eq("category", value), odata.literal(other))
    first, end = parse_string_literal(clause, len("category eq "))
    assert first == value
    assert clause[end:].startswith(" and title eq ")
    second, end2 = parse_string_literal(clause, end + len(" and title eq "))
    assert second == other and end2 == len(clause)


@settings(max_examples=300)
@given(SAFE_TEXT)
def test_literal_survives_the_emulators_parser(value):
    pred = emulator_parse_filter(odata.eq("category", value))
    assert pred({"category": value})
    assert not pred({"category": value + "x"})


@given(st.lists(SAFE_TEXT, min_size=1, max_size=5, unique=True), SAFE_TEXT)
def test_any_of_matches_exactly_the_members_in_the_emulators_parser(values, probe):
    pred = emulator_parse_filter(odata.any_of("category", values))
    for v in values:
        assert pred({"category": v})
    assert pred({"category": probe}) == (probe in values)


@pytest.mark.parametrize("bad", ["a\nb", "tab\there", "nul\x00", "del\x7f"])
def test_literal_refuses_control_characters(bad):
    with pytest.raises(DefenderConfigError):
        odata.literal(bad)


def test_literal_of_non_string():
    assert odata.literal(42) == "'42'"


@pytest.mark.parametrize("name", ["", "a b", "x eq 'y'", "a)", "1abc", "a/", "a;b"])
def test_prop_refuses_expressions(name):
    with pytest.raises(DefenderConfigError):
        odata.prop(name)


def test_prop_accepts_paths():
    assert odata.prop("relatedUser/userName") == "relatedUser/userName"


# --- datetimes and relative times ------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("2026-01-31T08:00:00Z", "2026-01-31T08:00:00Z"),
    ("2026-01-31T08:00:00", "2026-01-31T08:00:00Z"),  # no offset: UTC
    ("2026-01-31T09:30:00+01:30", "2026-01-31T08:00:00Z"),
    ("2026-01-31T08:00:00.5Z", "2026-01-31T08:00:00.5Z"),
    ("2020-07-20T10:53:48.7657932Z", "2020-07-20T10:53:48.765793Z"),  # the API's 7 digits
    ("2026-01-31", "2026-01-31T00:00:00Z"),
])
def test_datetime_literal(text, expected):
    assert odata.datetime_literal(text) == expected


@given(st.datetimes(min_value=datetime.datetime(1971, 1, 1), max_value=datetime.datetime(2999, 1, 1),
                    timezones=st.just(datetime.timezone.utc)))
def test_datetime_literal_round_trips(dt):
    text = odata.datetime_literal(dt)
    assert text.endswith("Z") and "+" not in text
    assert odata.parse_time(text) == dt


@pytest.mark.parametrize("text,delta", [
    ("24h", datetime.timedelta(hours=24)),
    ("7d", datetime.timedelta(days=7)),
    ("30m", datetime.timedelta(minutes=30)),
    ("90s", datetime.timedelta(seconds=90)),
    ("2w", datetime.timedelta(weeks=2)),
    (" 12 hours ", datetime.timedelta(hours=12)),
    ("1D", datetime.timedelta(days=1)),
])
def test_relative_times(text, delta):
    assert odata.parse_time(text, now=NOW) == NOW - delta


@pytest.mark.parametrize("bad", ["", "  ", "yesterday", "24", "h24", "-1d", "1.5h", "7y", "2026-13-01",
                                 "2026-01-31T25:00:00Z", None, 5, "24h ago"])
def test_bad_times_are_config_errors(bad):
    with pytest.raises(DefenderConfigError) as info:
        odata.parse_time(bad, "created_after")
    assert "created_after" in str(info.value)


def test_compare_refuses_unknown_operator():
    with pytest.raises(DefenderConfigError):
        odata.compare("lastUpdateTime", "like", "24h")


def test_compare_uses_unquoted_utc():
    assert odata.compare("lastUpdateTime", "ge", "2026-01-31T09:00:00+01:00") == "lastUpdateTime ge 2026-01-31T08:00:00Z"


# --- and_all ---------------------------------------------------------------------------------

def test_and_all_skips_empty_and_single():
    assert odata.and_all() is None
    assert odata.and_all(None, "") is None
    assert odata.and_all("a eq 'b'") == "a eq 'b'"


def test_and_all_parenthesises_or_once():
    any_clause = odata.any_of("severity", ["High", "Low"])
    joined = odata.and_all(any_clause, "x eq 'y' or z eq 'w'")
    assert joined == "(severity eq 'High' or severity eq 'Low') and (x eq 'y' or z eq 'w')"


def test_and_all_wraps_clauses_that_only_look_enclosed():
    joined = odata.and_all("(a eq 'x') or (b eq 'y')", "c eq 'z'")
    assert joined == "((a eq 'x') or (b eq 'y')) and c eq 'z'"


def test_and_all_ignores_parentheses_inside_literals():
    clause = "(a eq ')' or b eq '(')"
    assert odata.and_all(clause, "c eq 'z'") == clause + " and c eq 'z'"


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), SAFE_TEXT), min_size=1, max_size=4))
def test_and_all_composition_means_conjunction(pairs):
    clauses = [odata.any_of(name, [v, v + "1"]) for name, v in pairs]
    pred = emulator_parse_filter(odata.and_all(*clauses))
    item = {}
    consistent = True
    for name, v in pairs:
        if name in item and item[name] not in (v, v + "1"):
            consistent = False
        item.setdefault(name, v)
    assert pred(item) == consistent


def test_check_page_size():
    assert odata.check_page_size(1) == 1
    assert odata.check_page_size(10000) == 10000
    for bad in (0, -1, 10001, "100", None, 1.5):
        with pytest.raises(DefenderConfigError):
            odata.check_page_size(bad)


# --- Pager -----------------------------------------------------------------------------------

class FakeList:
    """A collection endpoint with MDE's paging rules; ``mutate(request_no, items)`` runs before each page."""

    def __init__(self, n, mutate=None, next_link=None):
        self.items = [{"id": "a%06d" % i} for i in range(n)]
        self.calls = []
        self.mutate = mutate
        self.next_link = next_link

    def get(self, path, params=None, parse=None):
        if parse is not None:  # a raw reader: the body as text, in the spacing json.dumps gives it
            return parse(json.dumps(self.get(path, params)))
        params = dict(params or {})
        self.calls.append(params)
        if self.mutate:
            self.mutate(len(self.calls), self.items)
        top = params.get("$top")
        assert top is not None and top <= odata.MAX_PAGE_SIZE, "every request must carry $top <= 10000"
        skip = params.get("$skip", 0)
        body = {"value": [dict(x) for x in self.items[skip:skip + top]]}
        if self.next_link is not None:
            body["@odata.nextLink"] = self.next_link(params)
        return body


def test_pager_reads_25000_without_nextlink():
    fake = FakeList(25000)
    pager = odata.Pager(fake, "/api/alerts")
    ids = [x["id"] for x in pager]
    assert len(ids) == 25000 and len(set(ids)) == 25000
    assert pager.requests == len(fake.calls) == 3
    assert all(c["$top"] <= 10000 for c in fake.calls)


def test_pager_exact_multiple_of_page_size():
    fake = FakeList(20000)
    ids = [x["id"] for x in odata.Pager(fake, "/api/alerts")]
    assert len(set(ids)) == 20000


@pytest.mark.parametrize("n,page_size", [(0, 10), (1, 10), (10, 10), (11, 10), (99, 7), (1000, 100)])
def test_pager_small_pages(n, page_size):
    fake = FakeList(n)
    ids = [x["id"] for x in odata.Pager(fake, "/api/alerts", page_size=page_size)]
    assert ids == ["a%06d" % i for i in range(n)]


def test_pager_limit():
    fake = FakeList(25000)
    ids = [x["id"] for x in odata.Pager(fake, "/api/alerts", limit=12345)]
    assert ids == ["a%06d" % i for i in range(12345)]
    assert all(c["$top"] <= 10000 for c in fake.calls)
    fake = FakeList(25000)
    assert len(list(odata.Pager(fake, "/api/alerts", limit=5))) == 5
    assert fake.calls == [{"$top": 5}]


def test_pager_keeps_params():
    fake = FakeList(3)
    list(odata.Pager(fake, "/api/alerts", params={"$filter": "x eq 'y'", "$expand": "evidence"}))
    assert fake.calls[0]["$filter"] == "x eq 'y'" and fake.calls[0]["$expand"] == "evidence"


def test_pager_insertions_between_pages_no_dupes_no_losses():
    added = []

    def mutate(call, items):
        if call in (2, 3):  # new items land at the front (sorted before the read position)
            new = [{"id": "new%d_%d" % (call, i)} for i in range(30)]
            added.extend(x["id"] for x in new)
            items[0:0] = new

    fake = FakeList(25000, mutate)
    ids = [x["id"] for x in odata.Pager(fake, "/api/alerts")]
    assert len(ids) == len(set(ids))
    assert set("a%06d" % i for i in range(25000)) <= set(ids)


@pytest.mark.parametrize("removed", [10, 49, 200, 5000])
def test_pager_removals_between_pages_no_dupes_no_losses(removed):
    """Items removed before the read position shift everything left; survivors must all be read."""
    gone = set()

    def mutate(call, items):
        if call == 2:
            for x in items[100:100 + removed]:
                gone.add(x["id"])
            del items[100:100 + removed]

    fake = FakeList(25000, mutate)
    ids = [x["id"] for x in odata.Pager(fake, "/api/alerts")]
    assert len(ids) == len(set(ids))
    survivors = set("a%06d" % i for i in range(25000)) - gone
    assert survivors <= set(ids)


def test_pager_constant_churn_is_a_clear_error():
    def mutate(call, items):
        if call > 1:
            del items[0:300]  # more than the overlap, on every page

    fake = FakeList(40000, mutate)
    with pytest.raises(DefenderError) as info:
        list(odata.Pager(fake, "/api/alerts", page_size=1000, overlap=50))
    assert "changed too much" in str(info.value)


@pytest.mark.parametrize("link", [
    "not a url",
    "http://api.example/api/alerts?$skip=10",           # not https
    "https://api.example/api/machines?$skip=10",        # another collection
    "https://api.example/api/alerts?$skip=0",           # does not advance
    "https://api.example/api/alerts?$skip=abc",
    "https://api.example/api/alerts?$skip=10&$skip=20",
    "https://api.example/api/alerts",
    12,
])
def test_pager_ignores_bad_nextlinks(link):
    fake = FakeList(25, next_link=lambda params: link)
    ids = [x["id"] for x in odata.Pager(fake, "/api/alerts", page_size=10)]
    assert len(ids) == 25 == len(set(ids))
    assert len(fake.calls) <= 4


def test_pager_follows_a_good_nextlink_after_a_server_capped_page():
    class Capped(FakeList):
        def get(self, path, params=None):
            params = dict(params or {})
            self.calls.append(params)
            skip = params.get("$skip", 0)
            page = self.items[skip:skip + 4]  # the server returns fewer than $top
            body = {"value": page}
            if skip + 4 < len(self.items):
                body["@odata.nextLink"] = "https://api.example/api/alerts?$top=10&$skip=%d" % (skip + 4)
            return body

    fake = Capped(10)
    ids = [x["id"] for x in odata.Pager(fake, "/api/alerts", page_size=10)]
    assert ids == ["a%06d" % i for i in range(10)]


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 120), page_size=st.integers(4, 30),
       churn=st.lists(st.tuples(st.integers(2, 8), st.sampled_from(["insert", "delete", "dup", "none"]),
                                st.integers(0, 60), st.integers(1, 12)), max_size=4))
# An id that reappears three pages after it was yielded: the per-item path once forgot it after a repeat.
@example(n=5, page_size=4, churn=[(2, "insert", 0, 2), (2, "insert", 15, 9), (2, "delete", 0, 1), (2, "insert", 15, 1)])
def test_pager_whole_page_path_yields_what_the_per_item_path_yields(n, page_size, churn):
    """Pages without surprises are handed over whole; with insertions, removals and repeated ids between and within
    pages, that must yield exactly what the item-by-item path yields (forced here with a limit that never binds)."""
    def mutate(call, items):
        for when, kind, at, size in churn:
            if when != call:
                continue
            if kind == "insert":
                items[at:at] = [{"id": "n%d_%d_%d" % (call, at, i)} for i in range(size)]
            elif kind == "delete":
                del items[at:at + size]
            elif kind == "dup" and items:
                items.insert(min(at, len(items)), dict(items[at % len(items)]))

    def read(limit, whole=True, raw=False):
        fake = FakeList(n, mutate)
        pager = odata.Pager(fake, "/api/alerts", page_size=page_size, overlap=3, limit=limit, raw=raw)
        pager.whole_pages = whole
        try:
            return [json.loads(x)["id"] if raw else x["id"] for x in pager]
        except DefenderError as exc:
            return str(exc)

    assert read(None) == read(None, whole=False) == read(10 ** 9) == read(None, raw=True) == \
        read(None, whole=False, raw=True)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8)


ITEMS = st.lists(st.one_of(JSON_VALUES, st.fixed_dictionaries({"id": st.text(max_size=6)}, optional={"x": JSON_VALUES})),
                 max_size=6)
MEMBERS = st.dictionaries(st.sampled_from(["@odata.context", "@odata.nextLink", "@odata.count"]), JSON_VALUES)


@settings(max_examples=300, deadline=None)
@given(items=ITEMS, extra=MEMBERS, indent=st.sampled_from([None, 1]), ascii_only=st.booleans(), compact=st.booleans())
def test_split_collection_keeps_each_item_as_it_was_sent(items, extra, indent, ascii_only, compact):
    """Whatever the spacing and escapes, each item's text is the JSON the service sent for it (re-encoded on one
    line only when it spans lines), and the other members and the ids are what json.loads reads."""
    body = dict(extra, value=items)
    text = json.dumps(body, indent=indent, ensure_ascii=ascii_only, separators=(",", ":") if compact else None)
    page = odata.split_collection(text)
    assert [json.loads(t) for t in page] == items
    assert all("\n" not in t for t in page)
    assert page.ids == [i.get("id") if isinstance(i, dict) else None for i in items]
    assert page.members == extra
    if indent is None:  # one line: the very text sent, item by item
        sep = "," if compact else ", "
        assert ("[" + sep.join(page) + "]") in text


@pytest.mark.parametrize("text", [
    "", "[]", "{}", '{"value": {}}', '{"value": [1, 2', '{"value": [1,]}', '{"value": [1] ', '{"value": [1]} x',
    '{"value": [1], }', '{"value" [1]}', '{1: [1]}', '{"value": [1] "a": 2}', '{"value": [1 2]}', '{"value": [,]}',
    "\ufeff" + '{"value": []}',
])
def test_split_collection_refuses_what_json_refuses(text):
    with pytest.raises(ValueError):
        odata.split_collection(text)


def test_split_collection_of_an_empty_list_and_odd_spacing():
    page = odata.split_collection(' \r\n{ "value" : [ ] , "@odata.context" : "c" }\n')
    assert list(page) == [] and page.ids == [] and page.members == {"@odata.context": "c"}


def test_raw_pager_follows_nextlink_and_limit():
    fake = FakeList(25, next_link=lambda params: "https://api.example.test/api/alerts?$skip=%d" % (
        params.get("$skip", 0) + 10))
    texts = list(odata.Pager(fake, "/api/alerts", page_size=10, raw=True, limit=17))
    assert [json.loads(t)["id"] for t in texts] == ["a%06d" % i for i in range(17)]


def test_pager_rejects_a_body_without_value():
    class Broken:
        def get(self, path, params=None):
            return {"error": "x"}

    with pytest.raises(DefenderError):
        list(odata.Pager(Broken(), "/api/alerts"))


# --- chunks of "or" filters under a URL budget -----------------------------------------------------------------

def test_filter_chunks_counts_and_text():
    got = list(odata.filter_chunks("id", ["a", "b", "c"], max_values=2))
    assert got == [(["a", "b"], "(id eq 'a' or id eq 'b')"), (["c"], "id eq 'c'")]
    assert list(odata.filter_chunks("id", [])) == []


def test_filter_chunks_default_is_twenty_ids_per_query():
    ids = ["%040x" % i for i in range(45)]
    got = list(odata.filter_chunks("id", ids))
    assert [len(c) for c, _flt in got] == [20, 20, 5]
    assert [v for c, _flt in got for v in c] == ids
    assert all(odata.encoded_length(flt) <= odata.MAX_FILTER_CHARS for _c, flt in got)


def test_filter_chunks_keep_long_values_under_the_url_budget():
    # 20 names of 200 characters would be a 4 KB+ query string; the budget splits them earlier
    names = ["n%03d-" % i + "x" * 195 for i in range(20)]
    got = list(odata.filter_chunks("computerDnsName", names))
    assert len(got) > 1 and [v for c, _f in got for v in c] == names
    assert all(odata.encoded_length(flt) <= odata.MAX_FILTER_CHARS for _c, flt in got)


def test_filter_chunks_a_value_over_the_budget_goes_alone():
    huge = "q" * 2000
    got = list(odata.filter_chunks("computerDnsName", ["a", huge, "b"]))
    assert [c for c, _f in got] == [["a"], [huge], ["b"]]


def test_filter_chunks_with_extra_clause_and_quotes_counted_encoded():
    got = list(odata.filter_chunks("machineId", ["x'y", "z"], extra="type eq 'Isolate'"))
    assert got == [(["x'y", "z"], "(machineId eq 'x''y' or machineId eq 'z') and type eq 'Isolate'")]
    # the encoded length is what requests sends: quotes become %27, spaces +
    assert odata.encoded_length("a b'") == len("a+b%27")


def test_filter_chunks_custom_builder():
    got = list(odata.filter_chunks(None, ["A", "B"], build="|".join))
    assert got == [(["A", "B"], "A|B")]


class ShrinkingClient:
    """A collection from which items leave (e.g. get resolved) after the first page was read."""

    def __init__(self, total, remove_after_first):
        self.items = [{"id": "a%05d" % i} for i in range(total)]
        self.remove = remove_after_first
        self.calls = 0

    def get(self, path, params=None):
        self.calls += 1
        skip, top = params.get("$skip", 0), params["$top"]
        page = self.items[skip:skip + top]
        if self.calls == 1:
            del self.items[:self.remove]  # these were already read; the rest slides back
        return {"value": page}


def test_pager_does_not_lose_items_when_the_set_shrinks():
    client = ShrinkingClient(1030, 100)
    expected = {i["id"] for i in client.items}
    got = [i["id"] for i in odata.Pager(client, "/api/alerts", page_size=1000)]
    assert len(got) == len(set(got)) and set(got) == expected


def test_pager_treats_404_on_the_first_page_of_machines_as_empty():
    class NoRecentMachines:
        def get(self, path, params=None):
            if path == "/api/machines":
                raise DefenderError("no recent machines", status=404)
            return {"value": []}  # the API is there: the sibling collection answers
    assert list(odata.Pager(NoRecentMachines(), "/api/machines")) == []


def test_raw_clause_is_wrapped_and_unbalanced_text_refused():
    assert odata.raw_clause("a eq 'x' or b eq 'y'") == "(a eq 'x' or b eq 'y')"
    assert odata.raw_clause("name eq 'it''s (fine)'") == "(name eq 'it''s (fine)')"
    for bad in ("a eq 'x') or (1 eq 1", "a eq 'x", "(a eq 1", ""):
        with pytest.raises(DefenderConfigError):
            odata.raw_clause(bad)


# ---- Graph paging: @odata.nextLink whatever it holds, and by time boundary ----------------------------------------

class GraphCollection:
    """A client double for a Graph collection: pages of ``page`` items (the first page's ``$top`` wins), each with an
    ``@odata.nextLink`` holding ``$skiptoken`` (opaque) or ``$skip``; ``shift`` items are inserted at the head after
    the first page, so a ``$skip`` link shows some items again."""

    api_url = "https://graph.example"
    path = "/v1.0/security/alerts_v2"

    def __init__(self, items, link="skiptoken", shift=0, host=None):
        from ansible_collections.defender.endpoint.plugins.module_utils.apis import GRAPH
        self.api = GRAPH
        self.items, self.link, self.shift, self.host = list(items), link, shift, host or self.api_url
        self.asked = []

    def get(self, path, params=None, parse=None):
        from urllib.parse import parse_qs, urlsplit
        self.asked.append((path, params))
        query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        query.update({k: str(v) for k, v in (params or {}).items()})
        top = int(query["$top"])
        if "$skiptoken" in query:
            start = int(query["$skiptoken"].replace("tok-", ""))
        else:
            start = int(query.get("$skip", 0))
        page = self.items[start:start + top]
        if len(self.asked) == 1 and self.shift:
            self.items[:0] = [{"id": "new-%d" % i} for i in range(self.shift)]
        body = {"@odata.context": "x", "value": page}
        if start + top < len(self.items):
            nxt = "$skiptoken=tok-%d" % (start + top) if self.link == "skiptoken" else "$skip=%d" % (start + top)
            body["@odata.nextLink"] = "%s%s?$top=%d&%s" % (self.host, self.path, top, nxt)
        return parse(json.dumps(body)) if parse else body


@pytest.mark.parametrize("link", ["skiptoken", "skip"])
def test_next_link_pager_follows_the_link_whatever_it_holds(link):
    client = GraphCollection([{"id": "a%03d" % i} for i in range(250)], link=link)
    pager = odata.NextLinkPager(client, client.path, params={"$filter": "severity eq 'high'"}, page_size=100)
    got = [item["id"] for item in pager]
    assert got == ["a%03d" % i for i in range(250)] and pager.requests == 3
    first, then = client.asked[0], client.asked[1]
    assert first == (client.path, {"$filter": "severity eq 'high'", "$top": 100})
    assert then[1] is None and then[0].startswith(client.path + "?$top=100&$")  # the link as sent, no params added


def test_next_link_pager_raw_yields_each_item_as_sent():
    items = [{"id": "a%03d" % i, "title": "t\u00e9 %d" % i} for i in range(120)]
    client = GraphCollection(items)
    got = list(odata.NextLinkPager(client, client.path, page_size=50, raw=True))
    assert [json.loads(text) for text in got] == items and len(client.asked) == 3


def test_next_link_pager_yields_an_item_a_skip_link_shows_twice_once():
    client = GraphCollection([{"id": "a%03d" % i} for i in range(250)], link="skip", shift=7)
    got = [item["id"] for item in odata.NextLinkPager(client, client.path, page_size=100)]
    assert len(got) == len(set(got)) and set(got) >= {"a%03d" % i for i in range(250)}


def test_next_link_pager_limit_and_refusals():
    client = GraphCollection([{"id": "a%03d" % i} for i in range(250)])
    assert len(list(odata.NextLinkPager(client, client.path, page_size=100, limit=150))) == 150
    assert len(client.asked) == 2
    elsewhere = GraphCollection([{"id": "a%03d" % i} for i in range(250)], host="https://evil.example")
    with pytest.raises(DefenderError, match="next page link leaves https://graph.example/v1.0/security/alerts_v2"):
        list(odata.NextLinkPager(elsewhere, elsewhere.path, page_size=100))
    assert len(elsewhere.asked) == 1  # the token never went to the other host

    class Loop(GraphCollection):
        def get(self, path, params=None):
            self.asked.append(path)
            return {"value": [{"id": "x%d" % len(self.asked)}], "@odata.nextLink": self.api_url + self.path + "?$skiptoken=same"}
    loop = Loop([])
    with pytest.raises(DefenderError, match="same next page link twice"):
        list(odata.NextLinkPager(loop, loop.path, page_size=1))
    assert len(loop.asked) == 2


class TimeOrdered:
    """A client double for a time-ordered Graph collection read by time boundary: honours ``$filter`` (the
    caller's ``status eq 'x'`` and ``<field> ge <time>``), ``$orderby=<field> asc`` (stable within one instant),
    ``$skip`` and ``$top``."""

    api_url = "https://graph.example"
    path = "/v1.0/security/alerts_v2"

    def __init__(self, items):
        self.items = sorted(items, key=lambda a: odata.parse_time(a["lastUpdateDateTime"]))
        self.asked = []

    def get(self, path, params=None):
        self.asked.append(dict(params))
        assert params["$orderby"] == "lastUpdateDateTime asc" and path == self.path
        items = self.items
        for clause in (params.get("$filter") or "").split(" and "):
            if clause.startswith("lastUpdateDateTime ge "):
                bound = odata.parse_time(clause.split(" ge ", 1)[1])
                items = [a for a in items if odata.parse_time(a["lastUpdateDateTime"]) >= bound]
            elif clause:
                want = clause.split(" eq ", 1)[1].strip("'")
                items = [a for a in items if a["status"] == want]
        skip, top = int(params["$skip"]), int(params["$top"])
        return {"value": items[skip:skip + top]}


def _alert(i, when, status="new"):
    return {"id": "a%04d" % i, "lastUpdateDateTime": when, "status": status}


def test_time_boundary_pager_moves_the_cursor_and_drops_boundary_repeats():
    items = [_alert(i, "2026-01-01T00:%02d:%02d.1234567Z" % (i // 60, i % 60)) for i in range(1000)]
    items += [_alert(1000 + i, "2026-01-01T00:05:00Z") for i in range(30)]  # a cluster at one instant
    client = TimeOrdered(items)
    pager = odata.TimeBoundaryPager(client, client.path, "lastUpdateDateTime", page_size=100)
    got = [a["id"] for a in pager]
    assert sorted(got) == sorted(a["id"] for a in items) and len(got) == len(set(got))
    assert all(q["$skip"] == 0 for q in client.asked)  # no deep $skip: the cursor moves instead
    assert client.asked[0].get("$filter") is None
    assert client.asked[1]["$filter"] == "lastUpdateDateTime ge 2026-01-01T00:01:39.123456Z"


def test_time_boundary_pager_gets_past_more_items_at_one_instant_than_a_page_holds():
    items = [_alert(i, "2026-01-01T00:00:00Z") for i in range(5)]
    items += [_alert(100 + i, "2026-01-01T01:00:00Z") for i in range(250)]  # 250 at one instant, pages of 100
    items += [_alert(500 + i, "2026-01-01T02:00:%02dZ" % i) for i in range(20)]
    client = TimeOrdered(items)
    pager = odata.TimeBoundaryPager(client, client.path, "lastUpdateDateTime", since="2025-12-31T00:00:00Z",
                                    params={"$filter": "status eq 'new'"}, page_size=100)
    got = [a["id"] for a in pager]
    assert sorted(got) == sorted(a["id"] for a in items) and len(got) == len(set(got))
    assert client.asked[0]["$filter"] == "status eq 'new' and lastUpdateDateTime ge 2025-12-31T00:00:00Z"
    assert [q["$skip"] for q in client.asked if "01:00:00Z" in q["$filter"]][1:] == [100, 200]
    assert len(client.asked) < 10


def test_time_boundary_pager_limit_and_a_shifting_set_fails_clearly():
    items = [_alert(i, "2026-01-01T00:00:%02dZ" % (i % 60)) for i in range(300)]
    assert len(list(odata.TimeBoundaryPager(TimeOrdered(items), TimeOrdered.path, "lastUpdateDateTime",
                                            page_size=50, limit=120))) == 120

    class Stuck(TimeOrdered):
        def get(self, path, params=None):  # always the same full page at one instant
            self.asked.append(dict(params))
            return {"value": [_alert(i, "2026-01-01T00:00:00Z") for i in range(10)]}
    stuck = Stuck([])
    with pytest.raises(DefenderError, match="changed too much while it was being read by time"):
        list(odata.TimeBoundaryPager(stuck, stuck.path, "lastUpdateDateTime", page_size=10))
    assert len(stuck.asked) <= 5
