# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keeps `benchmarks/run` working: one tiny run, every scenario present in the JSON.

The figures are NOT asserted (machines are noisy; docs/performance.md has the full-size table). The run uses the
interpreter that runs this test (BENCH_VENV), so no venv is built here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
SCENARIOS = ("tokens", "overhead", "export", "isolation", "export_formats")


def test_benchmarks_tiny_run_writes_every_scenario(tmp_path):
    out = tmp_path / "latest.json"
    env = dict(os.environ)
    env["BENCH_VENV"] = sys.prefix
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "run"), "--size", "tiny", "--json", str(out)],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=900, check=False)
    assert out.is_file(), "no JSON written; rc %d\n%s\n%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-5000:])
    doc = json.loads(out.read_text())
    assert (tmp_path / "latest.md").is_file()
    assert doc["size"] == "tiny"
    for key in ("date", "nproc", "cpu", "python", "ansible_core"):
        assert key in doc["machine"]
    for name in SCENARIOS:
        assert name in doc["scenarios"], name
        scenario = doc["scenarios"][name]
        # a scenario may be skipped while the module it measures is missing, never crash the harness
        assert scenario["status"] in ("ok", "skipped"), "%s: %s\n%s" % (name, scenario.get("reason"),
                                                                        scenario.get("traceback", ""))
        if scenario["status"] == "ok":
            assert scenario["figures"], name
            for row in scenario["figures"]:
                assert "ours" in row and "baseline" in row and "goal" in row
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert "figure" in proc.stdout and "baseline" in proc.stdout
