#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: machine_info
short_description: Find machines (devices) in Microsoft Defender for Endpoint
description:
  - Reads machines by id, by computer name, by IP address at a point in time, by tag, or by filters.
  - O(id), O(name), O(ip) and O(tag) are mutually exclusive. O(health_status), O(risk_score) and
    O(os_platform) narrow any of them (on the API side for a plain listing, on this side otherwise);
    O(filter) only combines with a plain listing.
  - Reads every page (past the API's 10,000 per page) unless O(limit) is set.
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  id:
    description:
      - A machine id (40 hexadecimal characters). Returns that machine, or none when it does not exist.
    type: str
  name:
    description:
      - A computer name (C(computerDnsName)), matched exactly and without regard to case.
      - Every machine with that name is returned, including stale duplicates (see C(isPotentialDuplication)
        and C(mergedIntoMachineId) in the result).
    type: str
  ip:
    description:
      - An internal IP address (IPv4 or IPv6). Returns the machines seen with it within 15 minutes of
        O(timestamp), through C(findbyip).
      - An IPv6 zone suffix (V(fe80::1%eth0)) is refused; the address is sent in its canonical form.
    type: str
  timestamp:
    description:
      - With O(ip), the moment to look at, as ISO 8601 or an age such as V(2h) or V(3d); the default is now.
      - Must be within the last 30 days (an API limit).
    type: str
  tag:
    description:
      - A machine tag, through C(findbytag).
    type: str
  use_starts_with:
    description:
      - With O(tag), match tags that start with O(tag) instead of equal tags.
    type: bool
    default: false
  health_status:
    description:
      - Only machines with one of these health states.
    type: list
    elements: str
    choices: [Active, Inactive, ImpairedCommunication, NoSensorData, NoSensorDataImpairedCommunication, Unknown]
  risk_score:
    description:
      - Only machines with one of these risk scores.
    type: list
    elements: str
    choices: [None, Informational, Low, Medium, High]
  os_platform:
    description:
      - Only machines with one of these OS platforms (C(osPlatform), for example V(Windows10), V(Windows11),
        V(WindowsServer2019), V(Linux), V(macOS)); compared exactly, so use the API's spelling.
    type: list
    elements: str
  filter:
    description:
      - A raw OData C($filter) expression, sent as written but always as one parenthesised clause combined with
        the other filters with C(and), so an C(or) inside it stays inside.
      - Quotes and parentheses must balance and control characters (a newline, a tab) are refused, so the
        expression cannot close the parenthesis around it and widen the query.
      - Only with a plain listing (not with O(id), O(name), O(ip) or O(tag)).
    type: str
  limit:
    description:
      - Return at most this many machines.
    type: int
  page_size:
    description:
      - Machines per request (C($top)), 1 to 10000.
    type: int
    default: 10000
notes:
  - "Permissions: C(Machine.Read.All) or C(Machine.ReadWrite.All)."
  - "The API keeps only machines seen within its retention period."
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.info
"""

EXAMPLES = r"""
- name: Every machine with this computer name (duplicates included)
  defender.endpoint.machine_info:
    name: desktop-0042.contoso.com
  register: found

- name: Which machine had this IP two hours ago?
  defender.endpoint.machine_info:
    ip: 10.1.2.3
    timestamp: 2h

- name: High-risk Windows 11 machines that are active
  defender.endpoint.machine_info:
    risk_score: [High]
    os_platform: [Windows11]
    health_status: [Active]

- name: Machines tagged with anything starting with "finance"
  defender.endpoint.machine_info:
    tag: finance
    use_starts_with: true

- name: A raw OData filter, first 50
  defender.endpoint.machine_info:
    filter: "startswith(computerDnsName,'web-')"
    limit: 50
"""

RETURN = r"""
machines:
  description: The machines, as the API returns them.
  returned: always
  type: list
  elements: dict
  sample:
    - id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
      computerDnsName: desktop-0042.contoso.com
      osPlatform: Windows11
      healthStatus: Active
      riskScore: Low
      lastSeen: "2026-01-31T07:12:00Z"
      lastIpAddress: 10.1.2.3
      machineTags: [finance]
      isPotentialDuplication: false
      mergedIntoMachineId: null
count:
  description: How many machines were returned.
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.defender.endpoint.plugins.module_utils import machine_query
from ansible_collections.defender.endpoint.plugins.module_utils import machines
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule


def run(m):
    machine_query.check_params(m.params)
    found = machine_query.read(m.client(), m.params)
    m.exit(changed=False, machines=found, count=len(found))


def main():
    m = DefenderModule(
        argument_spec=dict(
            id=dict(type="str"),
            name=dict(type="str"),
            ip=dict(type="str"),
            timestamp=dict(type="str"),
            tag=dict(type="str"),
            use_starts_with=dict(type="bool", default=False),
            health_status=dict(type="list", elements="str", choices=list(machines.HEALTH_STATUSES)),
            risk_score=dict(type="list", elements="str", choices=list(machines.RISK_SCORES)),
            os_platform=dict(type="list", elements="str"),
            filter=dict(type="str"),
            limit=dict(type="int"),
            page_size=dict(type="int", default=10000),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("id", "name", "ip", "tag"), ("filter", "id"), ("filter", "name"), ("filter", "ip"),
                            ("filter", "tag")],
        required_by={"timestamp": "ip"},
        required_if=[("use_starts_with", True, ("tag",))],
    )
    m.run(run)


if __name__ == "__main__":
    main()
