# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alerts through Microsoft Graph (``/v1.0/security/alerts_v2``) for ``alert_info``, ``alert``, ``alert_export`` and
the alerts event source, and the choice between the two APIs (option ``api``, environment ``DEFENDER_ALERTS_API``).

Microsoft's pages: security-list-alerts_v2 (``$filter`` on assignedTo, classification, determination,
createdDateTime, lastUpdateDateTime, severity, serviceSource, status; paging by ``@odata.nextLink``),
security-alert-update (PATCH status, classification, determination, assignedTo; 200 with the whole alert),
security-alert-post-comments (200 with every comment; no edit or delete). docs/migrating-to-graph.md maps the fields.
"""

from __future__ import annotations

import copy

from ansible.module_utils.basic import env_fallback

from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.client import get_or_none, segment
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.module_utils.validation import (
    check_no_control,
    normalize,
    normalize_list,
    text_list,
)

DEFENDER = "defender"
GRAPH = "graph"
APIS = (DEFENDER, GRAPH)
RETIREMENT_DATE = "2027-02-01"
ALERTS_V2_PATH = "/v1.0/security/alerts_v2"
MAX_PAGE_SIZE = 1000  # $top: alerts_v2 accepted 100 in observed logs; 1,000 is the documented legacy-API bound
TIME_FIELD = "lastUpdateDateTime"

# The option every alert module takes (documented by the doc fragment defender.endpoint.alerts_api), and the
# Graph-only read option of alert_info and alert_export (defender.endpoint.alerts_api.filters).
API_ARGUMENT_SPEC = dict(api=dict(type="str", choices=list(APIS), fallback=(env_fallback, ["DEFENDER_ALERTS_API"])))
GRAPH_FILTER_ARGUMENT_SPEC = dict(service_source=dict(type="list", elements="str"))

DEFAULT_WARNING = ("alerts are read and changed through the Defender for Endpoint API (/api/alerts), which "
                   "Microsoft retires on %s (MC1220762). Set api: graph (or the environment variable "
                   "DEFENDER_ALERTS_API=graph) to use Microsoft Graph's alerts_v2 instead, with the Microsoft Graph "
                   "permission SecurityAlert.Read.All or SecurityAlert.ReadWrite.All, or set api: defender to keep "
                   "this API and silence this warning; see docs/migrating-to-graph.md" % RETIREMENT_DATE)

# Graph's members (security-alert.md), and the Defender API's spellings that mean the same.
SEVERITIES = ("unknown", "informational", "low", "medium", "high")
STATUSES = ("unknown", "new", "inProgress", "resolved")
UPDATE_STATUSES = ("new", "inProgress", "resolved")
CLASSIFICATIONS = ("unknown", "falsePositive", "truePositive", "informationalExpectedActivity")
# The resource page's property row and its value table disagree: both name sets are accepted.
DETERMINATIONS = ("unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
                  "multiStagedAttack", "compromisedUser", "compromisedAccount", "phishing", "maliciousUserActivity",
                  "clean", "notMalicious", "insufficientData", "notEnoughDataToValidate", "confirmedUserActivity",
                  "confirmedActivity", "lineOfBusinessApplication")
SERVICE_SOURCES = ("unknown", "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity",
                   "microsoftDefenderForCloudApps", "microsoftDefenderForOffice365", "microsoft365Defender",
                   "azureAdIdentityProtection", "microsoftAppGovernance", "dataLossPrevention",
                   "microsoftDefenderForCloud", "microsoftSentinel", "microsoftInsiderRiskManagement")
INPUT_ALIASES = {"unspecified": "unknown", "noenoughdatatovalidate": "notEnoughDataToValidate"}
# One name per determination whatever set it comes from, so an accepted value never reads back as a change.
SAME_DETERMINATION = {"compromisedaccount": "compromiseduser", "notmalicious": "clean",
                      "notenoughdatatovalidate": "insufficientdata", "noenoughdatatovalidate": "insufficientdata",
                      "confirmedactivity": "confirmeduseractivity"}
UPDATE_FIELDS = (("status", "status"), ("assigned_to", "assignedTo"), ("classification", "classification"),
                 ("determination", "determination"))
# alert_export's CSV columns with Graph (its own field names).
DEFAULT_COLUMNS = ["id", "incidentId", "severity", "status", "category", "title", "serviceSource", "detectionSource",
                   "createdDateTime", "lastUpdateDateTime", "assignedTo", "classification", "determination",
                   "threatDisplayName", "alertWebUrl"]
# Options that mean nothing on one of the APIs.
GRAPH_ONLY_OPTIONS = ("service_source",)


def choose_api(value, warn=None):
    """The API to use: ``value`` when set (option or environment), else the Defender API with one warning."""
    if value is None:
        if warn is not None:
            warn(DEFAULT_WARNING)
        return DEFENDER
    if value not in APIS:
        raise DefenderConfigError("api must be one of %s, got %r" % (", ".join(APIS), value))
    return value


def check_options_for_api(params, api):
    """A Graph-only option with the Defender API is an input error (it would be silently ignored)."""
    if api == DEFENDER:
        used = [name for name in GRAPH_ONLY_OPTIONS if params.get(name) is not None]
        if used:
            raise DefenderConfigError("%s: only with api: graph (Microsoft Graph's alerts_v2)" % ", ".join(used))


def graph_value(value, allowed, name):
    """``value`` in Graph's spelling, matched case-insensitively (the Defender spelling ``UnSpecified`` too)."""
    return normalize(value, allowed, name, INPUT_ALIASES)


def graph_values(values, allowed, name):
    return normalize_list(values, allowed, name, INPUT_ALIASES)


def build_filter(params, now=None):
    """``($filter or None, local match or None)`` for the ``alert_info``/``alert_export`` options on Graph.

    ``category`` and ``machine_id`` are not filterable on alerts_v2: they become a match applied to each alert as it
    is read (its ``category``; a ``deviceEvidence`` whose ``mdeDeviceId`` is one of the ids). Every value goes
    through :mod:`odata`; the raw ``filter`` through :func:`odata.raw_clause`. Raises DefenderConfigError.
    """
    get = params.get
    clauses = []
    for option, field, allowed in (("severity", "severity", SEVERITIES), ("status", "status", STATUSES),
                                   ("service_source", "serviceSource", SERVICE_SOURCES)):
        values = graph_values(get(option), allowed, option)
        if values:
            clauses.append(odata.any_of(field, values))
    times = {}
    for option, field, op in (("created_after", "createdDateTime", "ge"), ("created_before", "createdDateTime", "lt"),
                              ("updated_after", TIME_FIELD, "ge")):
        value = get(option)
        if value is not None and value != "":
            times[option] = odata.parse_time(value, option, now=now)
            clauses.append(odata.compare(field, op, times[option], option))
    if "created_after" in times and "created_before" in times and times["created_after"] >= times["created_before"]:
        raise DefenderConfigError("created_after (%s) must be earlier than created_before (%s)"
                                  % (odata.datetime_literal(times["created_after"]),
                                     odata.datetime_literal(times["created_before"])))
    if get("filter") is not None:
        clauses.append(odata.raw_clause(get("filter"), "filter"))
    return odata.and_all(*clauses), local_match(params)


def local_match(params):
    """A predicate for the options Graph cannot filter on (None when there are none)."""
    categories = text_list(params.get("category"), "category")
    machines = text_list(params.get("machine_id"), "machine_id")
    if not categories and not machines:
        return None
    categories = set(categories or ())
    machines = {m.lower() for m in machines or ()}

    def match(alert):
        if categories and alert.get("category") not in categories:
            return False
        if machines and not machines.intersection(device_ids(alert)):
            return False
        return True

    return match


def device_ids(alert):
    """The Defender machine ids (``mdeDeviceId``, lower case) of an alert's device evidence."""
    out = set()
    for ev in alert.get("evidence") or []:
        if isinstance(ev, dict) and str(ev.get("@odata.type", "")).endswith("deviceEvidence") and ev.get("mdeDeviceId"):
            out.add(str(ev["mdeDeviceId"]).lower())
    return out


def check_page_size(page_size):
    """``page_size`` for Graph: None means the largest page, more than 1,000 is refused."""
    if page_size is None:
        return MAX_PAGE_SIZE
    if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise DefenderConfigError("page_size must be between 1 and %d, got %r" % (MAX_PAGE_SIZE, page_size))
    return page_size


# the shared client's pagers, named here so that tests and the benchmark can swap them
NextLinkPager = odata.NextLinkPager
TimeBoundaryPager = odata.TimeBoundaryPager


class GraphAlertPages:
    """Every alert of ``/security/alerts_v2`` matching ``flt`` (and ``local``), as an iterable with ``requests``.

    ``by_time`` reads in ascending ``lastUpdateDateTime`` order by time boundary (``odata.TimeBoundaryPager``:
    for large reads, where a deep ``$skip`` stalls), starting at ``since``; otherwise the pages follow
    ``@odata.nextLink`` (``odata.NextLinkPager``). Each alert is returned once; ``limit`` counts what ``local``
    lets through.
    """

    def __init__(self, client, flt=None, local=None, page_size=MAX_PAGE_SIZE, limit=None, by_time=False, since=None):
        params = {"$filter": flt} if flt else {}
        pager_limit = None if local is not None else limit
        if by_time:
            self.pager = TimeBoundaryPager(client, ALERTS_V2_PATH, TIME_FIELD, since=since, params=params,
                                           page_size=page_size, limit=pager_limit)
        else:
            self.pager = NextLinkPager(client, ALERTS_V2_PATH, params=params, page_size=page_size,
                                       limit=pager_limit)
        self.local = local
        self.limit = limit

    @property
    def requests(self):
        return self.pager.requests

    def __iter__(self):
        for block in self.blocks():
            yield from block

    def blocks(self):
        """Lists of alerts, a page at a time."""
        count = 0
        for _ids, items in self.pager.blocks():
            if self.local is not None:
                items = [a for a in items if self.local(a)]
                if self.limit is not None:
                    del items[self.limit - count:]
            count += len(items)
            if items:
                yield items
            items = None
            if self.limit is not None and count >= self.limit:
                return


# --- updates ---------------------------------------------------------------------------------------------------


def wanted_state(params):
    """The validated update options as Graph body keys (``comment`` apart), or a config error."""
    wanted = {}
    if params.get("status") is not None:
        wanted["status"] = graph_value(params["status"], UPDATE_STATUSES, "status")
    if params.get("assigned_to") is not None:
        value = params["assigned_to"].strip()
        if not value:
            raise DefenderConfigError("assigned_to must not be empty")
        check_no_control(value, "assigned_to")
        wanted["assignedTo"] = value
    if params.get("classification") is not None:
        wanted["classification"] = graph_value(params["classification"], CLASSIFICATIONS, "classification")
    if params.get("determination") is not None:
        wanted["determination"] = graph_value(params["determination"], DETERMINATIONS, "determination")
    if params.get("comment") is not None:
        if not params["comment"].strip():
            raise DefenderConfigError("comment must not be empty")
        wanted["comment"] = params["comment"]
    if not wanted:
        raise DefenderConfigError("nothing to update: set at least one of status, assigned_to, classification, "
                                  "determination or comment")
    return wanted


def _determination(value):
    folded = value.strip().lower()
    return SAME_DETERMINATION.get(folded, folded)


def _same(key, current, wanted):
    if not isinstance(current, str):
        return False
    if key == "determination":
        return _determination(current) == _determination(wanted)
    return current.strip().lower() == wanted.lower()  # enums in any casing; UPNs are case-insensitive


def comment_texts(alert):
    return [c.get("comment") for c in alert.get("comments") or [] if isinstance(c, dict)
            and isinstance(c.get("comment"), str)]


def has_comment(alert, comment):
    wanted = comment.strip()
    return any(text.strip() == wanted for text in comment_texts(alert))


def changes_for(alert, wanted):
    """What brings ``alert`` to ``wanted``: the differing fields, and ``comment`` when the alert does not carry it
    yet (it is sent apart, with ``POST .../comments``); {} when nothing differs."""
    changes = {}
    for _option, key in UPDATE_FIELDS:
        if key in wanted and not _same(key, alert.get(key), wanted[key]):
            changes[key] = wanted[key]
    if wanted.get("comment") is not None and not has_comment(alert, wanted["comment"]):
        changes["comment"] = wanted["comment"]
    return changes


def predict(alert, changes):
    """The alert as it will read after ``changes`` (check mode)."""
    after = copy.deepcopy(alert)
    after.update({k: v for k, v in changes.items() if k != "comment"})
    if changes.get("comment") is not None:
        after["comments"] = list(after.get("comments") or []) + [
            {"comment": changes["comment"], "createdByDisplayName": None, "createdDateTime": None}]
    return after


def managed_view(alert):
    view = {key: alert.get(key) for _option, key in UPDATE_FIELDS}
    view["comments"] = comment_texts(alert)
    return view


def alert_path(alert_id):
    return "%s/%s" % (ALERTS_V2_PATH, segment(alert_id, "id"))


def read_alert(client, alert_id):
    """The alert, or None when Graph does not know the id."""
    alert = get_or_none(client, alert_path(alert_id))
    return alert if isinstance(alert, dict) else None


def apply_changes(client, alert_id, current, changes, warn):
    """PATCH the differing fields, then POST the comment; the alert as it reads afterwards (the PATCH answers the
    whole alert, the comment POST every comment).

    A write whose outcome is unknown is never sent again: the alert is read back, and the task fails when the change
    is not visible (the service may still apply it)."""
    body = {k: v for k, v in changes.items() if k != "comment"}
    comment = changes.get("comment")
    after = current
    if body:
        try:
            answer = client.patch(alert_path(alert_id), body)
            after = answer if isinstance(answer, dict) and answer.get("id") == alert_id else predict(after, body)
        except DefenderOutcomeUnknownError as exc:
            after = _read_back(client, alert_id, exc, warn, lambda a: not changes_for(a, body))
    if comment is not None:
        try:
            answer = client.post(alert_path(alert_id) + "/comments",
                                 {"@odata.type": "microsoft.graph.security.alertComment", "comment": comment})
            comments = answer.get("value") if isinstance(answer, dict) else None
            if isinstance(comments, list):
                after = dict(after, comments=comments)
            else:
                after = predict(after, {"comment": comment})
        except DefenderOutcomeUnknownError as exc:
            after = _read_back(client, alert_id, exc, warn, lambda a: has_comment(a, comment))
    return after


def _read_back(client, alert_id, exc, warn, applied):
    try:
        now = read_alert(client, alert_id)
    except DefenderError as err:
        raise exc.reworded("%s; alert %s could not be read again to see whether it was applied (%s). The request was "
                           "not re-sent: check the alert, then run the task again" % (exc.message, alert_id, err)) \
            from None
    if now is None or not applied(now):
        raise exc.reworded("%s; read again, alert %s does not show the change yet. The request was not re-sent, "
                           "because the service may still apply it: check the alert, then run the task again"
                           % (exc.message, alert_id))
    warn("the response to %s %s was lost or a server error (%s); the alert read again shows the change applied, so "
         "it was not re-sent" % (exc.method, exc.path, exc))
    return now


# --- what the modules call -------------------------------------------------------------------------------------


def check_params(params):
    """``(wanted, ids, single)`` for the ``alert`` module on Graph; DefenderConfigError before any request."""
    wanted = wanted_state(params)
    single = params.get("id") is not None
    raw = [params["id"]] if single else params.get("ids")
    if not raw:
        raise DefenderConfigError("%s must not be empty" % ("id" if single else "ids"))
    ids = []
    for value in raw:
        if not isinstance(value, str) or not value.strip():
            raise DefenderConfigError("%s must hold non-empty alert ids, got %r" % ("id" if single else "ids", value))
        value = value.strip()
        check_no_control(value, "id" if single else "ids", "alert id")
        segment(value, "id")
        if value not in ids:
            ids.append(value)
    return wanted, ids, single


def update(client, wanted, ids, single, check_mode=False, diff=False, warn=None):
    """Bring the alerts ``ids`` to ``wanted`` through Graph: ``(result, failure)``, the shape of the Defender API's
    updater (``changed``, ``alerts``, ``results``, ``diff``). Every alert is read first (an unknown id fails before
    anything is written); each is then changed with one PATCH of what differs and, when its comment is missing, one
    comment POST (Graph has no batch update)."""
    warn = warn or (lambda msg: None)
    current = {}
    for alert_id in ids:
        alert = read_alert(client, alert_id)
        if alert is not None:
            current[alert_id] = alert
    missing = [i for i in ids if i not in current]
    if missing:
        raise DefenderError("alert(s) not found in Microsoft Graph alerts_v2: %s; nothing was changed"
                            % ", ".join(missing[:20]), status=404, code="NotFound")
    plan = [(i, changes_for(current[i], wanted)) for i in ids]
    after = {}
    failure = None
    if check_mode:
        after = {i: predict(current[i], changes) for i, changes in plan}
    else:
        try:
            for alert_id, changes in plan:
                after[alert_id] = apply_changes(client, alert_id, current[alert_id], changes, warn) if changes \
                    else current[alert_id]
        except DefenderError as exc:
            failure = rejected(exc) if exc.status == 400 else exc
    results = []
    for i, changes in plan:
        results.append(dict(id=i, changed=bool(changes) and (check_mode or i in after), changes=changes))
    result = dict(changed=any(r["changed"] for r in results), alerts=[after.get(i, current[i]) for i in ids],
                  results=results)
    if diff and failure is None:
        diffs = [dict(before=managed_view(current[i]), after=managed_view(after.get(i, current[i])),
                      before_header="alert %s" % i, after_header="alert %s" % i)
                 for i, changes in plan if changes or single]
        result["diff"] = diffs[0] if single else diffs
    return result, failure


def rejected(exc):
    """A 400 names what Graph refused (the determination pages disagree: the service's text says which it takes)."""
    return exc.reworded("Microsoft Graph refused the alert update: %s" % exc.message)


def check_read_params(params):
    """``(filter, local match, page size)`` for ``alert_info``/``alert_export`` on Graph, before any request."""
    if params.get("limit") is not None and params["limit"] < 1:
        raise DefenderConfigError("limit must be at least 1, got %d" % params["limit"])
    page_size = check_page_size(params.get("page_size"))
    if params.get("id") is not None:
        value = params["id"].strip()
        if not value:
            raise DefenderConfigError("id must not be empty")
        check_no_control(value, "id", "alert id")
        segment(value, "id")
        return None, None, page_size
    flt, local = build_filter(params)
    return flt, local, page_size
