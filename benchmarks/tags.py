# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of machine_tag: tagging N machines (default 1,000) given by id with T tags (default 2), against the
DIY loop (for each machine ``GET /api/machines/{id}``, then ``POST /api/machines/{id}/tags`` per missing tag), side
by side in one run against one emulator. Counted by the emulator: API requests and writes; measured: wall time. The
figure that matters is requests, since the API allows 100 per minute and 1,500 per hour per app and tenant: the
"least time" column is what those two limits alone impose on that many requests.

    python benchmarks/tags.py                          # 1,000 machines, 2 tags
    python benchmarks/tags.py --machines 200 --json out.json

Needs ansible-core, requests and msal in the running interpreter (benchmarks/run's venv or scripts/test's).
A separate file from bench.py (the other scenarios) so the two can change independently.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
EMULATOR_DIR = os.path.join(REPO, "tests", "emulator")
RATE_PER_MINUTE = 100  # api/add-or-remove-machine-tags: 100 per minute and 1,500 per hour
RATE_PER_HOUR = 1500
TAG = "bench-tag-%d"

# The DIY baseline: what someone writes without the collection (read each machine, add each missing tag).
PLAIN_LOOP = r"""
import json, sys, requests
s, ids, tags = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
session = requests.Session()
session.verify = s["ca_path"]
token = session.post("%s/%s/oauth2/v2.0/token" % (s["login_url"], s["tenant_id"]), data={
    "grant_type": "client_credentials", "client_id": s["client_id"], "client_secret": s["client_secret"],
    "scope": "https://api.securitycenter.microsoft.com/.default"}).json()["access_token"]
headers = {"Authorization": "Bearer " + token}
for i in ids:
    m = session.get(s["api_url"] + "/api/machines/" + i, headers=headers)
    m.raise_for_status()
    for t in tags:
        if t not in m.json()["machineTags"]:
            session.post(s["api_url"] + "/api/machines/%s/tags" % i, json={"Value": t, "Action": "Add"},
                         headers=headers).raise_for_status()
"""

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: tag
      defender.endpoint.machine_tag:
        machines: "{{ lookup('ansible.builtin.file', ids_file) | from_json }}"
        tags: "{{ lookup('ansible.builtin.file', tags_file) | from_json }}"
"""


def collection_root(work):
    root = os.path.join(work, "collections")
    ns = os.path.join(root, "ansible_collections", "defender")
    os.makedirs(ns)
    os.symlink(REPO, os.path.join(ns, "endpoint"))
    return root


def timed(cmd, env):
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        raise RuntimeError("%s exited %s: %s" % (cmd[:2], proc.returncode, (proc.stdout + proc.stderr)[-3000:]))
    return time.perf_counter() - started


def counted(ctl, tags, ids):
    """API requests and writes the emulator saw since the last clear, and whether every machine has every tag."""
    log = ctl.requests(kind="api")
    writes = [e for e in log if e["method"] != "GET"]
    missing = [i for i in ids[:50] + ids[-50:] if not set(tags) <= set(ctl.machine(i)["machineTags"])]
    if missing:
        raise RuntimeError("machines without the tags afterwards: %s" % missing[:5])
    return {"requests": len(log), "writes": len(writes)}


def run(machines, ntags, work):
    sys.path.insert(0, EMULATOR_DIR)
    import control  # pylint: disable=import-error,import-outside-toplevel

    # Throttling off: both sides are counted in requests, the emulator only has to answer them.
    proc, settings = control.start_emulator(os.path.join(work, "emulator"), machines=machines + 100, alerts=10,
                                            no_throttle=True)
    try:
        ctl = control.EmulatorControl(settings)
        specials = set(ctl.specials().values())
        ids = [i for i in ctl.query("machines", "isPotentialDuplication eq false") if i not in specials][:machines]
        tags = [TAG % n for n in range(ntags)]
        paths = {}
        for name, value in (("settings", settings), ("ids", ids), ("tags", tags)):
            paths[name] = os.path.join(work, name + ".json")
            with open(paths[name], "w", encoding="utf-8") as f:
                json.dump(value, f)
        playbook = os.path.join(work, "tag.yml")
        with open(playbook, "w", encoding="utf-8") as f:
            f.write(PLAYBOOK)
        bindir = os.path.dirname(sys.executable)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "DEFENDER_", "ANSIBLE_"))
               and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")}
        env.update({
            "PATH": bindir + os.pathsep + env.get("PATH", ""),
            "ANSIBLE_COLLECTIONS_PATH": collection_root(work),
            "AZURE_TENANT_ID": settings["tenant_id"], "AZURE_CLIENT_ID": settings["client_id"],
            "AZURE_CLIENT_SECRET": settings["client_secret"], "AZURE_AUTHORITY_HOST": settings["login_url"],
            "DEFENDER_API_URL": settings["api_url"], "DEFENDER_CA_PATH": settings["ca_path"],
        })
        play = [os.path.join(bindir, "ansible-playbook"), "-i", "localhost,", playbook,
                "-e", "ids_file=%s tags_file=%s" % (paths["ids"], paths["tags"])]
        out = {}
        ctl.clear_requests()
        out["machine_tag"] = dict(wall=timed(play, env))
        out["machine_tag"].update(counted(ctl, tags, ids))
        ctl.clear_requests()
        out["machine_tag_rerun"] = dict(wall=timed(play, env))
        out["machine_tag_rerun"].update(counted(ctl, tags, ids))
        ctl.reset(machines=machines + 100, alerts=10)  # same seed: the same machines, without the tags
        if [i for i in ctl.query("machines", "isPotentialDuplication eq false") if i not in specials][:machines] != ids:
            raise RuntimeError("the emulator did not come back with the same machines after a reset")
        ctl.clear_requests()
        out["plain_loop"] = dict(wall=timed([sys.executable, "-c", PLAIN_LOOP, paths["settings"], paths["ids"],
                                             paths["tags"]], env))
        out["plain_loop"].update(counted(ctl, tags, ids))
        return out
    finally:
        control.stop_emulator(proc)


def least_minutes(requests):
    """The least time ``requests`` take under 100 per minute and 1,500 per hour."""
    full_hours = max(requests - 1, 0) // RATE_PER_HOUR
    return 60.0 * full_hours + (requests - RATE_PER_HOUR * full_hours) / float(RATE_PER_MINUTE)


def summary(machines, ntags, runs):
    for r in runs.values():
        r["minutes_at_limit"] = least_minutes(r["requests"])
    return {
        "scenario": "tags", "machines": machines, "tags": ntags,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": "%s, %d CPUs, Python %s" % (platform.machine(), os.cpu_count() or 0, platform.python_version()),
        "runs": runs,
        "ratio_requests": runs["plain_loop"]["requests"] / float(runs["machine_tag"]["requests"]),
        "ratio_wall": runs["plain_loop"]["wall"] / runs["machine_tag"]["wall"],
    }


def markdown(s):
    rows = [("machine_tag", "machine_tag"), ("machine_tag, rerun", "machine_tag_rerun"),
            ("DIY loop (GET + POST per machine)", "plain_loop")]
    lines = ["| %d machines, %d tags | API requests | writes | least time at %d/min and %s/h | wall (emulator, no "
             "throttle) |" % (s["machines"], s["tags"], RATE_PER_MINUTE, "{:,}".format(RATE_PER_HOUR)),
             "|---|---|---|---|---|"]
    for label, key in rows:
        r = s["runs"][key]
        values = (label, r["requests"], r["writes"], r["minutes_at_limit"], r["wall"])
        lines.append("| %s | %d | %d | %.1f min | %.1f s |" % values)
    lines += ["", "The DIY loop sends %.0fx the requests (%.1fx the wall time here); %s; %s."
              % (s["ratio_requests"], s["ratio_wall"], s["date"], s["machine"])]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--machines", type=int, default=1000)
    p.add_argument("--tags", type=int, default=2)
    p.add_argument("--json", default=os.path.join(HERE, "results", "tags.json"))
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args(argv)
    if args.machines < 1 or args.tags < 1:
        p.error("--machines and --tags must be at least 1")
    work = tempfile.mkdtemp(prefix="defender-bench-tags.")
    try:
        runs = run(args.machines, args.tags, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    s = summary(args.machines, args.tags, runs)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(s, f, indent=2)
    text = markdown(s)
    with open(re.sub(r"\.json$", "", args.json) + ".md", "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
