# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark case: importing thousands of indicators (default 10,000) with ``defender.endpoint.indicator``.

Figures, measured in one run against the emulator with its limits on (import and BatchDelete: 30 calls per minute):
- calls made for the import against the minimum (one per 500 indicators), and 429 answers;
- the task's time against the import limit's bound: the least time 30 calls per minute allow for that many calls
  (0 s while they fit in one minute), next to what one POST per indicator at 100 per minute would need;
- the rerun (nothing to change: reads only) and the removal (BatchDelete in chunks of 500).
Called from bench.py as the ``indicators`` scenario.
"""

from __future__ import annotations

import json
import math
import os

CHUNK = 500
BULK_PER_MINUTE = 30
SINGLE_PER_MINUTE = 100


def _bound(calls, per_minute):
    """Least seconds a sliding window of ``per_minute`` calls per minute allows for ``calls`` calls."""
    return max(0, math.ceil(calls / float(per_minute)) - 1) * 60.0


def run(bench, figure, fmt_num, log, count):
    if not bench.has_plugin("modules", "indicator"):
        raise RuntimeError("the indicator module is missing")
    bench.reset(throttle=True)
    data = os.path.join(bench.work, "playbooks", "indicators.json")
    with open(data, "w", encoding="utf-8") as handle:
        json.dump([{"value": "%064x" % (0xbe0000 + i), "type": "file_sha256"} for i in range(count)], handle)
    defaults = {"access_token": "{{ bench_token }}", "api_url": "{{ api_url }}", "ca_path": "{{ ca_path }}"}
    args = {"action": "block", "title": "bench", "description": "benchmark",
            "indicators": "{{ lookup('ansible.builtin.file', '%s') | from_json }}" % data}
    token = bench.token()

    def timed(label, state="present"):
        bench.ctl.clear_requests()
        task_args = dict(args, state=state) if state == "present" else {
            "indicators": args["indicators"], "type": "file_sha256", "state": "absent"}
        out = bench.playbook(label, bench.play([{"name": label, "defender.endpoint.indicator": task_args}],
                                               module_defaults=defaults), {"bench_token": token})
        task = [t for t in out["tasks"] if t["action"].endswith("indicator")][0]
        api = list(bench.ctl.requests(kind="api"))
        calls = {}
        for e in api:
            key = "%s %s" % (e["method"], e["path"].replace("/api/indicators", "indicators") or "indicators")
            if e.get("status") and e["status"] >= 400:
                key += " -> %s" % e["status"]
            calls[key] = calls.get(key, 0) + 1
        return task["seconds"], calls, sum(1 for e in api if e.get("status") == 429), task.get("result") or {}

    secs, calls, throttled, result = timed("import")
    imports = calls.get("POST indicators/import", 0)  # accepted calls; refused ones are listed apart
    minimum = math.ceil(count / float(CHUNK))
    bound = _bound(imports, BULK_PER_MINUTE)
    single = count / float(SINGLE_PER_MINUTE) * 60.0
    held = len(bench.ctl.call("GET", "/indicators"))
    log("indicators import: %.1fs, calls %s, 429s %d, held %d" % (secs, calls, throttled, held))
    re_secs, re_calls, _re_throttled, re_result = timed("rerun")
    del_secs, del_calls, del_throttled, _del_result = timed("remove", state="absent")
    deletes = del_calls.get("POST indicators/BatchDelete", 0)
    left = len(bench.ctl.call("GET", "/indicators"))
    figures = [
        figure("import %s indicators: import calls" % fmt_num(count), imports, minimum, goal="= minimum",
               met=imports == minimum and held == count and throttled == 0,
               baseline_name="minimum = one per %d indicators" % CHUNK,
               note="%d indicators held afterwards; %d answered 429; all calls: %s"
                    % (held, throttled, ", ".join("%s: %d" % kv for kv in sorted(calls.items())))),
        figure("import %s indicators: task time vs the import limit's bound (s)" % fmt_num(count), round(secs, 2),
               round(bound, 2), unit="s", ratio="–",
               baseline_name="bound = least time 30 calls/min allow for %d calls" % imports,
               note="the documented sliding window admits all %d calls at once (bound 0 s); the client's shared "
                    "budget paces them evenly at 30/min after a small burst, which is most of this time; one POST "
                    "per indicator at 100/min would need %s s" % (imports, fmt_num(single))),
        figure("rerun with nothing to change: write calls", sum(v for k, v in re_calls.items() if not k.startswith("GET")),
               0, goal="0", met=not re_result.get("changed"), ratio="–", baseline_name="nothing to change",
               note="%.1f s, %d GET(s)" % (re_secs, sum(v for k, v in re_calls.items() if k.startswith("GET")))),
        figure("remove %s indicators: BatchDelete calls" % fmt_num(count), deletes, minimum, goal="= minimum",
               met=deletes == minimum and del_throttled == 0 and left == 0,
               baseline_name="minimum = one per %d ids" % CHUNK,
               note="%.1f s, %d left; all calls: %s"
                    % (del_secs, left, ", ".join("%s: %d" % kv for kv in sorted(del_calls.items())))),
    ]
    return {"figures": figures, "ours": {"count": count, "import_seconds": round(secs, 2), "import_calls": calls,
                                         "throttled": throttled, "rerun_seconds": round(re_secs, 2),
                                         "remove_seconds": round(del_secs, 2), "remove_calls": del_calls}}
