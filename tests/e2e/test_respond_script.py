# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/respond, the main job, run twice against the same (kept) emulator state: the first run isolates and
records, the second sends nothing and its own report says that nothing was changed."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
SCRIPT = REPO / "scripts" / "respond"
_SCRUB = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
          "AZURE_FEDERATED_TOKEN_FILE", "DEFENDER_ACCESS_TOKEN", "DEFENDER_API_URL", "DEFENDER_CA_PATH",
          "AZURE_AUTHORITY_HOST", "DEFENDER_CLOUD", "DEFENDER_EMULATOR_SETTINGS", "REQUESTS_CA_BUNDLE",
          "CURL_CA_BUNDLE", "ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH")


def respond(*args, env):
    return subprocess.run(["bash", str(SCRIPT)] + list(args), env=env, capture_output=True, text=True, timeout=600,
                          check=False, cwd=str(REPO))


def test_respond_twice_against_the_kept_emulator(tmp_path):
    # A missing ansible-playbook fails the test (it never skips: a green run means it ran).
    assert os.path.exists(os.path.join(os.path.dirname(sys.executable), "ansible-playbook")), \
        "needs ansible-playbook next to the test interpreter"
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(DEFENDER_RESPOND_VENV=os.path.dirname(os.path.dirname(sys.executable)),
               DEFENDER_REPORT_DIR=str(tmp_path / "reports"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_NOCOLOR="1")
    try:
        first = respond("--keep-emulator", env=env)
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
        assert "emulator kept running" in first.stderr
        second = respond("--keep-emulator", env=env)
        assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    finally:
        stop = respond("--stop-emulator", env=env)
    assert stop.returncode == 0 and "kept emulator stopped" in stop.stderr, stop.stderr
    assert not (REPO / ".cache" / "emulator").exists()

    assert "changed=2" in first.stdout and "changed=0" in second.stdout
    assert "reusing the kept emulator" in second.stderr and "responding again to the kept incident" in second.stderr
    assert "this run changed nothing" in second.stderr
    reports = sorted(glob.glob(str(tmp_path / "reports" / "isolate-*.json")))
    assert len(reports) == 2, reports
    with open(reports[0], encoding="utf-8") as f:
        one = json.load(f)
    with open(reports[1], encoding="utf-8") as f:
        two = json.load(f)
    assert one["changed"] is True and one["machines"][0]["outcome"] == "isolated now"
    assert two["changed"] is False and two["summary"].startswith("Nothing to do: already isolated")
    assert one["input"] == two["input"], "the second run responded to the same incident"
