#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: live_response
short_description: Run live response commands on machines (put a file, run a script, get a file)
description:
  - Starts one live response session per machine (C(POST /api/machines/{id}/runliveresponse)) that runs O(commands).
    C(PutFile) copies a library file to the machine, C(RunScript) runs a library script with parameters, C(GetFile)
    collects a file. The service runs them one at a time, in that order of types, and stops at the first that fails.
  - With the safety of M(defender.endpoint.machine_action). Each machine's live response history is read first. A
    session with the same commands that is C(Pending) or C(InProgress) is followed, not duplicated; one that succeeded
    within O(skip_if_done_within) (by default 24 hours) is reused, its results fetched again, so a rerun of the same
    play runs nothing. Another session running on the machine (the service allows one per machine) is waited for,
    then the plan is made again. A request whose answer was lost is never sent again; the history is read back.
  - With O(wait) (the default), each session is followed to its end, then each command's result is fetched through
    its download link. A C(RunScript) result comes back parsed (exit code, output, errors). A C(GetFile) result is
    written into O(dest). The links are credentials; they never appear in results, messages or logs, and the
    download host never gets the API's bearer token. An expired link is requested again.
  - Many machines are handled in parallel within the API's limits for live response, 10 sessions started a
    minute (paced by the client) and 25 sessions running at once (a C(429) beyond that is waited out, at most
    O(max_retry_wait)).
version_added: 0.4.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  commands:
    description:
      - The commands of the session, checked before any request. Types run in the order C(PutFile), C(RunScript),
        C(GetFile) (the only order the service accepts), each type as often as needed.
      - C(PutFile) and C(RunScript) name files of the live response library (see
        M(defender.endpoint.live_response_library)).
    type: list
    elements: dict
    required: true
    suboptions:
      type:
        description:
          - The command.
        type: str
        required: true
        choices: [PutFile, RunScript, GetFile]
      file:
        description:
          - With C(PutFile), the library file to copy to the machine.
        type: str
      script:
        description:
          - With C(RunScript), the library script to run (10 minutes at most, a limit of the service).
        type: str
      parameters:
        description:
          - With C(RunScript), the script's arguments, as one string (C(Args)).
        type: str
      path:
        description:
          - With C(GetFile), the path of the file on the machine, such as C(C:\Windows\Temp\triage.zip).
        type: str
  dest:
    description:
      - A directory (created with its missing parents, mode 0700) to write C(GetFile) results into, each as
        C(<computer name>_<action id>_<index>_<file name>), mode 0600, through a temporary file renamed into place
        (never through a symbolic link). Required when O(commands) has a C(GetFile).
      - A relative path is resolved against the directory Ansible runs the module in (the one you ran
        C(ansible-playbook) from on C(localhost)), never against the collection.
    type: path
  skip_if_done_within:
    description:
      - Reuse a session with the same commands that succeeded on the machine within this time, such as V(24h), V(30m)
        or V(7d) (or after this ISO 8601 time); its results are fetched again and nothing is run
        (C(changed=false)). V(0m) starts a new session whenever none with these commands is running.
    type: str
    default: 24h
  wait:
    description:
      - Follow each session until it ends and fetch its results. Without it the task returns once the sessions
        were started (their ids in RV(results)).
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait for the sessions. A session of an offline machine is queued for up to 3 days; a
        machine whose session is not final in time fails with that session's id, and nothing is sent again
        (rerun later; the session is followed, not duplicated).
    type: int
    default: 1800
notes:
  - "Permissions: C(Machine.LiveResponse) (Run live response on a specific machine) to start sessions, and
    C(Machine.Read.All) or C(Machine.ReadWrite.All) to read machines, actions and result links (older versions of
    Microsoft's page name C(Machine.LiveResponse) for the links; both are accepted by the service)."
  - "Tenant settings (Settings > Endpoints > Advanced features): C(Live response) must be on, C(Live response for
    servers) for servers, and C(Live response unsigned script execution) for unsigned PowerShell scripts. The
    service's refusal is passed on with its message."
  - "A session counts as the same one when its commands and their parameters are the same, in the same order."
  - "Check mode reads the machines and their histories and says what would run; nothing is sent, nothing fetched."
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.machine_selection
  - defender.endpoint.machine_actions
  - defender.endpoint.attributes.action
"""

EXAMPLES = r"""
- name: Run the triage script on the affected machines and collect its output file
  defender.endpoint.live_response:
    machines: "{{ affected_hosts }}"
    comment: "INC-1234: triage"
    commands:
      - type: RunScript
        script: collect_triage.ps1
        parameters: "-Days 3"
      - type: GetFile
        path: C:\Windows\Temp\triage.zip
    dest: "{{ playbook_dir }}/evidence/INC-1234"
  register: triage

- name: Show each script's exit code
  ansible.builtin.debug:
    msg: "{{ item.computer_dns_name }}: {{ item.commands[0].exit_code }}"
  loop: "{{ triage.results }}"
"""

RETURN = r"""
changed:
  description: Whether a session was started (or, in check mode, would be) on at least one machine.
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
      description: The machine as given.
      type: str
      sample: desktop-0042.contoso.com
    machine_id:
      description: The machine id; null when the machine could not be resolved.
      type: str
      sample: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07
    computer_dns_name:
      description: The machine's computer name; null when it could not be resolved.
      type: str
      sample: desktop-0042.contoso.com
    changed:
      description: Whether a session was started (or would be) on this machine.
      type: bool
      sample: true
    action_id:
      description: The live response action (session) id, the one started, followed or reused; null when none.
      type: str
      sample: 5382f7ea-7557-4ab7-9782-d50480024a4e
    status:
      description: That action's status (its final one after O(wait)).
      type: str
      sample: Succeeded
    action:
      description: The live response action as the API returned it.
      type: dict
      sample: {id: 5382f7ea-7557-4ab7-9782-d50480024a4e, type: LiveResponse, status: Succeeded}
    failed:
      description: Whether this machine failed (unresolved name, API error, failed command, session not final in time).
      type: bool
      sample: false
    msg:
      description: What happened on this machine, or why it failed (naming the failed command).
      type: str
      sample: "LiveResponse action 5382f7ea-7557-4ab7-9782-d50480024a4e sent"
    commands:
      description:
        - With O(wait), one entry per command of the session, in order. C(RunScript) entries add C(script_name),
          C(exit_code), C(output) and C(errors) from the script's result (the result's own NUL padding removed);
          C(GetFile) entries add C(file_path), C(sha256) and C(size) of the file written into O(dest).
        - C(status) is the command's status (C(Completed), C(Failed), or C(Created) for a command that never ran
          because an earlier one failed) and C(errors) the service's error texts.
      type: list
      elements: dict
      returned: when the session ended and its results were fetched
      sample:
        - {index: 0, type: RunScript, script: collect_triage.ps1, status: Completed, errors: [], exit_code: 0,
           script_name: collect_triage.ps1, output: "collected 12 files", script_errors: ""}
        - {index: 1, type: GetFile, path: "C:\\Windows\\Temp\\triage.zip", status: Completed, errors: [],
           file_path: /srv/cases/INC-1234/desktop-0042_5382f7ea_1_triage.zip, sha256: 9f86d0..., size: 1048576}
action_id:
  description: With O(machine), the same as RV(results[0].action_id).
  returned: when O(machine) is used
  type: str
  sample: 5382f7ea-7557-4ab7-9782-d50480024a4e
status:
  description: With O(machine), the same as RV(results[0].status).
  returned: when O(machine) is used
  type: str
  sample: Succeeded
msg:
  description: A summary; on failure, the machines that failed and why.
  returned: always
  type: str
  sample: "2 machines: 2 changed"
diff:
  description: In diff mode, the session state on each machine before and after (V(none), V(pending), V(succeeded)).
  returned: when diff mode is on
  type: dict
  sample: {before: {"desktop-0042 (1e5b...)": none}, after: {"desktop-0042 (1e5b...)": pending}}
"""

from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import registry, results, specs
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.engine import Engine


def run(module):
    params = module.params
    refs, single = specs.check_common_params(params)
    entry, spec = specs.one_shot(params, entry=registry.LIVE_RESPONSE)
    if any(c.get("type") == "GetFile" for c in params["commands"]) and not params.get("dest"):
        raise DefenderConfigError("dest is required when commands has a GetFile: the directory the files go into")
    client = specs.client_for(module, refs)
    work = Engine.for_task(client, spec, params, module.check_mode)
    found = work.execute(refs, params["max_parallel"])
    if params["wait"]:
        entry.follow_up(module, client, found)
    results.finish_one_shot(module, found, single)


def main():
    module = DefenderModule(
        argument_spec=specs.action_argument_spec(
            commands=dict(type="list", elements="dict", required=True, options=dict(
                type=dict(type="str", required=True, choices=["PutFile", "RunScript", "GetFile"]),
                file=dict(type="str"),
                script=dict(type="str"),
                parameters=dict(type="str"),
                path=dict(type="str"),
            )),
            dest=dict(type="path"),
            skip_if_done_within=dict(type="str", default="24h"),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=1800),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("machine", "machines")],
        required_one_of=[("machine", "machines")],
    )
    module.run(run)


if __name__ == "__main__":
    main()
