"""The $filter parser on its own, plus the quoting round-trip property."""

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from emulator_odata import ODataError, parse_filter

M = {"computerDnsName": "O'Brien-Laptop.contoso.com", "lastSeen": "2024-05-01T10:00:00.0000000Z",
     "riskScore": "High", "machineTags": ["prod", "vip"], "osBuild": 19045, "aadDeviceId": None,
     "isAadJoined": True}


@pytest.mark.parametrize("text,expected", [
    ("computerDnsName eq 'o''brien-laptop.contoso.com'", True),   # case-insensitive name
    ("riskScore eq 'high'", False),                                # other strings: case-sensitive
    ("riskScore eq 'High' and osBuild ge 19045", True),
    ("riskScore eq 'Low' or not (osBuild lt 100)", True),
    ("lastSeen gt 2024-04-30Z", True),
    ("lastSeen ge 2024-05-01T10:00:00Z and lastSeen le 2024-05-01T10:00:00.0000000Z", True),
    ("lastSeen lt 2024-05-01T12:00:00+02:00", False),
    ("riskScore in ('Low', 'High')", True),
    ("startswith(computerDnsName,'o''b')", True),
    ("contains(tolower(computerDnsName),'laptop')", True),
    ("aadDeviceId eq null", True),
    ("isAadJoined eq true", True),
    ("machineTags/any(t: t eq 'vip')", True),
    ("machineTags/any(t: startswith(t, 'x'))", False),
    ("((riskScore ne 'None'))", True),
])
def test_filter_semantics(text, expected):
    assert parse_filter(text)(M) is expected


@pytest.mark.parametrize("text", [
    "", "riskScore eq", "riskScore eq 'x", "(riskScore eq 'x'", "riskScore eq 'x')", "riskScore == 'x'",
    "foo(riskScore)", "riskScore eq 'a' and", "startswith(riskScore)", "riskScore eq 'a' riskScore",
])
def test_malformed(text):
    with pytest.raises(ODataError):
        parse_filter(text)


def test_unknown_property_rejected():
    with pytest.raises(ODataError, match="bogus"):
        parse_filter("bogus eq 1", fields=["riskScore"])
    assert parse_filter("RISKSCORE eq 'High'", fields=["riskScore"])(M)


NAMES = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(NAMES)
@hsettings(max_examples=300, deadline=None)
def test_quote_round_trip(s):
    escaped = s.replace("'", "''")
    pred = parse_filter(f"computerDnsName eq '{escaped}'")
    items = [s, s + "x", "x" + s, s.replace("'", ""), "other"]
    got = [x for x in items if pred({"computerDnsName": x})]
    assert got == [x for x in items if x.lower() == s.lower()]
    assert s in got


def test_quote_round_trip_through_api(client, ctl):
    """Same property end to end: machine names created via control, found via GET /api/machines?$filter."""
    from hypothesis import HealthCheck

    seeded = [(m["computerDnsName"], m["id"]) for m in client.api("GET", "/api/machines").json()["value"]]
    created = []

    @given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30))
    @hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def check(s):
        m = ctl.create_machines([{"computerDnsName": s}])[0]
        created.append((s, m["id"]))
        flt = "computerDnsName eq '" + s.replace("'", "''") + "'"
        r = client.api("GET", "/api/machines", params={"$filter": flt})
        assert r.status_code == 200, r.text
        got = {x["id"] for x in r.json()["value"]}
        assert got == {i for n, i in seeded + created if n.lower() == s.lower()}

    check()
