# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding machines by query: the one builder of the machine filters (health, risk, OS, exposure, raw ``filter``
-> OData ``$filter``), shared by ``machine_info`` and the machines inventory, and ``machine_info``'s reads by id,
computer name, IP address (``findbyip``) or tag (``findbytag``).

Every value goes through :mod:`odata` (``any_of`` escapes the literals); a raw ``filter`` goes through
:func:`odata.raw_clause` (one parenthesised operand of the ``and``). Bad input raises
:class:`DefenderConfigError` before any request.
"""

from __future__ import annotations

import datetime
import ipaddress

from ansible_collections.defender.endpoint.plugins.module_utils import machines
from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.validation import check_no_control, check_text

# option, API field, allowed values (None: any string); each is one "or" of its values, the options joined by "and"
LIST_FILTERS = (
    ("health_status", "healthStatus", machines.HEALTH_STATUSES),
    ("os_platform", "osPlatform", None),
    ("risk_score", "riskScore", machines.RISK_SCORES),
    ("exposure_level", "exposureLevel", machines.EXPOSURE_LEVELS),
)
SELECTORS = ("id", "name", "ip", "tag")
FINDBYIP_DAYS = 30  # findbyip looks at most 30 days back (an API limit)


def string_list(value, name, allowed=None):
    """A list option as de-duplicated non-empty strings without control characters (order kept), each among
    ``allowed`` when given."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise DefenderConfigError("%s must be a non-empty list of strings" % name)
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise DefenderConfigError("%s must hold non-empty strings, got %r" % (name, item))
        check_no_control(item, name)
        if allowed is not None and item not in allowed:
            raise DefenderConfigError("%s must be among %s, got %r" % (name, ", ".join(allowed), item))
        if item not in out:
            out.append(item)
    return out


def build_filter(options, prefix=""):
    """The ``$filter`` for the machine filter options in ``options`` (None when nothing filters).

    ``prefix`` names the options in errors (``filters.`` for the inventory's ``filters`` dictionary).
    """
    clauses = []
    for option, field, allowed in LIST_FILTERS:
        values = string_list(options.get(option), prefix + option, allowed)
        if values:
            clauses.append(odata.any_of(field, values))
    if options.get("filter") is not None:
        clauses.append(odata.raw_clause(options["filter"], prefix + "filter"))
    return odata.and_all(*clauses)


def narrow(items, options):
    """Machines read by a selector (no ``$filter`` there) narrowed by the list filters, on this side."""
    for option, field, _allowed in LIST_FILTERS:
        if options.get(option):
            items = [item for item in items if item.get(field) in options[option]]
    return items


def check_ip(value):
    """The address in its canonical form (digits, dots, colons and a-f only), or DefenderConfigError.

    ``ipaddress`` accepts an IPv6 scope id (``fe80::1%eth0``) made of almost any characters, quotes, ``)``,
    ``?`` and ``#`` included; a scope means nothing to the service, so scoped addresses are refused.
    """
    if isinstance(value, str) and "%" in value:
        raise DefenderConfigError("ip must be an IPv4 or IPv6 address without a zone (%%scope) suffix, got %r"
                                  % (value[:60],))
    try:
        return str(ipaddress.ip_address(value.strip()))
    except (ValueError, AttributeError):
        raise DefenderConfigError("ip must be an IPv4 or IPv6 address, got %r" % (value,)) from None


def findbyip_path(ip, timestamp):
    """``/api/machines/findbyip(ip='<ip>',timestamp=<UTC>)`` from checked values; both go through odata."""
    return "%s/findbyip(ip=%s,timestamp=%s)" % (machines.MACHINES, odata.literal(check_ip(ip), "ip"),
                                                odata.datetime_literal(timestamp, "timestamp"))


def check_timestamp(value, now=None):
    """The ``findbyip`` time: now when not given, otherwise within the last :data:`FINDBYIP_DAYS` days."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if value is None:
        return now
    timestamp = odata.parse_time(value, "timestamp", now=now)
    if timestamp < now - datetime.timedelta(days=FINDBYIP_DAYS):
        raise DefenderConfigError("timestamp must be within the last %d days (an API limit), got %s"
                                  % (FINDBYIP_DAYS, value))
    if timestamp > now + datetime.timedelta(minutes=5):
        raise DefenderConfigError("timestamp %s is in the future" % value)
    return timestamp


def selector(params):
    """Which of ``id``, ``name``, ``ip``, ``tag`` is set (the argument spec makes them exclusive), or None."""
    chosen = [key for key in SELECTORS if params.get(key) is not None]
    return chosen[0] if chosen else None


def check_params(params):
    """What ``machine_info``'s argument spec cannot say (choices and exclusions are in it), before any request."""
    if params.get("limit") is not None and params["limit"] < 1:
        raise DefenderConfigError("limit must be 1 or more")
    odata.check_page_size(params.get("page_size"))
    if params.get("ip") is not None:
        check_ip(params["ip"])
        check_timestamp(params.get("timestamp"))
    if params.get("id") is not None:
        machines.check_machine_id(params["id"], "id")
    if params.get("name") is not None:
        machines.check_machine_ref(params["name"], "name")
    if params.get("tag") is not None:
        check_text(params["tag"], "tag")
    build_filter(params)


def read(client, params, now=None):
    """The machines ``machine_info`` returns: by its selector, narrowed on this side, or a filtered listing."""
    chosen = selector(params)
    limit = params.get("limit")
    if chosen is None:
        flt = build_filter(params)
        query = {"$filter": flt} if flt else {}
        return list(client.pages(machines.MACHINES, params=query, page_size=params["page_size"], limit=limit))
    if chosen == "id":
        machine = machines.get_machine(client, params["id"].lower())
        items = [machine] if machine else []
    elif chosen == "name":
        items = machines.find_by_names(client, [params["name"].strip()])[params["name"].strip()]
    elif chosen == "ip":
        path = findbyip_path(params["ip"], check_timestamp(params.get("timestamp"), now))
        items = (client.get(path) or {}).get("value") or []
    else:
        body = client.get(machines.MACHINES + "/findbytag", params={
            "tag": params["tag"], "useStartsWithFilter": "true" if params.get("use_starts_with") else "false"})
        items = (body or {}).get("value") or []
    items = narrow([item for item in items if isinstance(item, dict)], params)
    return items[:limit] if limit else items
