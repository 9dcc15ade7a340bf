# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading alerts: the API's enums, the filter options (module params -> OData ``$filter``), their checks, and
the paging over ``/api/alerts`` (or each machine's alerts), shared by ``alert_info``, ``alert_export`` and the EDA
alerts source. Updating alerts is :mod:`alert_update`.
"""

from __future__ import annotations

import itertools
import operator

from ansible_collections.defender.endpoint.plugins.module_utils import export
from ansible_collections.defender.endpoint.plugins.module_utils import graph_alerts
from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.client import get_or_none, segment as path_segment
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.validation import (  # noqa: F401 # pylint: disable=unused-import
    check_no_control,
    normalize,  # re-exported: alert_update and tests call alerts.normalize
    normalize_list,
    text_list,
)

ALERTS_PATH = "/api/alerts"
BATCH_UPDATE_PATH = "/api/alerts/batchUpdate"

SEVERITIES = ("UnSpecified", "Informational", "Low", "Medium", "High")
STATUSES = ("Unknown", "New", "InProgress", "Resolved")
UPDATE_STATUSES = ("New", "InProgress", "Resolved")
CLASSIFICATIONS = ("TruePositive", "InformationalExpectedActivity", "FalsePositive")
# Microsoft's pages disagree on these names; both sets are accepted and passed through unchanged.
DETERMINATIONS = (
    # https://learn.microsoft.com/en-us/defender-endpoint/api/alerts and .../api/batch-update-alerts
    "MultiStagedAttack", "MaliciousUserActivity", "CompromisedUser", "Malware", "Phishing", "UnwantedSoftware",
    "Other", "SecurityTesting", "LineOfBusinessApplication", "ConfirmedUserActivity", "Clean", "InsufficientData",
    # https://learn.microsoft.com/en-us/defender-endpoint/api/update-alert, values read back from the portal, and
    # the Defender XDR incidents API
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
    page_size=dict(type="int"),  # None: the API's largest page (10,000 Defender API, 1,000 Graph)
)


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
    category = text_list(get("category"), "category")
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
    ids = text_list(params.get("machine_id"), "machine_id")
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
        return sum(pager.requests for pager in self.pagers)

    def paths(self):
        if not self.machines:
            return [ALERTS_PATH]
        return ["/api/machines/%s/alerts" % path_segment(machine_id, "machine_id") for machine_id in self.machines]

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


# --- the read modules' options -----------------------------------------------------------------

EXPORT_COLUMNS = ["id", "incidentId", "severity", "status", "category", "title", "machineId", "computerDnsName",
                  "alertCreationTime", "lastUpdateTime", "assignedTo", "classification", "determination",
                  "detectionSource", "threatName"]


def check_limit(params):
    if params.get("limit") is not None and params["limit"] < 1:
        raise DefenderConfigError("limit must be at least 1, got %d" % params["limit"])


def check_info_params(params):
    """``alert_info``: ``(filter, page_size)``, or a config error before any request (no filter with ``id``)."""
    if params.get("id") is not None and not params["id"].strip():
        raise DefenderConfigError("id must not be empty")
    check_limit(params)
    page_size = check_page_size(params.get("page_size"))
    flt = None if params.get("id") is not None else build_filter(params)
    return flt, page_size


def check_page_size(page_size):
    """The Defender API's page size: the largest (10,000) when not given."""
    return odata.check_page_size(odata.MAX_PAGE_SIZE if page_size is None else page_size)


def check_export_params(params, api=graph_alerts.DEFENDER):
    """``alert_export``: ``(filter, page_size, dest, format, columns)``, or a config error before any request.

    The format follows ``dest``'s suffix unless given; CSV gets :data:`EXPORT_COLUMNS` unless ``columns`` is set
    (Graph's :data:`graph_alerts.DEFAULT_COLUMNS` with ``api=graph``, whose filter is ``(filter, local match)``).
    """
    check_limit(params)
    if api == graph_alerts.GRAPH:
        page_size = graph_alerts.check_page_size(params.get("page_size"))
    else:
        page_size = check_page_size(params.get("page_size"))
    dest = export.check_dest(params["dest"])
    fmt = params.get("format") or ("csv" if dest.lower().endswith(".csv") else "jsonl")
    columns = export.check_columns(params.get("columns"))
    if columns is not None and fmt != "csv":
        raise DefenderConfigError("columns apply to format=csv only")
    if params.get("csv_raw") and fmt != "csv":
        raise DefenderConfigError("csv_raw applies to format=csv only")
    if fmt == "csv" and columns is None:
        columns = list(graph_alerts.DEFAULT_COLUMNS if api == graph_alerts.GRAPH else EXPORT_COLUMNS)
    flt = graph_alerts.build_filter(params) if api == graph_alerts.GRAPH else build_filter(params)
    return flt, page_size, dest, fmt, columns


def read_one(client, alert_id, expand_evidence=False):
    """``[alert]`` for ``GET /api/alerts/{id}``, or ``[]`` when the service does not know the id."""
    params = {"$expand": "evidence"} if expand_evidence else None
    alert = get_or_none(client, "%s/%s" % (ALERTS_PATH, path_segment(alert_id.strip(), "id")), params=params)
    return [alert] if isinstance(alert, dict) else []
