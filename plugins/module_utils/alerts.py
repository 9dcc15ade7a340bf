# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alert helpers shared by ``alert_info``, ``alert`` and the incident_response role.

Pure functions only (no HTTP here, except :func:`read_alerts`, which takes a client): the enums,
the filter builder (module params -> OData ``$filter``), and the update logic (what differs between
an alert and the wanted state, what the alert looks like afterwards, what a diff shows).
"""

from __future__ import annotations

import copy
import itertools
import operator

from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.client import get_or_none, segment as path_segment
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.validation import check_no_control

ALERTS_PATH = "/api/alerts"
BATCH_UPDATE_PATH = "/api/alerts/batchUpdate"

SEVERITIES = ("UnSpecified", "Informational", "Low", "Medium", "High")
STATUSES = ("Unknown", "New", "InProgress", "Resolved")
UPDATE_STATUSES = ("New", "InProgress", "Resolved")
CLASSIFICATIONS = ("TruePositive", "InformationalExpectedActivity", "FalsePositive")
# Facts §3.5: the pages disagree; both name sets are accepted and passed through unchanged.
DETERMINATIONS = (
    # alerts.md / batch-update-alerts.md
    "MultiStagedAttack", "MaliciousUserActivity", "CompromisedUser", "Malware", "Phishing", "UnwantedSoftware",
    "Other", "SecurityTesting", "LineOfBusinessApplication", "ConfirmedUserActivity", "Clean", "InsufficientData",
    # update-alert.md, values read back from the portal, and the XDR incidents API
    "ConfirmedActivity", "NotMalicious", "NoEnoughDataToValidate", "CompromisedAccount",
)
# Names for the same determination in the two sets: an alert that reads back one name is already in
# the state the other name asks for (no PATCH just to swap spellings).
DETERMINATION_ALIASES = {
    "ConfirmedActivity": "ConfirmedUserActivity",
    "NotMalicious": "Clean",
    "NoEnoughDataToValidate": "InsufficientData",
    "CompromisedAccount": "CompromisedUser",
}

# Module option -> API body key, in the order the API documents them.
UPDATE_FIELDS = (
    ("status", "status"),
    ("assigned_to", "assignedTo"),
    ("classification", "classification"),
    ("determination", "determination"),
)
MANAGED_KEYS = ("status", "assignedTo", "classification", "determination", "comments")

FILTER_OPTIONS = ("severity", "status", "category", "machine_id", "created_after", "created_before",
                  "updated_after", "filter")

# The argument spec of those filters (plus evidence, limit and paging), shared by alert_info and alert_export.
FILTER_ARGUMENT_SPEC = dict(
    severity=dict(type="list", elements="str"),
    status=dict(type="list", elements="str"),
    category=dict(type="list", elements="str"),
    machine_id=dict(type="list", elements="str"),
    created_after=dict(type="str"),
    created_before=dict(type="str"),
    updated_after=dict(type="str"),
    filter=dict(type="str"),
    expand_evidence=dict(type="bool", default=False),
    limit=dict(type="int"),
    page_size=dict(type="int", default=odata.MAX_PAGE_SIZE),
)


def normalize(value, allowed, name):
    """``value`` in the API's spelling, matched case-insensitively against ``allowed``."""
    if not isinstance(value, str) or not value.strip():
        raise DefenderConfigError("%s must be one of %s, got %r" % (name, ", ".join(allowed), value))
    folded = value.strip().lower()
    for candidate in allowed:
        if candidate.lower() == folded:
            return candidate
    raise DefenderConfigError("%s must be one of %s, got %r" % (name, ", ".join(allowed), value))


def normalize_list(values, allowed, name):
    """A list option normalised with :func:`normalize`, duplicates dropped, order kept."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    if not values:
        raise DefenderConfigError("%s must not be an empty list (omit it to match every value)" % name)
    out = []
    for value in values:
        canon = normalize(value, allowed, name)
        if canon not in out:
            out.append(canon)
    return out


def _strings(values, name):
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    out = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise DefenderConfigError("%s must be a non-empty string or a list of them, got %r" % (name, value))
        if value not in out:
            out.append(value)
    if not out:
        raise DefenderConfigError("%s must not be an empty list (omit it to match every value)" % name)
    return out


def build_filter(params, now=None):
    """The OData ``$filter`` for ``alert_info`` params (None when nothing filters).

    Every value goes through :mod:`odata` (string literals escaped, times normalised to UTC);
    a raw ``filter`` goes through :func:`odata.raw_clause` (one parenthesised operand of the ``and``).
    Raises :class:`DefenderConfigError` for bad values, so nothing is sent.
    """
    get = params.get
    clauses = []
    severity = normalize_list(get("severity"), SEVERITIES, "severity")
    if severity:
        clauses.append(odata.any_of("severity", severity))
    status = normalize_list(get("status"), STATUSES, "status")
    if status:
        clauses.append(odata.any_of("status", status))
    category = _strings(get("category"), "category")
    if category:
        clauses.append(odata.any_of("category", category))
    # machine_id is not a filter: machineId is not among the documented filterable alert fields, so those alerts are
    # read from GET /api/machines/{id}/alerts (see AlertPages); it is still checked here, before any request.
    machine_ids(params)
    times = {}
    for option, prop, op in (("created_after", "alertCreationTime", "ge"),
                             ("created_before", "alertCreationTime", "lt"),
                             ("updated_after", "lastUpdateTime", "ge")):
        value = get(option)
        if value is not None and value != "":
            times[option] = odata.parse_time(value, option, now=now)
            clauses.append(odata.compare(prop, op, times[option], option))
    if "created_after" in times and "created_before" in times and times["created_after"] >= times["created_before"]:
        raise DefenderConfigError("created_after (%s) must be earlier than created_before (%s)"
                                  % (odata.datetime_literal(times["created_after"]),
                                     odata.datetime_literal(times["created_before"])))
    if get("filter") is not None:
        clauses.append(odata.raw_clause(get("filter"), "filter"))
    return odata.and_all(*clauses)


def machine_ids(params):
    """The ``machine_id`` option as a de-duplicated list of checked ids (None when not set)."""
    ids = _strings(params.get("machine_id"), "machine_id")
    if ids is None:
        return None
    ids = list(dict.fromkeys(value.strip() for value in ids))
    for value in ids:
        check_no_control(value, "machine_id")
        path_segment(value, "machine_id")  # "." or ".." cannot be a path segment
    return ids


class AlertPages:
    """Every alert matching the ``alert_info``/``alert_export`` filters, as an iterable with ``requests``.

    Without ``machine_id``: ``GET /api/alerts`` with the ``$filter``. With it: ``GET /api/machines/{id}/alerts``
    for each machine, the documented way to read a machine's alerts (``machineId`` is not a documented filter
    field of ``/api/alerts``), with the same ``$filter`` for the other options; a machine the service does not
    know (404) is an error naming the URL (``odata.missing_collection_error``). ``limit`` applies to the whole
    result, alerts are de-duplicated by id (within one collection by the pager; across machines here). ``raw=True``
    yields each alert's JSON text instead of a dict.
    """

    def __init__(self, client, params, flt, page_size, limit=None, expand_evidence=False, raw=False):
        self.client = client
        self.query = {}
        if flt:
            self.query["$filter"] = flt
        if expand_evidence:
            self.query["$expand"] = "evidence"
        self.page_size = page_size
        self.limit = limit
        self.raw = raw
        self.machines = machine_ids(params)
        self.pagers = []

    @property
    def requests(self):
        return sum(p.requests for p in self.pagers)

    def paths(self):
        if not self.machines:
            return [ALERTS_PATH]
        return ["/api/machines/%s/alerts" % path_segment(m, "machine_id") for m in self.machines]

    def __iter__(self):
        return itertools.chain.from_iterable(self.blocks())

    def blocks(self):
        """Lists of alerts (or of their JSON texts), a page at a time."""
        paths = self.paths()
        if len(paths) == 1:  # one collection: the pager's own de-duplication is all there is to do
            pager = self.client.pages(paths[0], params=dict(self.query), page_size=self.page_size, limit=self.limit,
                                      raw=self.raw)
            self.pagers.append(pager)
            # map, not a for loop: a loop variable would keep the last page alive while the next one is read
            yield from map(operator.itemgetter(1), pager.blocks())
            return
        seen = set()  # ids of the machines' alerts so far: an alert is listed under one machine, but be sure
        count = 0
        for path in paths:
            left = None if self.limit is None else self.limit - count
            pager = self.client.pages(path, params=dict(self.query), page_size=self.page_size, limit=left,
                                      raw=self.raw)
            self.pagers.append(pager)
            for ids, items in pager.blocks():
                block = []
                for key, item in zip(ids, items):
                    if key is not None:
                        if key in seen:
                            continue
                        seen.add(key)
                    block.append(item)
                if self.limit is not None:
                    del block[self.limit - count:]
                count += len(block)
                ids = items = None
                if block:
                    yield block
                block = None
                if self.limit is not None and count >= self.limit:
                    return


# --- updates ---------------------------------------------------------------------------------

def wanted_state(params):
    """The validated update options as API body keys (``comment`` included), or a config error."""
    wanted = {}
    if params.get("status") is not None:
        wanted["status"] = normalize(params["status"], UPDATE_STATUSES, "status")
    if params.get("assigned_to") is not None:
        value = params["assigned_to"].strip()
        if not value:
            raise DefenderConfigError("assigned_to must not be empty")
        wanted["assignedTo"] = value
    if params.get("classification") is not None:
        wanted["classification"] = normalize(params["classification"], CLASSIFICATIONS, "classification")
    if params.get("determination") is not None:
        wanted["determination"] = normalize(params["determination"], DETERMINATIONS, "determination")
    if params.get("comment") is not None:
        if not params["comment"].strip():
            raise DefenderConfigError("comment must not be empty")
        wanted["comment"] = params["comment"]
    if not wanted:
        raise DefenderConfigError("nothing to update: set at least one of status, assigned_to, classification, "
                                  "determination or comment")
    return wanted


def comment_texts(alert):
    out = []
    for item in alert.get("comments") or []:
        text = item.get("comment") if isinstance(item, dict) else item
        if isinstance(text, str):
            out.append(text)
    return out


def has_comment(alert, comment):
    """True when the alert already carries ``comment`` verbatim (surrounding whitespace ignored)."""
    wanted = comment.strip()
    return any(text.strip() == wanted for text in comment_texts(alert))


def canonical_determination(value):
    """One name per determination, whatever page's name or casing the service reads back (``notMalicious``,
    ``NotMalicious`` and ``Clean`` are the same value), so an accepted value never reads back as a change."""
    if not isinstance(value, str):
        return value
    folded = value.strip().lower()
    for name in DETERMINATIONS:
        if name.lower() == folded:
            return DETERMINATION_ALIASES.get(name, name)
    return value.strip()


def _same(key, current, wanted):
    if current is None:
        return False
    if key == "assignedTo":
        return current.strip().lower() == wanted.lower()  # UPNs are case-insensitive
    if key == "determination":
        return canonical_determination(current) == canonical_determination(wanted)
    if key in ("status", "classification"):
        return current.strip().lower() == wanted.lower()
    return current == wanted


def changes_for(alert, wanted):
    """The PATCH body that brings ``alert`` to ``wanted``: only differing fields; {} when none."""
    body = {}
    for _option, key in UPDATE_FIELDS:
        if key in wanted and not _same(key, alert.get(key), wanted[key]):
            body[key] = wanted[key]
    if "comment" in wanted and not has_comment(alert, wanted["comment"]):
        body["comment"] = wanted["comment"]
    return body


def predict(alert, changes):
    """The alert as it will read after ``changes`` (check mode, and after a batchUpdate's empty 200)."""
    after = copy.deepcopy(alert)
    for key, value in changes.items():
        if key == "comment":
            after["comments"] = list(after.get("comments") or []) + [
                {"comment": value, "createdBy": None, "createdTime": None}]
        else:
            after[key] = value
    return after


def managed_view(alert):
    """Only the fields the ``alert`` module manages, for diff output."""
    view = {key: alert.get(key) for key in MANAGED_KEYS if key != "comments"}
    view["comments"] = comment_texts(alert)
    return view


def group_changes(plan):
    """``[(alert_id, changes)]`` -> ``[(changes, [ids])]`` for alerts needing the identical change set.

    Order follows first appearance, so the calls are deterministic.
    """
    groups = {}
    order = []
    for alert_id, changes in plan:
        if not changes:
            continue
        key = tuple(sorted(changes.items()))
        if key not in groups:
            groups[key] = (dict(changes), [])
            order.append(key)
        groups[key][1].append(alert_id)
    return [groups[k] for k in order]


def check_ids(ids, name="ids"):
    """A de-duplicated list of non-empty alert ids (order kept)."""
    if not ids:
        raise DefenderConfigError("%s must not be empty" % name)
    out = []
    for value in ids:
        if not isinstance(value, str) or not value.strip():
            raise DefenderConfigError("%s must hold non-empty alert ids, got %r" % (name, value))
        value = value.strip()
        check_no_control(value, name, "alert id")
        if value not in out:
            out.append(value)
    return out


# --- reading many alerts by id ---------------------------------------------------------------

READ_CHUNK = 100  # ids per list query: keeps the URL well under common 8 KB limits


def _id_filters(ids, style):
    if style == "in":
        return "id in (%s)" % ",".join(odata.literal(i) for i in ids)
    return odata.any_of("id", ids)


def read_alerts(client, ids, segment, chunk=READ_CHUNK):
    """``{id: alert}`` for ``ids``: list queries with ``id in (...)``, falling back to
    ``(id eq 'a' or id eq 'b')`` and then to one GET per id if the service rejects the form (400).

    Ids the service does not know are absent from the result.
    """
    found = {}
    styles = ["in", "or", "get"]
    pending = list(ids)
    if len(pending) == 1:
        styles = ["get"]
    while pending:
        style = styles[0]
        part = pending[:chunk]
        try:
            if style == "get":
                for alert_id in part:
                    alert = get_or_none(client, "%s/%s" % (ALERTS_PATH, segment(alert_id, "alert id")))
                    if isinstance(alert, dict):
                        found[alert.get("id", alert_id)] = alert
            else:
                body = client.get(ALERTS_PATH, params={"$filter": _id_filters(part, style), "$top": len(part)})
                for alert in (body or {}).get("value") or []:
                    if isinstance(alert, dict) and alert.get("id") in part:
                        found[alert["id"]] = alert
        except DefenderError as exc:
            if exc.status == 400 and len(styles) > 1:
                styles.pop(0)  # the service does not understand this filter form: try the next one
                continue
            raise
        pending = pending[chunk:]
    return found
