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
    (C(GET /api/alerts)) or, with O(api=graph), from Microsoft Graph (C(GET /security/alerts_v2)).
  - With O(api=graph) the pages follow C(@odata.nextLink) (at most 1,000 alerts each), each alert is returned once,
    the alerts keep Graph's field names, O(category) and O(machine_id) (not filterable in Graph) are matched on each
    alert as it is read, and O(expand_evidence) is not needed (Graph always returns the evidence).
  - The result set is complete however large it is. The API caps a page at 10,000 alerts and sends no
    C(@odata.nextLink) when C($top) is given, so the module pages with C($top)/C($skip). Consecutive pages overlap
    and alerts are de-duplicated by id, so an alert that moves between pages while they are read is returned once;
    if the set changes so much that continuity cannot be proven, the task fails rather than return incomplete data.
  - Every filter value is escaped into an OData literal; times are sent as UTC.
  - To write alerts to a file (JSON Lines or CSV, streamed, however many), use M(defender.endpoint.alert_export);
    this module only reads.
  - Needs the application permission C(Alert.Read.All) (or C(Alert.ReadWrite.All)); with O(api=graph), the Microsoft
    Graph permission C(SecurityAlert.Read.All) (or C(SecurityAlert.ReadWrite.All)).
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  id:
    description:
      - The id of one alert. The alert is read with C(GET /api/alerts/{id}), which includes its evidence (with
        O(api=graph), C(GET /security/alerts_v2/{id})).
      - An unknown id returns RV(alerts=[]) and RV(count=0) rather than failing, as for any info module.
      - Mutually exclusive with the filters, O(service_source) and O(limit).
    type: str
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
  - defender.endpoint.alert_filters
  - defender.endpoint.alerts_api
  - defender.endpoint.alerts_api.filters
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
api:
  description: The API the alerts came from.
  returned: always
  type: str
  sample: graph
alerts:
  description:
    - The alerts, as the API returns them (field names as in the API; Graph's with O(api=graph)).
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

from ansible_collections.defender.endpoint.plugins.module_utils import alerts
from ansible_collections.defender.endpoint.plugins.module_utils import graph_alerts
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule


def run_graph(m):
    p = m.params
    flt, local, page_size = graph_alerts.check_read_params(p)
    client = m.client(api=graph_alerts.GRAPH)
    if p.get("id") is not None:
        alert = graph_alerts.read_alert(client, p["id"].strip())
        found = [alert] if alert is not None else []
        m.exit(changed=False, filter=flt, alerts=found, count=len(found), api=graph_alerts.GRAPH)
    else:
        pager = graph_alerts.GraphAlertPages(client, flt, local, page_size, limit=p.get("limit"))
        found = list(pager)
        m.exit(changed=False, filter=flt, alerts=found, count=len(found), requests=pager.requests,
               api=graph_alerts.GRAPH)


def run(m):
    p = m.params
    api = graph_alerts.choose_api(p.get("api"), m.warn)
    graph_alerts.check_options_for_api(p, api)
    if api == graph_alerts.GRAPH:
        return run_graph(m)
    flt, page_size = alerts.check_info_params(p)
    client = m.client()
    if p.get("id") is not None:
        found = alerts.read_one(client, p["id"], p["expand_evidence"])
        m.exit(changed=False, filter=flt, alerts=found, count=len(found), api=api)
    else:
        pager = alerts.AlertPages(client, p, flt, page_size, limit=p.get("limit"),
                                  expand_evidence=p["expand_evidence"])
        found = list(pager)
        m.exit(changed=False, filter=flt, alerts=found, count=len(found), requests=pager.requests, api=api)


def main():
    m = DefenderModule(
        argument_spec=dict(
            id=dict(type="str"),
            **dict(alerts.FILTER_ARGUMENT_SPEC, **graph_alerts.API_ARGUMENT_SPEC,
                   **graph_alerts.GRAPH_FILTER_ARGUMENT_SPEC)
        ),
        mutually_exclusive=[("id", name) for name in alerts.FILTER_OPTIONS + ("limit", "service_source")],
        supports_check_mode=True,
    )
    m.run(run)


if __name__ == "__main__":
    main()
