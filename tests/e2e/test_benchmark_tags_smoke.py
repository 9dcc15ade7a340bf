# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keeps benchmarks/tags.py working: one small run. Request counts are asserted (they are exact, not noisy);
wall times are not."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def test_tags_benchmark_small_run(tmp_path):
    out = tmp_path / "tags.json"
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "tags.py"), "--machines", "60", "--json",
                           str(out)], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    detail = "rc %d\n%s\n%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-5000:])
    assert proc.returncode == 0 and out.is_file(), detail
    doc = json.loads(out.read_text())
    runs = doc["runs"]
    reads = math.ceil(60 / 20)
    assert runs["machine_tag"]["requests"] == reads + 2 and runs["machine_tag"]["writes"] == 2
    assert runs["machine_tag_rerun"]["requests"] == reads and runs["machine_tag_rerun"]["writes"] == 0
    assert runs["plain_loop"]["requests"] == 60 * 3 and runs["plain_loop"]["writes"] == 120
    assert (tmp_path / "tags.md").is_file()
