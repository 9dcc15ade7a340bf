#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: machine_app_restriction
short_description: Restrict app execution on machines to Microsoft-signed code, or lift it, idempotently
description:
  - Restricts the applications that can run on one machine or many to those signed by Microsoft
    (O(state=restricted)), or lifts the restriction (O(state=unrestricted)), through
    C(POST /api/machines/{id}/restrictCodeExecution) and C(POST /api/machines/{id}/unrestrictCodeExecution).
  - Declarative exactly like M(defender.endpoint.machine_isolation), on the same engine. The current state is read
    from each machine's RestrictCodeExecution/UnrestrictCodeExecution action history before anything is sent, so
    a second run changes nothing.
  - Computer names are resolved first. A name that matches no machine, or several machines with none clearly
    current, fails for that machine and nothing is sent for it.
  - Many machines are handled in parallel inside a client-side request budget, and every machine gets its own
    entry in RV(results). When some machines fail, the others are still handled, and the task fails at the end
    naming the failed machines.
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  state:
    description:
      - V(restricted) restricts app execution, V(unrestricted) lifts the restriction.
    type: str
    choices: [restricted, unrestricted]
    default: restricted
  cancel_pending:
    description:
      - When an action of the other kind is still C(Pending), cancel it with
        C(POST /api/machineactions/{id}/cancel) (the O(comment) is sent as the cancellation comment), read the
        history again and act on what it shows. An action that is C(InProgress) is never cancelled; it is waited
        for.
      - When not set, V(true) with O(state=unrestricted) and V(false) with O(state=restricted), as
        M(defender.endpoint.machine_isolation) does for a release.
      - With V(false), the module waits up to O(wait_timeout) for the other action and fails if it is still not
        final; nothing is sent.
      - The cancelled actions are reported in RV(results[].cancelled); a cancel counts as a change.
    type: bool
notes:
  - "Permissions: the application needs C(Machine.Read.All) (or C(Machine.ReadWrite.All)) to read machines and
    actions, and C(Machine.RestrictExecution) to restrict, lift the restriction and cancel such an action."
  - "Idempotency: the state is read from the machine's RestrictCodeExecution and UnrestrictCodeExecution actions
    with the rules of M(defender.endpoint.machine_isolation): actions that ended C(Failed), C(Cancelled) or
    C(TimeOut) are skipped, an action still C(Pending) or C(InProgress) outranks completed ones, and among
    completed ones the one that completed last decides. An action of the wanted kind that is C(Pending) or
    C(InProgress) counts as done. No action at all is taken as unrestricted."
  - "An active action of the other kind blocks: it is cancelled when C(Pending) and O(cancel_pending) applies,
    otherwise waited for (up to O(wait_timeout)); then the history is read again before anything is sent."
  - "A C(400 ActiveRequestAlreadyExists) answer, or a C(201) that returns an action already in the history, is
    read back and reported unchanged when the action is of the wanted kind. A request whose response is lost
    (connection cut, 5xx) is never sent again in the same run: the history is read again and the new action is
    reported, or the machine fails with an 'outcome unknown' message. Re-running is safe."
  - "Computer names shared by several machines are resolved as M(defender.endpoint.machine_isolation) does
    (duplicates and merged machines set aside, the 24 hour C(lastSeen) rule); an ambiguous name fails with
    RV(results[].candidates)."
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.machine_selection
  - defender.endpoint.machine_actions
  - defender.endpoint.machine_wait
  - defender.endpoint.attributes.action
"""

EXAMPLES = r"""
- name: Allow only Microsoft-signed code on a compromised machine
  defender.endpoint.machine_app_restriction:
    machine: desktop-0042.contoso.com
    comment: "INC-1234: only Microsoft-signed code"

- name: Lift the restriction after remediation, waiting for the result
  defender.endpoint.machine_app_restriction:
    machine: desktop-0042.contoso.com
    state: unrestricted
    comment: "INC-1234: remediated"
    wait: true

- name: Restrict a fleet in one task; check mode predicts what would be sent
  defender.endpoint.machine_app_restriction:
    machines: "{{ compromised_hosts }}"
    comment: "INC-1234: worm outbreak"
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
          null when there is none (for example a machine never restricted, or in check mode).
        - With O(wait), its final form.
      type: dict
      sample:
        id: 5382f7ea-7557-4ab7-9782-d50480024a4e
        type: RestrictCodeExecution
        status: Pending
        machineId: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
        computerDnsName: desktop-0042.contoso.com
        requestorComment: "INC-1234: only Microsoft-signed code"
        creationDateTimeUtc: "2026-01-31T08:00:00.123Z"
        lastUpdateDateTimeUtc: "2026-01-31T08:00:00.123Z"
    previous_state:
      description:
        - The state before the task, from the history; null when the machine could not be resolved.
        - One of V(restricted), V(unrestricted), V(restriction_pending), V(unrestriction_pending).
      type: str
      sample: unrestricted
    state:
      description:
        - The state after the task (in check mode, the predicted one). Without O(wait), a new action is
          still pending, so this is V(restriction_pending) or V(unrestriction_pending).
        - One of V(restricted), V(unrestricted), V(restriction_pending), V(unrestriction_pending); null when unresolved.
      type: str
      sample: restriction_pending
    failed:
      description: Whether this machine failed (unresolved or ambiguous name, API error, failed action...).
      type: bool
      sample: false
    msg:
      description: What happened to this machine, or why it failed.
      type: str
      sample: "RestrictCodeExecution action 5382f7ea-7557-4ab7-9782-d50480024a4e sent"
    cancelled:
      description:
        - The actions of the other kind that were cancelled (in check mode, that would be) because of
          O(cancel_pending), as the API returned them; empty when none.
      type: list
      elements: dict
      sample: [{id: 7e1b3f0c-2a4d-4f6e-9b8a-1c2d3e4f5a6b, type: RestrictCodeExecution, status: Cancelled}]
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
  sample: {id: 5382f7ea-7557-4ab7-9782-d50480024a4e, type: RestrictCodeExecution, status: Pending}
previous_state:
  description: With O(machine), the same as RV(results[0].previous_state).
  returned: when O(machine) is used
  type: str
  sample: unrestricted
state:
  description: With O(machine), the same as RV(results[0].state).
  returned: when O(machine) is used
  type: str
  sample: restriction_pending
msg:
  description: A summary; on failure, the machines that failed and why.
  returned: always
  type: str
  sample: "2 machines: 1 changed, 1 unchanged"
diff:
  description: The state of each machine (by id) before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample: {before: {"1e5b...": unrestricted}, after: {"1e5b...": restriction_pending}}
"""

from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import registry, results, specs
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.engine import Engine


def run(m):
    refs, single = specs.check_common_params(m.params)
    spec = specs.declarative(registry.RESTRICTION, m.params)
    work = Engine.for_task(specs.client_for(m, refs), spec, m.params, m.check_mode)
    results.finish_declarative(m, work.execute(refs, m.params["max_parallel"]), single)


def main():
    m = DefenderModule(
        argument_spec=specs.action_argument_spec(
            state=dict(type="str", choices=["restricted", "unrestricted"], default="restricted"),
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
