# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine of a machine-action task: for every machine, resolve the reference, read the machine's action
history, plan (the spec from :mod:`history`), send at most once, and follow the action with ``wait``.

Safety rules kept here once for all actions: nothing is sent for a machine that did not resolve; check mode
reads and predicts but never writes; a POST whose outcome is unknown (lost response, 5xx) is never re-sent: the
history is read back (:func:`outcome.read_back`); a 400 ``ActiveRequestAlreadyExists`` (or the collection
endpoint's 400 while one runs) is read back and, when the same action is active, reported unchanged; a 201 that
returns an action already in the history is reported unchanged; once something was sent, errors while following
it are reported per machine with ``changed=true`` kept.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.defender.endpoint.plugins.module_utils import machines as M
from ansible_collections.defender.endpoint.plugins.module_utils import outcome, progress
from ansible_collections.defender.endpoint.plugins.module_utils.client import segment
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError, DefenderOutcomeUnknownError
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.history import PLAN_NONE, PLAN_SEND, PLAN_WAIT
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.results import machine_result


def _list(actions):
    return ", ".join("%s %s (%s)" % (a.get("type"), a.get("id"), a.get("status")) for a in actions)


def new_result(ref, machine=None):
    return machine_result(ref, machine, action=None, previous_state=None, state=None, cancelled=[])


class Engine:
    """The work of one task: plan and act on each machine, then (with wait) follow the actions."""

    def __init__(self, client, spec, check_mode, wait=False, wait_timeout=300, wait_sleep=5, sleeper=None,
                 clock=None):
        self.client = client
        self.spec = spec
        self.kind = spec.kind
        self.comment = spec.body["Comment"]
        self.check_mode = check_mode
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.wait_sleep = wait_sleep
        self.kw = {}
        if sleeper is not None:
            self.kw["sleeper"] = sleeper
        if clock is not None:
            self.kw["clock"] = clock
        self.lock = threading.Lock()
        self.notes = {}     # machine id -> why the action was sent although one succeeded (kept after wait)

    @classmethod
    def for_task(cls, client, spec, params, check_mode, wait=None, sleeper=None, clock=None):
        """The engine of a task from its options ``wait``, ``wait_timeout`` and ``wait_sleep``."""
        return cls(client, spec, check_mode, wait=params["wait"] if wait is None else wait,
                   wait_timeout=params["wait_timeout"], wait_sleep=params["wait_sleep"], sleeper=sleeper, clock=clock)

    def path(self, machine_id):
        return "%s/%s/%s" % (M.MACHINES, segment(machine_id, "machine id"), self.spec.path)

    def history(self, ids):
        return M.action_history(self.client, ids, types=self.spec.types)

    # --- one machine -------------------------------------------------------------------------------------

    def handle(self, res, history, machine=None):
        """Plan and act on one resolved machine (``machine``: the record as read); fills and returns ``res``."""
        try:
            self._handle(res, history, machine)
        except DefenderError as exc:
            res.update(failed=True, msg=str(exc))
        if res["cancelled"]:
            # A cancel is a change of its own, whatever happened after it.
            res["changed"] = True
            res["msg"] = "%s %s; %s" % ("would cancel" if self.check_mode else "cancelled",
                                        ", ".join(M.action_summary(a) for a in res["cancelled"]), res["msg"])
        return res

    def _handle(self, res, history, machine):
        mid = res["machine_id"]
        plan, state, acts = self.spec.plan(history, machine)
        res["previous_state"] = state
        res["state"] = state
        if plan == PLAN_WAIT:
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
            plan, state, acts = self.spec.plan(history, machine)
            res["state"] = state
            if plan == PLAN_WAIT:
                res.update(failed=True, action=acts[-1], msg="another action became active while waiting: %s; "
                           "nothing was sent, re-run later" % M.action_summary(acts[-1]))
                return res
        if plan == PLAN_NONE:
            action = acts[0] if acts else None
            res.update(changed=False, action=action, msg=self.spec.none_msg(state, action))
            return res
        # PLAN_SEND
        note = self.spec.send_note(acts, machine)
        if self.check_mode:
            res.update(changed=True, state=self.spec.predicted(), action=None, msg="would send %s" % self.kind)
        else:
            self._send(res, history)
        if note:
            self.notes[res["machine_id"]] = note
            res["msg"] = "%s; %s" % (note, res["msg"])
        return res

    def _send(self, res, history):
        known = set(a.get("id") for a in history)
        try:
            action = self.client.post(self.path(res["machine_id"]), self.spec.body)
        except DefenderOutcomeUnknownError as exc:
            return self._lost(res, known, exc)
        except DefenderError as exc:
            # A 5xx answer to the POST arrives as DefenderOutcomeUnknownError (the shared client's decision: a
            # gateway 502/504 may follow an applied write); any other error means the request was not applied.
            if M.already_in_progress(exc) or (exc.status == 400 and self.spec.busy_400):
                return self._already(res, exc)
            if exc.status in (401, 403) and self.spec.permission not in str(exc):
                raise exc.reworded("%s (%s needs %s)" % (exc.message, self.kind, self.spec.permission)) from None
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
        if plan == PLAN_SEND:
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
                # The cancel may have been applied: read the action back, never re-send.
                found = outcome.read_back(exc, [a["id"]], lambda ids: M.get_actions(self.client, ids),
                                          lambda _id, now: now.get("status") == "Cancelled")
                if found.complete:
                    res["cancelled"].append(found.seen[a["id"]])
                    continue
                res.update(failed=True, action=found.current.get(a["id"]) or a, msg="%s; %s was not sent" % (
                    found.message("action(s)", "the cancel of %s was sent but %s" % (M.action_summary(a), exc)),
                    self.kind))
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

    def _lost(self, res, known, error):
        """The POST's response was lost: read the history back, never re-send."""
        mid = res["machine_id"]
        after = {}

        def created(_keys):
            """The action the lost POST created, if the history shows one (ours by comment when several)."""
            after[mid] = self.history([mid])[mid]
            new = [a for a in M.sort_actions(after[mid]) if self.spec.matches(a) and a.get("id") not in known
                   and a.get("status") not in M.NO_EFFECT_STATUSES]
            mine = [a for a in new if a.get("requestorComment") == self.comment] or new
            return {mid: M.normalize_action(mine[-1]) if mine else None}

        found = outcome.read_back(error, [mid], created, lambda _mid, _action: True)
        if found.complete:
            action = found.seen[mid]
            res.update(changed=True, action=action, state=self.spec.state_of(action), msg=(
                "%s was sent and its response was lost (%s); the action it created was found in the history: %s"
                % (self.kind, error, M.action_summary(action))))
            return res
        if mid in after:
            res["state"] = self.spec.state(after[mid])
        res.update(failed=True, changed=False,
                   msg=found.message("machine(s)", "%s was sent but %s" % (self.kind, error)))
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
                    note = self.notes.get(r["machine_id"])
                    r["msg"] = "; ".join(x for x in (note, M.action_summary(r["action"])) if x)
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
        results, seen, records = M.start_results(self.client, refs, new_result)
        ids = list(seen)
        history = self.history(ids) if ids else {}
        note = {i: seen[i]["msg"] for i in ids}
        handled = []

        def one(mid):
            out = self.handle(seen[mid], history.get(mid, []), records.get(mid))
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
