# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A raw ``filter`` stays one operand for every entity: alerts (alert_info, alert_export, the EDA feed), machines
(machine_info, the inventory plugin) and whatever else takes one, all through odata.raw_clause."""

from __future__ import annotations

import os
import re
import sys

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import alerts as A
from ansible_collections.defender.endpoint.plugins.module_utils import machine_query
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError

EMULATOR_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "emulator"))
try:
    sys.path.insert(0, EMULATOR_DIR)
    from emulator_odata import parse_filter  # pylint: disable=import-error
finally:
    if sys.path and sys.path[0] == EMULATOR_DIR:
        sys.path.pop(0)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir))

# Each would widen "<ours> and (<raw>)" if it could close our parenthesis or end a string literal.
ESCAPES = [
    "title eq 'a')) or ((severity eq 'Low'",
    "title eq 'a') or (severity eq 'Low'",
    "title eq 'a' or severity eq 'Low'')",
    "title eq 'it's'",
    "(title eq 'a'",
    "title eq 'a')",
    "title eq 'a'\nor severity eq 'Low'",
    "title eq 'a'\tor severity eq 'Low'",
    "title eq 'a'\x00",
    "title eq 'a'\x1b",
]
FINE = ["title eq 'a' or severity eq 'Low'", "title eq 'x (y)' or title eq 'O''Brien'", "(status eq 'New')"]


def _alerts(raw):
    return A.build_filter({"status": ["New"], "filter": raw})


def _machines(raw):
    p = dict(filter=raw, health_status=["Active"], limit=None, page_size=100, ip=None, id=None, name=None, tag=None)
    machine_query.check_params(p)
    return machine_query.build_filter(p)


def _inventory(raw):
    from ansible.errors import AnsibleError
    from ansible_collections.defender.endpoint.plugins.inventory import machines as inv
    try:
        return inv.build_query({"health_status": ["Active"], "filter": raw})[0]
    except AnsibleError as exc:
        raise DefenderConfigError(str(exc)) from None


def _eda_feed(raw):
    from ansible_collections.defender.endpoint.plugins.plugin_utils import _alert_feed  # noqa: F401
    return A.build_filter({"severity": ["High"], "filter": raw})


ENTITIES = {"alerts": (_alerts, "status eq 'New'", {"status": "New"}),
            "machines": (_machines, "healthStatus eq 'Active'", {"healthStatus": "Active"}),
            "inventory": (_inventory, "healthStatus eq 'Active'", {"healthStatus": "Active"}),
            "eda_alerts": (_eda_feed, "severity eq 'High'", {"severity": "High"})}


@pytest.mark.parametrize("entity", sorted(ENTITIES))
@pytest.mark.parametrize("raw", ESCAPES)
def test_a_raw_clause_that_could_widen_the_query_is_refused(entity, raw):
    build = ENTITIES[entity][0]
    with pytest.raises(DefenderConfigError) as info:
        build(raw)
    assert "filter" in str(info.value)


@pytest.mark.parametrize("entity", sorted(ENTITIES))
@pytest.mark.parametrize("raw", FINE)
def test_a_balanced_clause_stays_one_operand(entity, raw):
    build, ours, matching = ENTITIES[entity]
    flt = build(raw)
    assert flt.startswith(ours + " and (") and flt.endswith(")")
    pred = parse_filter(flt)
    # Whatever the raw clause says, an item that fails our clause is never selected.
    for title in ("a", "x (y)", "O'Brien"):
        item = dict({k: "nope" for k in matching}, title=title, severity="Low", status="New")
        item.update({k: "nope" for k in matching})
        assert not pred(item)


def _sources_with_a_filter_option():
    for sub in ("plugins/modules", "plugins/inventory", "plugins/doc_fragments", "extensions/eda/plugins/event_source"):
        folder = os.path.join(ROOT, sub)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    text = handle.read()
                if re.search(r"^\s+filter:\s*$", text, re.M):  # a documented option named filter
                    yield "%s/%s" % (sub, name), text


def test_every_raw_filter_option_goes_through_the_one_helper():
    """A module, plugin or doc fragment that documents a raw ``filter`` builds it with raw_clause (directly, or through
    the alert or machine filter builder); a new one (indicators...) that does not fails here."""
    found = list(_sources_with_a_filter_option())
    assert len(found) >= 4, [n for n, _t in found]
    offenders = [n for n, text in found
                 if not re.search(r"raw_clause|build_filter|AlertPages|AlertFeed|alert_filter|build_query|machine_query|"
                                  r"vulnerability_filter|software_filter|recommendation_filter", text)]
    assert offenders == []
