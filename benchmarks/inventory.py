# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the machines inventory plugin: ``ansible-inventory --list`` over N machines (default 25,000), for
each choice of host variables (the default set, ``hostvar_fields: [all]``, the default set with
``hostvar_layout: dict``), side by side in one run with

- the static floor: a static YAML inventory of the same hosts and the same variables read by the same
  ``ansible-inventory --list`` (what ansible-core itself costs for those hosts and variables, without the plugin);
- a bare listing: a plain ``requests`` loop that signs in and lists the same machines (what the API costs).

Wall time, CPU time and peak memory of each process; the ratios are what to read, the machine's speed (and load)
cancels out in them, the CPU time more than the wall time on a shared machine.

    python benchmarks/inventory.py                        # 25,000 machines, 3 runs each, the best of each kept
    python benchmarks/inventory.py --machines 300 --repeats 1 --variants default --json out.json

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


VARIANTS = {
    # name: inventory options besides the ones every variant has
    "default": {},
    "all": {"hostvar_fields": ["all"]},
    "dict": {"hostvar_layout": "dict"},
}


def plain(value):
    """ansible-inventory writes untrusted strings as ``{"__ansible_unsafe": "..."}``; unwrap them."""
    if isinstance(value, dict):
        if len(value) == 1 and "__ansible_unsafe" in value:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def hostvars_in(path):
    with open(path, encoding="utf-8") as f:
        return plain(json.load(f)["_meta"]["hostvars"])


def write_static(hostvars, path):
    """A static YAML inventory of the same hosts and variables (each value in JSON syntax, which YAML reads)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("all:\n  hosts:\n")
        for host, variables in hostvars.items():
            f.write("    %s:\n" % json.dumps(host))
            for name, value in variables.items():
                f.write("      %s: %s\n" % (name, json.dumps(value)))


def run(machines, repeats, work, variants):
    sys.path.insert(0, EMULATOR_DIR)
    import control  # pylint: disable=import-error,import-outside-toplevel

    proc, settings = control.start_emulator(os.path.join(work, "emulator"), machines=machines, alerts=10,
                                            no_throttle=True)
    try:
        settings_path = os.path.join(work, "settings.json")
        with open(settings_path, "w", encoding="utf-8") as f:
            json.dump(settings, f)
        expected = len(control.EmulatorControl(settings).query("machines", None))
        bindir = os.path.dirname(sys.executable)
        inventory_cmd = os.path.join(bindir, "ansible-inventory")
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
        runs = {"plain": []}
        variables = {}
        for i in range(repeats):
            for name in variants:
                inventory = os.path.join(work, "%s.defender_machines.yml" % name)
                with open(inventory, "w", encoding="utf-8") as f:
                    # every machine, named by id: the same set the plain loop lists
                    json.dump(dict({"plugin": "defender.endpoint.machines", "exclude_potential_duplicates": False,
                                    "hostnames": ["id"], "filters": {"onboarding_status": [
                                        "Onboarded", "CanBeOnboarded", "Unsupported", "InsufficientInfo"]}},
                                   **VARIANTS[name]), f)
                out = os.path.join(work, "%s-%d.json" % (name, i))
                r = measure([inventory_cmd, "-i", inventory, "--list"], env, out)
                hostvars = hostvars_in(out)
                r["items"] = len(hostvars)
                r["variables"] = max(len(v) for v in hostvars.values()) if hostvars else 0
                runs.setdefault(name, []).append(r)
                static = os.path.join(work, "static-%s.yml" % name)
                if i == 0:
                    write_static(hostvars, static)
                    variables[name] = hostvars
                elif hostvars != variables[name]:
                    raise RuntimeError("the %s variant listed other hosts or variables than in its first run" % name)
                del hostvars
                out = os.path.join(work, "static-%s-%d.json" % (name, i))
                r = measure([inventory_cmd, "-i", static, "--list"], env, out)
                if hostvars_in(out) != variables[name]:
                    raise RuntimeError("the static inventory of %s listed other hosts or variables" % name)
                r["items"] = len(variables[name])
                runs.setdefault("static_" + name, []).append(r)
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


def best_of(results):
    return {"wall": min(r["wall"] for r in results), "cpu": min(r["cpu"] for r in results),
            "rss_mib": min(r["rss_kib"] for r in results) / 1024.0}


def ratios(a, b):
    return {"wall": a["wall"] / b["wall"], "cpu": a["cpu"] / max(b["cpu"], 0.001), "rss": a["rss_mib"] / b["rss_mib"]}


def summary(machines, expected, runs, variants):
    best = {name: best_of(rs) for name, rs in runs.items()}
    s = {
        "scenario": "inventory", "machines": expected, "repeats": len(runs["plain"]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": "%s, %d CPUs, Python %s, load average %.1f when the run ended" % (
            platform.machine(), os.cpu_count() or 0, platform.python_version(), os.getloadavg()[0]),
        "plain_requests_loop": best["plain"], "variants": {},
        "runs": runs, "requested_machines": machines,
    }
    for name in variants:
        s["variants"][name] = {
            "options": VARIANTS[name], "variables_per_host": runs[name][0]["variables"],
            "inventory": best[name], "static_floor": best["static_" + name],
            "vs_static_floor": ratios(best[name], best["static_" + name]),
            "vs_plain_loop": ratios(best[name], best["plain"]),
        }
    first = variants[0]
    # the keys of the first version of this file: the first variant against the plain loop
    s["inventory"] = best[first]
    s["ratio_wall"], s["ratio_cpu"], s["ratio_rss"] = (s["variants"][first]["vs_plain_loop"][k]
                                                       for k in ("wall", "cpu", "rss"))
    return s


def markdown(s):
    lines = [
        "| %d machines (best of %d) | variables per host | wall time | CPU time | peak memory | "
        "vs static floor (wall / CPU / memory) |" % (s["machines"], s["repeats"]),
        "|---|---|---|---|---|---|",
    ]
    for v in s["variants"].values():
        options = ", ".join("%s: %s" % (k, json.dumps(x)) for k, x in v["options"].items()) or "defaults"
        inv, floor, r = v["inventory"], v["static_floor"], v["vs_static_floor"]
        lines.append("| plugin, %s | %d | %.1f s | %.1f s | %.0f MiB | %.2fx / %.2fx / %.2fx |" % (
            options, v["variables_per_host"], inv["wall"], inv["cpu"], inv["rss_mib"], r["wall"], r["cpu"], r["rss"]))
        lines.append("| static YAML, same hosts and variables | %d | %.1f s | %.1f s | %.0f MiB | 1 |" % (
            v["variables_per_host"], floor["wall"], floor["cpu"], floor["rss_mib"]))
    plain_loop = s["plain_requests_loop"]
    lines += [
        "| bare listing (plain requests loop) | - | %.1f s | %.1f s | %.0f MiB | - |" % (
            plain_loop["wall"], plain_loop["cpu"], plain_loop["rss_mib"]),
        "",
        "%s; %s." % (s["date"], s["machine"]),
    ]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--machines", type=int, default=25000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="comma-separated among %s (default: all of them)" % ", ".join(VARIANTS))
    p.add_argument("--json", default=os.path.join(HERE, "results", "inventory.json"))
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if args.machines < 1 or args.repeats < 1:
        p.error("--machines and --repeats must be at least 1")
    if not variants or set(variants) - set(VARIANTS):
        p.error("--variants must name some of %s" % ", ".join(VARIANTS))
    work = tempfile.mkdtemp(prefix="defender-bench-inventory.")
    try:
        expected, runs = run(args.machines, args.repeats, work, variants)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    s = summary(args.machines, expected, runs, variants)
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
