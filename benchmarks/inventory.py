# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the machines inventory plugin: ``ansible-inventory --list`` over N machines (default 25,000)
against a plain ``requests`` loop that signs in and lists the same machines, side by side in one run against the
emulator (wall time and peak memory of each process; the ratio is what to read, the machine's speed cancels out).

    python benchmarks/inventory.py                        # 25,000 machines, 3 runs each, the best of each kept
    python benchmarks/inventory.py --machines 300 --repeats 1 --json out.json

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

# The DIY baseline: what someone writes without the collection (client credentials with requests, then $top/$skip).
PLAIN_LOOP = r"""
import json, sys, requests
s = json.load(open(sys.argv[1]))
session = requests.Session()
session.verify = s["ca_path"]
token = session.post("%s/%s/oauth2/v2.0/token" % (s["login_url"], s["tenant_id"]), data={
    "grant_type": "client_credentials", "client_id": s["client_id"], "client_secret": s["client_secret"],
    "scope": "https://api.securitycenter.microsoft.com/.default"}).json()["access_token"]
machines, skip = [], 0
while True:
    page = session.get(s["api_url"] + "/api/machines", params={"$top": 10000, "$skip": skip},
                       headers={"Authorization": "Bearer " + token}).json()["value"]
    machines.extend(page)
    skip += len(page)
    if len(page) < 10000:
        break
print(len({m["id"] for m in machines}))
"""

MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "with open(sys.argv[1], 'w') as out:\n"
    "    rc = subprocess.call(sys.argv[2:], stdout=out)\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(json.dumps({'rc': rc, 'wall': time.perf_counter() - t, 'cpu': u.ru_utime + u.ru_stime,\n"
    "                  'rss_kib': u.ru_maxrss}))\n"
)


def measure(cmd, env, out_path):
    """Wall seconds and the peak RSS (KiB) of the largest process ``cmd`` ran, measured by a fresh wrapper."""
    proc = subprocess.run([sys.executable, "-c", MEASURE, out_path] + cmd, env=env, capture_output=True, text=True,
                          timeout=3600, check=False)
    if proc.returncode != 0:
        raise RuntimeError("measuring %s failed: %s" % (cmd[0], proc.stderr[-2000:]))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise RuntimeError("%s exited %s: %s" % (cmd, result["rc"], proc.stderr[-3000:]))
    return result


def collection_root(work):
    root = os.path.join(work, "collections")
    ns = os.path.join(root, "ansible_collections", "defender")
    os.makedirs(ns)
    os.symlink(REPO, os.path.join(ns, "endpoint"))
    return root


def hosts_in(path):
    with open(path, encoding="utf-8") as f:
        return len(json.load(f)["_meta"]["hostvars"])


def run(machines, repeats, work):
    sys.path.insert(0, EMULATOR_DIR)
    import control  # pylint: disable=import-error,import-outside-toplevel

    proc, settings = control.start_emulator(os.path.join(work, "emulator"), machines=machines, alerts=10,
                                            no_throttle=True)
    try:
        settings_path = os.path.join(work, "settings.json")
        with open(settings_path, "w", encoding="utf-8") as f:
            json.dump(settings, f)
        expected = len(control.EmulatorControl(settings).query("machines", None))
        inventory = os.path.join(work, "bench.defender_machines.yml")
        with open(inventory, "w", encoding="utf-8") as f:
            # every machine, named by id: the same set the plain loop lists
            f.write("plugin: defender.endpoint.machines\nexclude_potential_duplicates: false\nhostnames: [id]\n"
                    "filters:\n  onboarding_status: [Onboarded, CanBeOnboarded, Unsupported, InsufficientInfo]\n")
        bindir = os.path.dirname(sys.executable)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "DEFENDER_", "ANSIBLE_"))
               and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")}
        env.update({
            "PATH": bindir + os.pathsep + env.get("PATH", ""),
            "ANSIBLE_COLLECTIONS_PATH": collection_root(work),
            "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
            "AZURE_TENANT_ID": settings["tenant_id"], "AZURE_CLIENT_ID": settings["client_id"],
            "AZURE_CLIENT_SECRET": settings["client_secret"], "AZURE_AUTHORITY_HOST": settings["login_url"],
            "DEFENDER_API_URL": settings["api_url"], "DEFENDER_CA_PATH": settings["ca_path"],
            "DEFENDER_TOKEN_CACHE": "false",  # every run signs in, as the plain loop does
        })
        runs = {"inventory": [], "plain": []}
        for i in range(repeats):
            out = os.path.join(work, "inventory-%d.json" % i)
            r = measure([os.path.join(bindir, "ansible-inventory"), "-i", inventory, "--list"], env, out)
            r["items"] = hosts_in(out)
            runs["inventory"].append(r)
            out = os.path.join(work, "plain-%d.txt" % i)
            r = measure([sys.executable, "-c", PLAIN_LOOP, settings_path], env, out)
            with open(out, encoding="utf-8") as f:
                r["items"] = int(f.read().strip())
            runs["plain"].append(r)
        for name, results in runs.items():
            for r in results:
                if r["items"] != expected:
                    raise RuntimeError("%s listed %d machines, the emulator holds %d" % (name, r["items"], expected))
        return expected, runs
    finally:
        control.stop_emulator(proc)


def summary(machines, expected, runs):
    best = {name: {"wall": min(r["wall"] for r in rs), "cpu": min(r["cpu"] for r in rs),
                   "rss_mib": min(r["rss_kib"] for r in rs) / 1024.0}
            for name, rs in runs.items()}
    return {
        "scenario": "inventory", "machines": expected, "repeats": len(runs["inventory"]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": "%s, %d CPUs, Python %s" % (platform.machine(), os.cpu_count() or 0, platform.python_version()),
        "inventory": best["inventory"], "plain_requests_loop": best["plain"],
        "ratio_wall": best["inventory"]["wall"] / best["plain"]["wall"],
        "ratio_cpu": best["inventory"]["cpu"] / max(best["plain"]["cpu"], 0.001),
        "ratio_rss": best["inventory"]["rss_mib"] / best["plain"]["rss_mib"],
        "runs": runs, "requested_machines": machines,
    }


def markdown(s):
    inv, plain = s["inventory"], s["plain_requests_loop"]
    return "\n".join([
        "| %d machines (best of %d) | ansible-inventory --list | plain requests loop | ratio |" % (
            s["machines"], s["repeats"]),
        "|---|---|---|---|",
        "| wall time | %.1f s | %.1f s | %.1fx |" % (inv["wall"], plain["wall"], s["ratio_wall"]),
        "| CPU time (user + system) | %.1f s | %.1f s | %.1fx |" % (inv["cpu"], plain["cpu"], s["ratio_cpu"]),
        "| peak memory (largest process) | %.0f MiB | %.0f MiB | %.1fx |" % (
            inv["rss_mib"], plain["rss_mib"], s["ratio_rss"]),
        "",
        "%s; %s." % (s["date"], s["machine"]),
    ])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--machines", type=int, default=25000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=os.path.join(HERE, "results", "inventory.json"))
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args(argv)
    if args.machines < 1 or args.repeats < 1:
        p.error("--machines and --repeats must be at least 1")
    work = tempfile.mkdtemp(prefix="defender-bench-inventory.")
    try:
        expected, runs = run(args.machines, args.repeats, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    s = summary(args.machines, expected, runs)
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
