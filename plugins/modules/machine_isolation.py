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
  machine:
    description:
      - One machine, by machine id (40 hexadecimal characters) or computer name (matched exactly, without
        regard to case, against C(computerDnsName)).
      - Exactly one of O(machine) and O(machines) is required.
    type: str
  machines:
    description:
      - Several machines, each a machine id or a computer name as in O(machine).
      - A machine listed twice (also once by name and once by id) is handled once.
    type: list
    elements: str
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
      - Used only with O(state=isolated). A machine that is already isolated is left alone whatever its
        isolation type; release it first to change the type.
    type: str
    choices: [full, selective, unmanaged_device]
    default: full
  comment:
    description:
      - The comment recorded with the action (C(Comment)); required by the API.
    type: str
    required: true
  wait:
    description:
      - Wait until each action reaches a final status (C(Succeeded), C(Failed), C(TimeOut), C(Cancelled)).
      - A machine whose action ends C(Failed), C(TimeOut) or C(Cancelled), or is not final after
        O(wait_timeout) seconds, fails with the action's details.
      - Without O(wait), the task ends once the actions are accepted (C(Pending)).
      - An action just created that the API does not show yet (C(404)) is polled again until O(wait_timeout).
        When polling fails (the API keeps answering errors), the machines still waiting fail with that error,
        but their entries in RV(results) (with C(changed=true) and the action that was sent) are kept, and
        nothing is sent again.
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds to wait for actions to reach a final status, with O(wait=true).
      - Also bounds the wait for an action of the other kind that is still pending (see notes), with or
        without O(wait).
    type: int
    default: 300
  wait_sleep:
    description:
      - Seconds between two polls of the actions.
    type: int
    default: 5
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
  max_parallel:
    description:
      - How many machines are handled at the same time.
    type: int
    default: 8
  requests_per_minute:
    description:
      - Client-side budget of API requests per minute for this task, shared by all parallel workers.
      - The API allows 100 calls per minute (and 1500 per hour) per application and tenant, so two tasks
        running at once with the same app share that limit; a C(429) answer is retried after the
        C(Retry-After) the API sends.
    type: int
    default: 100
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

import datetime
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.defender.endpoint.plugins.module_utils.common import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.module_utils.client import RateBudget, segment
from ansible_collections.defender.endpoint.plugins.module_utils import machines as M

ISOLATION_TYPES = {"full": "Full", "selective": "Selective", "unmanaged_device": "UnManagedDevice"}
MAX_PARALLEL = 64
MAX_COMMENT = 1000


def check_params(p):
    """Validated inputs: (refs, single) or DefenderConfigError, before anything is sent."""
    if p.get("machine") is not None and p.get("machines") is not None:
        raise DefenderConfigError("use either machine or machines, not both")
    if p.get("machine") is None and p.get("machines") is None:
        raise DefenderConfigError("one of machine or machines is required")
    single = p.get("machine") is not None
    raw = [p["machine"]] if single else p["machines"]
    if not raw:
        raise DefenderConfigError("machines must not be empty")
    refs = list(dict.fromkeys(M.check_machine_ref(r, "machine" if single else "machines[%d]" % i)
                              for i, r in enumerate(raw)))
    comment = p.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        raise DefenderConfigError("comment must not be empty: the API records it with the action")
    if len(comment) > MAX_COMMENT:
        raise DefenderConfigError("comment is longer than %d characters" % MAX_COMMENT)
    if p.get("isolation_type") not in ISOLATION_TYPES:
        raise DefenderConfigError("isolation_type must be one of %s" % ", ".join(ISOLATION_TYPES))
    if p.get("state") not in (M.STATE_ISOLATED, M.STATE_RELEASED):
        raise DefenderConfigError("state must be isolated or released")
    if not isinstance(p.get("wait_timeout"), int) or p["wait_timeout"] < 0:
        raise DefenderConfigError("wait_timeout must be 0 or more seconds")
    if not isinstance(p.get("wait_sleep"), int) or p["wait_sleep"] < 1:
        raise DefenderConfigError("wait_sleep must be at least 1 second")
    if not isinstance(p.get("max_parallel"), int) or not 1 <= p["max_parallel"] <= MAX_PARALLEL:
        raise DefenderConfigError("max_parallel must be between 1 and %d" % MAX_PARALLEL)
    if not isinstance(p.get("requests_per_minute"), int) or not 1 <= p["requests_per_minute"] <= 10000:
        raise DefenderConfigError("requests_per_minute must be between 1 and 10000")
    return refs, single


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class Isolation:
    """The work for one task: plan and act on each machine, then (with wait) follow the actions."""

    def __init__(self, client, params, check_mode, sleeper=None, clock=None):
        self.client = client
        self.wanted = params["state"]
        self.kind = M.KIND_OF[self.wanted]
        self.comment = params["comment"]
        self.isolation_type = ISOLATION_TYPES[params["isolation_type"]]
        self.wait = params["wait"]
        self.wait_timeout = params["wait_timeout"]
        self.wait_sleep = params["wait_sleep"]
        cancel = params.get("cancel_pending")
        self.cancel_pending = (self.wanted == M.STATE_RELEASED) if cancel is None else bool(cancel)
        self.check_mode = check_mode
        self.kw = {}
        if sleeper is not None:
            self.kw["sleeper"] = sleeper
        if clock is not None:
            self.kw["clock"] = clock
        self.lock = threading.Lock()

    def body(self):
        if self.kind == "Isolate":
            return {"Comment": self.comment, "IsolationType": self.isolation_type}
        return {"Comment": self.comment}

    def path(self, machine_id):
        return "/api/machines/%s/%s" % (segment(machine_id, "machine id"), self.kind.lower())

    # --- one machine -------------------------------------------------------------------------------------

    def handle(self, res, history):
        """Plan and act on one resolved machine; fills and returns ``res``."""
        try:
            self._handle(res, history)
        except DefenderError as exc:
            res.update(failed=True, msg=str(exc))
        if res["cancelled"]:
            # A cancel is a change of its own, whatever happened after it.
            res["changed"] = True
            res["msg"] = "%s %s; %s" % ("would cancel" if self.check_mode else "cancelled",
                                        ", ".join(M.action_summary(a) for a in res["cancelled"]), res["msg"])
        return res

    def _handle(self, res, history):
        mid = res["machine_id"]
        plan, state, acts = M.plan_isolation(self.wanted, history)
        res["previous_state"] = state
        res["state"] = state
        if plan == M.PLAN_WAIT:
            to_cancel = [a for a in acts if a.get("status") == "Pending"] if self.cancel_pending else []
            if self.check_mode:
                return self._predict_wait(res, history, acts, to_cancel)
            if to_cancel and not self._cancel(res, to_cancel):
                return res
            # The cancelled ones are waited for too: they read Cancelled at once, unless the service is slow to
            # record the cancel, and then sending now could still be overtaken.
            blocking = ", ".join("%s %s (%s)" % (a.get("type"), a.get("id"), a.get("status")) for a in acts)
            done = M.wait_for_actions(self.client, [a["id"] for a in acts], self.wait_timeout, self.wait_sleep,
                                      **self.kw)
            still = [a for a in done.values() if not M.is_final(a)]
            if still or len(done) < len(acts):
                res.update(failed=True, action=acts[-1], msg=(
                    "%s is still not final after %d seconds; %s was not sent, because the service can apply "
                    "requests out of order and the machine could end in the wrong state; re-run later"
                    % (blocking, self.wait_timeout, self.kind)))
                return res
            history = M.isolation_history(self.client, [mid])[mid]
            plan, state, acts = M.plan_isolation(self.wanted, history)
            res["state"] = state
            if plan == M.PLAN_WAIT:
                res.update(failed=True, action=acts[-1], msg="another action became active while waiting: %s; "
                           "nothing was sent, re-run later" % M.action_summary(acts[-1]))
                return res
        if plan == M.PLAN_NONE:
            action = acts[0] if acts else None
            res.update(changed=False, action=action,
                       msg="already %s" % state.replace("_", " ") + (" (%s)" % M.action_summary(action) if action
                                                                     else ""))
            if (action and self.kind == "Isolate" and action.get("scope")
                    and action.get("scope") != self.isolation_type):
                res["msg"] += "; isolation type is %s, not %s: release first to change it" % (
                    action.get("scope"), self.isolation_type)
            return res
        # PLAN_SEND
        if self.check_mode:
            res.update(changed=True, state=self.wanted, action=None, msg="would send %s" % self.kind)
            return res
        known = set(a.get("id") for a in history)
        sent_at = _utcnow()
        try:
            action = self.client.post(self.path(mid), self.body())
        except DefenderOutcomeUnknownError as exc:
            return self._lost(res, known, sent_at, str(exc))
        except DefenderError as exc:
            # A 5xx answer to the POST arrives as DefenderOutcomeUnknownError (the shared client's decision: a
            # gateway 502/504 may follow an applied write); any other error means the request was not applied.
            if exc.status == 400 and exc.code == "ActiveRequestAlreadyExists":
                return self._already(res, str(exc))
            raise
        action = M.normalize_action(action)
        if not isinstance(action, dict) or not action.get("id"):
            res.update(changed=True, state=M.PENDING_OF[self.wanted], action=None,
                       msg="%s sent; the API answered without an action" % self.kind)
            return res
        if action.get("type") and action.get("type") != self.kind:
            res.update(failed=True, action=action, msg=(
                "%s was sent but the API answered with %s; re-run later" % (self.kind, M.action_summary(action))))
            return res
        if action.get("id") in known:
            res.update(changed=False, action=action, state=M.PENDING_OF[self.wanted],
                       msg="the API returned the %s action already pending: %s" % (self.kind, M.action_summary(action)))
            return res
        res.update(changed=True, action=action, state=self._state_of(action),
                   msg="%s action %s sent" % (self.kind, action.get("id")))
        return res

    def _predict_wait(self, res, history, acts, to_cancel):
        """Check mode with an active action of the other kind: what cancelling and/or waiting would lead to."""
        res["cancelled"] = to_cancel
        left = [a for a in acts if a not in to_cancel]
        if left:
            blocking = ", ".join("%s %s (%s)" % (a.get("type"), a.get("id"), a.get("status")) for a in left)
            res.update(changed=True, state=self.wanted, action=left[-1],
                       msg="would wait for %s to finish, then send %s" % (blocking, self.kind))
            return res
        ids = set(a.get("id") for a in to_cancel)
        after = [dict(a, status="Cancelled") if a.get("id") in ids else a for a in history]
        plan, state, found = M.plan_isolation(self.wanted, after)
        if plan == M.PLAN_SEND:
            res.update(changed=True, state=self.wanted, action=None, msg="would send %s" % self.kind)
        else:
            res.update(state=state, action=found[0] if found else None,
                       msg="then nothing to send: already %s" % state.replace("_", " "))
        return res

    def _cancel(self, res, actions):
        """Cancel pending actions of the other kind; False (with ``res`` failed) when one could not be."""
        for a in actions:
            path = "%s/%s/cancel" % (M.ACTIONS, segment(a["id"], "action id"))
            try:
                out = self.client.post(path, {"Comment": self.comment})
            except DefenderOutcomeUnknownError as exc:
                # Re-read, never re-send: the cancel may have been applied.
                now = self._reread_action(a)
                if now is not None and now.get("status") == "Cancelled":
                    res["cancelled"].append(now)
                    continue
                res.update(failed=True, action=now or a, msg=(
                    "outcome unknown: the cancel of %s was sent but its response was lost (%s) and the action does "
                    "not show as cancelled; %s was not sent. Re-run to retry: the next run reads the history first"
                    % (M.action_summary(a), exc, self.kind)))
                return False
            except DefenderError as exc:
                now = self._reread_action(a) if exc.status == 400 else None
                if now is not None and M.is_final(now):
                    continue  # it ended on its own meanwhile; the history read next decides
                hint = (" (cancelling needs the permission of the action, Machine.Isolate)"
                        if exc.status in (401, 403) else "")
                res.update(failed=True, action=now or a, msg=(
                    "could not cancel %s: %s%s; %s was not sent" % (M.action_summary(a), exc, hint, self.kind)))
                return False
            out = M.normalize_action(out)
            res["cancelled"].append(out if isinstance(out, dict) and out.get("id") == a.get("id")
                                    else dict(a, status="Cancelled"))
        return True

    def _reread_action(self, action):
        try:
            return M.get_actions(self.client, [action["id"]]).get(action["id"])
        except DefenderError:
            return None

    def _state_of(self, action):
        if action.get("status") == "Succeeded":
            return self.wanted
        return M.PENDING_OF[self.wanted]

    def _final_state(self, res):
        """The state our action leaves when the history cannot be read again: the wanted one once it
        succeeded, the previous one when it ended without effect, pending while it is not final."""
        action = res["action"]
        if action.get("status") == "Succeeded":
            return self.wanted
        if M.is_final(action):
            return res["previous_state"]
        return M.PENDING_OF[self.wanted]

    def _lost(self, res, known, sent_at, error):
        """The POST's response was lost: look, never re-send."""
        mid = res["machine_id"]
        try:
            after = M.isolation_history(self.client, [mid])[mid]
        except DefenderError as exc:
            res.update(failed=True, changed=False, msg=(
                "outcome unknown: %s was sent but its response was lost (%s), and the history could not be read "
                "again (%s); nothing else was sent. Re-run to retry: the next run reads the history first"
                % (self.kind, error, exc)))
            return res
        new = [a for a in M.sort_actions(after) if a.get("type") == self.kind and a.get("id") not in known
               and a.get("status") not in M.NO_EFFECT_STATUSES]
        mine = [a for a in new if a.get("requestorComment") == self.comment] or new
        if mine:
            action = mine[-1]
            res.update(changed=True, action=action, state=self._state_of(action), msg=(
                "%s was sent and its response was lost (%s); the action it created was found in the history: %s"
                % (self.kind, error, M.action_summary(action))))
            return res
        res.update(failed=True, changed=False, state=M.isolation_state(after)[0], msg=(
            "outcome unknown: %s was sent at %s but its response was lost (%s) and no new action is visible yet; "
            "nothing else was sent. Re-run to retry: the next run reads the history first"
            % (self.kind, sent_at.strftime("%Y-%m-%dT%H:%M:%SZ"), error)))
        return res

    def _already(self, res, error):
        mid = res["machine_id"]
        after = M.isolation_history(self.client, [mid])[mid]
        active = M.active_actions(after, self.kind)
        if active:
            res.update(changed=False, action=active[-1], state=M.PENDING_OF[self.wanted],
                       msg="an action is already in progress: %s" % M.action_summary(active[-1]))
            return res
        state, action = M.isolation_state(after)
        if state in (self.wanted, M.PENDING_OF[self.wanted]):
            res.update(changed=False, action=action, state=state, msg="already %s" % state.replace("_", " "))
            return res
        others = M.active_actions(after)
        res.update(failed=True, action=others[-1] if others else action, state=state, msg=(
            "the API refused %s because another action is in progress (%s): %s; re-run later"
            % (self.kind, error, M.action_summary(others[-1]) if others else "none visible")))
        return res

    # --- waiting ------------------------------------------------------------------------------------------

    def follow(self, results):
        """With wait: poll the actions until final, then read the history once more for the final state."""
        todo = [r for r in results if not r["failed"] and r.get("action") and r["action"].get("type") == self.kind
                and not M.is_final(r["action"]) and r["machine_id"]]
        if not todo:
            return
        # The actions were sent: whatever goes wrong from here on is reported per machine, and the results
        # (with changed=true) are kept, never replaced by one error for the whole task.
        final = {}
        try:
            M.wait_for_actions(self.client, [r["action"]["id"] for r in todo], self.wait_timeout,
                               self.wait_sleep, latest=final, **self.kw)
        except DefenderError as exc:
            for r in todo:
                action = final.get(r["action"]["id"]) or r["action"]
                r["action"] = action
                if M.is_final(action):
                    r.update(failed=True, state=self._final_state(r), msg=(
                        "%s; polling the other actions failed (%s), so the machine's history was not read again "
                        "to confirm the state" % (M.action_summary(action), exc)))
                else:
                    r.update(failed=True, msg=(
                        "%s was sent, but waiting for it failed: %s; it may still complete, nothing was re-sent. "
                        "Re-run to check: the next run reads the history first" % (M.action_summary(action), exc)))
            return
        ids = []
        for r in todo:
            action = final.get(r["action"]["id"]) or r["action"]
            r["action"] = action
            if not M.is_final(action):
                r.update(failed=True, msg="%s: not final after %d seconds" % (M.action_summary(action),
                                                                              self.wait_timeout))
            elif action.get("status") != "Succeeded":
                r.update(failed=True, msg="%s" % M.action_summary(action))
            ids.append(r["machine_id"])
        try:
            history = M.isolation_history(self.client, ids)
        except DefenderError as exc:
            for r in todo:
                r["state"] = self._final_state(r)
                r.update(failed=True, msg="%s; the machine's history could not be read again to confirm the state "
                         "(%s)" % (r["msg"] or M.action_summary(r["action"]), exc))
            return
        for r in todo:
            state, decider = M.isolation_state(history.get(r["machine_id"], []))
            r["state"] = state
            if not r["failed"] and state != self.wanted:
                r.update(failed=True, msg="%s succeeded, but the machine is now %s: %s" % (
                    M.action_summary(r["action"]), state, M.action_summary(decider)))
            elif not r["failed"]:
                r["msg"] = "%s" % M.action_summary(r["action"])


def _result(ref, machine=None):
    return {
        "machine": ref,
        "machine_id": machine.get("id") if machine else None,
        "computer_dns_name": machine.get("computerDnsName") if machine else None,
        "changed": False,
        "action": None,
        "previous_state": None,
        "state": None,
        "failed": False,
        "msg": "",
        "cancelled": [],
    }


def execute(client, params, check_mode, refs, max_parallel=8, sleeper=None, clock=None):
    """All machines: resolve, read history, act in parallel, follow. Returns the list of results."""
    work = Isolation(client, params, check_mode, sleeper=sleeper, clock=clock)
    resolutions = M.resolve(client, refs)
    results, seen = [], {}
    for ref in refs:
        r = resolutions[ref]
        res = _result(ref, r.machine)
        if r.error is not None:
            res.update(failed=True, msg="%s; nothing was sent for it" % r.error.message)
            if r.error.candidates:
                res["candidates"] = r.error.candidates
        elif r.machine.get("id") in seen:
            continue  # the same machine, named twice
        else:
            seen[r.machine["id"]] = res
            if r.note:
                res["msg"] = r.note
        results.append(res)
    ids = list(seen)
    history = M.isolation_history(client, ids) if ids else {}
    note = {i: seen[i]["msg"] for i in ids}

    def one(mid):
        out = work.handle(seen[mid], history.get(mid, []))
        if note[mid]:
            out["msg"] = "%s; %s" % (note[mid], out["msg"])
        return out

    if len(ids) <= 1 or max_parallel <= 1:
        for mid in ids:
            one(mid)
    else:
        with ThreadPoolExecutor(max_workers=min(max_parallel, len(ids))) as pool:
            list(pool.map(one, ids))
    if params["wait"] and not check_mode:
        work.follow(results)
    return results


def run(m):
    p = m.params
    refs, single = check_params(p)
    budget = RateBudget(p["requests_per_minute"])
    client = m.client(pool_size=p["max_parallel"], rate_budget=budget)
    results = execute(client, p, m.check_mode, refs, max_parallel=p["max_parallel"])
    changed = any(r["changed"] for r in results)
    failed = [r for r in results if r["failed"]]
    out = dict(changed=changed, results=results)
    if single:
        out.update(action=results[0]["action"], previous_state=results[0]["previous_state"],
                   state=results[0]["state"])
    if m.module._diff:
        out["diff"] = {
            "before": dict((r["machine_id"], r["previous_state"]) for r in results if r["machine_id"]),
            "after": dict((r["machine_id"], r["state"]) for r in results if r["machine_id"]),
        }
    if failed:
        names = "; ".join("%s: %s" % (r["computer_dns_name"] or r["machine"], r["msg"]) for r in failed[:20])
        more = " (and %d more)" % (len(failed) - 20) if len(failed) > 20 else ""
        m.module.fail_json(msg="%d of %d machines failed: %s%s" % (len(failed), len(results), names, more), **out)
    n_changed = sum(1 for r in results if r["changed"])
    out["msg"] = "%d machine%s: %d changed, %d unchanged" % (len(results), "" if len(results) == 1 else "s",
                                                             n_changed, len(results) - n_changed)
    m.exit(**out)


def main():
    m = DefenderModule(
        argument_spec=dict(
            machine=dict(type="str"),
            machines=dict(type="list", elements="str"),
            state=dict(type="str", choices=["isolated", "released"], default="isolated"),
            isolation_type=dict(type="str", choices=["full", "selective", "unmanaged_device"], default="full"),
            comment=dict(type="str", required=True),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=300),
            wait_sleep=dict(type="int", default=5),
            cancel_pending=dict(type="bool"),
            max_parallel=dict(type="int", default=8),
            requests_per_minute=dict(type="int", default=100),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("machine", "machines")],
        required_one_of=[("machine", "machines")],
    )
    m.run(run)


if __name__ == "__main__":
    main()
