#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: incident_info
short_description: Read Microsoft Defender XDR incidents through Microsoft Graph
description:
  - Reads one incident by O(id), or every incident that matches the given filters, from Microsoft Graph
    (C(GET /v1.0/security/incidents)), optionally with each incident's alerts.
  - An incident groups the alerts of one attack across machines, users and mailboxes; it is the unit the Defender
    portal works in. The Defender for Endpoint API has no incidents; Microsoft Graph is the supported way to read
    them.
  - Pages follow C(@odata.nextLink) and incidents are de-duplicated by id. Graph refuses more than 50 incidents
    per page (HTTP 400), so O(page_size) is at most 50.
  - Every filter value is escaped into an OData literal; times are sent as UTC. Graph documents C($filter) on
    C(assignedTo), C(classification), C(createdDateTime), C(determination), C(lastUpdateDateTime), C(severity) and
    C(status) only.
  - Needs the Microsoft Graph application permission C(SecurityIncident.Read.All) (or
    C(SecurityIncident.ReadWrite.All)).
version_added: 0.3.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  id:
    description:
      - The id of one incident (a decimal string such as V(2972395), the number in the portal's incident URL).
      - An unknown id returns RV(incidents=[]) and RV(count=0) rather than failing, as for any info module.
      - Mutually exclusive with the filters and O(limit).
    type: str
  status:
    description:
      - Only incidents with one of these statuses.
      - One or more of V(active), V(inProgress), V(resolved), V(redirected), V(awaitingAction),
        V(unknownFutureValue), matched case-insensitively and sent in Graph's spelling.
    type: list
    elements: str
  severity:
    description:
      - Only incidents with one of these severities.
      - One or more of V(unknown), V(informational), V(low), V(medium), V(high), matched case-insensitively.
    type: list
    elements: str
  assigned_to:
    description:
      - Only incidents assigned to one of these owners (user principal names, compared as Graph compares them).
    type: list
    elements: str
  classification:
    description:
      - Only incidents with one of these classifications.
      - One or more of V(unknown), V(falsePositive), V(truePositive), V(informationalExpectedActivity).
    type: list
    elements: str
  determination:
    description:
      - Only incidents with one of these determinations, for example V(malware), V(phishing),
        V(multiStagedAttack), V(securityTesting).
      - Graph's pages list two sets of names (V(compromisedUser) or V(compromisedAccount), V(clean) or
        V(notMalicious), V(insufficientData) or V(notEnoughDataToValidate), V(confirmedUserActivity) or
        V(confirmedActivity)); both are accepted and sent as given.
    type: list
    elements: str
  created_after:
    description:
      - Only incidents created at or after this time (C(createdDateTime ge ...)).
      - An ISO 8601 time such as V(2026-01-31T08:00:00Z) (a time without an offset is taken as UTC), or an age
        relative to now such as V(30m), V(24h), V(7d), V(2w).
    type: str
  created_before:
    description:
      - Only incidents created before this time (C(createdDateTime lt ...)). Same formats as O(created_after).
    type: str
  updated_after:
    description:
      - Only incidents last updated at or after this time (C(lastUpdateDateTime ge ...)). Same formats as
        O(created_after).
    type: str
  updated_before:
    description:
      - Only incidents last updated before this time (C(lastUpdateDateTime lt ...)). Same formats as
        O(created_after).
    type: str
  filter:
    description:
      - A raw OData C($filter) expression, sent as written but always as one parenthesised clause joined to the
        other filters with C(and), so an C(or) inside it stays inside.
      - Quote string values yourself (C(assignedTo eq 'x'), a quote inside doubled). Quotes and parentheses must
        balance and control characters are refused, so the expression cannot close the parenthesis around it.
      - Only the fields Graph documents for incidents are accepted by the service; others are answered with HTTP
        400.
    type: str
  include_alerts:
    description:
      - Include each incident's alerts (Graph alert shape, with their C(evidence)) under C(alerts).
      - Asked for with C($expand=alerts). On large tenants that request fails (HTTP 500, observed); the module
        then reads C(GET /v1.0/security/incidents/{id}/alerts) for each incident instead, and RV(alerts_source)
        says which way was used.
    type: bool
    default: false
  limit:
    description:
      - Return at most this many incidents. By default every matching incident is returned.
    type: int
  page_size:
    description:
      - Incidents per request (C($top)), at most 50 (Graph answers HTTP 400 above that).
    type: int
    default: 50
notes:
  - "Graph sorts incidents newest first. Enum values added after Graph v1.0 (such as the status V(awaitingAction))
    are read as they are, not as V(unknownFutureValue) (the client sends C(Prefer: include-unknown-enum-members))."
  - Not available in the China (21Vianet) cloud. O(graph_url) overrides Graph's host (for example for a test
    service).
seealso:
  - module: defender.endpoint.incident
  - module: defender.endpoint.alert_info
  - name: List incidents (Microsoft Graph)
    description: Microsoft's reference for C(GET /security/incidents).
    link: https://learn.microsoft.com/en-us/graph/api/security-list-incidents
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.info
"""

EXAMPLES = r"""
- name: Active high-severity incidents of the last day, with their alerts
  defender.endpoint.incident_info:
    tenant_id: "{{ defender_tenant_id }}"
    client_id: "{{ defender_client_id }}"
    client_secret: "{{ defender_client_secret }}"
    status: [active]
    severity: [high]
    created_after: 24h
    include_alerts: true
  register: triage

- name: Machines involved
  ansible.builtin.debug:
    msg: >-
      {{ triage.incidents | map(attribute='alerts') | flatten | map(attribute='evidence') | flatten
         | selectattr('deviceDnsName', 'defined') | map(attribute='deviceDnsName') | unique }}

- name: One incident
  defender.endpoint.incident_info:
    id: "2972395"
  register: one

- name: Unassigned incidents, with a raw clause
  defender.endpoint.incident_info:
    filter: "assignedTo eq null"
    limit: 100
"""

RETURN = r"""
incidents:
  description:
    - The incidents as Microsoft Graph returns them (Graph's field names); with O(include_alerts), each has
      C(alerts), a list of Graph alerts.
  returned: always
  type: list
  elements: dict
  sample:
    - id: "2972395"
      displayName: Multi-stage incident involving Initial access & Command and control on multiple endpoints
      status: active
      severity: high
      classification: unknown
      determination: unknown
      assignedTo: null
      createdDateTime: "2026-11-30T08:00:00.1234567Z"
      lastUpdateDateTime: "2026-11-30T09:12:00.1234567Z"
      incidentWebUrl: https://security.microsoft.com/incidents/2972395?tid=6f1c2b9e-4d8a-4c1e-9b7a-3e5d2c1f0a11
      customTags: [Demo]
      systemTags: []
      comments: []
count:
  description: How many incidents were returned.
  returned: always
  type: int
  sample: 12
filter:
  description: The OData C($filter) that was sent; V(null) when nothing was filtered or with O(id).
  returned: always
  type: str
  sample: "status eq 'active' and severity eq 'high' and createdDateTime ge 2026-11-29T08:00:00Z"
alerts_source:
  description:
    - How the alerts were read with O(include_alerts) - V(expand) (C($expand=alerts)) or V(incident_alerts) (one
      C(/incidents/{id}/alerts) read per incident, after the expand failed); V(null) without alerts.
  returned: always
  type: str
  sample: expand
api:
  description: The API the incidents came from, always V(graph).
  returned: always
  type: str
  sample: graph
"""

from ansible_collections.defender.endpoint.plugins.module_utils import incidents
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError


def validate(params):
    """Everything that can be wrong with the input, before a request: (id, filter, page_size)."""
    if params.get("limit") is not None and params["limit"] < 1:
        raise DefenderConfigError("limit must be at least 1, got %d" % params["limit"])
    page_size = incidents.check_page_size(params.get("page_size"))
    if params.get("id") is not None:
        return incidents.check_id(params["id"]), None, page_size
    return None, incidents.build_filter(params), page_size


def run(m):
    p = m.params
    incident_id, flt, page_size = validate(p)
    reader = incidents.Reader(m.client(api="graph"), include_alerts=p["include_alerts"])
    if incident_id is not None:
        one = reader.one(incident_id)
        found = [one] if isinstance(one, dict) else []
    else:
        found = reader.many(flt, limit=p.get("limit"), page_size=page_size)
    m.exit(changed=False, incidents=found, count=len(found), filter=flt, alerts_source=reader.alerts_source,
           api="graph")


def main():
    m = DefenderModule(
        argument_spec=dict(
            id=dict(type="str"),
            include_alerts=dict(type="bool", default=False),
            limit=dict(type="int"),
            page_size=dict(type="int", default=incidents.MAX_PAGE_SIZE),
            **incidents.FILTER_ARGUMENT_SPEC
        ),
        mutually_exclusive=[("id", name) for name in incidents.FILTER_OPTIONS + ("limit",)],
        supports_check_mode=True,
    )
    m.run(run)


if __name__ == "__main__":
    main()
