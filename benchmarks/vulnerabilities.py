# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmarks of vulnerability management, side by side in one run against the emulator.

1. Inventory exposure: ``ansible-inventory --list`` with ``exposure`` over N machines (default 25,000) and R rows
   (default 200,000), by severity (one sweep) and by 10 CVEs (one query each), against the per-machine loop a
   user would otherwise write (list the machines, then ``GET /api/machines/{id}/vulnerabilities`` for each). The loop
   is run on a sample of machines (its request count is exact: one per machine plus the list pages; its time is
   extrapolated, and bounded below by the documented 50 calls a minute).
2. Export memory: ``vulnerability_export`` (the module process itself, run directly) of 50,000 and of 500,000 rows,
   peak RSS of each and the growth between them, for ``kind=pages`` and ``kind=files``; and a plain requests loop over
   the JSON export for comparison.

    python benchmarks/vulnerabilities.py                     # full size (several minutes)
    python benchmarks/vulnerabilities.py --machines 500 --rows-per-machine 8 --small 1000 --big 10000 --sample 50
    python benchmarks/vulnerabilities.py --only exposure --json out.json --markdown out.md

Needs ansible-core, requests and msal in the running interpreter (scripts/test's venv or benchmarks/run's).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
EMULATOR_DIR = os.path.join(REPO, "tests", "emulator")
sys.path.insert(0, EMULATOR_DIR)

from control import EmulatorControl, start_emulator, stop_emulator  # noqa: E402 pylint: disable=import-error,wrong-import-position

MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "with open(sys.argv[1], 'w') as out:\n"
    "    rc = subprocess.call(sys.argv[2:], stdout=out)\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(json.dumps({'rc': rc, 'wall': time.perf_counter() - t, 'cpu': u.ru_utime + u.ru_stime,\n"
    "                  'rss_kib': u.ru_maxrss}))\n"
)

# The DIY per-machine loop: sign in, list the machines, one vulnerabilities request per machine (on a sample).
PER_MACHINE_LOOP = r"""
import json, sys, time, requests
s = json.load(open(sys.argv[1])); sample = int(sys.argv[2])
session = requests.Session(); session.trust_env = False; session.verify = s["ca_path"]
token = session.post("%s/%s/oauth2/v2.0/token" % (s["login_url"], s["tenant_id"]), data={
    "grant_type": "client_credentials", "client_id": s["client_id"], "client_secret": s["client_secret"],
    "scope": "https://api.securitycenter.microsoft.com/.default"}).json()["access_token"]
h = {"Authorization": "Bearer " + token}
machines, skip, pages = [], 0, 0
while True:
    page = session.get(s["api_url"] + "/api/machines", params={"$top": 10000, "$skip": skip}, headers=h).json()["value"]
    pages += 1; machines.extend(m["id"] for m in page); skip += len(page)
    if len(page) < 10000:
        break
t = time.perf_counter(); cves = {}
for mid in machines[:sample]:
    for v in session.get(s["api_url"] + "/api/machines/%s/vulnerabilities" % mid, headers=h).json()["value"]:
        cves.setdefault(mid, []).append(v["id"])
print(json.dumps({"machines": len(machines), "list_pages": pages, "sampled": min(sample, len(machines)),
                  "sample_seconds": time.perf_counter() - t}))
"""

# The DIY export: requests over the JSON export's pages, each record written as a line (no atomic write, no check).
PLAIN_EXPORT = r"""
import json, sys, requests
s = json.load(open(sys.argv[1])); dest = sys.argv[2]
session = requests.Session(); session.trust_env = False; session.verify = s["ca_path"]
token = session.post("%s/%s/oauth2/v2.0/token" % (s["login_url"], s["tenant_id"]), data={
    "grant_type": "client_credentials", "client_id": s["client_id"], "client_secret": s["client_secret"],
    "scope": "https://api.securitycenter.microsoft.com/.default"}).json()["access_token"]
url = s["api_url"] + "/api/machines/SoftwareVulnerabilitiesByMachine?pageSize=50000"
n = 0
with open(dest, "w") as out:
    while url:
        body = session.get(url, headers={"Authorization": "Bearer " + token}).json()
        for r in body["value"]:
            out.write(json.dumps(r) + "\n"); n += 1
        url = body.get("@odata.nextLink")
print(n)
"""


def measure(cmd, env, out_path):
    proc = subprocess.run([sys.executable, "-c", MEASURE, out_path] + cmd, env=env, capture_output=True, text=True,
                          timeout=7200, check=False)
    if proc.returncode != 0:
        raise RuntimeError("measuring %s failed: %s" % (cmd[:3], proc.stderr[-2000:]))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        with open(out_path, encoding="utf-8", errors="replace") as fh:
            raise RuntimeError("%s exited %s: %s %s" % (cmd[:3], result["rc"], fh.read()[-3000:], proc.stderr[-2000:]))
    return result


def collection_root(work):
    root = os.path.join(work, "collections")
    ns = os.path.join(root, "ansible_collections", "defender")
    os.makedirs(ns)
    os.symlink(REPO, os.path.join(ns, "endpoint"))
    return root


def base_env(settings, root):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "DEFENDER_", "ANSIBLE_"))
           and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")}
    env.update({"AZURE_TENANT_ID": settings["tenant_id"], "AZURE_CLIENT_ID": settings["client_id"],
                "AZURE_CLIENT_SECRET": settings["client_secret"], "AZURE_AUTHORITY_HOST": settings["login_url"],
                "DEFENDER_API_URL": settings["api_url"], "DEFENDER_CA_PATH": settings["ca_path"],
                "DEFENDER_TOKEN_CACHE": "false", "ANSIBLE_COLLECTIONS_PATH": root,
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false", "PYTHONPATH": root,
                "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")})
    return env


def api_requests(ctl):
    return ctl.stats()["api_requests"]


def exposure_scenario(args, ctl, settings, work, root, out):
    ctl.reset(machines=args.machines, alerts=10, vulnerabilities_per_machine=args.rows_per_machine)
    truth = ctl.vulnerabilities()
    rows = truth["rows"]
    env = base_env(settings, root)
    inventory_cmd = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    cves = [c for c, v in sorted(truth["cves"].items(), key=lambda kv: -len(kv[1]["machine_ids"]))][:10]
    results = {"machines": args.machines, "rows": rows}
    for label, exposure in (("by_severity_all_rows", {"min_severity": "Low"}), ("by_10_cves", {"cves": cves}),
                            ("no_exposure", None)):
        path = os.path.join(work, "%s.defender_machines.yml" % label)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(dict({"plugin": "defender.endpoint.machines"}, **({"exposure": exposure} if exposure else {})),
                      fh)
        before = api_requests(ctl)
        m = measure([inventory_cmd, "-i", path, "--list"], env, os.path.join(work, label + ".json"))
        with open(os.path.join(work, label + ".json"), encoding="utf-8") as fh:
            listed = json.load(fh)
        hosts = len(listed.get("_meta", {}).get("hostvars", {}))
        exposed = sum(1 for v in listed.get("_meta", {}).get("hostvars", {}).values() if v.get("defender_cves"))
        results[label] = {"requests": api_requests(ctl) - before, "wall": round(m["wall"], 2),
                          "rss_mib": round(m["rss_kib"] / 1024.0, 1), "hosts": hosts, "exposed_hosts": exposed}
    script = os.path.join(work, "per_machine_loop.py")
    with open(script, "w", encoding="utf-8") as fh:
        fh.write(PER_MACHINE_LOOP)
    settings_path = os.path.join(work, "settings.json")
    before = api_requests(ctl)
    m = measure([sys.executable, script, settings_path, str(args.sample)], env, os.path.join(work, "loop.out"))
    with open(os.path.join(work, "loop.out"), encoding="utf-8") as fh:
        loop = json.loads(fh.read().strip().splitlines()[-1])
    per_request = loop["sample_seconds"] / max(loop["sampled"], 1)
    full_requests = loop["machines"] + loop["list_pages"]
    results["per_machine_loop"] = {
        "requests_sample": api_requests(ctl) - before, "sampled": loop["sampled"],
        "requests_full": full_requests, "seconds_per_request": round(per_request, 4),
        "extrapolated_wall_unthrottled": round(per_request * loop["machines"], 1),
        "minimum_minutes_at_documented_limit": round(loop["machines"] / 50.0, 1),
        "hours_of_hourly_quota": round(loop["machines"] / 1500.0, 1), "wall_sample": round(m["wall"], 2)}
    for label in ("by_severity_all_rows", "by_10_cves"):
        results[label]["requests_vs_loop"] = round(results[label]["requests"] / float(full_requests), 5)
    out["exposure"] = results


def export_scenario(args, ctl, settings, work, root, out):
    env = base_env(settings, root)
    # the module run as AnsiballZ runs it (as a package module: its directory on sys.path would shadow the stdlib's
    # token module with the collection's)
    module = ["-c", "import runpy; runpy.run_module('ansible_collections.defender.endpoint.plugins.modules."
                    "vulnerability_export', run_name='__main__')"]
    script = os.path.join(work, "plain_export.py")
    with open(script, "w", encoding="utf-8") as fh:
        fh.write(PLAIN_EXPORT)
    results = {}
    machines = args.export_machines
    for size in (args.small, args.big):
        per_machine = max(1, size // machines)
        ctl.reset(machines=machines, alerts=10, vulnerabilities_per_machine=per_machine, export_file_rows=100000)
        rows = ctl.vulnerabilities()["rows"]
        for kind in args.kinds.split(","):
            if kind == "plain":
                continue
            dest = os.path.join(work, "export-%s-%d.jsonl" % (kind, size))
            args_path = os.path.join(work, "args-%s-%d.json" % (kind, size))
            with open(args_path, "w", encoding="utf-8") as fh:
                json.dump({"ANSIBLE_MODULE_ARGS": {
                    "kind": kind, "dest": dest, "api_url": settings["api_url"], "login_url": settings["login_url"],
                    "ca_path": settings["ca_path"], "tenant_id": settings["tenant_id"],
                    "client_id": settings["client_id"], "client_secret": settings["client_secret"],
                    "token_cache": False}}, fh)
            m = measure([sys.executable] + module + [args_path], env, os.path.join(work, "module-%s-%d.out" % (kind, size)))
            with open(os.path.join(work, "module-%s-%d.out" % (kind, size)), encoding="utf-8") as fh:
                result = json.loads(fh.read().strip().splitlines()[-1])
            if result.get("failed") or result.get("count") != rows:
                raise RuntimeError("export %s of %d rows: %s" % (kind, rows, json.dumps(result)[:1000]))
            results["%s_%d" % (kind, size)] = {"rows": rows, "wall": round(m["wall"], 2),
                                               "rss_mib": round(m["rss_kib"] / 1024.0, 1),
                                               "requests": result["requests"]}
            os.unlink(dest)
        if "plain" not in args.kinds.split(","):
            continue
        dest = os.path.join(work, "plain-%d.jsonl" % size)
        m = measure([sys.executable, script, os.path.join(work, "settings.json"), dest], env,
                    os.path.join(work, "plain-%d.out" % size))
        results["plain_%d" % size] = {"rows": rows, "wall": round(m["wall"], 2), "rss_mib": round(m["rss_kib"] / 1024.0, 1)}
        os.unlink(dest)
    for kind in args.kinds.split(","):
        small, big = results["%s_%d" % (kind, args.small)], results["%s_%d" % (kind, args.big)]
        results["%s_rss_growth" % kind] = round(big["rss_mib"] / small["rss_mib"], 3)
    for kind in [k for k in args.kinds.split(",") if k != "plain" and "plain" in args.kinds.split(",")]:
        results["%s_wall_vs_plain_%d" % (kind, args.big)] = round(
            results["%s_%d" % (kind, args.big)]["wall"] / results["plain_%d" % args.big]["wall"], 3)
    out["export"] = results


def markdown(out):
    lines = ["# Vulnerability management benchmark", "",
             "%s, Python %s, %d CPUs, load average %s at the start." % (
                 out["when"], out["python"], os.cpu_count() or 0, out["load"]), ""]
    e = out.get("exposure")
    if e:
        loop = e["per_machine_loop"]
        title = "## Inventory with exposure: %s machines, %s vulnerability rows" % (
            format(e["machines"], ","), format(e["rows"], ","))
        lines += [title, "",
                  "| run | API requests | wall (s) | peak RSS (MiB) | exposed hosts |", "|---|---|---|---|---|"]
        for label in ("no_exposure", "by_severity_all_rows", "by_10_cves"):
            r = e[label]
            lines.append("| inventory, %s | %d | %s | %s | %d |" % (label.replace("_", " "), r["requests"], r["wall"],
                                                                    r["rss_mib"], r["exposed_hosts"]))
        lines += ["| per-machine loop (%d sampled) | %s (full: machines + list pages) | %s extrapolated without "
                  "limits; at least %s min at 50 calls/min (%s h of the hourly quota) | | |" % (
                      loop["sampled"], format(loop["requests_full"], ","), loop["extrapolated_wall_unthrottled"],
                      loop["minimum_minutes_at_documented_limit"], loop["hours_of_hourly_quota"]), "",
                  "Requests vs the per-machine loop: by severity %s, by 10 CVEs %s (the inventory counts include its "
                  "machine list)." % (e["by_severity_all_rows"]["requests_vs_loop"],
                                      e["by_10_cves"]["requests_vs_loop"]), ""]
    x = out.get("export")
    if x:
        lines += ["## Export memory", "", "| run | rows | wall (s) | peak RSS (MiB) | requests |", "|---|---|---|---|---|"]
        for key in sorted(k for k in x if isinstance(x[k], dict)):
            r = x[key]
            lines.append("| %s | %s | %s | %s | %s |" % (
                key, format(r["rows"], ","), r["wall"], r["rss_mib"], r.get("requests", "")))
        lines += ["", "Peak RSS growth from the small to the big export: pages %s, files %s, plain requests loop %s "
                      "(goal: at most 1.2)." % (x["pages_rss_growth"], x["files_rss_growth"], x["plain_rss_growth"]),
                  "Wall vs the plain loop at the big size: pages %s, files %s." % (
                      x["pages_wall_vs_plain_%d" % out["big"]], x["files_wall_vs_plain_%d" % out["big"]]), ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--machines", type=int, default=25000)
    p.add_argument("--rows-per-machine", type=int, default=8)
    p.add_argument("--sample", type=int, default=500)
    p.add_argument("--export-machines", type=int, default=25000)
    p.add_argument("--small", type=int, default=50000)
    p.add_argument("--big", type=int, default=500000)
    p.add_argument("--only", default="exposure,export")
    p.add_argument("--kinds", default="pages,files,plain", help="exports to measure: pages, files, plain (the loop)")
    p.add_argument("--json")
    p.add_argument("--markdown")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="bench-vulns-")
    proc = None
    try:
        proc, settings = start_emulator(os.path.join(work, "emulator"), timeout=300, machines=args.machines,
                                        alerts=10, no_throttle=True)
        with open(os.path.join(work, "settings.json"), "w", encoding="utf-8") as fh:
            json.dump(settings, fh)
        ctl = EmulatorControl(settings)
        root = collection_root(work)
        out = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "python": platform.python_version(),
               "load": os.getloadavg()[0], "small": args.small, "big": args.big}
        only = args.only.split(",")
        if "exposure" in only:
            exposure_scenario(args, ctl, settings, work, root, out)
        if "export" in only:
            export_scenario(args, ctl, settings, work, root, out)
    finally:
        if proc is not None:
            stop_emulator(proc)
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(out, indent=2)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(markdown(out) + "\n")
    print(text)


if __name__ == "__main__":
    main()
