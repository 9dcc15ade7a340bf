#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: machine_tag
short_description: Add tags to machines or remove them, idempotently
description:
  - Makes sure one machine or many carry the given O(tags) (O(state=present)) or do not (O(state=absent)).
  - Each machine's current C(machineTags) are read first and only the tags that differ are sent, so a second run
    changes nothing.
  - A tag that must change on one machine goes through C(POST /api/machines/{id}/tags); on several machines through
    C(POST /api/machines/AddOrRemoveTagForMultipleMachines), one call per tag for up to 500 machines.
  - Computer names are resolved first. A name that matches no machine, or several machines with none clearly
    current, fails for that machine and nothing is sent for it; the other machines are still handled, and the task
    fails at the end naming the failed machines.
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  tags:
    description:
      - The tags. Compared exactly (case-sensitive) with the machine's C(machineTags).
      - A tag must not be empty, contain control characters, or start or end with a space.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) adds the tags a machine lacks; V(absent) removes the ones it has. Other tags are left alone.
    type: str
    choices: [present, absent]
    default: present
  requests_per_minute:
    description:
      - Client-side budget of API requests per minute for this task.
      - The API allows 100 calls per minute and 1500 per hour per application and tenant, shared by every task
        using the same app; a C(429) answer is retried after the C(Retry-After) the API sends.
    type: int
    default: 100
notes:
  - "Permissions: C(Machine.ReadWrite.All) (the tag endpoints need it; it also covers reading the machines)."
  - "Requests: one list request per 20 machines (ids) or per 20 computer names to read the machines and their tags,
    then one call per tag that must change: per machine when only one machine needs it, otherwise per 500 machines.
    Tagging 1,000 machines with two tags costs 50 reads and 4 writes."
  - "The multi-machine endpoint's documentation does not say whether one unknown machine id fails the whole call.
    When it answers C(404), the module splits that chunk in halves and sends each again, down to single machines
    (C(POST /api/machines/{id}/tags)), so the machines that exist still get the tag, the missing one fails on its
    own, and one missing machine among 500 costs about 18 more calls rather than 500."
  - "Lost responses: when a tag call was sent but its outcome is unknown (connection cut, unreadable answer, or a
    5xx answer), it is never sent again in the same run. The machines concerned are read again: those that show the
    change are reported changed, the others fail with an 'outcome unknown' message. Re-running is safe."
  - "Tags can take a while to show on a machine after a successful call. When the API accepts a call but the machine
    it answers with does not show the change yet, the machine is reported changed with the tags it will have, its
    RV(results[].msg) says so and the task warns; it is not a failure. A rerun within that time reads the machine
    without the tag and sends the call again (adding a tag twice or removing an absent one changes nothing)."
  - "Only machines seen within the tenant's retention period can be tagged (a documented limit of both endpoints)."
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.machine_selection
  - defender.endpoint.attributes.action
"""

EXAMPLES = r"""
- name: Tag the machines of an incident
  defender.endpoint.machine_tag:
    machines: [desktop-0042.contoso.com, 1e5bc9d7e413ddd7902c2932e418702b84d0cc07]
    tags: [INC-1234, contained]

- name: Remove the incident tag once it is closed
  defender.endpoint.machine_tag:
    machines: "{{ incident_machines }}"
    tags: [INC-1234]
    state: absent

- name: See what would change, per machine
  defender.endpoint.machine_tag:
    machine: desktop-0042.contoso.com
    tags: [Finance-EU]
  check_mode: true
  diff: true
"""

RETURN = r"""
changed:
  description: Whether a tag was added or removed (or, in check mode, would be) on at least one machine.
  returned: always
  type: bool
  sample: true
results:
  description: One entry per machine, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    machine:
      description: The machine as given in O(machine) or O(machines).
      type: str
      sample: desktop-0042.contoso.com
    machine_id:
      description: The machine id; null when the machine could not be resolved.
      type: str
      sample: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    computer_dns_name:
      description: The machine's computer name; null when the machine could not be resolved.
      type: str
      sample: desktop-0042.contoso.com
    changed:
      description: Whether a tag was added or removed on this machine (or would be, in check mode).
      type: bool
      sample: true
    previous_tags:
      description: The machine's tags before the task; null when the machine could not be resolved.
      type: list
      elements: str
      sample: [Finance-EU]
    tags:
      description:
        - The machine's tags after the task, as the API answered them (in check mode, the predicted ones).
        - Null when the machine could not be resolved.
      type: list
      elements: str
      sample: [Finance-EU, INC-1234]
    added:
      description: The tags added (or that would be) on this machine.
      type: list
      elements: str
      sample: [INC-1234]
    removed:
      description: The tags removed (or that would be) from this machine.
      type: list
      elements: str
      sample: []
    failed:
      description: Whether this machine failed (unresolved or ambiguous name, API error, outcome unknown).
      type: bool
      sample: false
    msg:
      description: What happened to this machine, or why it failed.
      type: str
      sample: added INC-1234
    candidates:
      description: For an ambiguous computer name, the ids of the machines it matches.
      type: list
      elements: str
      returned: when the name is ambiguous
      sample: [4f3c..., 9a1b...]
msg:
  description: A summary; on failure, the machines that failed and why.
  returned: always
  type: str
  sample: "2 machines: 1 changed, 1 unchanged"
diff:
  description: The tags of each machine (by id) before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample: {before: {"1e5b...": [Finance-EU]}, after: {"1e5b...": [Finance-EU, INC-1234]}}
"""

from ansible_collections.defender.endpoint.plugins.module_utils import machine_tags as T
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import specs
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.results import finish, results_diff


def check_params(p):
    """``(refs, tags)`` validated before anything is sent."""
    refs, _single = specs.check_machine_refs(p)
    specs.check_requests_per_minute(p)
    return refs, T.check_tags(p["tags"])


def run(m):
    p = m.params
    refs, tags = check_params(p)
    client = m.client()
    client.limit_rate(p["requests_per_minute"])  # the process's shared budget of this app and API host
    results = T.TagWork(client, tags, p["state"], m.check_mode, warn=m.warn).execute(refs)
    out = dict(results=results)
    if m.diff:
        out["diff"] = results_diff(results, "previous_tags", "tags")
    finish(m, results, out)


def main():
    m = DefenderModule(
        argument_spec=dict(
            **specs.machine_selection_spec(),
            tags=dict(type="list", elements="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            requests_per_minute=dict(type="int", default=100),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("machine", "machines")],
        required_one_of=[("machine", "machines")],
    )
    m.run(run)


if __name__ == "__main__":
    main()
