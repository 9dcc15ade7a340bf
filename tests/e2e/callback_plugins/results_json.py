# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-harness callback: append every task result as one JSON line to $DEFENDER_E2E_RESULTS_PATH."""
from __future__ import annotations

DOCUMENTATION = r"""
name: results_json
type: aggregate
short_description: write every task result to a JSON-lines file (e2e test harness only)
description:
  - Used by tests/e2e/conftest.py. Each line holds play, task, action, host, status and the result dict.
  - Results of tasks with C(no_log) are stored censored, as Ansible shows them.
  - Internal C(_ansible_*) keys are dropped. ansible-core 2.19+ puts C(exception="(traceback unavailable)") into every
    failed result when no traceback was captured; that placeholder is dropped too, so C(exception) in a stored result
    means a real traceback.
options:
  path:
    description: File to append to.
    env:
      - name: DEFENDER_E2E_RESULTS_PATH
    required: true
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
"""

import json
from collections.abc import Mapping

from ansible.plugins.callback import CallbackBase

CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
_PRESERVE = ("attempts", "changed", "retries", "exception", "warnings", "deprecations", "failed", "skipped",
             "unreachable")


def _plain(value):
    """Convert Ansible's tagged/unsafe types to plain JSON types."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _censor(result):
    """Censor a result (and loop items) with _ansible_no_log set, the way the executor does."""
    if not isinstance(result, Mapping):
        return result
    if result.get("_ansible_no_log"):
        out = {k: result[k] for k in _PRESERVE if k in result}
        out["censored"] = CENSORED
        out["_ansible_no_log"] = True
        return out
    out = dict(result)
    if isinstance(out.get("results"), list):
        out["results"] = [_censor(r) for r in out["results"]]
    return out


TRACEBACK_PLACEHOLDER = "(traceback unavailable)"


def _strip_internal(value):
    if isinstance(value, Mapping):
        return {k: _strip_internal(v) for k, v in value.items()
                if not str(k).startswith("_ansible_") and not (k == "exception" and v == TRACEBACK_PLACEHOLDER)}
    if isinstance(value, list):
        return [_strip_internal(v) for v in value]
    return value


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "results_json"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._play = None

    def _write(self, record):
        path = self.get_option("path")
        if not path:
            return
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True, default=str) + "\n")

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def _record(self, result, status, ignore_errors=False):
        raw = getattr(result, "result", None)
        if raw is None:
            raw = getattr(result, "_result", {})
        raw = _plain(raw)
        no_log = bool(raw.get("_ansible_no_log")) if isinstance(raw, Mapping) else False
        res = _strip_internal(_censor(raw))
        task = getattr(result, "task", None) or getattr(result, "_task", None)
        host = getattr(result, "host", None) or getattr(result, "_host", None)
        if status == "ok" and isinstance(res, Mapping) and res.get("changed"):
            status = "changed"
        self._write({
            "play": self._play,
            "task": task.get_name() if task is not None else None,
            "action": getattr(task, "action", None),
            "host": host.get_name() if host is not None else None,
            "status": status,
            "no_log": no_log,
            "ignore_errors": ignore_errors,
            "result": res,
        })

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed", ignore_errors=bool(ignore_errors))

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        self._write({"stats": {h: _plain(stats.summarize(h)) for h in hosts}})
