# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a machine's action history says, and what to do about it (the plan of one machine).

- :class:`Toggle`: two opposite action kinds whose history decides a machine's state (``Isolate``/``Unisolate``,
  ``RestrictCodeExecution``/``UnrestrictCodeExecution``). Actions that ended Failed, Cancelled or TimeOut had no
  effect and are skipped; an action still Pending or InProgress outranks completed ones (it has yet to be applied);
  among completed ones the one that completed last decides (the service can apply requests out of order). No
  action at all means the "off" state: there is no documented "is isolated" flag.
- :class:`ToggleSpec`: bring a machine to one state of a toggle; an active action of the other kind blocks and may
  be cancelled first (``cancel_pending``).
- :class:`OneShotSpec`: an action that is run, not a state; not sent while the same one is Pending or InProgress,
  nor when one succeeded since ``since`` and still holds (the registry entry says what "the same" and "still
  holds" mean).

Both specs answer the engine's questions the same way: ``plan(history, machine)``, ``state_of(action)``,
``already(history, error)`` (after a 400 "already in progress"), ``confirm(result, history)`` (after ``wait``).
"""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.module_utils import machines

PLAN_NONE = "none"    # already in (or on its way to) the wanted state, or the same action runs or is done
PLAN_WAIT = "wait"    # an action of the other kind is still active: wait for it, then plan again
PLAN_SEND = "send"    # send the action

STATE_NONE = "none"            # no such action that counts (never run, or only outside skip_if_done_within)
STATE_ACTIVE = "pending"       # the same action is Pending or InProgress
STATE_DONE = "succeeded"       # it succeeded (within skip_if_done_within, when planning)


class Toggle:
    """Two opposite registry entries (``on`` and ``off``) whose history decides a machine's state; each entry
    names its state and its pending state."""

    def __init__(self, on, off):
        self.on, self.off = on.api_type, off.api_type
        self.types = (self.on, self.off)
        self.on_state, self.off_state = on.state, off.state
        self.kind_of = {on.state: on.api_type, off.state: off.api_type}
        self.pending_of = {on.state: on.pending_state, off.state: off.pending_state}
        self.states = (on.state, off.state, on.pending_state, off.pending_state)

    def state(self, actions):
        """``(state, deciding_action)`` from a machine's action history (any order, other types ignored)."""
        history = machines.sort_actions(a for a in actions if isinstance(a, dict) and a.get("type") in self.types)
        effective = [a for a in history if a.get("status") not in machines.NO_EFFECT_STATUSES]
        if not effective:
            return self.off_state, None
        # Pending, InProgress, or a status we do not know: not applied yet, and the newest of them will be.
        waiting = [a for a in effective if a.get("status") != "Succeeded"]
        if waiting:
            newest, pending = waiting[-1], True
        else:
            # All applied: the one applied last decides. That is the newest one, unless the service applied an
            # older request after it (out of order), which its later completion time shows.
            newest, pending = max(effective, key=lambda a: (machines.updated_at(a), machines.created_key(a))), False
        wanted = self.on_state if newest.get("type") == self.on else self.off_state
        return (self.pending_of[wanted] if pending else wanted), machines.normalize_action(newest)

    def plan(self, wanted, history):
        """``(plan, state, actions)`` for ``wanted`` (the on or off state) given the history.

        ``actions`` is the deciding action (a list with it, or empty) for ``none``/``send``, and the blocking
        actions for ``wait``. An active action of the other kind always blocks, even when the newest action
        already points the right way: the service can apply requests out of order, so sending now (or doing
        nothing) could end in the other state once the older request is applied.
        """
        kind = self.kind_of[wanted]
        other = self.off if kind == self.on else self.on
        state, action = self.state(history)
        blocking = self.active(history, other)
        if blocking:
            return PLAN_WAIT, state, blocking
        if state in (wanted, self.pending_of[wanted]):
            return PLAN_NONE, state, [action] if action else []
        return PLAN_SEND, state, [action] if action else []

    def active(self, actions, kind=None):
        """Actions of this pair still Pending or InProgress, oldest first."""
        return [machines.normalize_action(a) for a in machines.sort_actions(actions)
                if a.get("type") in self.types and a.get("status") in machines.ACTIVE_STATUSES
                and (kind is None or a.get("type") == kind)]


class ToggleSpec:
    """A declarative task: bring each machine to ``entry.state`` (a state of ``toggle``)."""

    declarative = True

    def __init__(self, toggle, entry, body, cancel_pending=False):
        self.toggle = toggle
        self.entry = entry
        self.wanted = entry.state
        self.kind = entry.api_type
        self.path = entry.path
        self.types = toggle.types
        self.body = body
        self.permission = entry.permission
        self.busy_400 = entry.busy_400
        self.cancel_pending = cancel_pending
        self.scope = body.get("IsolationType")

    def plan(self, history, machine=None):
        return self.toggle.plan(self.wanted, history)

    def state(self, history):
        return self.toggle.state(history)[0]

    def pending(self):
        return self.toggle.pending_of[self.wanted]

    def state_of(self, action):
        """The state our own action leaves: the wanted one once it succeeded, pending until then."""
        return self.wanted if action.get("status") == "Succeeded" else self.pending()

    def predicted(self):
        return self.wanted

    def send_note(self, acts, machine):
        return ""

    def matches(self, action):
        return action.get("type") == self.kind

    def none_msg(self, state, action):
        msg = "already %s" % state.replace("_", " ") + (" (%s)" % machines.action_summary(action) if action else "")
        if action and self.scope and action.get("scope") and action.get("scope") != self.scope:
            msg += "; isolation type is %s, not %s: release first to change it" % (action.get("scope"), self.scope)
        return msg

    def already(self, after, error):
        """After a 400 ActiveRequestAlreadyExists: ``(update for the result, failed?)``."""
        active = self.toggle.active(after, self.kind)
        if active:
            return dict(changed=False, action=active[-1], state=self.pending(),
                        msg="an action is already in progress: %s" % machines.action_summary(active[-1])), False
        state, action = self.toggle.state(after)
        if state in (self.wanted, self.pending()):
            return dict(changed=False, action=action, state=state, msg="already %s" % state.replace("_", " ")), False
        others = self.toggle.active(after)
        return dict(action=others[-1] if others else action, state=state, msg=(
            "the API refused %s because another action is in progress (%s): %s; re-run later"
            % (self.kind, error, machines.action_summary(others[-1]) if others else "none visible"))), True

    def confirm(self, res, history):
        """With wait, after our action is final: the state the history now shows must be the wanted one."""
        state, decider = self.toggle.state(history)
        res["state"] = state
        if not res["failed"] and state != self.wanted:
            res.update(failed=True, msg="%s succeeded, but the machine is now %s: %s" % (
                machines.action_summary(res["action"]), state, machines.action_summary(decider)))


class OneShotSpec:
    """A task that runs ``entry``'s action: not sent again while the same one is active, nor when one that still
    holds succeeded since ``since`` (None: only an active one stops a new one)."""

    declarative = False
    cancel_pending = False

    def __init__(self, entry, body, since=None, same=None, satisfies=None):
        self.entry = entry
        self.kind = entry.api_type
        self.path = entry.path
        self.types = (entry.api_type,)
        self.body = body
        self.permission = entry.permission
        self.busy_400 = entry.busy_400
        self.since = since                                   # a success after this makes a new one unneeded
        self.same = same or (lambda action: True)            # the same action (e.g. the same file)
        self.satisfies = satisfies or (lambda action: True)  # a success that counts for this request

    def matches(self, action):
        return action.get("type") == self.kind and self.same(action)

    def _mine(self, history):
        return [machines.normalize_action(a) for a in machines.sort_actions(history)
                if isinstance(a, dict) and self.matches(a)]

    def plan(self, history, machine=None):
        mine = self._mine(history)
        active = [a for a in mine if a.get("status") in machines.ACTIVE_STATUSES]
        if active:
            return PLAN_NONE, STATE_ACTIVE, [active[-1]]
        if self.entry.one_per_machine:
            others = [machines.normalize_action(a) for a in machines.sort_actions(history) if isinstance(a, dict)
                      and a.get("type") == self.kind and a.get("status") in machines.ACTIVE_STATUSES]
            if others:
                return PLAN_WAIT, STATE_NONE, others
        if self.since is not None:
            recent = [a for a in mine if a.get("status") == "Succeeded" and self.satisfies(a)
                      and machines.updated_at(a) >= self.since]
            if recent and self.entry.still_holds(recent[-1], machine):
                return PLAN_NONE, STATE_DONE, [recent[-1]]
            if recent:
                return PLAN_SEND, STATE_NONE, [recent[-1]]  # a success that no longer holds
        return PLAN_SEND, STATE_NONE, []

    def send_note(self, acts, machine):
        """Why the action is sent although one succeeded (``acts`` from :meth:`plan`), or ""."""
        return self.entry.resend_reason(acts[-1], machine) if acts and machine is not None else ""

    def state(self, history):
        return self.plan(history)[1]

    def pending(self):
        return STATE_ACTIVE

    def state_of(self, action):
        return STATE_DONE if action.get("status") == "Succeeded" else (
            STATE_ACTIVE if not machines.is_final(action) else STATE_NONE)

    def predicted(self):
        return STATE_ACTIVE

    def none_msg(self, state, action):
        if state == STATE_DONE:
            return "not sent: %s succeeded %s (%s)" % (
                machines.action_summary(action), self.entry.done_reason, machines.last_update(action))
        return "not sent: the same action is already running: %s" % machines.action_summary(action)

    def already(self, after, error):
        active = [a for a in self._mine(after) if a.get("status") in machines.ACTIVE_STATUSES]
        if active:
            return dict(changed=False, action=active[-1], state=STATE_ACTIVE,
                        msg="not sent: the same action is already running: %s"
                        % machines.action_summary(active[-1])), False
        return dict(msg="the API refused %s (%s) and no %s action is visible in progress; re-run later"
                    % (self.kind, error, self.kind)), True

    def confirm(self, res, history):
        res["state"] = self.state_of(res["action"])
