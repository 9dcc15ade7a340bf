# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the end-to-end suites: a running emulator, a collection tree and a real ansible-playbook runner.

    def test_something(emulator, ansible):
        emulator.reset()
        run = ansible.playbook('''
        - hosts: localhost
          tasks:
            - name: read alerts
              defender.endpoint.alert_info: {}
        ''')
        assert run.rc == 0, run.stdout
        assert run.task("read alerts")["status"] == "ok"

Fixtures
  emulator (session)      .settings (dict), .control (EmulatorControl), .reset(**opts) (reset state + clear the request
                          log), .settings_path. Uses $DEFENDER_EMULATOR_SETTINGS (settings.json of a running emulator)
                          when set, else starts one with tests/emulator/control.py's start_emulator() (one per xdist
                          worker).
  collection_path (session)  a directory holding ansible_collections/defender/endpoint (for ANSIBLE_COLLECTIONS_PATH).
  ansible (function)      .playbook(playbook, extra_vars=None, check=False, diff=False, verbosity=0, env=None,
                          tags=None, log=False) -> PlaybookRun; .cache_dir (per-test XDG_CACHE_HOME); .env (base env);
                          .connection_env (the AZURE_*/DEFENDER_* variables derived from the emulator).
  PlaybookRun             .rc .stdout .stderr .results (list of dicts: play, task, action, host, status
                          (ok|changed|failed|skipped|unreachable), ignore_errors, no_log, result) .task(name) (last
                          record of that task name, or None) .stats ({host: {ok, changed, failures, skipped, ...}})
                          .changed (total changed over hosts) .failed (total failures) .log_path (with log=True)
                          .log_text() .command (argv) .playbook_path
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parent.parent
EMULATOR_DIR = REPO / "tests" / "emulator"
CALLBACK_DIR = E2E_DIR / "callback_plugins"
NAMESPACE, NAME = "defender", "endpoint"
PLAYBOOK_TIMEOUT = int(os.environ.get("DEFENDER_E2E_PLAYBOOK_TIMEOUT", "600"))

# Variables that would make a client trust the machine's CA bundle instead of the emulator's CA, or point a sign-in
# somewhere else. They are removed from every playbook run (the connection variables are then set from the emulator).
_SCRUB = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
          "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
          "AZURE_AUTHORITY_HOST", "AZURE_FEDERATED_TOKEN_FILE", "DEFENDER_API_URL", "DEFENDER_CA_PATH",
          "DEFENDER_ACCESS_TOKEN", "DEFENDER_CLOUD", "DEFENDER_GRAPH_URL", "ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATHS",
          "ANSIBLE_INVENTORY", "ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_LOG_PATH", "ANSIBLE_VAULT_PASSWORD_FILE")


def _import_control():
    if str(EMULATOR_DIR) not in sys.path:
        sys.path.insert(0, str(EMULATOR_DIR))
    import control  # noqa: E402  pylint: disable=import-error,import-outside-toplevel

    return control


def _first(settings, *names, default=None):
    for n in names:
        if settings.get(n) not in (None, ""):
            return settings[n]
    return default


def _default_app(settings):
    apps = settings.get("apps") or {}
    return apps.get("full") or (next(iter(apps.values())) if apps else {})


def connection_env(settings):
    """The environment variables a playbook uses to reach the emulator with the default (full rights) app."""
    app = _default_app(settings)
    env = {
        "AZURE_TENANT_ID": _first(settings, "tenant_id") or app.get("tenant_id") or (app.get("tenants") or [None])[0],
        "AZURE_CLIENT_ID": _first(settings, "client_id") or app.get("client_id"),
        "AZURE_CLIENT_SECRET": _first(settings, "client_secret") or app.get("client_secret"),
        "AZURE_AUTHORITY_HOST": _first(settings, "login_url", "authority_host"),
        "DEFENDER_API_URL": _first(settings, "api_url"),
        "DEFENDER_CA_PATH": _first(settings, "ca_path", "ca_file", "ca"),
        "DEFENDER_GRAPH_URL": _first(settings, "graph_url"),
    }
    return {k: str(v) for k, v in env.items() if v not in (None, "")}


class Emulator:
    """What the `emulator` fixture returns."""

    def __init__(self, settings, control, settings_path=None, process=None):
        self.settings = settings
        self.control = control
        self.settings_path = settings_path
        self.process = process

    @property
    def api_url(self):
        return _first(self.settings, "api_url")

    @property
    def login_url(self):
        return _first(self.settings, "login_url", "authority_host")

    @property
    def ca_path(self):
        return _first(self.settings, "ca_path", "ca_file", "ca")

    @property
    def apps(self):
        return self.settings.get("apps") or {}

    def env(self, app=None):
        """Connection environment for the default app, or for apps[app] (tenant/client id/secret from that app)."""
        env = connection_env(self.settings)
        if app is not None:
            a = self.apps[app]
            for var, key in (("AZURE_CLIENT_ID", "client_id"), ("AZURE_CLIENT_SECRET", "client_secret"),
                             ("AZURE_TENANT_ID", "tenant_id")):
                if a.get(key):
                    env[var] = str(a[key])
        return env

    def reset(self, **opts):
        """Reset the emulator's state (opts go to /_emulator/reset) and clear the request log."""
        result = self.control.reset(**opts)
        clear = getattr(self.control, "clear_requests", None)
        if clear is not None:
            clear()
        return result

    def __getattr__(self, item):  # emulator.requests(...), emulator.faults(...) -> control
        if item.startswith("_") or item in ("settings", "control", "settings_path", "process"):
            raise AttributeError(item)
        return getattr(self.control, item)


def _stop(process):
    if process is None:
        return
    stop = getattr(process, "terminate", None)
    if stop is None:
        return
    try:
        stop()
        process.wait(timeout=10)
    except Exception:  # pylint: disable=broad-except
        try:
            process.kill()
        except Exception:  # pylint: disable=broad-except
            pass


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    control_mod = _import_control()
    path = os.environ.get("DEFENDER_EMULATOR_SETTINGS")
    process = None
    if path:
        with open(path, encoding="utf-8") as f:
            settings = json.load(f)
    else:
        state_dir = tmp_path_factory.mktemp("emulator")
        process, settings = control_mod.start_emulator(str(state_dir))
        path = str(state_dir / "settings.json")
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as f:
                json.dump(settings, f)
    ca = _first(settings, "ca_path", "ca_file", "ca")
    try:
        control = control_mod.EmulatorControl(settings, ca)
    except TypeError:
        control = control_mod.EmulatorControl(_first(settings, "control_url"), ca)
    emu = Emulator(settings, control, settings_path=path, process=process)
    try:
        yield emu
    finally:
        if process is not None:
            stopper = getattr(control_mod, "stop_emulator", None)
            if stopper is not None:
                stopper(process)
            else:
                _stop(process)


@pytest.fixture(scope="session")
def collection_path(tmp_path_factory):
    """A directory that contains ansible_collections/defender/endpoint (this checkout)."""
    if REPO.parent.name == NAMESPACE and REPO.parent.parent.name == "ansible_collections":
        return str(REPO.parent.parent.parent)
    root = tmp_path_factory.mktemp("collections")
    ns = root / "ansible_collections" / NAMESPACE
    ns.mkdir(parents=True)
    try:
        (ns / NAME).symlink_to(REPO, target_is_directory=True)
    except OSError:
        shutil.copytree(REPO, ns / NAME, ignore=shutil.ignore_patterns(".git", ".cache", ".venv*", "output"))
    return str(root)


class PlaybookRun:
    """The outcome of one ansible-playbook run."""

    def __init__(self, command, rc, stdout, stderr, records, playbook_path, log_path=None):
        self.command = command
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.playbook_path = playbook_path
        self.log_path = log_path
        self.results = [r for r in records if "stats" not in r]
        cb_stats = [r["stats"] for r in records if "stats" in r]
        self.stats = cb_stats[-1] if cb_stats else _parse_recap(stdout)

    def task(self, name):
        """The last result record of the task called `name` (None if it never ran)."""
        for r in reversed(self.results):
            if r.get("task") == name:
                return r
        return None

    def tasks(self, name):
        """Every result record of the task called `name` (one per host)."""
        return [r for r in self.results if r.get("task") == name]

    def result(self, name):
        """The result dict of the last record of task `name`; KeyError when the task never ran."""
        rec = self.task(name)
        if rec is None:
            raise KeyError("task %r did not run; tasks seen: %s" % (name, [r.get("task") for r in self.results]))
        return rec["result"]

    @property
    def changed(self):
        return sum(int(h.get("changed", 0)) for h in self.stats.values())

    @property
    def failed(self):
        return sum(int(h.get("failures", h.get("failed", 0))) for h in self.stats.values())

    def log_text(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def __repr__(self):
        return "PlaybookRun(rc=%s, stats=%s)" % (self.rc, self.stats)

    def explain(self):
        """Text for assertion messages."""
        return "rc=%s\n--- stdout\n%s\n--- stderr\n%s" % (self.rc, self.stdout[-6000:], self.stderr[-3000:])


_RECAP = re.compile(r"^(\S+)\s*:\s*((?:\w+=\d+\s*)+)$")


def _parse_recap(stdout):
    stats = {}
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap:
            m = _RECAP.match(line.strip())
            if m:
                stats[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    for h in stats.values():
        if "failed" in h and "failures" not in h:
            h["failures"] = h["failed"]
    return stats


class AnsibleRunner:
    """What the `ansible` fixture returns."""

    def __init__(self, workdir, collection_path, emulator_settings):
        self.workdir = Path(workdir)
        self.cache_dir = str(self.workdir / "xdg-cache")
        os.makedirs(self.cache_dir, exist_ok=True)
        self.collection_path = collection_path
        self.connection_env = connection_env(emulator_settings) if emulator_settings else {}
        bindir = os.path.dirname(sys.executable)
        self.ansible_playbook = os.path.join(bindir, "ansible-playbook")
        if not os.path.exists(self.ansible_playbook):
            self.ansible_playbook = shutil.which("ansible-playbook") or "ansible-playbook"
        self._count = 0
        env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
        env.update({
            "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            "ANSIBLE_COLLECTIONS_PATH": collection_path,
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "XDG_CACHE_HOME": self.cache_dir,
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_HOST_KEY_CHECKING": "false",
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
            "ANSIBLE_CALLBACKS_ENABLED": "results_json",
            "ANSIBLE_LOCAL_TEMP": str(self.workdir / "ansible-tmp"),
            "ANSIBLE_REMOTE_TEMP": str(self.workdir / "ansible-remote-tmp"),
            "ANSIBLE_DEPRECATION_WARNINGS": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        env.update(self.connection_env)
        self.env = env

    def _write_playbook(self, playbook, n):
        if isinstance(playbook, os.PathLike) or (isinstance(playbook, str) and "\n" not in playbook
                                                 and playbook.strip().endswith((".yml", ".yaml"))
                                                 and os.path.exists(playbook)):
            return str(playbook)
        if isinstance(playbook, str):
            plays = yaml.safe_load(playbook)
        else:
            plays = playbook
        if isinstance(plays, dict):
            plays = [plays]
        if not isinstance(plays, list):
            raise TypeError("playbook must be a path, YAML text or a list of plays")
        fixed = []
        for play in plays:
            play = dict(play)
            if "import_playbook" not in play and "ansible.builtin.import_playbook" not in play:
                play.setdefault("hosts", "localhost")
                play.setdefault("gather_facts", False)
            fixed.append(play)
        path = self.workdir / ("playbook-%d.yml" % n)
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(fixed, f, sort_keys=False)
        return str(path)

    def playbook(self, playbook, extra_vars=None, check=False, diff=False, verbosity=0, env=None, tags=None,
                 log=False, inventory="localhost,", timeout=PLAYBOOK_TIMEOUT, skip_tags=None, limit=None):
        """Run ansible-playbook on localhost (local connection) and return a PlaybookRun."""
        self._count += 1
        n = self._count
        path = self._write_playbook(playbook, n)
        results_path = self.workdir / ("results-%d.jsonl" % n)
        cmd = [self.ansible_playbook, "-i", inventory, "-c", "local", path]
        if extra_vars:
            vars_path = self.workdir / ("extra-vars-%d.json" % n)
            with open(vars_path, "w", encoding="utf-8") as f:
                json.dump(extra_vars, f)
            cmd += ["-e", "@%s" % vars_path]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * int(verbosity))
        if tags:
            cmd += ["--tags", tags if isinstance(tags, str) else ",".join(tags)]
        if skip_tags:
            cmd += ["--skip-tags", skip_tags if isinstance(skip_tags, str) else ",".join(skip_tags)]
        if limit:
            cmd += ["--limit", limit]
        run_env = dict(self.env)
        run_env["DEFENDER_E2E_RESULTS_PATH"] = str(results_path)
        log_path = None
        if log:
            log_path = str(self.workdir / ("ansible-%d.log" % n))
            run_env["ANSIBLE_LOG_PATH"] = log_path
        for k, v in (env or {}).items():
            if v is None:
                run_env.pop(k, None)
            else:
                run_env[k] = str(v)
        proc = subprocess.run(cmd, env=run_env, cwd=str(self.workdir), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, check=False)
        records = []
        if results_path.exists():
            with open(results_path, encoding="utf-8") as f:
                records = [json.loads(line) for line in f if line.strip()]
        return PlaybookRun(cmd, proc.returncode, proc.stdout, proc.stderr, records, path, log_path)


@pytest.fixture
def ansible(tmp_path, collection_path, emulator):
    """A runner for real ansible-playbook runs, wired to the session's emulator."""
    return AnsibleRunner(tmp_path, collection_path, emulator.settings)


@pytest.fixture
def playbook_dir(tmp_path):
    """A scratch directory for playbook files a test writes itself."""
    d = tmp_path / "playbooks"
    d.mkdir()
    return d


def pytest_report_header(config):  # pylint: disable=unused-argument
    return "defender.endpoint e2e: repo %s, python %s, DEFENDER_EMULATOR_SETTINGS=%s" % (
        REPO, sys.executable, os.environ.get("DEFENDER_EMULATOR_SETTINGS", "<start per session>"))


def fleet_tool(name):
    """The path of ansible-rulebook / ansible-builder / ansible-runner / ansible-galaxy next to this interpreter.

    scripts/test installs them in the newest toolchain only and sets DEFENDER_E2E_FLEET_TOOLS=required there, so a
    missing tool fails the test; elsewhere (the oldest toolchain with E2E_ALL, a bare venv) the test is skipped."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(path):
        return path
    message = "%s is not installed next to %s (tests/requirements-lint.txt)" % (name, sys.executable)
    if os.environ.get("DEFENDER_E2E_FLEET_TOOLS") == "required":
        pytest.fail(message)
    pytest.skip(message)
    return None
