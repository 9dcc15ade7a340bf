#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: machine_isolation
short_description: Isolate machines from the network, or release them, idempotently
description:
  - Isolates one machine or many (O(state=isolated)) or releases them (O(state=released)) through
    C(POST /api/machines/{id}/isolate) and C(POST /api/machines/{id}/unisolate).
  - The current state is read from each machine's Isolate/Unisolate action history before anything is sent,
    so a second run changes nothing. See the notes for the exact rules.
  - Computer names are resolved first. A name that matches no machine, or several machines with none
    clearly current, fails for that machine and nothing is sent for it.
  - Many machines are handled in parallel inside a client-side request budget, and every machine gets its
    own entry in RV(results). When some machines fail, the others are still handled, and the task fails at
    the end naming the failed machines.
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  state:
    description:
      - V(isolated) isolates the machines, V(released) releases them from isolation.
    type: str
    choices: [isolated, released]
    default: isolated
  isolation_type:
    description:
      - The kind of isolation, sent as C(IsolationType). V(full) is C(Full), V(selective) is C(Selective)
        (Outlook, Teams and Skype keep working; Windows 10 1709 or later), V(unmanaged_device) is
        C(UnManagedDevice) (contain an unmanaged device).
      - Full isolation is supported on Windows 10 1703 or later and Windows 11, and on supported Linux devices
        (Linux now supports full isolation); selective isolation is Windows only.
      - Used only with O(state=isolated). A machine that is already isolated is left alone whatever its
        isolation type; release it first to change the type.
    type: str
    choices: [full, selective, unmanaged_device]
    default: full
  cancel_pending:
    description:
      - When an action of the other kind is still C(Pending) (for example releasing a machine whose isolation was
        requested but never picked up), cancel it with C(POST /api/machineactions/{id}/cancel) (the O(comment) is
        sent as the cancellation comment), read the history again and then act on what it shows (send the action,
        or nothing when the cancellation already leaves the machine in the wanted state).
      - The cancel is sent right away, without waiting first. An action can stay C(Pending) indefinitely (for
        example while the machine is offline), and the operator is explicitly asking for the opposite state, so
        waiting O(wait_timeout) would only delay the same outcome. An action that is C(InProgress) is being
        applied and is never cancelled; it is waited for as described in the notes.
      - When not set, V(true) with O(state=released) and V(false) with O(state=isolated). A machine left isolated
        against an explicit release would stay cut off, and every re-run would fail the same way until someone
        cancels by hand. With O(state=isolated) and a pending release, set it to V(true) to cancel the release.
      - With V(false), the module waits up to O(wait_timeout) for the other action and fails if it is still not
        final; nothing is sent.
      - The cancelled actions are reported in RV(results[].cancelled); a cancel counts as a change.
    type: bool
notes:
  - "Permissions: the application needs C(Machine.Read.All) (or C(Machine.ReadWrite.All)) to read machines and
    actions, and C(Machine.Isolate) to isolate and release. Cancelling a pending action (O(cancel_pending)) needs
    the permission of that action, C(Machine.Isolate) for an Isolate or Unisolate."
  - "Idempotency: the state is read from the machine's Isolate and Unisolate actions, sorted by creation time.
    Actions that ended C(Failed), C(Cancelled) or C(TimeOut) had no effect and are skipped; the newest of the
    others decides. An action still C(Pending) or C(InProgress) outranks completed ones, and among completed
    ones the one that completed last decides. An action of the wanted kind that is C(Pending) or C(InProgress)
    counts as done (C(changed=false), RV(results[].action) is that action). No action at all is taken as
    released: the API has no documented is-isolated flag, so a machine isolated outside the API and portal
    history (or longer ago than the history keeps) is assumed not isolated."
  - "Computer names shared by several machines (a reinstalled machine gets a new id, the old entry stays): machines
    flagged C(isPotentialDuplication) or merged into another (C(mergedIntoMachineId)) are set aside; if one machine
    is left it is used. If several are left, the one seen most recently (C(lastSeen)) is used only when it was seen
    at least 24 hours after every other: C(lastSeen) is refreshed about once a day, so machines seen within the same
    day are all live and the name is ambiguous. An ambiguous name, or one that matches only flagged or merged
    machines, fails for that machine with RV(results[].candidates) and nothing is sent; pass the machine id
    instead. A merge is never followed. A name matching exactly one machine is used even when it is flagged."
  - "A C(400 ActiveRequestAlreadyExists) answer means an action is already in progress; the history is read
    again and, when that action is of the wanted kind, the machine is reported unchanged with that action. A
    C(201) answer that returns an action already in the history (the API may return the pending action
    instead of a new one) is also reported unchanged."
  - "Out-of-order application: the service can apply requests for one machine out of order (isolate, isolate,
    release, release has been seen to end isolated). So when an action of the other kind is still C(Pending) or
    C(InProgress) (for example releasing a machine whose isolation is pending), the module first cancels it when
    it is C(Pending) and O(cancel_pending) applies, and waits, up to O(wait_timeout) seconds and even without
    O(wait), for the others to reach a final status; it then reads the history again and only then decides and
    sends. If an action is still not final, the machine fails and nothing is sent for it; re-run later. With
    O(wait=true) the history is read once more at the end and the reported RV(results[].state) comes from it, so a
    release that was overtaken shows up as a failure."
  - "Lost responses: when a request was sent but its outcome is unknown (connection cut, unreadable answer,
    or a 5xx answer, since a gateway's 502 or 504 can follow a request the service applied), the module never
    sends it again in the same run. It reads the history again: an action of the
    wanted kind that was not there before is reported (C(changed=true)); if none is visible yet, the machine
    fails with an 'outcome unknown' message. Re-running is safe, because the next run reads the history
    first."
  - "Requests per machine: one history read per 20 machines, one name lookup per 20 names, one POST per
    machine that needs it, and with O(wait) one poll per 20 actions per O(wait_sleep)."
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.machine_selection
  - defender.endpoint.machine_actions
  - defender.endpoint.machine_wait
  - defender.endpoint.attributes.action
"""

EXAMPLES = r"""
- name: Isolate a compromised machine by computer name
  defender.endpoint.machine_isolation:
    machine: desktop-0042.contoso.com
    comment: "INC-1234: credential theft in progress"

- name: Selective isolation (Outlook and Teams keep working), by machine id, waiting for the result
  defender.endpoint.machine_isolation:
    machine: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    isolation_type: selective
    comment: "INC-1234: contain, keep mail"
    wait: true
    wait_timeout: 600

- name: Release a machine after remediation
  defender.endpoint.machine_isolation:
    machine: desktop-0042.contoso.com
    state: released
    comment: "INC-1234: remediated, released"
    wait: true

- name: Release a machine; an isolation still Pending (machine offline) is cancelled first (the default for released)
  defender.endpoint.machine_isolation:
    machine: desktop-0042.contoso.com
    state: released
    comment: "INC-1234: false positive, release"

- name: Isolate a fleet in one task; failed machines are listed and fail the task at the end
  defender.endpoint.machine_isolation:
    machines: "{{ compromised_hosts }}"
    comment: "INC-1234: worm outbreak"
    max_parallel: 8
  register: isolation
  ignore_errors: true

- name: Show the machines that could not be isolated
  ansible.builtin.debug:
    msg: "{{ isolation.results | selectattr('failed') | map(attribute='msg') | list }}"

- name: Check mode predicts what would be sent
  defender.endpoint.machine_isolation:
    machines: [web-01.contoso.com, web-02.contoso.com]
    comment: "dry run"
  check_mode: true
  diff: true
"""

RETURN = r"""
changed:
  description: Whether an action was sent (or, in check mode, would be) for at least one machine.
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
      description: Whether an action was sent (or would be, in check mode) for this machine.
      type: bool
      sample: true
    action:
      description:
        - The machine action that was created, or the one already pending or that decided the current state;
          null when there is none (for example a machine never isolated, or in check mode).
        - With O(wait), its final form.
      type: dict
      sample:
        id: 5382f7ea-7557-4ab7-9782-d50480024a4e
        type: Isolate
        scope: Full
        status: Pending
        machineId: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
        computerDnsName: desktop-0042.contoso.com
        requestorComment: "INC-1234: credential theft in progress"
        creationDateTimeUtc: "2026-01-31T08:00:00.123Z"
        lastUpdateDateTimeUtc: "2026-01-31T08:00:00.123Z"
    previous_state:
      description:
        - The state before the task, from the history; null when the machine could not be resolved.
        - One of V(isolated), V(released), V(isolation_pending), V(release_pending).
      type: str
      sample: released
    state:
      description:
        - The state after the task (in check mode, the predicted one). Without O(wait), a new action is
          still pending, so this is V(isolation_pending) or V(release_pending).
        - One of V(isolated), V(released), V(isolation_pending), V(release_pending); null when unresolved.
      type: str
      sample: isolation_pending
    failed:
      description: Whether this machine failed (unresolved or ambiguous name, API error, failed action...).
      type: bool
      sample: false
    msg:
      description: What happened to this machine, or why it failed.
      type: str
      sample: "Isolate action 5382f7ea-7557-4ab7-9782-d50480024a4e sent"
    cancelled:
      description:
        - The actions of the other kind that were cancelled (in check mode, that would be) because of
          O(cancel_pending), as the API returned them; empty when none.
      type: list
      elements: dict
      sample: [{id: 7e1b3f0c-2a4d-4f6e-9b8a-1c2d3e4f5a6b, type: Isolate, status: Cancelled}]
    candidates:
      description: For an ambiguous computer name, the ids of the machines it matches.
      type: list
      elements: str
      returned: when the name is ambiguous
      sample: [4f3c..., 9a1b...]
action:
  description: With O(machine), the same as RV(results[0].action).
  returned: when O(machine) is used
  type: dict
  sample: {id: 5382f7ea-7557-4ab7-9782-d50480024a4e, type: Isolate, status: Pending}
previous_state:
  description: With O(machine), the same as RV(results[0].previous_state).
  returned: when O(machine) is used
  type: str
  sample: released
state:
  description: With O(machine), the same as RV(results[0].state).
  returned: when O(machine) is used
  type: str
  sample: isolation_pending
msg:
  description: A summary; on failure, the machines that failed and why.
  returned: always
  type: str
  sample: "2 machines: 1 changed, 1 unchanged"
diff:
  description: The state of each machine (by id) before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample: {before: {"1e5b...": released}, after: {"1e5b...": isolation_pending}}
"""

from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import registry, results, specs
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.engine import Engine


def run(m):
    # state and isolation_type are choices of the argument spec: Ansible checks them once, before run.
    refs, single = specs.check_common_params(m.params)
    spec = specs.declarative(registry.ISOLATION, m.params)
    work = Engine.for_task(specs.client_for(m, refs), spec, m.params, m.check_mode)
    results.finish_declarative(m, work.execute(refs, m.params["max_parallel"]), single)


def main():
    m = DefenderModule(
        argument_spec=specs.action_argument_spec(
            state=dict(type="str", choices=["isolated", "released"], default="isolated"),
            isolation_type=dict(type="str", choices=list(registry.ISOLATION_TYPES), default="full"),
            **specs.wait_argument_spec(),
            cancel_pending=dict(type="bool"),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("machine", "machines")],
        required_one_of=[("machine", "machines")],
    )
    m.run(run)


if __name__ == "__main__":
    main()
