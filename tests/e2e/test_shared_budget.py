# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two ansible-playbook runs at once with one app registration share one rate budget (module_utils.rate
SharedRateBudget, a state file under flock in the private cache folder): together they stay within the API's
100 requests per minute, in real time, against the emulator's limiter. With a budget per process
(DEFENDER_SHARED_BUDGET=false) the same runs send about 120 requests in well under a minute and meet 429s
(benchmarks/run --only isolation --isolation shared4_per_process shows it)."""
from __future__ import annotations

import datetime
import json
import os
import subprocess

import yaml

MACHINES_PER_RUN = 60


def test_two_playbooks_at_once_stay_within_one_budget(emulator, ansible):
    emulator.reset(machines=300)
    emulator.control.config(throttle={"enabled": True, "per_minute": 100, "per_hour": 10 ** 9})
    specials = set(emulator.control.specials().values())
    ids = [i for i in emulator.query("machines", "isPotentialDuplication eq false") if i not in specials]
    parts = [ids[:MACHINES_PER_RUN], ids[MACHINES_PER_RUN:2 * MACHINES_PER_RUN]]
    assert len(parts[1]) == MACHINES_PER_RUN
    emulator.control.clear_requests()
    procs = []
    for n, part in enumerate(parts):
        path = ansible.workdir / ("shared-budget-%d.yml" % n)
        path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [{
            "name": "isolate", "defender.endpoint.machine_isolation": {
                "machines": part, "state": "isolated", "wait": False, "comment": "e2e shared budget"}}]}]))
        procs.append(subprocess.Popen([ansible.ansible_playbook, "-i", "localhost,", "-c", "local", str(path)],
                                      env=ansible.env, cwd=str(ansible.workdir), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    log = emulator.requests(kind="api")
    assert not [r for r in log if r["status"] == 429], "the runs met the limit instead of sharing the budget"
    posts = [r for r in log if r["method"] == "POST" and r["path"].endswith("/isolate")]
    assert len(posts) == 2 * MACHINES_PER_RUN
    stamps = sorted(datetime.datetime.fromisoformat(r["time"]).timestamp() for r in log)
    assert len(stamps) > 100 and stamps[-1] - stamps[0] >= 60  # the 101st waited for the first minute to pass
    # one state file per budget, private, holding times only
    folder = os.path.join(ansible.cache_dir, "defender.endpoint", "budgets")
    states = [n for n in os.listdir(folder) if n.endswith(".json")]
    assert states and oct(os.stat(folder).st_mode & 0o777) == "0o700"
    for name in states:
        state = json.loads(open(os.path.join(folder, name), encoding="utf-8").read())
        assert set(state) == {"format", "written", "sent", "refused", "first_sent", "paused_until", "learnt",
                              "last_cut", "last_change"}
        assert emulator.settings["client_secret"] not in json.dumps(state)
