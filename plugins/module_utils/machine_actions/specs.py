# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of the action modules: their argument spec, their checks (all before any request), and what a
task's options turn into (the plan of the task from its registry entry, the client's request budget)."""

from __future__ import annotations

import copy

from ansible_collections.defender.endpoint.plugins.module_utils import machines
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import registry
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.history import (
    OneShotSpec,
    ToggleSpec,
)
from ansible_collections.defender.endpoint.plugins.module_utils.odata import parse_time

MAX_PARALLEL = 64
MAX_COMMENT = 1000


# The shared argument specs; each has ONE doc fragment of the same options (tests/unit/plugins/doc_fragments keeps
# each pair equal): MACHINE_SELECTION_SPEC is defender.endpoint.machine_selection, ACTION_SPEC
# defender.endpoint.machine_actions, wait_argument_spec() defender.endpoint.machine_wait.
MACHINE_SELECTION_SPEC = dict(
    machine=dict(type="str"),
    machines=dict(type="list", elements="str"),
)
ACTION_SPEC = dict(
    comment=dict(type="str", required=True),
    wait_sleep=dict(type="int", default=5),
    max_parallel=dict(type="int", default=8),
    requests_per_minute=dict(type="int", default=100),
)


def wait_argument_spec(timeout=300):
    """``wait`` and ``wait_timeout`` (seconds, ``timeout`` by default)."""
    return dict(wait=dict(type="bool", default=False), wait_timeout=dict(type="int", default=timeout))


def machine_selection_spec():
    """A copy of :data:`MACHINE_SELECTION_SPEC` for a module's argument spec."""
    return copy.deepcopy(MACHINE_SELECTION_SPEC)


def action_argument_spec(**options):
    """The argument spec of an action module: the machines, the shared action options and the module's own
    ``options``."""
    spec = machine_selection_spec()
    spec.update(copy.deepcopy(ACTION_SPEC))
    spec.update(options)
    return spec


def check_machine_refs(p):
    """``(refs, single)`` from ``machine`` or ``machines``: stripped, checked, de-duplicated in order."""
    if p.get("machine") is not None and p.get("machines") is not None:
        raise DefenderConfigError("use either machine or machines, not both")
    if p.get("machine") is None and p.get("machines") is None:
        raise DefenderConfigError("one of machine or machines is required")
    single = p.get("machine") is not None
    raw = [p["machine"]] if single else p["machines"]
    if not raw:
        raise DefenderConfigError("machines must not be empty")
    refs = list(dict.fromkeys(machines.check_machine_ref(r, "machine" if single else "machines[%d]" % i)
                              for i, r in enumerate(raw)))
    return refs, single


def check_common_params(p):
    """The options every action module has; returns ``(refs, single)`` or raises DefenderConfigError."""
    refs, single = check_machine_refs(p)
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
    check_requests_per_minute(p)
    return refs, single


def check_requests_per_minute(p):
    if not isinstance(p.get("requests_per_minute"), int) or not 1 <= p["requests_per_minute"] <= 10000:
        raise DefenderConfigError("requests_per_minute must be between 1 and 10000")


def _given(value):
    return value is not None and value is not False


def one_shot(p, now=None, entry=None):
    """``(entry, spec)`` for machine_action's ``action`` (or the module's own ``entry``): the entry's own options
    checked (and another entry's options refused), ``skip_if_done_within`` read; DefenderConfigError before any
    request."""
    if entry is not None:
        entry.check(p)
        return entry, _one_shot_spec(entry, p, now)
    entry = registry.ONE_SHOT.get(p.get("action"))
    if entry is None:
        raise DefenderConfigError("action must be one of %s" % ", ".join(registry.ONE_SHOT))
    for other in registry.ONE_SHOT.values():
        for option in other.options:
            if other is not entry and option not in entry.options and _given(p.get(option)):
                raise DefenderConfigError("%s is only used with action=%s" % (option, other.name))
    entry.check(p)
    return entry, _one_shot_spec(entry, p, now)


def _one_shot_spec(entry, p, now):
    # A rerun of the same play changes nothing: a scan or collection done within the entry's default window counts.
    within = p.get("skip_if_done_within") if p.get("skip_if_done_within") is not None else entry.default_within
    since = parse_time(within, "skip_if_done_within", now=now) if within is not None else None
    if since is None and entry.done_forever:
        since = parse_time("1970-01-01T00:00:00Z")
    return OneShotSpec(entry, entry.body(p), since=since, same=entry.same(p), satisfies=entry.satisfies(p))


def declarative(toggle, p):
    """The spec of a declarative task (options ``state``, ``comment``, ``cancel_pending`` and the entry's own)."""
    entry = registry.TOGGLE_ENTRIES[toggle][p["state"]]
    entry.check(p)
    cancel = p.get("cancel_pending")
    # A machine left cut off (isolated, restricted) against an explicit release stays so: releasing cancels by
    # default.
    cancel = (p["state"] == toggle.off_state) if cancel is None else bool(cancel)
    return ToggleSpec(toggle, entry, entry.body(p), cancel_pending=cancel)


def client_for(m, refs=None):
    """The module's client; its requests spend the process's shared budget of the app and API host, set to
    ``requests_per_minute``. Given the machines, says up front when they need more calls than the hourly quota."""
    p = m.params
    client = m.client(pool_size=p["max_parallel"])
    client.limit_rate(p["requests_per_minute"])
    if refs:
        writes = 0 if m.check_mode else len(refs)
        client.announce(writes + 2 * -(-len(refs) // machines.BATCH), m.warn)  # writes, machine and history reads
    return client
