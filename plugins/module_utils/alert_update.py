# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Updating alerts (the ``alert`` module's work): read, compare, send only what differs, comment once.

:func:`check_params` validates the options before any request; :func:`update` reads the alerts, plans one change
set per alert, predicts in check mode or sends it (one ``PATCH`` per alert, ``batchUpdate`` for alerts sharing a
change set), reads back a write whose outcome is unknown instead of re-sending it, and builds the module result
(with the diff). The comparison helpers (:func:`changes_for`, :func:`predict`, ...) are pure.
"""

from __future__ import annotations

import copy

from ansible_collections.defender.endpoint.plugins.module_utils import alerts
from ansible_collections.defender.endpoint.plugins.module_utils.validation import normalize
from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils import outcome
from ansible_collections.defender.endpoint.plugins.module_utils.client import get_or_none, segment
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.module_utils.validation import check_no_control

BATCH_SIZE = 500  # ids per batchUpdate call; halved if the API answers MaximumBatchSizeExceeded

# Module option -> API body key, in the order the API documents them.
UPDATE_FIELDS = (
    ("status", "status"),
    ("assigned_to", "assignedTo"),
    ("classification", "classification"),
    ("determination", "determination"),
)
MANAGED_KEYS = ("status", "assignedTo", "classification", "determination", "comments")


# --- updates ---------------------------------------------------------------------------------

def wanted_state(params):
    """The validated update options as API body keys (``comment`` included), or a config error."""
    wanted = {}
    if params.get("status") is not None:
        wanted["status"] = normalize(params["status"], alerts.UPDATE_STATUSES, "status")
    if params.get("assigned_to") is not None:
        value = params["assigned_to"].strip()
        if not value:
            raise DefenderConfigError("assigned_to must not be empty")
        wanted["assignedTo"] = value
    if params.get("classification") is not None:
        wanted["classification"] = normalize(params["classification"], alerts.CLASSIFICATIONS, "classification")
    if params.get("determination") is not None:
        wanted["determination"] = normalize(params["determination"], alerts.DETERMINATIONS, "determination")
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
    for name in alerts.DETERMINATIONS:
        if name.lower() == folded:
            return alerts.DETERMINATION_ALIASES.get(name, name)
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


def read_alerts(client, ids, chunk=READ_CHUNK):
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
                    alert = get_or_none(client, "%s/%s" % (alerts.ALERTS_PATH, segment(alert_id, "alert id")))
                    if isinstance(alert, dict):
                        found[alert.get("id", alert_id)] = alert
            else:
                body = client.get(alerts.ALERTS_PATH, params={"$filter": _id_filters(part, style), "$top": len(part)})
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


# --- sending the changes ---------------------------------------------------------------------

def describe(changes):
    """The change set for an error message (a comment by its length only)."""
    parts = []
    for key, value in changes.items():
        if key == "comment":
            parts.append("comment (%d characters)" % len(value))
        else:
            parts.append("%s=%r" % (key, value))
    return ", ".join(parts)


def rejected(exc, changes, what):
    """A 400 from a write, as an error that names the values sent."""
    msg = "the API rejected the update of %s with %s: %s" % (what, describe(changes), exc.message)
    if "determination" in changes or "classification" in changes:
        msg += (" (the documented names for determination differ between API versions; pairs such as "
                "Clean/NotMalicious, InsufficientData/NoEnoughDataToValidate, ConfirmedUserActivity/ConfirmedActivity "
                "and CompromisedUser/CompromisedAccount name the same value: try the other name)")
    return exc.reworded(msg)


class Updater:
    """Sends change sets and records each alert as it reads afterwards (``after``, by id).

    ``warn`` receives a message when a write whose response was lost turned out to be applied.
    """

    def __init__(self, client, warn=None):
        self.client = client
        self.warn = warn or (lambda message: None)
        self.batch_size = BATCH_SIZE
        self.after = {}

    def read(self, ids):
        return read_alerts(self.client, ids)

    def lost(self, exc, ids, changes):
        """The outcome of a write is unknown (no response, or a 5xx that may follow an applied write): read the
        alerts again (:func:`outcome.read_back`) and keep what is visibly applied; never re-send."""
        found = outcome.read_back(exc, ids, self.read, lambda _alert_id, alert: not changes_for(alert, changes))
        self.after.update(found.seen)
        if not found.complete:
            raise found.error("alert(s)")
        self.warn("the response to %s %s was lost or a server error (%s); the alerts read again show the "
                  "change applied, so it was not re-sent" % (exc.method, exc.path, exc))

    def patch(self, alert_id, changes, current):
        path = "%s/%s" % (alerts.ALERTS_PATH, segment(alert_id, "id"))
        try:
            body = self.client.patch(path, changes)
        except DefenderOutcomeUnknownError as exc:
            self.lost(exc, [alert_id], changes)
            return
        except DefenderError as exc:
            if exc.status == 400:
                raise rejected(exc, changes, "alert %s" % alert_id) from None
            raise
        if isinstance(body, dict) and body.get("id") == alert_id:
            self.after[alert_id] = body
        else:
            self.after[alert_id] = self.read([alert_id]).get(alert_id) or predict(current[alert_id], changes)

    def batch(self, ids, changes, current):
        pending = list(ids)
        while pending:
            part = pending[:self.batch_size]
            body = dict(alertIds=part)
            body.update(changes)
            try:
                self.client.post(alerts.BATCH_UPDATE_PATH, body)
            except DefenderOutcomeUnknownError as exc:
                self.lost(exc, part, changes)
                pending = pending[len(part):]
                continue
            except DefenderError as exc:
                if exc.status == 400 and exc.code == "MaximumBatchSizeExceeded" and self.batch_size > 1:
                    self.batch_size = max(1, self.batch_size // 2)  # a 400 was not processed: safe to resend
                    continue
                if exc.status == 400:
                    raise rejected(exc, changes, "%d alert(s)" % len(part)) from None
                raise
            now = self.read(part)
            for i in part:
                if i in now and not changes_for(now[i], changes):
                    self.after[i] = now[i]
                else:  # accepted (200) but not visible yet: report the prediction
                    self.after[i] = predict(current[i], changes)
            pending = pending[len(part):]


def check_params(params):
    """``(wanted, ids, single)`` from the ``alert`` module's options, or a config error before any request."""
    wanted = wanted_state(params)
    single = params.get("id") is not None
    ids = check_ids([params["id"]], "id") if single else check_ids(params.get("ids"), "ids")
    return wanted, ids, single


def update(client, wanted, ids, single, check_mode=False, diff=False, warn=None):
    """Bring the alerts ``ids`` to ``wanted``: ``(result, failure)``.

    ``result`` is the module result (``changed``, ``alerts``, ``results``, and ``diff`` in diff mode when nothing
    failed); ``failure`` is the :class:`DefenderError` that stopped the writes (None when all went through), so
    the module reports what was done before it. An unknown id fails before anything is written.
    """
    updater = Updater(client, warn)
    current = updater.read(ids)
    missing = [i for i in ids if i not in current]
    if missing:
        raise DefenderError("alert(s) not found: %s; nothing was changed" % ", ".join(missing[:20]), status=404,
                            code="NotFound")
    plan = [(i, changes_for(current[i], wanted)) for i in ids]

    failure = None
    if check_mode:
        updater.after = {i: predict(current[i], changes) for i, changes in plan}
    else:
        try:
            for changes, group in group_changes(plan):
                if single or len(group) == 1:
                    updater.patch(group[0], changes, current)
                else:
                    updater.batch(group, changes, current)
        except DefenderError as exc:
            failure = exc

    results = []
    after = []
    for i, changes in plan:
        done = i in updater.after
        results.append(dict(id=i, changed=bool(changes) and (check_mode or done), changes=changes))
        after.append(updater.after.get(i, current[i]))
    result = dict(changed=any(r["changed"] for r in results), alerts=after, results=results)
    if diff and failure is None:
        diffs = []
        for i, changes in plan:
            if changes or single:
                diffs.append(dict(before=managed_view(current[i]), after=managed_view(updater.after.get(i, current[i])),
                                  before_header="alert %s" % i, after_header="alert %s" % i))
        result["diff"] = diffs[0] if single else diffs
    return result, failure
