#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: machine_action_info
short_description: Read machine actions (isolation, scans, investigation packages...)
description:
  - Reads one machine action by O(id), or lists actions filtered by O(machine_id), O(type) and O(status).
  - Actions are returned newest first (sorted by C(creationDateTimeUtc) on this side, since the API documents no
    C($orderby)). Every action carries C(lastUpdateDateTimeUtc), copied from C(lastUpdateTimeUtc) when the API
    used that spelling.
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  id:
    description:
      - A machine action id (a GUID). Returns that action, or none when it does not exist.
      - Cannot be combined with the other filters.
    type: str
  machine_id:
    description:
      - Only actions on this machine (its 40-hexadecimal-character id; use
        M(defender.endpoint.machine_info) to find it from a name).
    type: str
  type:
    description:
      - Only actions of these types.
    type: list
    elements: str
    choices: [RunAntiVirusScan, Offboard, LiveResponse, CollectInvestigationPackage, Isolate, Unisolate,
              StopAndQuarantineFile, RestrictCodeExecution, UnrestrictCodeExecution]
  status:
    description:
      - Only actions in these statuses.
    type: list
    elements: str
    choices: [Pending, InProgress, Succeeded, Failed, TimeOut, Cancelled]
  limit:
    description:
      - Read at most this many actions (the first ones the API returns), then sort them.
    type: int
  page_size:
    description:
      - Actions per request (C($top)), 1 to 10000.
    type: int
    default: 10000
notes:
  - "Permissions: C(Machine.Read.All) or C(Machine.ReadWrite.All)."
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.info
"""

EXAMPLES = r"""
- name: One action, for example the one machine_isolation returned
  defender.endpoint.machine_action_info:
    id: "{{ isolation.action.id }}"

- name: Isolation history of a machine
  defender.endpoint.machine_action_info:
    machine_id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    type: [Isolate, Unisolate]

- name: Actions still running anywhere
  defender.endpoint.machine_action_info:
    status: [Pending, InProgress]
"""

RETURN = r"""
actions:
  description: The machine actions, newest first.
  returned: always
  type: list
  elements: dict
  sample:
    - id: 5382f7ea-7557-4ab7-9782-d50480024a4e
      type: Isolate
      scope: Selective
      requestor: Analyst@contoso.onmicrosoft.com
      requestorComment: "INC-1234"
      status: Succeeded
      machineId: 7b1f4967d9728e5aa3c06a9e617a22a4a5a17378
      computerDnsName: desktop-test
      creationDateTimeUtc: "2026-01-02T14:39:38.2262283Z"
      lastUpdateDateTimeUtc: "2026-01-02T14:40:44.6596267Z"
count:
  description: How many actions were returned.
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.client import get_or_none, segment
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.odata import and_all, any_of, check_page_size, eq
from ansible_collections.defender.endpoint.plugins.module_utils import machines as M


def check_params(p):
    """What the argument spec cannot say (choices and exclusions are in it, checked once by Ansible)."""
    if p.get("id") is not None:
        M.check_action_id(p["id"])
    if p.get("machine_id") is not None:
        M.check_machine_id(p["machine_id"])
    if p.get("limit") is not None and p["limit"] < 1:
        raise DefenderConfigError("limit must be 1 or more")
    check_page_size(p.get("page_size"))


def read(client, p):
    if p.get("id") is not None:
        action = get_or_none(client, "%s/%s" % (M.ACTIONS, segment(M.check_action_id(p["id"]), "id")))
        return [M.normalize_action(action)] if action is not None else []
    flt = and_all(
        eq("machineId", p["machine_id"].lower()) if p.get("machine_id") else None,
        any_of("type", p["type"]) if p.get("type") else None,
        any_of("status", p["status"]) if p.get("status") else None,
    )
    params = {"$filter": flt} if flt else {}
    pages = client.pages(M.ACTIONS, params=params, page_size=p["page_size"], limit=p.get("limit"))
    items = [M.normalize_action(a) for a in pages]
    return list(reversed(M.sort_actions(items)))


def run(m):
    check_params(m.params)
    actions = read(m.client(), m.params)
    m.exit(changed=False, actions=actions, count=len(actions))


def main():
    m = DefenderModule(
        argument_spec=dict(
            id=dict(type="str"),
            machine_id=dict(type="str"),
            type=dict(type="list", elements="str", choices=list(M.ACTION_TYPES)),
            status=dict(type="list", elements="str", choices=list(M.ACTION_STATUSES)),
            limit=dict(type="int"),
            page_size=dict(type="int", default=10000),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("id", "machine_id"), ("id", "type"), ("id", "status")],
    )
    m.run(run)


if __name__ == "__main__":
    main()
