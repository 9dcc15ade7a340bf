# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The answer of a machine module (actions and tags): machines named by computer name and id, a summary, a
failure message naming the failed machines, the diff, and the exit (fail at the end when some machine failed)."""

from __future__ import annotations

MAX_LISTED = 20


def machine_result(ref, machine=None, **fields):
    """One machine's result: the reference as given, the machine it resolved to (None when it did not), nothing
    changed or failed yet, and the module's own ``fields``."""
    out = {"machine": ref, "machine_id": machine.get("id") if machine else None,
           "computer_dns_name": machine.get("computerDnsName") if machine else None,
           "changed": False, "failed": False, "msg": ""}
    out.update(fields)
    return out


def machine_label(r):
    """``ws-042.contoso.com (1cc5ad0d...)``: a machine as people and the portal know it, by name and id."""
    if r.get("computer_dns_name") and r.get("machine_id"):
        return "%s (%s)" % (r["computer_dns_name"], r["machine_id"])
    return r.get("computer_dns_name") or r.get("machine_id") or r.get("machine") or "?"


def summary(results):
    changed = [r for r in results if r["changed"]]
    names = ", ".join(machine_label(r) for r in changed[:MAX_LISTED])
    if len(changed) > MAX_LISTED:
        names += " and %d more" % (len(changed) - MAX_LISTED)
    return "%d machine%s: %d changed%s, %d unchanged" % (len(results), "" if len(results) == 1 else "s",
                                                         len(changed), " (%s)" % names if changed else "",
                                                         len(results) - len(changed))


def failure_msg(results):
    failed = [r for r in results if r["failed"]]
    names = "; ".join("%s: %s" % (machine_label(r), r["msg"])
                      for r in failed[:MAX_LISTED])
    more = " (and %d more)" % (len(failed) - MAX_LISTED) if len(failed) > MAX_LISTED else ""
    return "%d of %d machines failed: %s%s" % (len(failed), len(results), names, more)


def finish(m, results, out):
    """Exit the module with ``out`` (which holds ``results``): fail at the end naming the failed machines."""
    out["changed"] = any(r["changed"] for r in results)
    if any(r["failed"] for r in results):
        m.fail(failure_msg(results), **out)
    out["msg"] = summary(results)
    m.exit(**out)


def results_diff(results, before_key, after_key):
    """A diff over the resolved machines of ``results``, keyed by ``machine_label``."""
    resolved = [r for r in results if r["machine_id"]]
    return {"before": dict((machine_label(r), r[before_key]) for r in resolved),
            "after": dict((machine_label(r), r[after_key]) for r in resolved)}


def state_diff(results):
    return results_diff(results, "previous_state", "state")


def finish_declarative(m, results, single):
    """The answer of a declarative module (isolation, app restriction)."""
    out = dict(results=results)
    if single:
        out.update(action=results[0]["action"], previous_state=results[0]["previous_state"],
                   state=results[0]["state"])
    if m.diff:
        out["diff"] = state_diff(results)
    finish(m, results, out)


def one_shot_result(r):
    """machine_action's result for one machine (the engine's, without the declarative state keys)."""
    action = r.get("action") or {}
    out = dict((k, r[k]) for k in ("machine", "machine_id", "computer_dns_name", "changed", "failed", "msg",
                                   "action"))
    out["action_id"] = action.get("id")
    out["status"] = action.get("status")
    for key in ("candidates", "package_path", "package_sha256", "package_size", "commands"):
        if key in r:
            out[key] = r[key]
    return out


def finish_one_shot(m, results, single):
    """The answer of machine_action."""
    out = dict(diff=state_diff(results)) if m.diff else {}
    results = [one_shot_result(r) for r in results]
    out["results"] = results
    if single:
        out.update(action_id=results[0]["action_id"], status=results[0]["status"])
    finish(m, results, out)
