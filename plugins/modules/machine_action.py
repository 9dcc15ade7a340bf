#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: machine_action
short_description: Run a response action on machines (antivirus scan, investigation package, quarantine, offboard)
description:
  - Runs one response action on one machine or many, with the safety of M(defender.endpoint.machine_isolation),
    namely V(av_scan) (C(POST /api/machines/{id}/runAntiVirusScan)), V(collect_investigation_package)
    (C(collectInvestigationPackage), optionally downloading the package into O(dest)), V(stop_and_quarantine_file)
    (C(StopAndQuarantineFile)) and V(offboard) (C(offboard)).
  - Each machine's history of that action is read first. The action is not sent again while the same action is
    C(Pending) or C(InProgress) on the machine (C(changed=false), that action is reported), nor when one succeeded
    within O(skip_if_done_within) (by default 24 hours for V(av_scan) and V(collect_investigation_package)). So
    re-running the same play changes nothing.
  - Computer names are resolved first. A name that matches no machine, or several machines with none clearly
    current, fails for that machine and nothing is sent for it.
  - Many machines are handled in parallel inside a client-side request budget, and every machine gets its own
    entry in RV(results). When some machines fail, the others are still handled, and the task fails at the end
    naming the failed machines.
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  action:
    description:
      - V(av_scan) runs a Microsoft Defender Antivirus scan (O(scan_type)).
      - V(collect_investigation_package) collects the investigation package (a zip of autoruns, processes,
        services, network connections, event logs and more); with O(dest) it is downloaded once collected.
      - V(stop_and_quarantine_file) stops the processes of the file with SHA-1 O(sha1) and quarantines it.
      - V(offboard) offboards the machines; refused unless O(confirm_offboard=true). See the notes for what it
        cannot undo. A machine whose offboard succeeded (however long ago) is not offboarded again, unless it was
        seen after that (see the notes).
    type: str
    required: true
    choices: [av_scan, collect_investigation_package, stop_and_quarantine_file, offboard]
  scan_type:
    description:
      - With O(action=av_scan), the scan sent as C(ScanType). When not set, V(quick).
      - With O(skip_if_done_within), a V(full) scan that succeeded also counts for a V(quick) one.
    type: str
    choices: [quick, full]
  sha1:
    description:
      - With O(action=stop_and_quarantine_file) (and required by it), the SHA-1 of the file, 40 hexadecimal
        characters, checked before any request. Sent lower case as C(Sha1).
      - Only an action on the same file (C(relatedFileInfo)) counts as "the same action" for the rules above.
    type: str
  dest:
    description:
      - With O(action=collect_investigation_package), a directory (created with its missing parents, mode 0700,
        when a package is downloaded) to download each machine's package into once its collection succeeded.
        Implies O(wait).
      - Each package is written as C(<computer name>_<action id>.zip) with mode 0600, through a temporary file
        renamed into place, so a partial download never leaves a file behind. A package already there is not
        downloaded again. RV(results[].package_path), RV(results[].package_sha256) and
        RV(results[].package_size) describe it.
      - The download link is short-lived and signed; it is a credential, so it is never returned, logged or
        shown in an error, and the download request carries no C(Authorization) header (the API's token never
        reaches the download host). The download uses O(validate_certs), O(ca_path), O(timeout) and the
        C(HTTPS_PROXY) variables of the collection.
      - A relative path is relative to the directory ansible-playbook was run from (resolved on the
        controller), and is refused when the task does not run on a local connection.
    type: path
  confirm_offboard:
    description:
      - Must be V(true) with O(action=offboard); without it the task fails before any request.
    type: bool
    default: false
  skip_if_done_within:
    description:
      - Do not send the action to a machine where the same action succeeded within this time, such as V(24h),
        V(30m) or V(7d) (or after this ISO 8601 time). That action is reported with C(changed=false); with
        O(dest), its package is downloaded (or kept, when already there) instead of collecting a new one.
      - When not set, V(24h) for V(av_scan) and V(collect_investigation_package), so a rerun of the same play
        changes nothing; nothing for V(stop_and_quarantine_file) (only a C(Pending) or C(InProgress) action on
        the same file stops a new one). V(offboard) counts a success however long ago (see the notes).
      - V(0m) sends the action whenever none is C(Pending) or C(InProgress).
    type: str
  wait:
    description:
      - Wait until each action reaches a final status (C(Succeeded), C(Failed), C(TimeOut), C(Cancelled)). An action
        that was already running is waited for too.
      - A machine whose action ends C(Failed), C(TimeOut) or C(Cancelled), or is not final after
        O(wait_timeout) seconds, fails with the action's details. Polling errors keep the machine's entry in
        RV(results) (with C(changed=true) when an action was sent); nothing is sent again.
      - Always on with O(dest).
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds to wait for actions to reach a final status. A collection usually takes minutes.
    type: int
    default: 600
  requests_per_minute:
    description:
      - Client-side budget of API requests per minute for this task, shared by all parallel workers.
      - The API allows 100 calls per minute (and 1500 per hour) per application and tenant. The download links
        (C(getPackageUri)) are further paced to the 2 a minute the API allows for them.
    type: int
    default: 100
notes:
  - "Permissions: C(Machine.Read.All) (or C(Machine.ReadWrite.All)) to read machines, actions and package links,
    plus the permission of the action: C(Machine.Scan) for V(av_scan), C(Machine.CollectForensics) for
    V(collect_investigation_package), C(Machine.StopAndQuarantine) for V(stop_and_quarantine_file),
    C(Machine.Offboard) for V(offboard)."
  - "Offboarding cannot be undone from the API or from Ansible: the machine stops reporting to Defender for
    Endpoint, and onboarding it again needs the onboarding package to be run on the machine itself. Offboarding
    through the API is not supported for macOS and Linux, and it does not clear the onboarding data in the
    registry. The machine's data stays in the portal for its retention period."
  - "An offboard only stops the sensor service, so a machine can come back under the same machine id (the sensor
    started again, or the onboarding data left in the registry used again). A machine whose C(lastSeen) (its last
    full report) is after the completion of its succeeded offboard is taken as back: it is offboarded again,
    and RV(results[].msg) says when it was seen. Otherwise a succeeded offboard, however old, counts as done."
  - "A C(400 ActiveRequestAlreadyExists) answer (and, for a collection, the 400 the API answers while one is
    running) is read back: when the same action is running, the machine is reported unchanged with that
    action. A request whose response is lost (connection cut, 5xx) is never sent again in the same run: the
    history is read again and the new action is reported, or the machine fails with an 'outcome unknown'
    message. Re-running is safe."
  - "Check mode reads the machines and their history and predicts, per machine, whether the action would be sent;
    nothing is sent and nothing is downloaded."
  - "Requests per machine: one history read per 20 machines, one name lookup per 20 names, one POST per machine
    that needs it, with O(wait) one poll per 20 actions per O(wait_sleep), and with O(dest) one package link and
    one download per package."
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.machine_selection
  - defender.endpoint.machine_actions
  - defender.endpoint.attributes.action
"""

EXAMPLES = r"""
- name: Full antivirus scan of two machines, not again if one succeeded in the last day
  defender.endpoint.machine_action:
    machines: [desktop-0042.contoso.com, desktop-0043.contoso.com]
    action: av_scan
    scan_type: full
    comment: "INC-1234: scan after containment"
    skip_if_done_within: 24h

- name: Collect the investigation package and download it into the case folder
  defender.endpoint.machine_action:
    machine: desktop-0042.contoso.com
    action: collect_investigation_package
    dest: /srv/cases/INC-1234
    comment: "INC-1234: evidence"
    skip_if_done_within: 12h
    wait_timeout: 1800
  register: evidence

- name: Stop and quarantine a file everywhere it runs
  defender.endpoint.machine_action:
    machines: "{{ affected_hosts }}"
    action: stop_and_quarantine_file
    sha1: 87662bc3d60e4200ceaf7aae249d1c343f4b83c9
    comment: "INC-1234: dropper"

- name: Offboard a decommissioned machine (cannot be undone from the API)
  defender.endpoint.machine_action:
    machine: old-kiosk-07.contoso.com
    action: offboard
    confirm_offboard: true
    comment: "CHG-77: decommissioned"
"""

RETURN = r"""
changed:
  description: Whether an action was sent (or, in check mode, would be) or a package downloaded, for at least one machine.
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
      description: Whether the action was sent (or would be, in check mode), or a package downloaded, for this machine.
      type: bool
      sample: true
    action_id:
      description: The id of the action sent, or of the one already running or recently succeeded; null when none.
      type: str
      sample: 5382f7ea-7557-4ab7-9782-d50480024a4e
    status:
      description: That action's status (with O(wait), its final one); null when there is none.
      type: str
      sample: Succeeded
    action:
      description: That machine action as the API returned it; null when there is none (for example in check mode).
      type: dict
      sample: {id: 5382f7ea-7557-4ab7-9782-d50480024a4e, type: RunAntiVirusScan, scope: Full, status: Pending}
    failed:
      description: Whether this machine failed (unresolved or ambiguous name, API error, failed action, download...).
      type: bool
      sample: false
    msg:
      description: What happened to this machine, or why it failed.
      type: str
      sample: "RunAntiVirusScan action 5382f7ea-7557-4ab7-9782-d50480024a4e sent"
    package_path:
      description: With O(dest), the path of the downloaded package (mode 0600).
      type: str
      returned: when a package was downloaded or already there
      sample: /srv/cases/INC-1234/desktop-0042.contoso.com_5382f7ea-7557-4ab7-9782-d50480024a4e.zip
    package_sha256:
      description: With O(dest), the SHA-256 of the package file.
      type: str
      returned: when a package was downloaded or already there
      sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    package_size:
      description: With O(dest), the size of the package file in bytes.
      type: int
      returned: when a package was downloaded or already there
      sample: 1048576
    candidates:
      description: For an ambiguous computer name, the ids of the machines it matches.
      type: list
      elements: str
      returned: when the name is ambiguous
      sample: [4f3c..., 9a1b...]
action_id:
  description: With O(machine), the same as RV(results[0].action_id).
  returned: when O(machine) is used
  type: str
  sample: 5382f7ea-7557-4ab7-9782-d50480024a4e
status:
  description: With O(machine), the same as RV(results[0].status).
  returned: when O(machine) is used
  type: str
  sample: Pending
msg:
  description: A summary; on failure, the machines that failed and why.
  returned: always
  type: str
  sample: "2 machines: 1 changed, 1 unchanged"
diff:
  description:
    - In diff mode, the action's state on each machine (named "computer name (id)") before and after the task, V(none) (no such action
      running, nor succeeded within O(skip_if_done_within)), V(pending) (running) or V(succeeded).
  returned: when diff mode is on
  type: dict
  sample: {before: {"1e5b...": none}, after: {"1e5b...": pending}}
"""

from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import registry, results, specs
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.engine import Engine


def run(m):
    p = m.params
    refs, single = specs.check_common_params(p)
    entry, spec = specs.one_shot(p)
    client = specs.client_for(m, refs)
    work = Engine.for_task(client, spec, p, m.check_mode, wait=p["wait"] or entry.waits(p))
    found = work.execute(refs, p["max_parallel"])
    if entry.follow_up:
        entry.follow_up(m, client, found)
    results.finish_one_shot(m, found, single)


def main():
    m = DefenderModule(
        argument_spec=specs.action_argument_spec(
            action=dict(type="str", required=True, choices=list(registry.ONE_SHOT)),
            scan_type=dict(type="str", choices=list(registry.SCAN_TYPES)),
            sha1=dict(type="str"),
            dest=dict(type="path"),
            confirm_offboard=dict(type="bool", default=False),
            skip_if_done_within=dict(type="str"),
            **specs.wait_argument_spec(timeout=600)
        ),
        supports_check_mode=True,
        mutually_exclusive=[("machine", "machines")],
        required_one_of=[("machine", "machines")],
    )
    m.run(run)


if __name__ == "__main__":
    main()
