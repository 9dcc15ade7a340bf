# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Microsoft Graph security incidents (``/v1.0/security/incidents``), shared by ``incident_info``, ``incident``, the
incidents event source and the incident_response role.

Microsoft's pages (https://learn.microsoft.com/en-us/graph/api/resources/security-incident and the list, update
and comment pages beside it) and what users observed: ``$top`` above 50 answers 400 (wazuh/wazuh#28070);
``$filter`` on assignedTo, classification, createdDateTime, determination, lastUpdateDateTime, severity and status;
``$expand=alerts`` fails with a 500 on large tenants (elastic/integrations#18144), so an incident's alerts are then
read from ``/security/incidents/{id}/alerts``; PATCH answers the whole incident; a comment is a POST answering every
comment, and comments cannot be edited, so one is added only when its text is not there yet. Enums are camelCase;
the documentation mixes casings, so values are compared case-insensitively.
"""

from __future__ import annotations

import copy

from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.alert_update import comment_texts, has_comment
from ansible_collections.defender.endpoint.plugins.module_utils.client import segment
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.validation import (
    check_no_control,
    normalize,
    normalize_list,
    text_list as strings,
)

INCIDENTS_PATH = "/v1.0/security/incidents"
MAX_PAGE_SIZE = 50  # Graph answers 400 for $top above 50 on incidents (observed; not on the v1.0 pages)

STATUSES = ("active", "inProgress", "resolved", "redirected", "awaitingAction", "unknownFutureValue")
UPDATE_STATUSES = ("active", "resolved")  # PATCH documents active, resolved, redirected (a merge, not a choice)
SEVERITIES = ("unknown", "informational", "low", "medium", "high")
CLASSIFICATIONS = ("unknown", "falsePositive", "truePositive", "informationalExpectedActivity")
# Both determination lists of the Graph pages (they conflict: the alert resource's rows vs its value table and the
# 2025 incident PATCH page); either is sent as given, and both names of one meaning compare equal.
DETERMINATIONS = ("unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
                  "multiStagedAttack", "compromisedUser", "compromisedAccount", "phishing", "maliciousUserActivity",
                  "clean", "notMalicious", "insufficientData", "notEnoughDataToValidate", "confirmedUserActivity",
                  "confirmedActivity", "lineOfBusinessApplication")
DETERMINATION_ALIASES = {"compromisedAccount": "compromisedUser", "notMalicious": "clean",
                         "notEnoughDataToValidate": "insufficientData", "confirmedActivity": "confirmedUserActivity"}

FILTER_OPTIONS = ("status", "severity", "assigned_to", "classification", "determination", "created_after",
                  "created_before", "updated_after", "updated_before", "filter")
FILTER_ARGUMENT_SPEC = dict(
    status=dict(type="list", elements="str"),
    severity=dict(type="list", elements="str"),
    assigned_to=dict(type="list", elements="str"),
    classification=dict(type="list", elements="str"),
    determination=dict(type="list", elements="str"),
    created_after=dict(type="str"),
    created_before=dict(type="str"),
    updated_after=dict(type="str"),
    updated_before=dict(type="str"),
    filter=dict(type="str"),
)

# Module option -> PATCH key, in the order of the PATCH page.
UPDATE_FIELDS = (("status", "status"), ("assigned_to", "assignedTo"), ("classification", "classification"),
                 ("determination", "determination"), ("severity", "severity"), ("display_name", "displayName"),
                 ("description", "description"), ("summary", "summary"))
ENUM_KEYS = ("status", "classification", "determination", "severity")
TAG_STATES = ("present", "absent", "exact")


def check_id(value, name="id"):
    """An incident id (Graph's are decimal strings, e.g. ``2972395``), checked before any request."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise DefenderConfigError("%s must not be empty" % name)
    check_no_control(text, name)
    segment(text, name)
    return text


def incident_path(incident_id, *rest):
    return "/".join((INCIDENTS_PATH, segment(incident_id, "id")) + rest)


def check_page_size(page_size):
    if not isinstance(page_size, int) or page_size < 1 or page_size > MAX_PAGE_SIZE:
        raise DefenderConfigError("page_size must be between 1 and %d (Microsoft Graph refuses more incidents per "
                                  "page), got %r" % (MAX_PAGE_SIZE, page_size))
    return page_size


def build_filter(params, now=None):
    """The ``$filter`` for the incident_info filters (None when nothing filters); values escaped through odata."""
    get = params.get
    clauses = []
    for option, allowed, prop in (("status", STATUSES, "status"), ("severity", SEVERITIES, "severity"),
                                  ("classification", CLASSIFICATIONS, "classification"),
                                  ("determination", DETERMINATIONS, "determination")):
        values = normalize_list(get(option), allowed, option)
        if values:
            clauses.append(odata.any_of(prop, values))
    assigned = strings(get("assigned_to"), "assigned_to")
    if assigned:
        clauses.append(odata.any_of("assignedTo", [a.strip() for a in assigned]))
    times = {}
    for option, prop, op in (("created_after", "createdDateTime", "ge"), ("created_before", "createdDateTime", "lt"),
                             ("updated_after", "lastUpdateDateTime", "ge"),
                             ("updated_before", "lastUpdateDateTime", "lt")):
        value = get(option)
        if value is not None and value != "":
            times[option] = odata.parse_time(value, option, now=now)
            clauses.append(odata.compare(prop, op, times[option], option))
    for after, before in (("created_after", "created_before"), ("updated_after", "updated_before")):
        if after in times and before in times and times[after] >= times[before]:
            raise DefenderConfigError("%s (%s) must be earlier than %s (%s)" % (
                after, odata.datetime_literal(times[after]), before, odata.datetime_literal(times[before])))
    if get("filter") is not None:
        clauses.append(odata.raw_clause(get("filter"), "filter"))
    return odata.and_all(*clauses)


# --- reading ------------------------------------------------------------------------------------------------------

def _collection(client, path, params, limit=None, page_size=MAX_PAGE_SIZE):
    """Every item of a Graph collection, following ``@odata.nextLink`` (de-duplicated by id)."""
    seen = set()
    out = []
    for item in client.pages(path, params=params, page_size=page_size, limit=limit):
        key = item.get("id") if isinstance(item, dict) else None
        if key is not None and key in seen:
            continue
        seen.add(key)
        out.append(item)
    return out


def _expand_failed(exc):
    # A 5xx on $expand=alerts is the large-tenant failure (elastic/integrations#18144); anything else is an error.
    return isinstance(exc, DefenderError) and (exc.status or 0) >= 500


def incident_alerts(client, incident_id):
    """``GET /security/incidents/{id}/alerts``: the incident's alerts (Graph alert shape)."""
    return _collection(client, incident_path(incident_id, "alerts"), {})


class Reader:
    """Reads incidents, with their alerts when asked: ``$expand=alerts`` first and, once that fails (a 5xx, as on
    large tenants), ``/incidents/{id}/alerts`` per incident for the rest of the run. ``alerts_source`` says which
    was used (``expand``, ``incident_alerts``, or None without alerts)."""

    def __init__(self, client, include_alerts=False):
        self.client = client
        self.include_alerts = include_alerts
        self.alerts_source = None
        self.expand_works = True

    def _with_alerts(self, incidents):
        if self.include_alerts:
            for inc in incidents:
                inc["alerts"] = incident_alerts(self.client, inc["id"])
            self.alerts_source = "incident_alerts"
        return incidents

    def one(self, incident_id):
        """The incident, or None when the service does not know the id."""
        path = incident_path(incident_id)
        if self.include_alerts and self.expand_works:
            try:
                with self.client.server_errors_final():
                    inc = self.client.get(path, params={"$expand": "alerts"})
                self.alerts_source = "expand"
                return inc
            except DefenderError as exc:
                if exc.status == 404:
                    return None
                if not _expand_failed(exc):
                    raise
                self.expand_works = False
        inc = self.client.get_or_none(path)
        if not isinstance(inc, dict):
            return None
        return self._with_alerts([inc])[0]

    def many(self, flt=None, limit=None, page_size=MAX_PAGE_SIZE, orderby=None):
        page_size = check_page_size(page_size)
        params = {}
        if flt:
            params["$filter"] = flt
        if orderby:
            params["$orderby"] = orderby
        if self.include_alerts and self.expand_works:
            try:
                with self.client.server_errors_final():
                    items = _collection(self.client, INCIDENTS_PATH, dict(params, **{"$expand": "alerts"}), limit,
                                        page_size)
                self.alerts_source = "expand"
                return items
            except DefenderError as exc:
                if not _expand_failed(exc):
                    raise
                self.expand_works = False
        return self._with_alerts(_collection(self.client, INCIDENTS_PATH, params, limit, page_size))


# --- updating -----------------------------------------------------------------------------------------------------

def canonical_determination(value):
    if not isinstance(value, str):
        return value
    folded = value.strip().lower()
    for name in DETERMINATIONS:
        if name.lower() == folded:
            return DETERMINATION_ALIASES.get(name, name)
    return value.strip()


def _tags(values, name):
    out = []
    for value in values or []:
        if not isinstance(value, str) or not value.strip():
            raise DefenderConfigError("%s must be a list of non-empty strings, got %r" % (name, value))
        check_no_control(value, name)
        if value.strip() not in out:
            out.append(value.strip())
    return out


def wanted_state(params):
    """The validated update options as PATCH keys, plus ``customTags`` rule and ``comment``; a config error when
    nothing would be managed or a value is bad."""
    wanted = {}
    get = params.get
    if get("status") is not None:
        wanted["status"] = normalize(get("status"), UPDATE_STATUSES, "status")
    if get("classification") is not None:
        wanted["classification"] = normalize(get("classification"), CLASSIFICATIONS, "classification")
    if get("determination") is not None:
        wanted["determination"] = normalize(get("determination"), DETERMINATIONS, "determination")
    if get("severity") is not None:
        wanted["severity"] = normalize(get("severity"), SEVERITIES, "severity")
    for option, key in (("assigned_to", "assignedTo"), ("display_name", "displayName")):
        if get(option) is not None:
            value = get(option).strip()
            if not value:
                raise DefenderConfigError("%s must not be empty" % option)
            check_no_control(value, option)
            wanted[key] = value
    for option, key in (("description", "description"), ("summary", "summary")):
        if get(option) is not None:
            wanted[key] = get(option)
    if get("custom_tags") is not None:
        state = get("custom_tags_state") or "present"
        if state not in TAG_STATES:
            raise DefenderConfigError("custom_tags_state must be one of %s, got %r" % (", ".join(TAG_STATES), state))
        tags = _tags(get("custom_tags"), "custom_tags")
        if not tags and state != "exact":
            raise DefenderConfigError("custom_tags is empty: with custom_tags_state %s there is nothing to do (use "
                                      "custom_tags_state exact to remove every tag)" % state)
        wanted["customTags"] = (state, tags)
    if get("comment") is not None:
        if not get("comment").strip():
            raise DefenderConfigError("comment must not be empty")
        wanted["comment"] = get("comment")
    if not wanted:
        raise DefenderConfigError("nothing to update: set at least one of status, assigned_to, classification, "
                                  "determination, severity, display_name, description, summary, custom_tags or "
                                  "comment")
    return wanted


def tags_after(current, state, tags):
    """The custom tag list after applying ``tags`` with ``state`` (order kept; tags compared exactly)."""
    current = list(current or [])
    if state == "present":
        return current + [t for t in tags if t not in current]
    if state == "absent":
        return [t for t in current if t not in tags]
    return list(tags)


def _same(key, current, wanted):
    if current is None:
        return wanted is None
    if key == "determination":
        return canonical_determination(current) == canonical_determination(wanted)
    if key in ENUM_KEYS or key == "assignedTo":  # enums: casing varies in the docs; UPNs are case-insensitive
        return isinstance(current, str) and current.strip().lower() == wanted.lower()
    return current == wanted


def changes_for(incident, wanted):
    """``(patch_body, comment_or_None)``: only what differs."""
    body = {}
    for _option, key in UPDATE_FIELDS:
        if key in wanted and not _same(key, incident.get(key), wanted[key]):
            body[key] = wanted[key]
    if "customTags" in wanted:
        state, tags = wanted["customTags"]
        current = list(incident.get("customTags") or [])
        after = tags_after(current, state, tags)
        if after != current and (state != "exact" or sorted(after) != sorted(current)):
            body["customTags"] = after
    comment = None
    if "comment" in wanted and not has_comment(incident, wanted["comment"]):
        comment = wanted["comment"]
    return body, comment


def predict(incident, body, comment):
    """The incident as it will read after the PATCH and the comment (check mode)."""
    after = copy.deepcopy(incident)
    after.update(copy.deepcopy(body))
    if comment is not None:
        after["comments"] = list(after.get("comments") or []) + [
            {"comment": comment, "createdByDisplayName": None, "createdDateTime": None}]
    return after


MANAGED_KEYS = ("status", "assignedTo", "classification", "determination", "severity", "displayName", "description",
                "summary", "customTags")


def managed_view(incident):
    """Only the fields the ``incident`` module manages, for diff output."""
    view = {key: incident.get(key) for key in MANAGED_KEYS}
    view["comments"] = comment_texts(incident)
    return view


def add_comment(client, incident_id, comment):
    """POST the comment; returns the whole comment list the service answers with."""
    answer = client.post(incident_path(incident_id, "comments"),
                         {"@odata.type": "microsoft.graph.security.alertComment", "comment": comment})
    if isinstance(answer, dict) and isinstance(answer.get("value"), list):
        return answer["value"]
    return None


def portal_url(incident):
    return incident.get("incidentWebUrl") if isinstance(incident, dict) else None
