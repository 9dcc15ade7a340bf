"""Client helper for the emulator's ``/_emulator`` control interface (stdlib only).

    from control import EmulatorControl, start_emulator, stop_emulator
    proc, settings = start_emulator("/tmp/emu", alerts=500)
    ctl = EmulatorControl(settings)
    ctl.config(duplicate_mode="return_pending")
    ...
    stop_emulator(proc)
"""

import json
import os
import select
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


class ControlError(RuntimeError):
    def __init__(self, status, body):
        super().__init__(f"emulator control call failed ({status}): {body}")
        self.status, self.body = status, body


class EmulatorControl:
    def __init__(self, settings_or_control_url, ca_path=None, timeout=30):
        if isinstance(settings_or_control_url, dict):
            self.url = settings_or_control_url["control_url"]
            ca_path = ca_path or settings_or_control_url["ca_path"]
        else:
            self.url = settings_or_control_url.rstrip("/")
        if not ca_path:
            raise ValueError("ca_path is required (the emulator's test CA)")
        self.ctx = ssl.create_default_context(cafile=ca_path)
        self.timeout = timeout

    def call(self, method, path, body=None, query=None):
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                detail = json.loads(raw)
            except ValueError:
                detail = raw.decode("utf-8", "replace")
            raise ControlError(exc.code, detail) from None
        return json.loads(raw) if raw else None

    # state & data
    def reset(self, **kw):
        """Fresh deterministic data: seed, alerts, machines, anchor, plus any config key."""
        return self.call("POST", "/reset", kw)

    def settings(self):
        return self.call("GET", "/settings")

    def config(self, **kw):
        """token_lifetime, lifecycle={pending, in_progress}, duplicate_mode, out_of_order, throttle (bool or
        dict), time_scale, action_outcome={machine_id: outcome}, token_expiry_after_calls,
        retry_after_fractional. Returns the full config."""
        return self.call("POST", "/config", kw) if kw else self.call("GET", "/config")

    def requests(self, kind=None, method=None):
        return self.call("GET", "/requests", query={"kind": kind, "method": method})

    def clear_requests(self):
        return self.call("DELETE", "/requests")

    def set_faults(self, *rules, seed=None):
        body = {"rules": list(rules)}
        if seed is not None:
            body["seed"] = seed
        return self.call("POST", "/faults", body)

    faults = set_faults

    def clear_faults(self):
        return self.call("DELETE", "/faults")

    def stats(self):
        return self.call("GET", "/stats")

    def alert(self, alert_id):
        return self.call("GET", "/state/alerts/" + urllib.parse.quote(alert_id, safe=""))

    def machine(self, machine_id_or_name):
        """The machine plus its computed ``isolationState`` (isolated/released/unknown)."""
        return self.call("GET", "/state/machines/" + urllib.parse.quote(machine_id_or_name, safe=""))

    def machine_actions(self, machine_id=None):
        return self.call("GET", "/state/machineactions", query={"machineId": machine_id})

    def specials(self):
        """Ids of the seeded edge-case machines (shared_fresh, shared_stale, ambiguous_a, quote, ...)."""
        return self.call("GET", "/state/specials")

    def vulnerabilities(self, cve_id=None, machine=None):
        """Ground truth of the vulnerability data: ``{"rows", "cves": {id: {machine_ids, severity, fixing_kb,
        public_exploit}}}``, or with ``machine`` ``{"machine_id", "cves"}``."""
        return self.call("GET", "/state/vulnerabilities", query={"cve_id": cve_id, "machine": machine})

    def fix_vulnerabilities(self, machine, cve_ids=None):
        """The machine was patched: its rows (of ``cve_ids``, or all) go; ``{"machine_id", "fixed"}``."""
        return self.call("POST", "/vulnerabilities", {"machine": machine, "cve_ids": cve_ids})

    def create_alerts(self, alerts):
        return self.call("POST", "/alerts", list(alerts))

    def create_machines(self, machines):
        return self.call("POST", "/machines", list(machines))

    def report(self, machine_id, last_seen=None):
        """The machine sends a full report (``lastSeen`` now, or ``last_seen``): e.g. it is back after an offboard."""
        return self.call("POST", "/machines/%s/report" % urllib.parse.quote(machine_id, safe=""),
                         {"lastSeen": last_seen} if last_seen else {})

    def query(self, entity, odata_filter=None):
        """Ids the emulator's own $filter evaluation selects ("alerts", "machines", "machineactions")."""
        return self.call("POST", "/query/" + entity, {"filter": odata_filter})["ids"]

    def incident(self, **kw):
        return self.call("POST", "/incident", kw)

    # identity
    def assertion(self, app="federated", lifetime=3600):
        return self.call("POST", "/assertion", {"app": app, "lifetime": lifetime})["assertion"]

    def rotate_keys(self, publish=True, drop_old=False):
        return self.call("POST", "/keys/rotate", {"publish": publish, "drop_old": drop_old})

    def publish_keys(self):
        return self.call("POST", "/keys/publish", {})

    def keys(self):
        return self.call("GET", "/keys")["keys"]

    def mint_token(self, app="full", **kw):
        """A token minted directly: tenant, resource, roles, lifetime, offset (seconds; negative = expired)."""
        return self.call("POST", "/token", dict(kw, app=app))


def start_emulator(state_dir, timeout=60, python=None, **opts):
    """Launch the CLI as a subprocess; returns (process, settings) once it prints its settings line.

    ``opts`` map to CLI flags: port, seed, alerts, machines, time_scale, token_lifetime, duplicate_mode,
    no_throttle=True.
    """
    cmd = [python or sys.executable, os.path.join(HERE, "emulator.py"), "--state-dir", state_dir]
    for k, v in opts.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            cmd.append(flag)
        elif v not in (None, False):
            cmd += [flag, str(v)]
    os.makedirs(state_dir, exist_ok=True)
    # stderr to a file: a pipe nobody reads could fill up and block the server.
    with open(os.path.join(state_dir, "emulator.log"), "ab") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    proc.log_path = os.path.join(state_dir, "emulator.log")
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            stop_emulator(proc)
            with open(proc.log_path, encoding="utf-8", errors="replace") as fh:
                err = fh.read()
            raise RuntimeError(f"emulator did not start (rc={proc.returncode}): {err[-2000:]}")
        ready, _writable, _errored = select.select([proc.stdout], [], [], min(left, 0.5))
        if ready:
            line = proc.stdout.readline()
            if line.strip():
                return proc, json.loads(line)


def stop_emulator(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()
    return proc.returncode
