#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: alert
short_description: Update Microsoft Defender for Endpoint alerts idempotently
description:
  - Sets the status, owner, classification and determination of one alert (O(id)) or many (O(ids)), and adds a
    comment, in Defender for Endpoint.
  - Reads first. Only fields that differ are sent; when nothing differs no request that writes is sent and the task
    reports C(changed=false). A O(comment) that the alert already carries verbatim is not added again, so a rerun
    does not pile up copies of it.
  - One alert is updated with C(PATCH /api/alerts/{id}). For O(ids), alerts that need the same change are updated
    together with C(POST /api/alerts/batchUpdate) in chunks, paced to that endpoint's limit of 10 calls per minute;
    an alert whose change set is shared with no other alert is updated with a C(PATCH).
  - If the outcome of a write is unknown (connection dropped after sending, or a 5xx answer, since a gateway's 502
    or 504 can follow a write the service applied), the request is not re-sent; the alerts are read again and the
    task reports what actually happened, failing if the change is not visible.
  - Needs the application permission C(Alert.ReadWrite.All).
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  id:
    description:
      - The id of the alert to update.
      - Exactly one of O(id) and O(ids) is required.
    type: str
  ids:
    description:
      - The ids of several alerts to update the same way. Duplicates are ignored.
      - They are read with list queries (C(id in (...)), falling back to C(id eq) clauses joined with C(or), then to
        one C(GET) per alert if the service rejects the form). An unknown id fails the task before anything is
        written.
    type: list
    elements: str
  status:
    description:
      - The alert status to set. One of V(New), V(InProgress), V(Resolved), matched case-insensitively.
    type: str
  assigned_to:
    description:
      - The owner of the alert, usually a user principal name such as V(secop2@contoso.com).
      - Compared case-insensitively with the current owner.
    type: str
  classification:
    description:
      - One of V(TruePositive), V(InformationalExpectedActivity), V(FalsePositive), matched case-insensitively.
    type: str
  determination:
    description:
      - The determination to set, matched case-insensitively and sent in the spelling below.
      - Microsoft's pages disagree on these names, so both sets are accepted and passed through unchanged.
      - Accepted values are
        V(MultiStagedAttack), V(MaliciousUserActivity), V(CompromisedUser), V(Malware), V(Phishing),
        V(UnwantedSoftware), V(Other), V(SecurityTesting), V(LineOfBusinessApplication), V(ConfirmedUserActivity),
        V(Clean), V(InsufficientData), V(ConfirmedActivity), V(NotMalicious), V(NoEnoughDataToValidate),
        V(CompromisedAccount).
      - Names of the same determination in the two sets count as equal when comparing with the alert
        (V(ConfirmedActivity)/V(ConfirmedUserActivity), V(NotMalicious)/V(Clean),
        V(NoEnoughDataToValidate)/V(InsufficientData), V(CompromisedAccount)/V(CompromisedUser)), and the value
        the alert reads back is compared without regard to case, so a value the service accepted and returns in
        another page's name or casing (V(notMalicious)) is not sent again on every run.
      - If the API rejects the value (HTTP 400 C(InvalidRequestBody)), the error names the values sent; try the
        other name of the pair.
    type: str
  comment:
    description:
      - A comment to add to the alert. It is added only if the alert does not already carry exactly this text
        (surrounding white space ignored).
    type: str
notes:
  - At least one of O(status), O(assigned_to), O(classification), O(determination) and O(comment) is required.
  - C(PATCH) counts against 100 calls per minute and C(batchUpdate) against 10 per minute (per app and tenant);
    throttled requests (HTTP 429) are retried after the C(Retry-After) the API sends.
seealso:
  - module: defender.endpoint.alert_info
  - name: Update alert API
    description: Microsoft's reference for C(PATCH /api/alerts/{id}).
    link: https://learn.microsoft.com/en-us/defender-endpoint/api/update-alert
  - name: Batch update alerts API
    description: Microsoft's reference for C(POST /api/alerts/batchUpdate).
    link: https://learn.microsoft.com/en-us/defender-endpoint/api/batch-update-alerts
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.action
"""

EXAMPLES = r"""
- name: Resolve an alert as a false positive, with a comment
  defender.endpoint.alert:
    tenant_id: "{{ defender_tenant_id }}"
    client_id: "{{ defender_client_id }}"
    client_secret: "{{ defender_client_secret }}"
    id: da637472900382838869_1364969609
    status: Resolved
    classification: FalsePositive
    determination: Clean
    comment: "Build server running the nightly signing job (CHG-4711)."

- name: Take the new high-severity alerts of the last day
  module_defaults:
    group/defender.endpoint.all:
      tenant_id: "{{ defender_tenant_id }}"
      client_id: "{{ defender_client_id }}"
      client_secret: "{{ defender_client_secret }}"
  block:
    - name: Find them
      defender.endpoint.alert_info:
        severity: [High]
        status: [New]
        created_after: 24h
      register: fresh

    - name: Assign them to the on-call analyst in one batch
      defender.endpoint.alert:
        ids: "{{ fresh.alerts | map(attribute='id') | list }}"
        status: InProgress
        assigned_to: oncall@contoso.com
        comment: "Triage started by the SOC night shift."
      when: fresh.count > 0

- name: Preview a change (check mode with diff)
  defender.endpoint.alert:
    id: da637472900382838869_1364969609
    status: Resolved
    classification: TruePositive
    determination: Malware
  check_mode: true
  diff: true
  register: preview
"""

RETURN = r"""
alerts:
  description:
    - Each alert after the task, one per id in the order given (the prediction in check mode).
    - After a C(PATCH), the alert the API returned; after a C(batchUpdate), the alert read again.
  returned: success
  type: list
  elements: dict
  sample:
    - id: da637472900382838869_1364969609
      status: Resolved
      assignedTo: secop2@contoso.com
      classification: FalsePositive
      determination: Clean
      severity: Medium
      title: Suspicious PowerShell command line
      comments:
        - comment: "Build server running the nightly signing job (CHG-4711)."
          createdBy: 4f3b6c41-0c1e-4a7a-9d3f-2a1b0c9d8e7f
          createdTime: "2026-01-31T08:00:00.1234567Z"
results:
  description: One entry per alert, in the order given.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: The alert id.
      type: str
      sample: da637472900382838869_1364969609
    changed:
      description: Whether this alert was (or in check mode would be) changed.
      type: bool
      sample: true
    changes:
      description:
        - The fields sent (or that would be sent), with the API's names (C(status), C(assignedTo),
          C(classification), C(determination), C(comment)); empty when the alert already matched.
      type: dict
      sample: {"status": "Resolved", "comment": "Build server running the nightly signing job (CHG-4711)."}
diff:
  description:
    - Before and after of the managed fields (C(status), C(assignedTo), C(classification), C(determination) and the
      comment texts), in diff mode. A dict for O(id); a list with one entry per changed alert for O(ids).
  returned: in diff mode
  type: raw
  sample:
    before: {"status": "New", "assignedTo": null, "classification": null, "determination": null, "comments": []}
    after: {"status": "Resolved", "assignedTo": null, "classification": "FalsePositive", "determination": "Clean",
            "comments": ["Build server running the nightly signing job (CHG-4711)."]}
"""

from ansible_collections.defender.endpoint.plugins.module_utils import alerts as A
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.module_utils.client import segment

BATCH_SIZE = 500  # ids per batchUpdate call; halved if the API answers MaximumBatchSizeExceeded


def describe(changes):
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
    return DefenderError(msg, status=exc.status, code=exc.code, target=exc.target, method=exc.method, path=exc.path)


class Updater:
    def __init__(self, m, client):
        self.m = m
        self.client = client
        self.batch_size = BATCH_SIZE
        self.after = {}

    def read(self, ids):
        return A.read_alerts(self.client, ids, segment)

    def lost(self, exc, ids, changes, current):
        """The outcome of a write is unknown (no response, or a 5xx that may follow an applied write): read
        again and keep what is visibly applied; never re-send."""
        try:
            now = self.read(ids)
        except DefenderError as err:
            raise DefenderError(
                "%s; the alert(s) could not be read again to see whether it was applied (%s). The request was not "
                "re-sent: check %s, then run the task again" % (exc.message, err, ", ".join(ids[:10])),
                status=exc.status, code=exc.code, method=exc.method, path=exc.path) from None
        missing = [i for i in ids if i not in now or A.changes_for(now[i], changes)]
        for i in ids:
            if i not in missing:
                self.after[i] = now[i]
        if missing:
            raise DefenderError(
                "%s; read again, %d of %d alert(s) do not show the change yet (%s). The request was not re-sent, "
                "because the service may still apply it: check the alerts, then run the task again"
                % (exc.message, len(missing), len(ids), ", ".join(missing[:10])),
                status=exc.status, code=exc.code, method=exc.method, path=exc.path)
        self.m.warn("the response to %s %s was lost or a server error (%s); the alerts read again show the "
                    "change applied, so it was not re-sent" % (exc.method, exc.path, exc))

    def patch(self, alert_id, changes, current):
        path = "%s/%s" % (A.ALERTS_PATH, segment(alert_id, "id"))
        try:
            body = self.client.patch(path, changes)
        except DefenderOutcomeUnknownError as exc:
            self.lost(exc, [alert_id], changes, current)
            return
        except DefenderError as exc:
            if exc.status == 400:
                raise rejected(exc, changes, "alert %s" % alert_id) from None
            raise
        if isinstance(body, dict) and body.get("id") == alert_id:
            self.after[alert_id] = body
        else:
            self.after[alert_id] = self.read([alert_id]).get(alert_id) or A.predict(current[alert_id], changes)

    def batch(self, ids, changes, current):
        pending = list(ids)
        while pending:
            part = pending[:self.batch_size]
            body = dict(alertIds=part)
            body.update(changes)
            try:
                self.client.post(A.BATCH_UPDATE_PATH, body)
            except DefenderOutcomeUnknownError as exc:
                self.lost(exc, part, changes, current)
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
                if i in now and not A.changes_for(now[i], changes):
                    self.after[i] = now[i]
                else:  # accepted (200) but not visible yet: report the prediction
                    self.after[i] = A.predict(current[i], changes)
            pending = pending[len(part):]


def run(m):
    p = m.params
    wanted = A.wanted_state(p)
    single = p.get("id") is not None
    ids = A.check_ids([p["id"]], "id") if single else A.check_ids(p.get("ids"), "ids")
    client = m.client()
    updater = Updater(m, client)

    current = updater.read(ids)
    missing = [i for i in ids if i not in current]
    if missing:
        raise DefenderError("alert(s) not found: %s; nothing was changed" % ", ".join(missing[:20]), status=404,
                            code="NotFound")
    plan = [(i, A.changes_for(current[i], wanted)) for i in ids]

    failure = None
    if m.check_mode:
        updater.after = {i: A.predict(current[i], changes) for i, changes in plan}
    else:
        try:
            for changes, group in A.group_changes(plan):
                if single or len(group) == 1:
                    updater.patch(group[0], changes, current)
                else:
                    updater.batch(group, changes, current)
        except DefenderError as exc:
            failure = exc

    results = []
    alerts = []
    for i, changes in plan:
        done = i in updater.after
        results.append(dict(id=i, changed=bool(changes) and (m.check_mode or done), changes=changes))
        alerts.append(updater.after.get(i, current[i]))
    result = dict(changed=any(r["changed"] for r in results), alerts=alerts, results=results)
    if failure is not None:
        m.fail(failure, **result)

    if m.diff:
        diffs = []
        for i, changes in plan:
            if changes or single:
                diffs.append(dict(before=A.managed_view(current[i]), after=A.managed_view(updater.after.get(i, current[i])),
                                  before_header="alert %s" % i, after_header="alert %s" % i))
        result["diff"] = diffs[0] if single else diffs
    m.exit(**result)


def main():
    m = DefenderModule(
        argument_spec=dict(
            id=dict(type="str"),
            ids=dict(type="list", elements="str"),
            status=dict(type="str"),
            assigned_to=dict(type="str"),
            classification=dict(type="str"),
            determination=dict(type="str"),
            comment=dict(type="str"),
        ),
        mutually_exclusive=[("id", "ids")],
        required_one_of=[("id", "ids"), ("status", "assigned_to", "classification", "determination", "comment")],
        supports_check_mode=True,
    )
    m.run(run)


if __name__ == "__main__":
    main()
