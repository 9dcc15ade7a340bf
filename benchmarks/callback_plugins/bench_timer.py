# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper (not part of the collection): records each task's wall time to $BENCH_TIMER_OUT as JSON.

A task's time runs from v2_playbook_on_task_start to its last result (ok/failed/skipped/unreachable), so it covers
what Ansible does per task: templating, building the AnsiballZ payload, forking and running the module.
A task whose name starts with ``keep:`` also has its result recorded.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_timer
type: aggregate
short_description: per-task wall times for benchmarks/run
description: Writes the name, start, end and status of every task to the file named by BENCH_TIMER_OUT.
requirements: [enable in ansible.cfg or ANSIBLE_CALLBACKS_ENABLED]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tasks = []
        self.current = None
        self.start = time.time()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.current = {"name": task.get_name(), "action": task.action, "start": time.time(), "end": None,
                        "status": None, "results": 0}
        self.tasks.append(self.current)

    def _done(self, result, status):
        if self.current is None:
            return
        self.current["end"] = time.time()
        self.current["results"] += 1
        if self.current["status"] in (None, "ok", "skipped"):
            self.current["status"] = status
        if self.current["name"].startswith("keep:"):  # tasks whose result the harness reads
            self.current["result"] = result._result

    def v2_runner_on_ok(self, result):
        self._done(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._done(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        out = os.environ.get("BENCH_TIMER_OUT")
        if not out:
            return
        for t in self.tasks:
            t["seconds"] = (t["end"] - t["start"]) if t["end"] else None
        with open(out, "w", encoding="utf-8") as handle:
            json.dump({"start": self.start, "end": time.time(), "tasks": self.tasks}, handle, indent=1, default=str)
