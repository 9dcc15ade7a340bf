# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark scenario ``export_formats``: alert_export to CSV against alert_export to JSON Lines, same alerts, same run.

Kept out of bench.py (which calls :func:`scenario` with its Bench object). The emulator holds ``export_big`` alerts
(100,000 at full size); each repeat runs the two formats in alternating order, each as one ansible-playbook task with
an access token (no sign-in), and the task time comes from the timing callback. The figure is the best CSV time over
the best JSON Lines time; the goal is at most 1.2x (CSV columns are computed per alert, JSON Lines writes the objects
as they come). The files' line and row counts are checked, so a fast but incomplete export cannot pass.
"""

import csv
import os


def _rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return sum(1 for _row in csv.reader(handle)) - 1  # minus the header


def _lines(path):
    with open(path, encoding="utf-8") as handle:
        return sum(1 for _line in handle)


def scenario(bench, figure, skip, log):
    """Run the scenario on ``bench`` (bench.py's Bench); ``figure``, ``skip`` and ``log`` are bench.py's helpers."""
    if not bench.has_plugin("modules", "alert_export"):
        raise skip("needs the alert_export module")
    big, repeats = bench.size["export_big"], bench.size["export_repeats"]
    bench.reset(alerts=big)
    token = bench.token()
    out_dir = os.path.join(bench.work, "export-formats")
    os.makedirs(out_dir, exist_ok=True)
    conn = {"access_token": "{{ bench_token }}", "api_url": "{{ api_url }}", "ca_path": "{{ ca_path }}"}
    times = {"jsonl": [], "csv": []}
    counts = {}
    for r in range(max(1, repeats)):
        for fmt in (("jsonl", "csv") if r % 2 == 0 else ("csv", "jsonl")):
            dest = os.path.join(out_dir, "alerts-%d.%s" % (r, fmt))
            run = bench.playbook("export-%s-%d" % (fmt, r), bench.play(
                [{"name": "export", "defender.endpoint.alert_export": {"dest": dest, "format": fmt}}],
                module_defaults=conn), {"bench_token": token})
            secs = bench.task_seconds(run, "alert_export")[0]
            counts[fmt] = _rows(dest) if fmt == "csv" else _lines(dest)
            times[fmt].append(round(secs, 2))
            log("export %s run %d: %.2f s, %d records" % (fmt, r, secs, counts[fmt]))
            os.unlink(dest)
    csv_best, jsonl_best = min(times["csv"]), min(times["jsonl"])
    complete = counts.get("csv") == big and counts.get("jsonl") == big
    figures = [
        figure("alert_export to CSV vs JSON Lines, %s alerts (s, best of %d)" % ("{:,}".format(big), len(times["csv"])),
               csv_best, jsonl_best, unit="s", goal="≤ 1.20×", met=csv_best / jsonl_best <= 1.20,
               baseline_name="alert_export to JSON Lines"),
        figure("both exports complete (%s rows and lines)" % "{:,}".format(big), complete, True, goal="yes",
               met=complete, ratio="–"),
    ]
    return {"figures": figures, "details": {"seconds": times, "counts": counts}}
