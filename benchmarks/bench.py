# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Side-by-side benchmarks of defender.endpoint against the DIY ``ansible.builtin.uri`` baseline and the API's limits.

Run through ``benchmarks/run`` (which provides the venv); see docs/performance.md for what each figure means.
Every figure is measured next to its baseline in the same run, against one emulator.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
NS, NAME = "defender", "endpoint"
SCENARIOS = ("tokens", "overhead", "export", "isolation", "export_formats", "indicators")

# Sizes. `tiny` only keeps the command working (tests/e2e/test_benchmarks_smoke.py); `full` gives the figures.
SIZES = {
    "tiny": dict(token_tasks=3, overhead_tasks=2, overhead_repeats=1, export_small=300, export_mid=600, export_big=3000,
                 export_repeats=1, iso_machines=30, iso_scale=0.01, diy_machines=3, diy_scale=1.0, diy_forks=3),
    # `small`: the isolation variants at 300 machines (about 4 minutes), to try a change to the budget quickly
    "small": dict(token_tasks=5, overhead_tasks=5, overhead_repeats=1, export_small=1000, export_mid=2000,
                  export_big=10000, export_repeats=1, iso_machines=300, iso_scale=0.1, diy_machines=3, diy_scale=1.0,
                  diy_forks=3),
    "full": dict(token_tasks=50, overhead_tasks=30, overhead_repeats=3, export_small=10000, export_mid=20000,
                 export_big=100000,
                 export_repeats=3, iso_machines=1000, iso_scale=0.1, diy_machines=150, diy_scale=1.0, diy_forks=10),
}
RATE_PER_MINUTE = 100  # the API's documented per-app limit for these endpoints (api/get-alerts)
# Bulk isolation under the emulator's limiter, set per variant; the module is always told the documented 100/min.
ISOLATION_VARIANTS = {
    # documented: twice the time scale (a "minute" of 12 s at full size), so Ansible's own cost of starting and
    # ending the task, which is not scaled, weighs as little against a 5 % goal as it can in a few minutes
    "documented": dict(label="at the documented limit (100/min)", windows=None, bound_per_minute=100, processes=1,
                       goal_ratio=1.05, goal_429=None, scale_mult=2),
    "third": dict(label="under an untold limit of a third (33/min)", windows=[{"calls": 33, "seconds": 60}],
                  bound_per_minute=33, processes=1, goal_ratio=1.5, goal_429=0.10),
    "short": dict(label="under an untold short window (30 per 5 s and 100/min)",
                  windows=[{"calls": 30, "seconds": 5}, {"calls": 100, "seconds": 60}], bound_per_minute=100,
                  processes=1, goal_ratio=1.5, goal_429=0.10),
    # two and four playbooks at once with one app on one controller: they share one budget (rate.SharedRateBudget)
    "shared": dict(label="in two runs at once with one app (100/min)", windows=None, bound_per_minute=100,
                   processes=2, goal_ratio=1.2, goal_429=0.02),
    "shared4": dict(label="in four runs at once with one app (100/min)", windows=None, bound_per_minute=100,
                    processes=4, goal_ratio=1.2, goal_429=0.02),
    # the contrast: the same four runs with a budget per process (DEFENDER_SHARED_BUDGET=false), which meet only
    # through the service's 429s (the goals of the earlier "shared" variant)
    "shared4_per_process": dict(label="in four runs at once with one app, a budget per process (100/min)",
                                windows=None, bound_per_minute=100, processes=4, goal_ratio=1.5, goal_429=0.15,
                                per_process=True),
}


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def fmt_num(v, digits=2):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return "{:,}".format(v)
    if isinstance(v, float):
        if abs(v) >= 1000:
            return "{:,.0f}".format(v)
        return ("{:.%df}" % digits).format(v)
    return str(v)


def figure(name, ours, baseline, unit="", goal=None, met=None, ratio=None, note=None, baseline_name=None):
    """One row of the table. ``ratio`` is ours/baseline unless given."""
    if ratio is None and isinstance(ours, (int, float)) and isinstance(baseline, (int, float)) \
            and not isinstance(ours, bool) and baseline:
        ratio = ours / baseline
    return {"figure": name, "ours": ours, "baseline": baseline, "baseline_name": baseline_name, "unit": unit,
            "ratio": ratio, "goal": goal, "met": met, "note": note}


class Skip(Exception):
    """A scenario cannot run yet (for instance the module it measures has not landed)."""


# --------------------------------------------------------------------------------------------- machine


def machine_info(venv_python, worktree=False):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from ansible.release import __version__ as core_version
    except ImportError:
        core_version = "unknown"
    commit = ""
    try:
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=False).stdout.strip()
        if dirty and worktree:
            commit += "+dirty"  # only the working tree's figures include uncommitted edits
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "ansible_core": core_version,
        "platform": platform.platform(),
        "commit": commit,
        "loadavg_at_start": [round(x, 2) for x in load] if load else None,
        "python_path": venv_python,
    }


# --------------------------------------------------------------------------------------------- memory probe


def run_measured(cmd, env=None, cwd=None, timeout=1800):
    """Run ``cmd``; return (CompletedProcess, wall seconds, max RSS in KiB of the process tree's largest process).

    /usr/bin/time -v reports the child's peak resident set size; without it, a tiny Python wrapper reads
    getrusage(RUSAGE_CHILDREN).ru_maxrss after waiting for the command (same number: the largest of the waited-for
    descendants).
    """
    gnu_time = shutil.which("time", path="/usr/bin:/bin") if os.path.exists("/usr/bin/time") else None
    if gnu_time:
        wrapped = [gnu_time, "-v"] + cmd
    else:
        wrapped = [sys.executable, "-c",
                   "import resource, subprocess, sys\n"
                   "rc = subprocess.call(sys.argv[1:])\n"
                   "sys.stderr.write('\\n\\tMaximum resident set size (kbytes): %d\\n' % "
                   "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
                   "sys.exit(rc)"] + cmd
    start = time.perf_counter()
    proc = subprocess.run(wrapped, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.perf_counter() - start
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return proc, wall, int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------------- the harness


class Bench:
    def __init__(self, args):
        self.args = args
        self.size = dict(SIZES[args.size])
        self.python = sys.executable
        self.bindir = os.path.dirname(self.python)
        self.work = tempfile.mkdtemp(prefix="defender-bench-")
        self.root = os.path.join(self.work, "collections")
        self.coll = os.path.join(self.root, "ansible_collections", NS, NAME)
        self.emu_proc = None
        self.settings = None
        self.ctl = None
        self.results = {}
        self.counter = 0

    # ---- layout

    def layout(self):
        """Copy the collection to ansible_collections/defender/endpoint: the committed tree (HEAD) by default, so
        uncommitted edits in a shared checkout do not leak into the figures; --worktree takes tracked and untracked
        (not ignored) files as they are, like scripts/test; outside git, every file but caches and venvs."""
        os.makedirs(self.coll)
        in_git = subprocess.run(["git", "-C", REPO, "rev-parse", "--show-toplevel"], capture_output=True,
                                text=True, check=False).stdout.strip() == REPO
        if in_git and not self.args.worktree:
            archive = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", "HEAD"], capture_output=True,
                                     check=True).stdout
            import io
            import tarfile
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
                tar.extractall(self.coll, members=members)
            count, source = sum(1 for m in members if m.isfile()), "HEAD"
        else:
            if in_git:
                listing = subprocess.run(["git", "-C", REPO, "ls-files", "-co", "--exclude-standard", "-z"],
                                         capture_output=True, check=True).stdout.decode().split("\0")
                files = [f for f in listing if f and os.path.isfile(os.path.join(REPO, f))]
            else:
                files = []
                for top, dirs, names in os.walk(REPO):
                    rel_top = os.path.relpath(top, REPO)
                    dirs[:] = [d for d in dirs if d not in (".git", ".cache", "__pycache__", ".pytest_cache")
                               and not d.startswith(".venv") and os.path.join(rel_top, d) != "tests/output"
                               and not (rel_top == "benchmarks" and d == "results")]
                    files += [os.path.normpath(os.path.join(rel_top, n)) for n in names]
            for rel in files:
                dest = os.path.join(self.coll, rel)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                shutil.copy2(os.path.join(REPO, rel), dest)
            count, source = len(files), "working tree"
        for d in ("tmp", "playbooks", "out", "token-cache"):
            os.makedirs(os.path.join(self.work, d), exist_ok=True)
        # Direct module runs (probes, memory) import from this copy: give them bytecode like the site-packages
        # modules they are compared with (PYTHONDONTWRITEBYTECODE may be set). AnsiballZ compiles both from source.
        subprocess.run([self.python, "-m", "compileall", "-q", os.path.join(self.coll, "plugins")],
                       capture_output=True, check=False)
        self.source = source
        log("collection (%s, %d files) laid out in %s" % (source, count, self.coll))

    def has_plugin(self, kind, name):
        return os.path.isfile(os.path.join(self.coll, "plugins", kind, name + ".py"))

    def module_options(self, name):
        """The option names a module documents (so the harness passes only what exists). Read from the
        DOCUMENTATION's options block as text, so a doc that does not parse as YAML cannot hide an option."""
        path = os.path.join(self.coll, "plugins", "modules", name + ".py")
        with open(path, encoding="utf-8") as handle:
            src = handle.read()
        m = re.search(r"^options:\s*\n(.*?)^\S", src, re.S | re.M)
        found = set(re.findall(r"^  ([a-z_][a-z0-9_]*):", m.group(1), re.M)) if m else set()
        # and the options of the collection's doc fragments it extends (shared options live there)
        block = re.search(r"^extends_documentation_fragment:\s*\n((?:\s+- .*\n)+)", src, re.M)
        for frag in re.findall(r"- %s\.%s\.([a-z_]+)\s*$" % (NS, NAME), block.group(1), re.M) if block else ():
            frag_path = os.path.join(self.coll, "plugins", "doc_fragments", frag + ".py")
            if os.path.isfile(frag_path):
                with open(frag_path, encoding="utf-8") as handle:
                    text = handle.read()
                fm = re.search(r"^options:\s*\n(.*?)(?:^\S|\Z)", text, re.S | re.M)
                found |= set(re.findall(r"^  ([a-z_][a-z0-9_]*):", fm.group(1), re.M)) if fm else set()
        return found

    # ---- emulator

    def start_emulator(self):
        sys.path.insert(0, os.path.join(self.coll, "tests", "emulator"))
        import control  # the emulator's own helper (stdlib only)
        self.control = control
        state = os.path.join(self.work, "emulator")
        self.emu_proc, self.settings = control.start_emulator(state, python=self.python, alerts=100, machines=20)
        self.ctl = control.EmulatorControl(self.settings, timeout=300)
        log("emulator at %s (pid %d)" % (self.settings["api_url"], self.emu_proc.pid))

    def stop_emulator(self):
        if self.emu_proc is not None:
            self.control.stop_emulator(self.emu_proc)
            self.emu_proc = None

    def reset(self, alerts=100, machines=20, throttle=False, time_scale=1.0, **config):
        start = time.perf_counter()
        out = self.ctl.reset(alerts=alerts, machines=machines, time_scale=time_scale, **config)
        if isinstance(throttle, dict):
            self.ctl.config(throttle=dict(throttle, enabled=True))
        else:
            self.ctl.config(throttle=bool(throttle))
        log("emulator reset: %s alerts, %s machines, time_scale %s, throttle %s (%.1fs)"
            % (out.get("alerts"), out.get("machines"), time_scale, throttle, time.perf_counter() - start))
        return out

    def app(self):
        apps = self.settings.get("apps") or {}
        full = apps.get("full") or {}
        return {"tenant_id": self.settings["tenant_id"],
                "client_id": full.get("client_id") or self.settings["client_id"],
                "client_secret": full.get("client_secret") or self.settings["client_secret"]}

    def token(self):
        """A token minted by the emulator's control interface (no sign-in request is counted)."""
        return self.ctl.mint_token(app="full")["access_token"]

    def token_requests(self):
        stats = self.ctl.stats()
        return sum((stats.get("token_requests") or {}).values()), stats.get("api_requests", 0), stats

    # ---- ansible

    def base_vars(self):
        a = self.app()
        return {
            "ansible_python_interpreter": self.python,
            "api_url": self.settings["api_url"],
            "login_url": self.settings["login_url"],
            "ca_path": self.settings["ca_path"],
            "tenant_id": a["tenant_id"],
            "client_id": a["client_id"],
            "client_secret": a["client_secret"],
            "resource": self.settings.get("resource") or "https://api.securitycenter.microsoft.com",
        }

    def playbook(self, label, plays, extra_vars=None, token_cache=None, check=True, env_extra=None, inventory=None,
                 forks=None):
        """Write and run a playbook; returns wall seconds, per-task times and the output path."""
        return self.finish(self.start_playbook(label, plays, extra_vars, token_cache, env_extra, inventory, forks),
                           check)

    def start_playbook(self, label, plays, extra_vars=None, token_cache=None, env_extra=None, inventory=None,
                       forks=None):
        """Write a playbook and start it (``finish`` waits for it): two can run at once."""
        self.counter += 1
        stem = "%02d-%s" % (self.counter, label)
        pb = os.path.join(self.work, "playbooks", stem + ".yml")
        with open(pb, "w", encoding="utf-8") as handle:
            json.dump(plays, handle, indent=1)  # JSON is YAML
        varfile = os.path.join(self.work, "playbooks", stem + ".vars.json")
        fd = os.open(varfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(self.base_vars(), **(extra_vars or {})), handle)
        timer = os.path.join(self.work, "out", stem + ".timer.json")
        out = os.path.join(self.work, "out", stem + ".log")
        cache = token_cache or os.path.join(self.work, "token-cache", stem)
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": self.root,
            "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "bench_timer",
            "BENCH_TIMER_OUT": timer,
            "ANSIBLE_LOCAL_TEMP": os.path.join(self.work, "tmp"),
            "ANSIBLE_REMOTE_TEMP": os.path.join(self.work, "tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_PYTHON_INTERPRETER": self.python,
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "DEFENDER_TOKEN_CACHE_DIR": cache,
            "XDG_CACHE_HOME": os.path.join(self.work, "xdg-cache"),
        })
        env.update(env_extra or {})
        for name in ("ANSIBLE_CONFIG", "DEFENDER_ACCESS_TOKEN", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_ID",
                     "AZURE_TENANT_ID", "DEFENDER_API_URL", "AZURE_AUTHORITY_HOST"):
            env.pop(name, None)
        cmd = [os.path.join(self.bindir, "ansible-playbook"), "-i", inventory or "localhost,", "-c", "local", pb,
               "-e", "@" + varfile]
        if forks:
            cmd += ["--forks", str(forks)]
        handle = open(out, "w", encoding="utf-8")  # pylint: disable=consider-using-with  # closed in finish()
        proc = subprocess.Popen(cmd, env=env, cwd=self.work, stdout=handle, stderr=subprocess.STDOUT)
        return {"proc": proc, "handle": handle, "start": time.perf_counter(), "stem": stem, "timer": timer,
                "log": out, "playbook": pb}

    @staticmethod
    def finish(started, check=True):
        rc = started["proc"].wait()
        wall = time.perf_counter() - started["start"]
        started["handle"].close()
        try:
            with open(started["timer"], encoding="utf-8") as handle:
                tasks = json.load(handle)["tasks"]
        except (OSError, ValueError):
            tasks = []
        if check and rc != 0:
            with open(started["log"], encoding="utf-8") as handle:
                tail = handle.read()[-3000:]
            raise RuntimeError("playbook %s failed (rc %d); log %s:\n%s" % (started["stem"], rc, started["log"],
                                                                            tail))
        return {"rc": rc, "wall": wall, "tasks": tasks, "log": started["log"], "playbook": started["playbook"]}

    @staticmethod
    def play(tasks, module_defaults=None, name="bench"):
        p = {"name": name, "hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}
        if module_defaults:
            p["module_defaults"] = {"group/defender.endpoint.all": module_defaults}
        return [p]

    @staticmethod
    def task_seconds(run, action_suffix):
        return [t["seconds"] for t in run["tasks"] if t["action"].endswith(action_suffix) and t["seconds"]]

    # ---- scenarios

    def run(self):
        self.layout()
        self.start_emulator()
        try:
            for name in self.args.only:
                log("scenario %s" % name)
                start = time.perf_counter()
                try:
                    res = getattr(self, "scenario_" + name)()
                    res.setdefault("status", "ok")
                except Skip as exc:
                    res = {"status": "skipped", "reason": str(exc), "figures": []}
                except Exception as exc:  # report and go on with the next scenario
                    res = {"status": "error", "reason": "%s: %s" % (type(exc).__name__, exc), "figures": [],
                           "traceback": traceback.format_exc()}
                    log(res["traceback"])
                res["seconds"] = round(time.perf_counter() - start, 1)
                self.results[name] = res
                log("scenario %s: %s in %.1fs" % (name, res["status"], res["seconds"]))
        finally:
            self.stop_emulator()

    # 1. token requests ------------------------------------------------------------------------------------

    def scenario_tokens(self):
        if not self.has_plugin("modules", "alert_info") or not self.has_plugin("lookup", "token"):
            raise Skip("needs the alert_info module and the token lookup")
        n = self.size["token_tasks"]
        self.reset(alerts=max(100, n))
        ids = self.ctl.query("alerts")[:n]
        conn = {"api_url": "{{ api_url }}", "login_url": "{{ login_url }}", "ca_path": "{{ ca_path }}"}
        creds = dict(conn, tenant_id="{{ tenant_id }}", client_id="{{ client_id }}",
                     client_secret="{{ client_secret }}")
        lookup = ("{{ lookup('defender.endpoint.token', tenant_id=tenant_id, client_id=client_id, "
                  "client_secret=client_secret, login_url=login_url, api_url=api_url, ca_path=ca_path) }}")
        reads = [{"name": "read alert %d" % i, "defender.endpoint.alert_info": {"id": aid}}
                 for i, aid in enumerate(ids)]
        variants = {
            "lookup": self.play(
                [{"name": "token from the lookup", "ansible.builtin.set_fact": {"bench_token": lookup},
                  "no_log": True}] + reads,
                module_defaults=dict(conn, access_token="{{ bench_token }}")),
            "credentials": self.play(reads, module_defaults=creds),
        }
        diy = []
        for i, aid in enumerate(ids):
            diy.append({"name": "token %d" % i, "no_log": True, "register": "tok", "ansible.builtin.uri": {
                "url": "{{ login_url }}/{{ tenant_id }}/oauth2/v2.0/token", "method": "POST",
                "body_format": "form-urlencoded", "ca_path": "{{ ca_path }}",
                "body": {"grant_type": "client_credentials", "client_id": "{{ client_id }}",
                         "client_secret": "{{ client_secret }}", "scope": "{{ resource }}/.default"}}})
            diy.append({"name": "read alert %d" % i, "no_log": True, "ansible.builtin.uri": {
                "url": "{{ api_url }}/api/alerts/" + aid, "ca_path": "{{ ca_path }}",
                "headers": {"Authorization": "Bearer {{ tok.json.access_token }}"}}})
        variants["diy"] = self.play(diy)
        measured = {}
        for label, plays in variants.items():
            tok0, api0, dummy = self.token_requests()
            run = self.playbook("tokens-" + label, plays)
            tok1, api1, dummy = self.token_requests()
            measured[label] = {"token_requests": tok1 - tok0, "api_requests": api1 - api0,
                               "wall_seconds": round(run["wall"], 2), "tasks": len(run["tasks"])}
            log("tokens %s: %s" % (label, measured[label]))
        diy_n = measured["diy"]["token_requests"]
        figures = [
            figure("token requests, %d alert reads: lookup + access_token" % n, measured["lookup"]["token_requests"],
                   diy_n, goal="1", met=measured["lookup"]["token_requests"] == 1, baseline_name="DIY uri"),
            figure("token requests, %d alert reads: credentials on every task" % n,
                   measured["credentials"]["token_requests"], diy_n, goal="1",
                   met=measured["credentials"]["token_requests"] == 1, baseline_name="DIY uri"),
            figure("playbook wall time, %d reads: lookup variant (s)" % n, measured["lookup"]["wall_seconds"],
                   measured["diy"]["wall_seconds"], unit="s", baseline_name="DIY uri",
                   note="DIY runs 2 tasks per read"),
        ]
        return {"figures": figures, "details": measured}

    # 2. per-task overhead -----------------------------------------------------------------------------------

    def scenario_overhead(self):
        if not self.has_plugin("modules", "alert_info"):
            raise Skip("needs the alert_info module")
        n, repeats = self.size["overhead_tasks"], self.size["overhead_repeats"]
        self.reset(alerts=max(100, n))
        ids = self.ctl.query("alerts")[:n]
        token = self.token()
        extra = {"bench_token": token}
        ours = self.play([{"name": "read alert %d" % i, "defender.endpoint.alert_info": {"id": aid}}
                          for i, aid in enumerate(ids)],
                         module_defaults={"access_token": "{{ bench_token }}", "api_url": "{{ api_url }}",
                                          "ca_path": "{{ ca_path }}"})
        uri = self.play([{"name": "read alert %d" % i, "no_log": True, "ansible.builtin.uri": {
            "url": "{{ api_url }}/api/alerts/" + aid, "ca_path": "{{ ca_path }}",
            "headers": {"Authorization": "Bearer {{ bench_token }}"}}} for i, aid in enumerate(ids)])
        runs = {"ours": [], "uri": []}
        for r in range(repeats):
            # interleave, alternating who goes first, so drift in machine load hits both alike
            order = ("ours", "uri") if r % 2 == 0 else ("uri", "ours")
            for label in order:
                run = self.playbook("overhead-%s-%d" % (label, r), ours if label == "ours" else uri, extra)
                secs = self.task_seconds(run, "alert_info" if label == "ours" else "uri")
                runs[label].append({"wall": run["wall"], "task_mean": statistics.mean(secs),
                                    "task_median": statistics.median(secs), "tasks": len(secs)})
                log("overhead %s run %d: wall %.2fs, %.3fs/task" % (label, r, run["wall"], statistics.mean(secs)))
        # best of the runs: machine load only ever adds time, so the minimum is the least disturbed figure
        ours_task = min(x["task_mean"] for x in runs["ours"])
        uri_task = min(x["task_mean"] for x in runs["uri"])
        ours_wall = min(x["wall"] for x in runs["ours"])
        uri_wall = min(x["wall"] for x in runs["uri"])
        imports = self.import_probe(ids[0], token)
        cpu = self.cpu_probe(ids[0], token, repeats=max(3, repeats * 2))
        ratio = ours_task / uri_task
        figures = [
            figure("time per task, %d reads by id with access_token (s)" % n, round(ours_task, 3),
                   round(uri_task, 3), unit="s", goal="≤ 1.10×", met=ratio <= 1.10, baseline_name="uri GET"),
            figure("playbook wall time, %d reads (s)" % n, round(ours_wall, 2), round(uri_wall, 2), unit="s",
                   goal="≤ 1.10×", met=(ours_wall / uri_wall) <= 1.10, baseline_name="uri GET"),
            figure("CPU time of the module process, one read (user+sys, s)", cpu["ours"], cpu["uri"], unit="s",
                   baseline_name="uri GET", note="direct runs without AnsiballZ; less sensitive to machine load"),
            figure("msal imported by a task given access_token", imports["token"]["msal_imported"],
                   imports["credentials"]["msal_imported"], goal="no",
                   met=not imports["token"]["msal_imported"], ratio="–",
                   baseline_name="same task with client_secret"),
            figure("token cache file written by that task", imports["token"]["cache_files"] > 0,
                   imports["credentials"]["cache_files"] > 0, goal="no", met=imports["token"]["cache_files"] == 0,
                   ratio="–", baseline_name="same task with client_secret"),
            figure("import time: our module_utils (self) vs msal (cumulative) (ms)",
                   imports["token"]["ours_ms"], imports["msal_ms"], unit="ms", baseline_name="import msal"),
            figure("module process wall, one read (s)", imports["token"]["wall"], imports["credentials"]["wall"],
                   unit="s", baseline_name="same task with client_secret"),
        ]
        return {"figures": figures, "details": {"runs": runs, "imports": imports, "cpu": cpu}}

    def module_env(self, cache_dir):
        env = dict(os.environ)
        env["PYTHONPATH"] = self.root
        env["DEFENDER_TOKEN_CACHE_DIR"] = cache_dir
        env["XDG_CACHE_HOME"] = os.path.join(self.work, "xdg-cache")
        for name in ("DEFENDER_ACCESS_TOKEN", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"):
            env.pop(name, None)
        return env

    def write_args(self, args, label):
        path = os.path.join(self.work, "out", label + ".args.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_remote_tmp=os.path.join(self.work, "tmp"),
                                                   _ansible_keep_remote_files=False)}, handle)
        return path

    def module_cmd(self, module, args, label, extra=()):
        """Run a module directly (no AnsiballZ): ``python [extra] -m <module> args.json`` with PYTHONPATH set."""
        path = self.write_args(args, label)
        # -m, not the file path: with the file, plugins/modules/ would lead sys.path and its token.py would shadow
        # the standard library's token module
        return [self.python] + list(extra) + ["-m", "ansible_collections.%s.%s.plugins.modules.%s" % (NS, NAME, module),
                                              path]

    @staticmethod
    def module_result(proc):
        for line in reversed(proc.stdout.strip().splitlines()):
            try:
                return json.loads(line)
            except ValueError:
                continue
        return {"failed": True, "msg": "no JSON on stdout: " + proc.stdout[-500:] + proc.stderr[-1500:]}

    def cpu_probe(self, alert_id, token, repeats):
        """CPU seconds (user+sys) of one module process doing the read: alert_info vs. uri, run directly, alternating."""
        import resource
        url = "%s/api/alerts/%s" % (self.settings["api_url"], alert_id)
        cmds = {
            "ours": self.module_cmd("alert_info", {"id": alert_id, "access_token": token,
                                                   "api_url": self.settings["api_url"],
                                                   "ca_path": self.settings["ca_path"]}, "cpu-ours"),
            "uri": [self.python, "-m", "ansible.modules.uri",
                    self.write_args({"url": url, "ca_path": self.settings["ca_path"],
                                     "headers": {"Authorization": "Bearer " + token}}, "cpu-uri")],
        }
        samples = {"ours": [], "uri": [], "ours_wall": [], "uri_wall": []}
        env = self.module_env(os.path.join(self.work, "token-cache", "cpu"))
        for r in range(repeats):
            for label in (("ours", "uri") if r % 2 == 0 else ("uri", "ours")):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                proc = subprocess.run(cmds[label], env=env, cwd=self.work, capture_output=True, text=True,
                                      timeout=300, check=False)
                wall = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                result = self.module_result(proc)
                if result.get("failed"):
                    raise RuntimeError("%s direct run failed: %s" % (label, result.get("msg")))
                samples[label].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                samples[label + "_wall"].append(wall)
        out = {k: round(min(v), 3) for k, v in samples.items()}  # best of: load only adds time
        out["samples"] = {k: [round(x, 3) for x in v] for k, v in samples.items()}
        log("cpu: %s" % out)
        return out

    def import_probe(self, alert_id, token):
        """Run alert_info's real code path in a fresh interpreter with -X importtime: given access_token vs. credentials."""
        out = {}
        conn = {"api_url": self.settings["api_url"], "ca_path": self.settings["ca_path"]}
        variants = {
            "token": dict(conn, id=alert_id, access_token=token),
            "credentials": dict(conn, id=alert_id, login_url=self.settings["login_url"], **self.app()),
        }
        for label, args in variants.items():
            cache = os.path.join(self.work, "token-cache", "probe-" + label)
            cmd = self.module_cmd("alert_info", args, "probe-" + label, extra=["-X", "importtime"])
            start = time.perf_counter()
            proc = subprocess.run(cmd, env=self.module_env(cache), cwd=self.work, capture_output=True, text=True,
                                  timeout=300, check=False)
            wall = time.perf_counter() - start
            result = self.module_result(proc)
            if result.get("failed") or result.get("count") != 1:
                raise RuntimeError("alert_info (%s) did not read the alert: %s" % (label, result.get("msg", result)))
            imports = parse_importtime(proc.stderr)
            ours = sum(v["self"] for k, v in imports.items() if k.startswith("ansible_collections.defender."))
            files = []
            if os.path.isdir(cache):
                for dummy, dummy2, names in os.walk(cache):
                    files += names
            out[label] = {
                "msal_imported": any(k == "msal" or k.startswith("msal.") for k in imports),
                "cache_files": len(files),
                "ours_ms": round(ours / 1000.0, 1),
                "requests_ms": round(imports.get("requests", {}).get("cumulative", 0) / 1000.0, 1),
                "basic_ms": round(imports.get("ansible.module_utils.basic", {}).get("cumulative", 0) / 1000.0, 1),
                "all_imports_ms": round(sum(v["self"] for v in imports.values()) / 1000.0, 1),
                "modules_imported": len(imports),
                "wall": round(wall, 3),
            }
        proc = subprocess.run([self.python, "-X", "importtime", "-c", "import msal"], capture_output=True, text=True,
                              check=False)
        out["msal_ms"] = round(parse_importtime(proc.stderr).get("msal", {}).get("cumulative", 0) / 1000.0, 1)
        log("imports: %s" % out)
        return out

    # 3. export --------------------------------------------------------------------------------------------

    def scenario_export(self):
        if not self.has_plugin("modules", "alert_export"):
            raise Skip("needs the alert_export module")
        small, big, repeats = self.size["export_small"], self.size["export_big"], self.size["export_repeats"]
        mid = self.size["export_mid"]
        token = self.token()
        token_file = os.path.join(self.work, "out", "token")
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token)
        conn = {"api_url": self.settings["api_url"], "ca_path": self.settings["ca_path"], "access_token": token}
        floor = [self.python, os.path.join(HERE, "floor_export.py"), self.settings["api_url"], token_file,
                 self.settings["ca_path"]]
        dest_dir = os.path.join(self.work, "export")
        os.makedirs(dest_dir, exist_ok=True)
        memory = {}
        for count in (small, mid, big):  # mid: two full pages, to tell a page-bound peak from growth
            self.reset(alerts=count)
            for label in ("ours", "floor"):
                dest = os.path.join(dest_dir, "mem-%s-%d.jsonl" % (label, count))
                if label == "ours":
                    cmd = self.module_cmd("alert_export", dict(conn, dest=dest), "export-mem-%d" % count)
                else:
                    cmd = floor + [dest]
                proc, wall, rss = run_measured(cmd, env=self.module_env(os.path.join(self.work, "token-cache", "x")),
                                               cwd=self.work)
                if label == "ours":
                    result = self.module_result(proc)
                    if result.get("failed"):
                        raise RuntimeError("alert_export failed: %s" % result.get("msg"))
                elif proc.returncode:
                    raise RuntimeError("floor export failed: %s" % proc.stderr[-1500:])
                lines, unique = count_jsonl(dest)
                memory["%s_%d" % (label, count)] = {"max_rss_kib": rss, "wall": round(wall, 2), "lines": lines,
                                                    "unique_ids": unique}
                log("export memory %s %d: %s" % (label, count, memory["%s_%d" % (label, count)]))
                os.unlink(dest)
        # throughput at the big size (the emulator holds `big` alerts now), interleaved
        # "plain": the same task with defender_progress=false, i.e. without the action plugin's
        # progress display (what that display costs)
        tp = {"ours": [], "floor": [], "plain": []}
        for r in range(repeats):
            for label in (("floor", "ours", "plain") if r % 2 == 0 else ("plain", "ours", "floor")):
                dest = os.path.join(dest_dir, "tp-%s-%d.jsonl" % (label, r))
                if label in ("ours", "plain"):
                    run = self.playbook("export-%s-%d" % (label, r), self.play(
                        [{"name": "export", "defender.endpoint.alert_export": {"dest": dest}}],
                        module_defaults={"access_token": "{{ bench_token }}", "api_url": "{{ api_url }}",
                                         "ca_path": "{{ ca_path }}"}),
                        {"bench_token": token, "defender_progress": label == "ours"})
                    secs = self.task_seconds(run, "alert_export")[0]
                else:
                    start = time.perf_counter()
                    proc = subprocess.run(floor + [dest], cwd=self.work, capture_output=True, text=True,
                                          timeout=1800, check=False)
                    secs = time.perf_counter() - start
                    if proc.returncode:
                        raise RuntimeError("floor export failed: %s" % proc.stderr[-1500:])
                lines, unique = count_jsonl(dest)
                tp[label].append({"seconds": round(secs, 2), "lines": lines, "unique_ids": unique,
                                  "alerts_per_second": round(lines / secs, 1)})
                log("export %s run %d: %s" % (label, r, tp[label][-1]))
                os.unlink(dest)
        ours_tp = max(x["alerts_per_second"] for x in tp["ours"])  # best of the runs, as above
        floor_tp = max(x["alerts_per_second"] for x in tp["floor"])
        plain_tp = max(x["alerts_per_second"] for x in tp["plain"])
        complete = all(x["lines"] == big and x["unique_ids"] == big for x in tp["ours"] + tp["plain"])
        rss = {k: (v["max_rss_kib"] or 0) / 1024.0 for k, v in memory.items()}
        growth_ours = rss["ours_%d" % big] / rss["ours_%d" % small] if rss["ours_%d" % small] else None
        growth_floor = rss["floor_%d" % big] / rss["floor_%d" % small] if rss["floor_%d" % small] else None
        figures = [
            figure("export throughput, %s alerts (alerts/s)" % fmt_num(big), ours_tp, floor_tp, unit="alerts/s",
                   goal="≥ 0.90×", met=ours_tp / floor_tp >= 0.90, baseline_name="requests loop (floor)"),
            figure("export throughput, %s alerts, defender_progress=false (alerts/s)" % fmt_num(big), plain_tp,
                   floor_tp, unit="alerts/s", goal="≥ 0.90×", met=plain_tp / floor_tp >= 0.90,
                   baseline_name="requests loop (floor)",
                   note="without the action plugin's progress lines"),
            figure("export complete: lines = unique ids = %s" % fmt_num(big), complete, True, goal="yes",
                   met=complete, ratio="–"),
            figure("peak RSS of the process, %s alerts (MiB)" % fmt_num(small), round(rss["ours_%d" % small], 1),
                   round(rss["floor_%d" % small], 1), unit="MiB", baseline_name="requests loop (floor)"),
            figure("peak RSS of the process, %s alerts (MiB)" % fmt_num(mid), round(rss["ours_%d" % mid], 1),
                   round(rss["floor_%d" % mid], 1), unit="MiB", baseline_name="requests loop (floor)"),
            figure("peak RSS of the process, %s alerts (MiB)" % fmt_num(big), round(rss["ours_%d" % big], 1),
                   round(rss["floor_%d" % big], 1), unit="MiB", baseline_name="requests loop (floor)"),
            figure("peak RSS growth, %s / %s alerts" % (fmt_num(big), fmt_num(small)), growth_ours, growth_floor,
                   goal="≤ 1.20 (flat)", met=growth_ours is not None and growth_ours <= 1.20, ratio="–",
                   baseline_name="requests loop (floor)"),
            figure("peak RSS growth, %s / %s alerts (both several pages)" % (fmt_num(big), fmt_num(mid)),
                   rss["ours_%d" % big] / rss["ours_%d" % mid] if rss["ours_%d" % mid] else None,
                   rss["floor_%d" % big] / rss["floor_%d" % mid] if rss["floor_%d" % mid] else None, ratio="–",
                   baseline_name="requests loop (floor)", note="page-bound memory shows as ≈ 1.0 here"),
        ]
        return {"figures": figures, "details": {"throughput": tp, "memory": memory}}

    # 3b. CSV vs JSON Lines (benchmarks/export_formats.py) -----------------------------------------------------

    def scenario_export_formats(self):
        import export_formats  # pylint: disable=import-outside-toplevel
        return export_formats.scenario(self, figure, Skip, log)

    # 4. bulk isolation --------------------------------------------------------------------------------------

    def scenario_isolation(self):
        if not self.has_plugin("modules", "machine_isolation"):
            raise Skip("needs the machine_isolation module")
        opts = self.module_options("machine_isolation")
        figures, details = [], {}
        for key in self.args.isolation:
            variant = ISOLATION_VARIANTS[key]
            ours = details[key] = self.isolation_variant(key, variant, opts)
            n = ours["machines"]
            ratio = ours["task_seconds"] / ours["bound_seconds"] if ours["bound_seconds"] else None
            share = ours["api_requests_429"] / float(ours["api_requests"]) if ours["api_requests"] else 0.0
            clean = ours["failures"] == 0 and ours["duplicates"] == 0 and ours["not_isolated_at_end"] == 0
            figures.append(figure(
                "isolate %s machines %s: task time vs bound (s)" % (fmt_num(n), variant["label"]),
                ours["task_seconds"], ours["bound_seconds"], unit="s", goal="≤ %.2f×" % variant["goal_ratio"],
                met=ratio is not None and ratio <= variant["goal_ratio"],
                baseline_name="bound = admitted requests / %d per minute" % variant["bound_per_minute"],
                note="time scale %s; %d requests admitted (%s); API span (first to last request) %.1f s = %.2f× the "
                     "bound" % (ours["time_scale"], ours["api_requests_admitted"],
                                ", ".join("%s: %d" % kv for kv in sorted(ours["requests_by_kind"].items())),
                                ours["api_span_seconds"],
                                ours["api_span_seconds"] / ours["bound_seconds"] if ours["bound_seconds"] else 0)))
            goal_429 = variant["goal_429"]
            figures.append(figure(
                "isolate %s machines %s: answered 429 / failed / duplicates / not isolated"
                % (fmt_num(n), variant["label"]),
                "%d (%.1f %%) / %d / %d / %d" % (ours["api_requests_429"], 100 * share, ours["failures"],
                                                 ours["duplicates"], ours["not_isolated_at_end"]),
                None, ratio="–",
                goal=("429 ≤ %d %%; 0 / 0 / 0" % round(100 * goal_429)) if goal_429 is not None else "0 / 0 / 0",
                met=clean and (goal_429 is None or share <= goal_429)))
        if "documented" in self.args.isolation:
            diy = details["diy"] = self.isolation_diy()
            figures.append(figure(
                "DIY uri (a host per machine, %s forks), %d machines under 100/min: failed / duplicates / not isolated"
                % (diy.get("forks"), diy["machines"]), None,
                "%d / %d / %d" % (diy["failures"], diy["duplicates"], diy["not_isolated"]), ratio="–",
                baseline_name="DIY uri",
                note="real time; %d answered 429; wall %.1f s" % (diy["throttled"], diy["seconds"] or 0.0)))
        return {"figures": figures, "details": details}

    def isolation_variant(self, key, variant, opts):
        """One bulk isolation run (or ``processes`` runs at once over disjoint halves, with one app) against the
        emulator's limiter set as the variant says; the client is always told the documented 100 per minute."""
        n, scale = self.size["iso_machines"], self.size["iso_scale"] * variant.get("scale_mult", 1)
        if variant["windows"]:
            throttle = {"windows": variant["windows"]}
        else:
            throttle = {"per_minute": RATE_PER_MINUTE, "per_hour": 10 ** 9}
        # Retry-After in milliseconds: a whole real second would be 1/(60 * scale) of a scaled minute, a coarseness
        # the real API's whole seconds do not have against its real minute.
        self.reset(alerts=10, machines=n, throttle=throttle, time_scale=scale, retry_after_fractional=True)
        ids = self.ctl.query("machines")[:n]
        if len(ids) < n:
            raise RuntimeError("the emulator holds %d machines, wanted %d" % (len(ids), n))
        token = self.token()
        before = self.isolate_counts(ids)
        self.ctl.clear_requests()
        env_extra = self.timescale_env(scale) if "requests_per_minute" in opts else {}
        # each variant starts with a budget of its own (the controller-wide state would carry the last one's pace)
        env_extra["DEFENDER_BUDGET_DIR"] = os.path.join(self.work, "budgets-%s" % key)
        if variant.get("per_process"):
            env_extra["DEFENDER_SHARED_BUDGET"] = "false"
        processes = variant["processes"]
        parts = [ids[i::processes] for i in range(processes)]
        started = []
        for i, part in enumerate(parts):
            args = {"machines": part, "state": "isolated", "comment": "benchmark: bulk isolation"}
            if "isolation_type" in opts:
                args["isolation_type"] = "full"
            if "wait" in opts:
                args["wait"] = False
            if "requests_per_minute" in opts:
                args["requests_per_minute"] = RATE_PER_MINUTE
            started.append(self.start_playbook("isolation-%s-%d" % (key, i), self.play([
                {"name": "keep: isolate %d machines" % len(part), "defender.endpoint.machine_isolation": args,
                 "ignore_errors": True},
            ], module_defaults={"access_token": "{{ bench_token }}", "api_url": "{{ api_url }}",
                                "ca_path": "{{ ca_path }}"}), {"bench_token": token}, env_extra=env_extra))
        runs = [self.finish(s) for s in started]
        tasks = [[t for t in run["tasks"] if t["action"].endswith("machine_isolation")][0] for run in runs]
        # all runs together: from the first task's start to the last one's end
        secs = max(t["end"] for t in tasks) - min(t["start"] for t in tasks)
        results = [t.get("result") or {} for t in tasks]
        if env_extra and not os.path.exists(env_extra["BENCH_TIME_SCALE_LOG"]):
            raise RuntimeError("the module's rate budget was not time-scaled (benchmarks/timescale not loaded)")
        log_entries = list(self.ctl.requests(kind="api"))
        admitted = [e for e in log_entries if e.get("status") != 429]
        stamps = sorted(datetime.datetime.fromisoformat(e["time"]).timestamp() for e in log_entries)
        span = (stamps[-1] - stamps[0]) if stamps else 0.0
        by_kind = {}
        for e in admitted:
            kind = "%s %s" % (e["method"], "isolate" if e["path"].endswith("/isolate") else
                              re.sub(r"/api/([^/]+).*", r"\1", e["path"]))
            by_kind[kind] = by_kind.get(kind, 0) + 1
        after = self.isolate_counts(ids)
        new = {i: after.get(i, 0) - before.get(i, 0) for i in ids}
        failures = 0
        for part, result in zip(parts, results):
            per_machine = result.get("results") or []
            failures += sum(1 for r in per_machine if r.get("failed")) if per_machine else \
                (len(part) if result.get("failed") else 0)
        bound = len(admitted) / float(variant["bound_per_minute"]) * 60.0 * scale
        ours = {"machines": n, "processes": processes, "task_seconds": round(secs, 2), "bound_seconds": round(bound, 2),
                "api_span_seconds": round(span, 2), "api_requests": len(log_entries),
                "api_requests_admitted": len(admitted), "api_requests_429": len(log_entries) - len(admitted),
                "requests_by_kind": by_kind, "failures": failures,
                "task_failed": any(bool(r.get("failed")) for r in results),
                "duplicates": sum(1 for v in new.values() if v > 1),
                "machines_with_new_action": sum(1 for v in new.values() if v >= 1),
                "not_isolated_at_end": len(self.not_isolated(ids)), "time_scale": scale,
                "emulator_throttle": throttle, "msgs": [r.get("msg") for r in results],
                "warnings": [w for r in results for w in (r.get("warnings") or [])]}
        log("isolation %s: %s" % (key, ours))
        return ours

    def timescale_env(self, scale):
        """The module's budget counts real minutes, the emulator's minute lasts 60 * scale seconds: scale the
        budget's windows by the same factor (benchmarks/timescale/sitecustomize.py; nothing else is patched)."""
        scale_log = os.path.join(self.work, "out", "timescale.log")
        env_extra = {"PYTHONPATH": os.path.join(HERE, "timescale"), "BENCH_TIME_SCALE": str(scale),
                     "BENCH_TIME_SCALE_LOG": scale_log}
        # fail fast if the hook no longer finds the budget (a renamed module would make the run take real minutes)
        check_env = dict(os.environ, **env_extra)
        check_env["PYTHONPATH"] = os.pathsep.join((env_extra["PYTHONPATH"], self.root))
        subprocess.run([self.python, "-c", "import ansible_collections.%s.%s.plugins.modules.machine_isolation"
                        % (NS, NAME)], env=check_env, cwd=self.work, capture_output=True, check=False)
        if not os.path.exists(scale_log):
            raise RuntimeError("benchmarks/timescale could not find the module's RateBudget to time-scale it")
        os.unlink(scale_log)
        return env_extra

    def isolate_counts(self, ids):
        wanted = set(ids)
        counts = {}
        for a in self.ctl.machine_actions():
            if a.get("type") == "Isolate" and a.get("machineId") in wanted:
                counts[a["machineId"]] = counts.get(a["machineId"], 0) + 1
        return counts

    def not_isolated(self, ids):
        """Machines whose newest Isolate/Unisolate action is not a live (or succeeded) Isolate."""
        latest = {}
        for a in self.ctl.machine_actions():
            if a.get("type") in ("Isolate", "Unisolate") and a.get("status") not in ("Failed", "Cancelled", "TimeOut"):
                mid = a.get("machineId")
                stamp = a.get("creationDateTimeUtc") or ""
                if mid not in latest or stamp >= latest[mid][0]:
                    latest[mid] = (stamp, a["type"])
        return [i for i in ids if latest.get(i, ("", None))[1] != "Isolate"]

    def isolation_diy(self):
        """The DIY contrast: one uri POST per machine under the same 100/minute limit (real time), written the way
        Ansible users parallelise: one inventory host per machine, ``forks`` workers, no budget, no retry."""
        k, scale, forks = self.size["diy_machines"], self.size["diy_scale"], self.size["diy_forks"]
        throttle = {"per_minute": RATE_PER_MINUTE, "per_hour": 10 ** 9}
        self.reset(alerts=10, machines=max(k, 20), throttle=throttle, time_scale=scale)
        ids = self.ctl.query("machines")[:k]
        token = self.token()
        before = self.isolate_counts(ids)
        inventory = os.path.join(self.work, "playbooks", "diy-inventory.ini")
        with open(inventory, "w", encoding="utf-8") as handle:
            handle.write("[fleet]\n")
            for i, mid in enumerate(ids):
                handle.write("m%04d ansible_connection=local machine_id=%s\n" % (i, mid))
        self.ctl.clear_requests()
        play = [{"name": "DIY isolation", "hosts": "fleet", "gather_facts": False, "tasks": [{
            "name": "isolate with uri", "no_log": True, "ignore_errors": True,
            "ansible.builtin.uri": {"url": "{{ api_url }}/api/machines/{{ machine_id }}/isolate", "method": "POST",
                                    "body_format": "json", "status_code": [201], "ca_path": "{{ ca_path }}",
                                    "headers": {"Authorization": "Bearer {{ bench_token }}"},
                                    "body": {"Comment": "benchmark: DIY", "IsolationType": "Full"}}}]}]
        run = self.playbook("isolation-diy", play, {"bench_token": token}, inventory=inventory, forks=forks,
                            check=False)
        secs = self.task_seconds(run, "uri")[0]
        posts = list(self.ctl.requests(kind="api", method="POST"))
        throttled = sum(1 for e in posts if e.get("status") == 429)
        failures = sum(1 for e in posts if e.get("status") != 201)
        after = self.isolate_counts(ids)
        duplicates = sum(1 for i in ids if after.get(i, 0) - before.get(i, 0) > 1)
        out = {"machines": k, "forks": forks, "time_scale": scale, "seconds": round(secs, 2), "posts": len(posts),
               "throttled": throttled, "failures": failures, "duplicates": duplicates,
               "not_isolated": len(self.not_isolated(ids)), "playbook_rc": run["rc"]}
        log("isolation DIY: %s" % out)
        return out

    # indicators (benchmarks/indicators_case.py) ------------------------------------------------------------

    def scenario_indicators(self):
        import indicators_case  # pylint: disable=import-outside-toplevel
        count = {"tiny": 600}.get(self.args.size, 10000)
        return indicators_case.run(self, figure, fmt_num, log, count)


def parse_importtime(stderr):
    """{module: {"self": us, "cumulative": us}} from ``python -X importtime`` output (first import wins)."""
    out = {}
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s*(\S+)", line)
        if m and m.group(3) not in out:
            out[m.group(3)] = {"self": int(m.group(1)), "cumulative": int(m.group(2))}
    return out


def count_jsonl(path):
    """(lines, unique ids) of a JSON Lines export, read as a stream."""
    lines = 0
    ids = set()
    with open(path, "rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            lines += 1
            m = re.search(rb'"id":"([^"]*)"', line)
            if m:
                ids.add(m.group(1))
            else:
                ids.add(json.loads(line).get("id"))
    return lines, len(ids)


# --------------------------------------------------------------------------------------------- report


def table_rows(results):
    rows = []
    for num, name in enumerate(SCENARIOS, 1):
        if name not in results:
            continue
        res = results[name]
        if res["status"] != "ok":
            reason = (res.get("reason") or "").strip().splitlines()
            rows.append([str(num), "%s: %s (%s)" % (name, res["status"].upper(), reason[0][:160] if reason else ""),
                         "", "", "", "", "", ""])
            continue
        for f in res["figures"]:
            ratio = f["ratio"]
            ratio_s = ratio if isinstance(ratio, str) else ("%.2f×" % ratio if ratio is not None else "–")
            met = "–" if f["met"] is None else ("yes" if f["met"] else "**NO**")
            rows.append([str(num), f["figure"], fmt_num(f["ours"]), fmt_num(f["baseline"]),
                         f.get("baseline_name") or "", ratio_s, f["goal"] or "–", met])
    return rows


HEADERS = ["#", "figure", "ours", "baseline", "baseline is", "ratio", "goal", "met"]


def render_text(rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(HEADERS)]
    line = "  ".join(h.ljust(w) for h, w in zip(HEADERS, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def render_markdown(rows, machine, size):
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    out.append("")
    out.append("Size `%s`, %s, %s CPUs (%s), Python %s, ansible-core %s, commit %s, load average at start %s, at "
               "the end %s." % (size, machine["date"], machine["nproc"], machine["cpu"], machine["python"],
                                machine["ansible_core"], machine["commit"] or "?", machine["loadavg_at_start"],
                                machine.get("loadavg_at_end")))
    return "\n".join(out) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description="defender.endpoint benchmarks (see docs/performance.md)")
    p.add_argument("--size", choices=sorted(SIZES), default="full")
    p.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated subset of %s" % ", ".join(SCENARIOS))
    p.add_argument("--json", default=os.path.join(HERE, "results", "latest.json"))
    p.add_argument("--markdown", default=None, help="default: the --json path with .md")
    p.add_argument("--keep", action="store_true", help="keep the work directory (playbooks, logs, exports)")
    p.add_argument("--isolation", default=",".join(ISOLATION_VARIANTS),
                   help="comma-separated isolation variants: %s" % ", ".join(ISOLATION_VARIANTS))
    p.add_argument("--worktree", action="store_true",
                   help="measure the working tree as it is (default in a git checkout: the committed HEAD)")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.only if s not in SCENARIOS]
    if unknown:
        p.error("unknown scenario(s): %s" % ", ".join(unknown))
    args.markdown = args.markdown or os.path.splitext(args.json)[0] + ".md"
    args.isolation = [s.strip() for s in args.isolation.split(",") if s.strip()]
    unknown = [s for s in args.isolation if s not in ISOLATION_VARIANTS]
    if unknown:
        p.error("unknown isolation variant(s): %s" % ", ".join(unknown))

    import signal

    def _terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    bench = Bench(args)
    machine = machine_info(bench.python, worktree=args.worktree)
    log("size %s on %s CPUs (%s), Python %s, ansible-core %s; work dir %s"
        % (args.size, machine["nproc"], machine["cpu"], machine["python"], machine["ansible_core"], bench.work))
    started = time.perf_counter()
    try:
        bench.run()
    finally:
        if args.keep:
            log("work dir kept: %s" % bench.work)
        else:
            shutil.rmtree(bench.work, ignore_errors=True)
    rows = table_rows(bench.results)
    try:
        machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        machine["loadavg_at_end"] = None
    machine["collection_source"] = getattr(bench, "source", None)
    doc = {"size": args.size, "parameters": bench.size, "machine": machine,
           "seconds": round(time.perf_counter() - started, 1), "scenarios": bench.results}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, indent=2, default=str)
    with open(args.markdown, "w", encoding="utf-8") as handle:
        handle.write(render_markdown(rows, machine, args.size))
    print(render_text(rows))
    print()
    print("size %s, %s, %s CPUs (%s), Python %s, ansible-core %s; %.0f s; results in %s and %s"
          % (args.size, machine["date"], machine["nproc"], machine["cpu"], machine["python"], machine["ansible_core"],
             doc["seconds"], args.json, args.markdown))
    return 1 if any(r["status"] == "error" for r in bench.results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
