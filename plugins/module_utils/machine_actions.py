# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one engine for machine actions (isolate, restrict app execution, scan, collect, quarantine, offboard).

For every machine of a task: resolve the reference, read the machine's action history, plan, send at most
once, follow the action with ``wait``, and, when a POST's response is lost, read the history again instead of
sending again. What differs between actions lives in a *spec*:

- :class:`ToggleSpec`: a declarative pair of opposite actions (``Isolate``/``Unisolate``,
  ``RestrictCodeExecution``/``UnrestrictCodeExecution``). The history decides the current state
  (:class:`machines.Toggle`); an active action of the other kind blocks (the service can apply requests out
  of order) and may be cancelled first (``cancel_pending``).
- :class:`OneShotSpec`: an action that is simply run (``RunAntiVirusScan``, ``CollectInvestigationPackage``,
  ``StopAndQuarantineFile``, ``Offboard``). Not sent while the same action is Pending or InProgress on the
  machine, nor when one succeeded within ``skip_within``.

Safety rules kept here once for all actions: nothing is sent for a machine that did not resolve; check mode
reads and predicts but never writes; a POST whose outcome is unknown (lost response, 5xx) is never re-sent;
a 400 ``ActiveRequestAlreadyExists`` (or the collection endpoint's 400 while one runs) is read back and, when
the same action is active, reported unchanged; a 201 that returns an action already in the history is
reported unchanged; once something was sent, errors while following it are reported per machine with
``changed=true`` kept.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.module_utils.client import segment
from ansible_collections.defender.endpoint.plugins.module_utils.transport import build_session
from ansible_collections.defender.endpoint.plugins.module_utils.export import file_digest
from ansible_collections.defender.endpoint.plugins.module_utils import machines as M
from ansible_collections.defender.endpoint.plugins.module_utils import progress
from ansible_collections.defender.endpoint.plugins.module_utils.odata import parse_time

MAX_PARALLEL = 64
MAX_COMMENT = 1000
MAX_LISTED_FAILURES = 20


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _list(actions):
    return ", ".join("%s %s (%s)" % (a.get("type"), a.get("id"), a.get("status")) for a in actions)


# --- input checks shared by the action modules ----------------------------------------------------------------

def check_common_params(p):
    """The options every action module has; returns ``(refs, single)`` or raises DefenderConfigError."""
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
    if not isinstance(p.get("wait_timeout"), int) or p["wait_timeout"] < 0:
        raise DefenderConfigError("wait_timeout must be 0 or more seconds")
    if not isinstance(p.get("wait_sleep"), int) or p["wait_sleep"] < 1:
        raise DefenderConfigError("wait_sleep must be at least 1 second")
    if not isinstance(p.get("max_parallel"), int) or not 1 <= p["max_parallel"] <= MAX_PARALLEL:
        raise DefenderConfigError("max_parallel must be between 1 and %d" % MAX_PARALLEL)
    if not isinstance(p.get("requests_per_minute"), int) or not 1 <= p["requests_per_minute"] <= 10000:
        raise DefenderConfigError("requests_per_minute must be between 1 and 10000")
    return refs, single


def action_argument_spec(**options):
    """The argument spec of an action module: the shared options (documented by the doc fragment
    ``defender.endpoint.machine_actions``) and the module's own ``options``."""
    spec = dict(
        machine=dict(type="str"),
        machines=dict(type="list", elements="str"),
        comment=dict(type="str", required=True),
        wait_sleep=dict(type="int", default=5),
        max_parallel=dict(type="int", default=8),
        requests_per_minute=dict(type="int", default=100),
    )
    spec.update(options)
    return spec


# --- what differs between actions ---------------------------------------------------------------------------

class ToggleSpec:
    """A declarative action: bring each machine to ``wanted`` (a state of ``toggle``)."""

    declarative = True
    busy_400 = False

    def __init__(self, toggle, wanted, body, permission, cancel_pending=False):
        self.toggle = toggle
        self.wanted = wanted
        self.kind = toggle.kind_of[wanted]
        self.types = toggle.types
        self.body = body
        self.permission = permission
        self.cancel_pending = cancel_pending
        self.scope = body.get("IsolationType")

    def verb(self):
        return self.kind[0].lower() + self.kind[1:]

    def plan(self, history):
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

    def matches(self, action):
        return action.get("type") == self.kind

    def none_msg(self, state, action):
        msg = "already %s" % state.replace("_", " ") + (" (%s)" % M.action_summary(action) if action else "")
        if action and self.scope and action.get("scope") and action.get("scope") != self.scope:
            msg += "; isolation type is %s, not %s: release first to change it" % (action.get("scope"), self.scope)
        return msg

    def already(self, after, error):
        """After a 400 ActiveRequestAlreadyExists: ``(changed-free update for the result, failed?)``."""
        active = self.toggle.active(after, self.kind)
        if active:
            return dict(changed=False, action=active[-1], state=self.pending(),
                        msg="an action is already in progress: %s" % M.action_summary(active[-1])), False
        state, action = self.toggle.state(after)
        if state in (self.wanted, self.pending()):
            return dict(changed=False, action=action, state=state, msg="already %s" % state.replace("_", " ")), False
        others = self.toggle.active(after)
        return dict(action=others[-1] if others else action, state=state, msg=(
            "the API refused %s because another action is in progress (%s): %s; re-run later"
            % (self.kind, error, M.action_summary(others[-1]) if others else "none visible"))), True

    def confirm(self, res, history):
        """With wait, after our action is final: the state the history now shows must be the wanted one."""
        state, decider = self.toggle.state(history)
        res["state"] = state
        if not res["failed"] and state != self.wanted:
            res.update(failed=True, msg="%s succeeded, but the machine is now %s: %s" % (
                M.action_summary(res["action"]), state, M.action_summary(decider)))


STATE_NONE = "none"            # no such action that counts (never run, or only outside skip_within)
STATE_ACTIVE = "pending"       # the same action is Pending or InProgress
STATE_DONE = "succeeded"       # it succeeded (within skip_within, when planning)


class OneShotSpec:
    """An action that is run, not a state: not sent again while the same one is active or recently done."""

    declarative = False
    cancel_pending = False

    def __init__(self, kind, verb, body, permission, since=None, same=None, satisfies=None, busy_400=False):
        self.kind = kind
        self._verb = verb
        self.types = (kind,)
        self.body = body
        self.permission = permission
        self.since = since                                   # a success after this makes a new one unneeded
        self.same = same or (lambda action: True)            # the same action (e.g. the same file)
        self.satisfies = satisfies or (lambda action: True)  # a success that counts for this request
        self.busy_400 = busy_400

    def verb(self):
        return self._verb

    def matches(self, action):
        return action.get("type") == self.kind and self.same(action)

    def _mine(self, history):
        return [M.normalize_action(a) for a in M.sort_actions(history) if isinstance(a, dict) and self.matches(a)]

    def plan(self, history):
        mine = self._mine(history)
        active = [a for a in mine if a.get("status") in M.ACTIVE_STATUSES]
        if active:
            return M.PLAN_NONE, STATE_ACTIVE, [active[-1]]
        if self.since is not None:
            recent = [a for a in mine if a.get("status") == "Succeeded" and self.satisfies(a)
                      and M.updated_at(a) >= self.since]
            if recent:
                return M.PLAN_NONE, STATE_DONE, [recent[-1]]
        return M.PLAN_SEND, STATE_NONE, []

    def state(self, history):
        return self.plan(history)[1]

    def pending(self):
        return STATE_ACTIVE

    def state_of(self, action):
        return STATE_DONE if action.get("status") == "Succeeded" else (
            STATE_ACTIVE if not M.is_final(action) else STATE_NONE)

    def predicted(self):
        return STATE_ACTIVE

    def none_msg(self, state, action):
        if state == STATE_DONE:
            return "not sent: %s succeeded %s (%s)" % (
                M.action_summary(action), "already" if self.kind == "Offboard" else "within skip_if_done_within",
                M.last_update(action))
        return "not sent: the same action is already running: %s" % M.action_summary(action)

    def already(self, after, error):
        active = [a for a in self._mine(after) if a.get("status") in M.ACTIVE_STATUSES]
        if active:
            return dict(changed=False, action=active[-1], state=STATE_ACTIVE,
                        msg="not sent: the same action is already running: %s" % M.action_summary(active[-1])), False
        return dict(msg="the API refused %s (%s) and no %s action is visible in progress; re-run later"
                    % (self.kind, error, self.kind)), True

    def confirm(self, res, history):
        res["state"] = self.state_of(res["action"])


# --- the engine -----------------------------------------------------------------------------------------------

def new_result(ref, machine=None):
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


class Engine:
    """The work of one task: plan and act on each machine, then (with wait) follow the actions."""

    def __init__(self, client, spec, comment, check_mode, wait=False, wait_timeout=300, wait_sleep=5,
                 sleeper=None, clock=None, progress=None):
        self.client = client
        self.spec = spec
        self.kind = spec.kind
        self.comment = comment
        self.check_mode = check_mode
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.wait_sleep = wait_sleep
        self.progress = progress
        self.kw = {}
        if sleeper is not None:
            self.kw["sleeper"] = sleeper
        if clock is not None:
            self.kw["clock"] = clock
        self.lock = threading.Lock()

    def path(self, machine_id):
        return "%s/%s/%s" % (M.MACHINES, segment(machine_id, "machine id"), self.spec.verb())

    def history(self, ids):
        return M.action_history(self.client, ids, types=self.spec.types)

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
        plan, state, acts = self.spec.plan(history)
        res["previous_state"] = state
        res["state"] = state
        if plan == M.PLAN_WAIT:
            to_cancel = [a for a in acts if a.get("status") == "Pending"] if self.spec.cancel_pending else []
            if self.check_mode:
                return self._predict_wait(res, history, acts, to_cancel)
            if to_cancel and not self._cancel(res, to_cancel):
                return res
            # The cancelled ones are waited for too: they read Cancelled at once, unless the service is slow to
            # record the cancel, and then sending now could still be overtaken.
            done = M.wait_for_actions(self.client, [a["id"] for a in acts], self.wait_timeout, self.wait_sleep,
                                      **self.kw)
            still = [a for a in done.values() if not M.is_final(a)]
            if still or len(done) < len(acts):
                res.update(failed=True, action=acts[-1], msg=(
                    "%s is still not final after %d seconds; %s was not sent, because the service can apply "
                    "requests out of order and the machine could end in the wrong state; re-run later"
                    % (_list(acts), self.wait_timeout, self.kind)))
                return res
            history = self.history([mid])[mid]
            plan, state, acts = self.spec.plan(history)
            res["state"] = state
            if plan == M.PLAN_WAIT:
                res.update(failed=True, action=acts[-1], msg="another action became active while waiting: %s; "
                           "nothing was sent, re-run later" % M.action_summary(acts[-1]))
                return res
        if plan == M.PLAN_NONE:
            action = acts[0] if acts else None
            res.update(changed=False, action=action, msg=self.spec.none_msg(state, action))
            return res
        # PLAN_SEND
        if self.check_mode:
            res.update(changed=True, state=self.spec.predicted(), action=None, msg="would send %s" % self.kind)
            return res
        return self._send(res, history)

    def _send(self, res, history):
        known = set(a.get("id") for a in history)
        sent_at = _utcnow()
        try:
            action = self.client.post(self.path(res["machine_id"]), self.spec.body)
        except DefenderOutcomeUnknownError as exc:
            return self._lost(res, known, sent_at, str(exc))
        except DefenderError as exc:
            # A 5xx answer to the POST arrives as DefenderOutcomeUnknownError (the shared client's decision: a
            # gateway 502/504 may follow an applied write); any other error means the request was not applied.
            if M.already_in_progress(exc) or (exc.status == 400 and self.spec.busy_400):
                return self._already(res, exc)
            if exc.status in (401, 403) and self.spec.permission not in str(exc):
                raise DefenderError("%s (%s needs %s)" % (exc.message, self.kind, self.spec.permission),
                                    status=exc.status, code=exc.code, target=exc.target, method=exc.method,
                                    path=exc.path) from None
            raise
        action = M.normalize_action(action)
        if not isinstance(action, dict) or not action.get("id"):
            res.update(changed=True, state=self.spec.pending(), action=None,
                       msg="%s sent; the API answered without an action" % self.kind)
            return res
        if action.get("type") and action.get("type") != self.kind:
            res.update(failed=True, action=action, msg=(
                "%s was sent but the API answered with %s; re-run later" % (self.kind, M.action_summary(action))))
            return res
        if action.get("id") in known:
            res.update(changed=False, action=action, state=self.spec.pending(),
                       msg="the API returned the %s action already pending: %s" % (self.kind, M.action_summary(action)))
            return res
        res.update(changed=True, action=action, state=self.spec.state_of(action),
                   msg="%s action %s sent" % (self.kind, action.get("id")))
        return res

    def _predict_wait(self, res, history, acts, to_cancel):
        """Check mode with an active action of the other kind: what cancelling and/or waiting would lead to."""
        res["cancelled"] = to_cancel
        left = [a for a in acts if a not in to_cancel]
        if left:
            res.update(changed=True, state=self.spec.predicted(), action=left[-1],
                       msg="would wait for %s to finish, then send %s" % (_list(left), self.kind))
            return res
        ids = set(a.get("id") for a in to_cancel)
        after = [dict(a, status="Cancelled") if a.get("id") in ids else a for a in history]
        plan, state, found = self.spec.plan(after)
        if plan == M.PLAN_SEND:
            res.update(changed=True, state=self.spec.predicted(), action=None, msg="would send %s" % self.kind)
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
                hint = (" (cancelling needs the permission of the action, %s)" % self.spec.permission
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

    def _final_state(self, res):
        """The state our action leaves when the history cannot be read again: its own state once it succeeded,
        the previous one when it ended without effect, pending while it is not final."""
        action = res["action"]
        if M.is_final(action) and action.get("status") != "Succeeded":
            return res["previous_state"]
        return self.spec.state_of(action)

    def _lost(self, res, known, sent_at, error):
        """The POST's response was lost: look, never re-send."""
        mid = res["machine_id"]
        try:
            after = self.history([mid])[mid]
        except DefenderError as exc:
            res.update(failed=True, changed=False, msg=(
                "outcome unknown: %s was sent but its response was lost (%s), and the history could not be read "
                "again (%s); nothing else was sent. Re-run to retry: the next run reads the history first"
                % (self.kind, error, exc)))
            return res
        new = [a for a in M.sort_actions(after) if self.spec.matches(a) and a.get("id") not in known
               and a.get("status") not in M.NO_EFFECT_STATUSES]
        mine = [a for a in new if a.get("requestorComment") == self.comment] or new
        if mine:
            action = M.normalize_action(mine[-1])
            res.update(changed=True, action=action, state=self.spec.state_of(action), msg=(
                "%s was sent and its response was lost (%s); the action it created was found in the history: %s"
                % (self.kind, error, M.action_summary(action))))
            return res
        res.update(failed=True, changed=False, state=self.spec.state(after), msg=(
            "outcome unknown: %s was sent at %s but its response was lost (%s) and no new action is visible yet; "
            "nothing else was sent. Re-run to retry: the next run reads the history first"
            % (self.kind, sent_at.strftime("%Y-%m-%dT%H:%M:%SZ"), error)))
        return res

    def _already(self, res, error):
        mid = res["machine_id"]
        after = self.history([mid])[mid]
        update, failed = self.spec.already(after, str(error))
        if failed and not self.spec.declarative and not M.already_in_progress(error):
            raise error  # a plain 400 on an endpoint that also uses 400 for "busy": it was not that
        res.update(update, failed=failed)
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
        if not self.spec.declarative:
            for r in todo:
                self.spec.confirm(r, None)
                if not r["failed"]:
                    r["msg"] = M.action_summary(r["action"])
            return
        try:
            history = self.history(ids)
        except DefenderError as exc:
            for r in todo:
                r["state"] = self._final_state(r)
                r.update(failed=True, msg="%s; the machine's history could not be read again to confirm the state "
                         "(%s)" % (r["msg"] or M.action_summary(r["action"]), exc))
            return
        for r in todo:
            self.spec.confirm(r, history.get(r["machine_id"], []))
            if not r["failed"]:
                r["msg"] = M.action_summary(r["action"])

    # --- all machines -------------------------------------------------------------------------------------

    def execute(self, refs, max_parallel=8):
        """Resolve, read history, act in parallel, follow. Returns the list of results, in the order given."""
        results, seen, _machines = M.start_results(self.client, refs, new_result)
        ids = list(seen)
        history = self.history(ids) if ids else {}
        note = {i: seen[i]["msg"] for i in ids}
        handled = []

        def one(mid):
            out = self.handle(seen[mid], history.get(mid, []))
            if note[mid]:
                out["msg"] = "%s; %s" % (note[mid], out["msg"])
            with self.lock:
                handled.append(out)
                sent = sum(1 for r in handled if r["changed"])
                progress.report("%s of %s handled, %d %s %s" % (
                    len(handled), progress.plural(len(ids), "machine"), sent,
                    "would get" if self.check_mode else "got", self.kind), done=len(handled), total=len(ids))
            return out

        if len(ids) <= 1 or max_parallel <= 1:
            for mid in ids:
                one(mid)
        else:
            with ThreadPoolExecutor(max_workers=min(max_parallel, len(ids))) as pool:
                list(pool.map(one, ids))
        if self.wait and not self.check_mode:
            self.follow(results)
        return results


# --- the module's answer --------------------------------------------------------------------------------------

def machine_label(r):
    """``ws-042.contoso.com (1cc5ad0d...)``: a machine as people and the portal know it, by name and id."""
    if r.get("computer_dns_name") and r.get("machine_id"):
        return "%s (%s)" % (r["computer_dns_name"], r["machine_id"])
    return r.get("computer_dns_name") or r.get("machine_id") or r.get("machine") or "?"


def summary(results):
    changed = [r for r in results if r["changed"]]
    names = ", ".join(machine_label(r) for r in changed[:MAX_LISTED_FAILURES])
    if len(changed) > MAX_LISTED_FAILURES:
        names += " and %d more" % (len(changed) - MAX_LISTED_FAILURES)
    return "%d machine%s: %d changed%s, %d unchanged" % (len(results), "" if len(results) == 1 else "s",
                                                         len(changed), " (%s)" % names if changed else "",
                                                         len(results) - len(changed))


def failure_msg(results):
    failed = [r for r in results if r["failed"]]
    names = "; ".join("%s: %s" % (machine_label(r), r["msg"])
                      for r in failed[:MAX_LISTED_FAILURES])
    more = " (and %d more)" % (len(failed) - MAX_LISTED_FAILURES) if len(failed) > MAX_LISTED_FAILURES else ""
    return "%d of %d machines failed: %s%s" % (len(failed), len(results), names, more)


def finish(m, results, out):
    """Exit the module with ``out`` (which holds ``results``): fail at the end naming the failed machines."""
    out["changed"] = any(r["changed"] for r in results)
    if any(r["failed"] for r in results):
        m.fail(failure_msg(results), **out)
    out["msg"] = summary(results)
    m.exit(**out)


def machine_label(result):
    """How a machine is named in diffs: computer name and id (names are what people read, ids what is unique)."""
    name = result.get("computer_dns_name")
    return "%s (%s)" % (name, result["machine_id"]) if name else result["machine_id"]


def results_diff(results, before_key, after_key):
    """A diff over the resolved machines of ``results``, keyed by ``machine_label``."""
    resolved = [r for r in results if r["machine_id"]]
    return {"before": dict((machine_label(r), r[before_key]) for r in resolved),
            "after": dict((machine_label(r), r[after_key]) for r in resolved)}


def state_diff(results):
    return results_diff(results, "previous_state", "state")


def declarative_engine(client, toggle, p, check_mode, permission, on_body=None, sleeper=None, clock=None):
    """The engine of a declarative module (options ``state``, ``comment``, ``cancel_pending``, ``wait``...);
    ``on_body`` holds the body keys sent only with the action towards the "on" state (``IsolationType``)."""
    wanted = p["state"]
    body = {"Comment": p["comment"]}
    if wanted == toggle.on_state and on_body:
        body.update(on_body)
    cancel = p.get("cancel_pending")
    # A machine left cut off (isolated, restricted) against an explicit release stays so: releasing cancels by
    # default.
    cancel = (wanted == toggle.off_state) if cancel is None else bool(cancel)
    spec = ToggleSpec(toggle, wanted, body, permission, cancel_pending=cancel)
    return Engine(client, spec, p["comment"], check_mode, wait=p["wait"], wait_timeout=p["wait_timeout"],
                  wait_sleep=p["wait_sleep"], sleeper=sleeper, clock=clock)


def run_declarative(m, engine, refs, single):
    """The whole ``run`` of a declarative module (isolation, app restriction) once its engine is built."""
    results = engine.execute(refs, max_parallel=m.params["max_parallel"])
    out = dict(results=results)
    if single:
        out.update(action=results[0]["action"], previous_state=results[0]["previous_state"],
                   state=results[0]["state"])
    if m.diff:
        out["diff"] = state_diff(results)
    finish(m, results, out)


def client_for(m, refs=None):
    """The module's client; its requests spend the process's shared budget of the app and API host, set to
    ``requests_per_minute``. Given the machines, says up front when they need more calls than the hourly quota."""
    p = m.params
    client = m.client(pool_size=p["max_parallel"])
    client.limit_rate(p["requests_per_minute"])
    if refs:
        writes = 0 if m.check_mode else len(refs)
        client.announce(writes + 2 * -(-len(refs) // M.BATCH), m.warn)  # writes, machine and history reads
    return client


# --- app restriction ------------------------------------------------------------------------------------------

STATE_RESTRICTED = "restricted"
STATE_UNRESTRICTED = "unrestricted"
RESTRICTION = M.Toggle("RestrictCodeExecution", "UnrestrictCodeExecution", STATE_RESTRICTED, STATE_UNRESTRICTED,
                       "restriction_pending", "unrestriction_pending")


# --- one-shot actions (machine_action) ------------------------------------------------------------------------

# action option -> (API type, path segment, application permission); facts 5.1
ONE_SHOT = {
    "av_scan": ("RunAntiVirusScan", "runAntiVirusScan", "Machine.Scan"),
    "collect_investigation_package": ("CollectInvestigationPackage", "collectInvestigationPackage",
                                      "Machine.CollectForensics"),
    "stop_and_quarantine_file": ("StopAndQuarantineFile", "StopAndQuarantineFile", "Machine.StopAndQuarantine"),
    "offboard": ("Offboard", "offboard", "Machine.Offboard"),
}
SCAN_TYPES = {"quick": "Quick", "full": "Full"}
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")


def check_one_shot_params(p, now=None):
    """Checks of machine_action's own options, before any request; returns ``since`` (or None)."""
    action = p.get("action")
    if action not in ONE_SHOT:
        raise DefenderConfigError("action must be one of %s" % ", ".join(ONE_SHOT))
    if p.get("scan_type") is not None and action != "av_scan":
        raise DefenderConfigError("scan_type is only used with action=av_scan")
    if p.get("scan_type") is not None and p["scan_type"] not in SCAN_TYPES:
        raise DefenderConfigError("scan_type must be quick or full")
    if action == "stop_and_quarantine_file":
        sha1 = p.get("sha1")
        if not isinstance(sha1, str) or not _SHA1.match(sha1.strip()):
            raise DefenderConfigError("sha1 must be the SHA-1 of the file (40 hexadecimal characters), got %r"
                                      % (sha1[:60] if isinstance(sha1, str) else sha1))
    elif p.get("sha1") is not None:
        raise DefenderConfigError("sha1 is only used with action=stop_and_quarantine_file")
    if p.get("dest") is not None:
        if action != "collect_investigation_package":
            raise DefenderConfigError("dest is only used with action=collect_investigation_package")
        dest = os.path.abspath(p["dest"])
        if os.path.exists(dest) and not os.path.isdir(dest):
            raise DefenderConfigError("dest %s exists and is not a directory" % dest)
        # Missing folders are created (0700) once a package is there to write: the nearest existing one must allow it.
        parent = dest
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
            raise DefenderConfigError("dest %s cannot be written (%s is not a writable directory)" % (dest, parent))
    if action == "offboard" and p.get("confirm_offboard") is not True:
        raise DefenderConfigError("offboard disconnects the machines from Defender for Endpoint and cannot be undone "
                                  "from the API; set confirm_offboard: true to offboard")
    if p.get("confirm_offboard") and action != "offboard":
        raise DefenderConfigError("confirm_offboard is only used with action=offboard")
    within = p.get("skip_if_done_within")
    if within is None:
        return None
    return parse_time(within, "skip_if_done_within", now=now)


def one_shot_spec(p, since=None):
    """The spec of machine_action's ``action`` from validated params."""
    kind, verb, permission = ONE_SHOT[p["action"]]
    body = {"Comment": p["comment"]}
    same = satisfies = None
    if p["action"] == "av_scan":
        scan = SCAN_TYPES[p.get("scan_type") or "quick"]
        body["ScanType"] = scan

        def satisfies(action):  # a full scan that succeeded also covers a quick one
            return action.get("scope") in (scan, "Full")
    elif p["action"] == "stop_and_quarantine_file":
        sha1 = p["sha1"].strip().lower()
        body["Sha1"] = sha1

        def same(action):  # only the same file counts: quarantining another file is another action
            return str((action.get("relatedFileInfo") or {}).get("fileIdentifier") or "").lower() == sha1
    elif p["action"] == "offboard" and since is None:
        # A machine offboarded stays so: a succeeded offboard is done, however long ago.
        since = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return OneShotSpec(kind, verb, body, permission, since=since, same=same, satisfies=satisfies,
                       busy_400=p["action"] == "collect_investigation_package")


def one_shot_result(r):
    """machine_action's result for one machine (the engine's, without the declarative state keys)."""
    action = r.get("action") or {}
    out = dict((k, r[k]) for k in ("machine", "machine_id", "computer_dns_name", "changed", "failed", "msg",
                                   "action"))
    out["action_id"] = action.get("id")
    out["status"] = action.get("status")
    for key in ("candidates", "package_path", "package_sha256", "package_size"):
        if key in r:
            out[key] = r[key]
    return out


# --- investigation package download (facts 13) ----------------------------------------------------------------

PACKAGE_URI = M.ACTIONS + "/%s/getPackageUri"
CHUNK = 1024 * 1024


def _no_auth(request):
    """No Authorization header ever reaches the download host (not the API's token, not a .netrc entry)."""
    request.headers.pop("Authorization", None)
    return request


def package_name(result):
    """``<computer name>_<action id>.zip``, the computer name reduced to safe characters."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", result.get("computer_dns_name") or result["machine_id"]).strip(".")
    return "%s_%s.zip" % (name or result["machine_id"], result["action"]["id"])


class PackageDownloader:
    """Gets a package's signed link (GET getPackageUri, which the client paces in its own 2-a-minute budget) and
    downloads it over HTTPS with the collection's TLS settings, streamed into a 0600 temporary file renamed into
    place.

    The link is a credential: it never appears in a result, a message or an exception raised from here, and
    the download session is not the API's, so the bearer token is never sent to the download host.
    """

    def __init__(self, client, validate_certs=True, ca_path=None, timeout=30, session=None,
                 sleeper=time.sleep, clock=time.monotonic):
        self.client = client
        self.timeout = timeout
        self.session = session if session is not None else build_session(validate_certs, ca_path, pool_size=2)
        self.session.auth = _no_auth
        self.sleeper, self.clock = sleeper, clock

    def link(self, action_id, timeout, sleep):
        """The signed link, asking again while the API answers 404 (not ready) until ``timeout`` seconds pass."""
        deadline = self.clock() + max(0, timeout)
        path = PACKAGE_URI % segment(action_id, "action id")
        while True:
            try:
                answer = self.client.get(path)
                break
            except DefenderError as exc:
                if exc.status != 404 or self.clock() >= deadline:
                    raise
            self.sleeper(max(sleep, 0.05))
        value = answer.get("value") if isinstance(answer, dict) else answer
        # The documented example wraps the link in literal double quotes.
        url = value.strip().strip('"').strip() if isinstance(value, str) else ""
        if urlsplit(url).scheme.lower() != "https" or not urlsplit(url).hostname:
            raise DefenderError("getPackageUri did not return an HTTPS link; nothing was downloaded",
                                method="GET", path=path)
        return url

    def fetch(self, url, dest):
        """Download ``url`` to ``dest`` atomically; ``(sha256, size)``. Errors name the host, never the link."""
        host = urlsplit(url).hostname
        directory = os.path.dirname(dest)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(dest), suffix=".part")
        h, size = hashlib.sha256(), 0
        try:
            os.fchmod(fd, 0o600)
            try:
                with self.session.get(url, stream=True, timeout=self.timeout,
                                      headers={"Accept": "application/octet-stream, */*"}) as response:
                    if response.status_code >= 400:
                        raise DefenderError("the download host %s answered HTTP %s" % (host, response.status_code),
                                            status=response.status_code)
                    with os.fdopen(fd, "wb") as fh:
                        fd = None
                        for block in response.iter_content(CHUNK):
                            fh.write(block)
                            h.update(block)
                            size += len(block)
                        fh.flush()
                        os.fsync(fh.fileno())
            except DefenderError:
                raise
            except Exception as exc:  # pylint: disable=broad-except
                # requests' messages quote the URL, signature included: only the kind of failure is kept.
                raise DefenderError("downloading the package from %s failed (%s)" % (host, type(exc).__name__)) \
                    from None
            os.replace(tmp, dest)
            tmp = None
        finally:
            if fd is not None:
                os.close(fd)
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        return h.hexdigest(), size

    def download(self, action_id, dest, timeout, sleep):
        """Link, then download; one fresh link when the first is refused (expired) as the facts advise."""
        for attempt in (1, 2):
            url = self.link(action_id, timeout, sleep)
            try:
                return self.fetch(url, dest)
            except DefenderError as exc:
                if attempt == 2 or exc.status not in (401, 403):
                    raise
        raise AssertionError("unreachable")


def collect_packages(results, dest, downloader, check_mode, timeout, sleep):
    """After the collections succeeded: each machine's package into ``dest`` (named after the machine and the
    action, so a package already there is not downloaded again). Fills ``package_path``, ``package_sha256`` and
    ``package_size``; a failed download fails that machine and keeps its ``changed``."""
    todo = sum(1 for r in results if not r["failed"] and (r.get("action") or {}).get("status") == "Succeeded")
    done = 0
    for r in results:
        action = r.get("action")
        if r["failed"] or not r["machine_id"]:
            continue
        if check_mode or not action or action.get("status") != "Succeeded":
            if check_mode:
                r["msg"] += "; would download the package into %s" % dest
            continue
        path = os.path.join(dest, package_name(r))
        try:
            if os.path.exists(path):
                digest, size = file_digest(path), os.path.getsize(path)
                r["msg"] += "; package already downloaded"
            else:
                if not os.path.isdir(dest):
                    os.makedirs(dest, mode=0o700, exist_ok=True)
                # The links are paced at 2 a minute: a fleet's downloads take a while.
                progress.report("downloading package %d of %d (%s)" % (done + 1, todo, r["computer_dns_name"]
                                                                       or r["machine_id"]),
                                done=done, total=todo, force=True)
                digest, size = downloader.download(action["id"], path, timeout, sleep)
                done += 1
                r["changed"] = True
                r["msg"] += "; package downloaded (%d bytes)" % size
        except (DefenderError, OSError) as exc:
            r.update(failed=True, msg="%s; the package could not be downloaded: %s" % (
                M.action_summary(action), exc if isinstance(exc, DefenderError) else (exc.strerror or type(exc).__name__)))
            continue
        r.update(package_path=path, package_sha256=digest, package_size=size)
