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
  - With O(api=graph) the alerts are read and changed through Microsoft Graph's C(/security/alerts_v2), with one
    C(PATCH /security/alerts_v2/{id}) per alert with only what differs (Graph has no batch update; its answer is the
    whole alert, returned as is), and the comment with C(POST /security/alerts_v2/{id}/comments), once. Values are
    accepted in either API's spelling and sent in Graph's (V(Resolved) becomes V(resolved)). Graph comments cannot be
    edited or deleted.
  - Needs the application permission C(Alert.ReadWrite.All); with O(api=graph), the Microsoft Graph permission
    C(SecurityAlert.ReadWrite.All).
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
  - defender.endpoint.alerts_api
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

- name: Resolve an alert through Microsoft Graph (alerts_v2), the same options
  defender.endpoint.alert:
    api: graph
    id: da637472900382838869_1364969609
    status: Resolved
    classification: TruePositive
    determination: Malware
    comment: Contained and cleaned by the SOC.

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
api:
  description: The API the alerts were changed through.
  returned: always
  type: str
  sample: graph
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

from ansible_collections.defender.endpoint.plugins.module_utils import alert_update
from ansible_collections.defender.endpoint.plugins.module_utils import graph_alerts
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule


def run(m):
    api = graph_alerts.choose_api(m.params.get("api"), m.warn)
    # Same options, same result shape; Graph's updater sends a PATCH and a comment POST per alert.
    updater = graph_alerts if api == graph_alerts.GRAPH else alert_update
    wanted, ids, single = updater.check_params(m.params)
    client = m.client(api=api) if api == graph_alerts.GRAPH else m.client()
    result, failure = updater.update(client, wanted, ids, single, check_mode=m.check_mode, diff=m.diff, warn=m.warn)
    result["api"] = api
    if failure is not None:
        m.fail(failure, **result)
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
            **graph_alerts.API_ARGUMENT_SPEC
        ),
        mutually_exclusive=[("id", "ids")],
        required_one_of=[("id", "ids"), ("status", "assigned_to", "classification", "determination", "comment")],
        supports_check_mode=True,
    )
    m.run(run)


if __name__ == "__main__":
    main()
