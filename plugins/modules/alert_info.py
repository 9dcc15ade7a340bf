#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: alert_info
short_description: Read Microsoft Defender for Endpoint alerts
description:
  - Reads one alert by O(id), or every alert that matches the given filters, from the Defender for Endpoint API
    (C(GET /api/alerts)).
  - The result set is complete however large it is. The API caps a page at 10,000 alerts and sends no
    C(@odata.nextLink) when C($top) is given, so the module pages with C($top)/C($skip). Consecutive pages overlap
    and alerts are de-duplicated by id, so an alert that moves between pages while they are read is returned once;
    if the set changes so much that continuity cannot be proven, the task fails rather than return incomplete data.
  - Every filter value is escaped into an OData literal; times are sent as UTC.
  - To write alerts to a file (JSON Lines or CSV, streamed, however many), use M(defender.endpoint.alert_export);
    this module only reads.
  - Needs the application permission C(Alert.Read.All) (or C(Alert.ReadWrite.All)).
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  id:
    description:
      - The id of one alert. The alert is read with C(GET /api/alerts/{id}), which includes its evidence.
      - An unknown id returns RV(alerts=[]) and RV(count=0) rather than failing, as for any info module.
      - Mutually exclusive with the filters and O(limit).
    type: str
  severity:
    description:
      - Only alerts with one of these severities.
      - One or more of V(UnSpecified), V(Informational), V(Low), V(Medium), V(High), matched case-insensitively
        and sent in the API's spelling.
    type: list
    elements: str
  status:
    description:
      - Only alerts with one of these statuses.
      - One or more of V(Unknown), V(New), V(InProgress), V(Resolved), matched case-insensitively and sent in the
        API's spelling.
    type: list
    elements: str
  category:
    description:
      - Only alerts in one of these categories, for example V(Malware), V(Execution), V(SuspiciousActivity).
      - Compared exactly (the API's matching is case-sensitive).
    type: list
    elements: str
  machine_id:
    description:
      - Only alerts raised on one of these machines (machine ids, the C(machineId) of an alert).
      - C(machineId) is not among the fields Microsoft documents as filterable for alerts, so these alerts are read
        with C(GET /api/machines/{id}/alerts), one machine after the other, with the other filters applied there;
        a machine id the service does not know fails the task (the API answers 404, as for a wrong O(api_url)).
    type: list
    elements: str
  created_after:
    description:
      - Only alerts created at or after this time (C(alertCreationTime ge ...)).
      - An ISO 8601 time such as V(2026-01-31T08:00:00Z) (a time without an offset is taken as UTC), or an age
        relative to now such as V(30m), V(24h), V(7d), V(2w).
    type: str
  created_before:
    description:
      - Only alerts created before this time (C(alertCreationTime lt ...)). Same formats as O(created_after).
    type: str
  updated_after:
    description:
      - Only alerts last updated at or after this time (C(lastUpdateTime ge ...)). Same formats as
        O(created_after).
    type: str
  filter:
    description:
      - A raw OData C($filter) expression, sent as written but always as one parenthesised clause joined to the
        other filters with C(and), so an C(or) inside it stays inside.
      - Quote string values yourself (C(title eq 'x'), a quote inside doubled, C('O''Brien')). Quotes and
        parentheses must balance and control characters (a newline, a tab) are refused, so the expression cannot
        close the parenthesis around it and widen the query; write it on one line (or fold it with YAML's C(>-)).
      - Only the fields and operators Microsoft documents for alerts are accepted by the service (see the
        List alerts API page); others are answered with HTTP 400.
    type: str
  expand_evidence:
    description:
      - Include each alert's C(evidence) (C($expand=evidence)). Makes responses much larger.
      - With O(id), the evidence is returned anyway.
    type: bool
    default: false
  limit:
    description:
      - Return at most this many alerts. By default every matching alert is returned.
    type: int
  page_size:
    description:
      - Alerts per request (C($top)), at most 10,000 (the API's cap).
      - Smaller pages mean more requests against the API's 100 calls per minute.
    type: int
    default: 10000
notes:
  - Pages are read with C($top)/C($skip) because the API does not send C(@odata.nextLink) together with C($top).
    A well-formed nextLink that moves forward is followed; a malformed or non-advancing one is ignored.
  - Each page is one request against the API's limit of 100 calls per minute and 1,500 per hour per app and
    tenant; throttled requests (HTTP 429) are retried after the C(Retry-After) the API sends.
seealso:
  - module: defender.endpoint.alert
  - module: defender.endpoint.alert_export
  - name: List alerts API
    description: Microsoft's reference for C(GET /api/alerts).
    link: https://learn.microsoft.com/en-us/defender-endpoint/api/get-alerts
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.info
"""

EXAMPLES = r"""
- name: New high-severity alerts of the last day
  defender.endpoint.alert_info:
    tenant_id: "{{ defender_tenant_id }}"
    client_id: "{{ defender_client_id }}"
    client_secret: "{{ defender_client_secret }}"
    severity: [High]
    status: [New]
    created_after: 24h
  register: triage

- name: Show them
  ansible.builtin.debug:
    msg: "{{ triage.alerts | map(attribute='title') | list }}"

- name: One alert with its evidence (credentials set once with module_defaults)
  module_defaults:
    group/defender.endpoint.all:
      tenant_id: "{{ defender_tenant_id }}"
      client_id: "{{ defender_client_id }}"
      client_secret: "{{ defender_client_secret }}"
  block:
    - name: Read the alert
      defender.endpoint.alert_info:
        id: da637472900382838869_1364969609
      register: one

    - name: Files in its evidence
      ansible.builtin.debug:
        msg: "{{ one.alerts[0].evidence | selectattr('entityType', 'equalto', 'File') | map(attribute='fileName') }}"

- name: Open malware or ransomware alerts on two machines, with a raw OData clause
  defender.endpoint.alert_info:
    status: [New, InProgress]
    category: [Malware, Ransomware]
    machine_id:
      - 12ee6dd8c833c8a052ea231ec1b19adaf497b625
      - 7a9c1f0e22b6d4c7a1a0a6f1f3f0c2e9d8b7a615
    filter: "detectionSource eq 'WindowsDefenderAv' or detectionSource eq 'WindowsDefenderAtp'"
    limit: 100
"""

RETURN = r"""
alerts:
  description:
    - The alerts, as the API returns them (field names as in the API).
  returned: always
  type: list
  elements: dict
  sample:
    - id: da637308392288907382_-880718168
      incidentId: 7587
      investigationId: 723156
      assignedTo: secop123@contoso.com
      severity: Low
      status: New
      classification: TruePositive
      determination: null
      investigationState: Queued
      detectionSource: WindowsDefenderAv
      category: SuspiciousActivity
      title: Suspicious 'Meterpreter' behavior was detected
      alertCreationTime: "2020-07-20T10:53:48.7657932Z"
      lastUpdateTime: "2020-07-20T10:53:50.19Z"
      machineId: 12ee6dd8c833c8a052ea231ec1b19adaf497b625
      computerDnsName: temp123.contoso.com
      mitreTechniques: [T1064, T1085, T1220]
      comments:
        - comment: test comment
          createdBy: secop123@contoso.com
          createdTime: "2020-07-21T01:00:37.8404534Z"
      evidence: []
count:
  description: How many alerts were returned.
  returned: always
  type: int
  sample: 25000
filter:
  description: The OData C($filter) that was sent, for transparency; V(null) when nothing was filtered or with O(id).
  returned: always
  type: str
  sample: "severity eq 'High' and status eq 'New' and alertCreationTime ge 2026-01-30T08:00:00Z"
requests:
  description: How many list requests were sent (pages, including the overlap re-reads).
  returned: when O(id) is not set
  type: int
  sample: 3
"""

from ansible_collections.defender.endpoint.plugins.module_utils import alerts as A
from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.client import get_or_none, segment


def validate(params):
    """Everything that can be wrong with the input, before a request: (filter, page_size)."""
    if params.get("id") is not None and not params["id"].strip():
        raise DefenderConfigError("id must not be empty")
    if params.get("limit") is not None and params["limit"] < 1:
        raise DefenderConfigError("limit must be at least 1, got %d" % params["limit"])
    page_size = odata.check_page_size(params.get("page_size"))
    flt = None if params.get("id") is not None else A.build_filter(params)
    return flt, page_size


def run(m):
    p = m.params
    flt, page_size = validate(p)
    client = m.client()
    result = dict(changed=False, filter=flt)

    if p.get("id") is not None:
        params = {"$expand": "evidence"} if p["expand_evidence"] else None
        alert = get_or_none(client, "%s/%s" % (A.ALERTS_PATH, segment(p["id"].strip(), "id")), params=params)
        found = [alert] if isinstance(alert, dict) else []
        items = iter(found)
        pager = None
    else:
        pager = A.AlertPages(client, p, flt, page_size, limit=p.get("limit"), expand_evidence=p["expand_evidence"])
        items = iter(pager)

    result["alerts"] = list(items)
    result["count"] = len(result["alerts"])
    if pager is not None:
        result["requests"] = pager.requests
    m.exit(**result)


def main():
    m = DefenderModule(
        argument_spec=dict(
            id=dict(type="str"),
            **A.FILTER_ARGUMENT_SPEC
        ),
        mutually_exclusive=[("id", name) for name in A.FILTER_OPTIONS + ("limit",)],
        supports_check_mode=True,
    )
    m.run(run)


if __name__ == "__main__":
    main()
