# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The alert filter options of alert_info and alert_export; their argument spec is alerts.FILTER_ARGUMENT_SPEC
and alerts.build_filter makes the $filter of them (module_utils/alerts.py). The EDA alerts source repeats the texts
of severity, status, filter and page_size (an EDA source cannot extend a fragment); a unit test keeps them equal."""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  severity:
    description:
      - Only alerts with one of these severities.
      - One or more of V(UnSpecified), V(Informational), V(Low), V(Medium), V(High), matched case-insensitively
        and sent in the API's spelling (with O(api=graph) Graph's, V(unknown) for V(UnSpecified)).
    type: list
    elements: str
  status:
    description:
      - Only alerts with one of these statuses.
      - One or more of V(Unknown), V(New), V(InProgress), V(Resolved), matched case-insensitively and sent in the
        API's spelling (with O(api=graph) Graph's, such as V(inProgress)).
    type: list
    elements: str
  category:
    description:
      - Only alerts in one of these categories, for example V(Malware), V(Execution), V(SuspiciousActivity).
      - Compared exactly (the API's matching is case-sensitive).
      - With O(api=graph) C(category) is not filterable, so it is compared on each alert as it is read.
    type: list
    elements: str
  machine_id:
    description:
      - Only alerts raised on one of these machines (machine ids, the C(machineId) of an alert).
      - C(machineId) is not among the fields Microsoft documents as filterable for alerts, so these alerts are read
        with C(GET /api/machines/{id}/alerts), one machine after the other, with the other filters applied there;
        a machine id the service does not know fails the task (the API answers 404, as for a wrong O(api_url)).
      - With O(api=graph) an alert matches when one of its C(deviceEvidence) items has that C(mdeDeviceId) (compared
        on each alert as it is read; Graph cannot filter on it).
    type: list
    elements: str
  created_after:
    description:
      - Only alerts created at or after this time (C(alertCreationTime ge ...); with O(api=graph)
        C(createdDateTime ge ...)).
      - An ISO 8601 time such as V(2026-01-31T08:00:00Z) (a time without an offset is taken as UTC), or an age
        relative to now such as V(30m), V(24h), V(7d), V(2w).
    type: str
  created_before:
    description:
      - Only alerts created before this time (C(alertCreationTime lt ...)). Same formats as O(created_after).
    type: str
  updated_after:
    description:
      - Only alerts last updated at or after this time (C(lastUpdateTime ge ...); with O(api=graph)
        C(lastUpdateDateTime ge ...)). Same formats as O(created_after).
    type: str
  filter:
    description:
      - A raw OData C($filter) expression, sent as written but always as one parenthesised clause joined to the
        other filters with C(and), so an C(or) inside it stays inside.
      - Quote string values yourself (C(title eq 'x'), a quote inside doubled, C('O''Brien')). Quotes and
        parentheses must balance and control characters (a newline, a tab) are refused, so the expression cannot
        close the parenthesis around it and widen the query; write it on one line (or fold it with YAML's C(>-)).
      - Only the fields and operators Microsoft documents for alerts are accepted by the service (see the
        List alerts API page); others are answered with HTTP 400. With O(api=graph) they are Graph's (C(assignedTo),
        C(classification), C(determination), C(createdDateTime), C(lastUpdateDateTime), C(severity),
        C(serviceSource), C(status)).
    type: str
  expand_evidence:
    description:
      - Include each alert's C(evidence) (C($expand=evidence)). Makes responses much larger.
      - With O(api=graph) the evidence is always included (Graph has no C($expand) for it).
    type: bool
    default: false
  limit:
    description:
      - At most this many alerts. By default every matching alert.
    type: int
  page_size:
    description:
      - Alerts per request (C($top)), at most 10,000 (the Defender API's cap), or 1,000 with O(api=graph).
      - The default is the largest page of the API used.
      - Smaller pages mean more requests against the API's per-minute limit.
    type: int
"""
