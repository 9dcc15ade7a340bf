"""Cross-cutting behaviour: throttling (per app + tenant sliding windows) and
injected faults."""

import collections
import math
import random
import re
import threading
import time

FAULT_ACTIONS = ("status", "reset", "drop_after", "delay", "truncate", "expire_token")


class Throttle:
    """Sliding-window limits per (app, tenant, bucket), as MDE applies them.

    A "minute" lasts ``60 * time_scale`` real seconds. Retry-After is the real
    wait until the oldest counted call leaves the window, rounded up to an
    integer (at least 1), or fractional when ``fractional`` is set.
    """

    DEFAULTS = {"enabled": True, "per_minute": 100, "per_hour": 1500,
                "batch_per_minute": 10, "batch_per_hour": 500, "package_per_minute": 2, "package_per_hour": 120,
                # a limit the client is not told: [{"calls": n, "seconds": s}, ...] replaces per_minute/per_hour
                # (batch_windows: the batch limits); seconds are scaled by time_scale like the documented windows
                "windows": None, "batch_windows": None,
                "ti_bulk_per_minute": 30, "ti_bulk_per_hour": 1500,
                "hunting_per_minute": 45, "hunting_per_hour": 100000,
                "live_response_per_minute": 10, "live_response_per_hour": 100000,
                # Graph /security: 150 per minute per app and tenant [uncertain which resources it covers]
                "security_per_minute": 150, "security_per_hour": 100000,
                # vulnerability management: per-machine vulnerabilities, JSON and files exports (Microsoft pages
                # get-discovered-vulnerabilities, get-assessment-software-vulnerabilities)
                "tvm_machine_per_minute": 50, "tvm_machine_per_hour": 1500,
                "tvm_json_per_minute": 30, "tvm_json_per_hour": 1000,
                "tvm_files_per_minute": 5, "tvm_files_per_hour": 20}

    def __init__(self):
        self.lock = threading.Lock()
        self.settings = dict(self.DEFAULTS)
        self.windows = collections.defaultdict(collections.deque)
        self.rejected = 0

    def configure(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k not in self.DEFAULTS:
                    raise ValueError(f"unknown throttle setting {k!r}")
                if k in ("windows", "batch_windows") and v is not None:
                    v = self._windows(k, v)
                self.settings[k] = v

    @staticmethod
    def _windows(name, value):
        if not isinstance(value, list) or not value:
            raise ValueError(f"{name} must be a non-empty list of {{calls, seconds}}")
        out = []
        for w in value:
            if not isinstance(w, dict) or set(w) != {"calls", "seconds"}:
                raise ValueError(f"each of {name} must be {{calls, seconds}}, got {w!r}")
            calls, seconds = int(w["calls"]), float(w["seconds"])
            if calls < 1 or seconds <= 0:
                raise ValueError(f"{name}: calls must be >= 1 and seconds > 0, got {w!r}")
            out.append({"calls": calls, "seconds": seconds})
        return out

    def clear(self):
        """Forget counted calls and restore the default limits."""
        with self.lock:
            self.settings = dict(self.DEFAULTS)
            self.windows.clear()
            self.rejected = 0

    def check(self, key, bucket, time_scale, fractional=False):
        """Record a call; return None if allowed, else the Retry-After value (str)."""
        with self.lock:
            s = self.settings
            if not s["enabled"]:
                return None
            custom = s["batch_windows"] if bucket == "batch" else s["windows"]
            if custom:
                limits = tuple((w["calls"], w["seconds"]) for w in custom)
            elif bucket == "batch":
                limits = ((s["batch_per_minute"], 60.0), (s["batch_per_hour"], 3600.0))
            elif bucket == "package":
                limits = ((s["package_per_minute"], 60.0), (s["package_per_hour"], 3600.0))
            elif bucket in ("ti_import", "ti_delete"):  # one window each, the same limits
                limits = ((s["ti_bulk_per_minute"], 60.0), (s["ti_bulk_per_hour"], 3600.0))
            elif bucket == "live_response":  # runliveresponse: 10 calls a minute, no hourly figure documented
                limits = ((s["live_response_per_minute"], 60.0), (s["live_response_per_hour"], 3600.0))
            elif bucket == "hunting":  # Graph runHuntingQuery: "at least 45 per minute" per tenant, no hourly figure
                limits = ((s["hunting_per_minute"], 60.0), (s["hunting_per_hour"], 3600.0))
            elif bucket in ("tvm_machine", "tvm_json", "tvm_files"):
                limits = ((s[bucket + "_per_minute"], 60.0), (s[bucket + "_per_hour"], 3600.0))
            elif bucket == "security":
                limits = ((s["security_per_minute"], 60.0), (s["security_per_hour"], 3600.0))
            else:
                limits = ((s["per_minute"], 60.0), (s["per_hour"], 3600.0))
            now = time.monotonic()
            window = self.windows[(key, bucket)]
            longest = max(w for _limit, w in limits) * time_scale
            while window and window[0] <= now - longest:
                window.popleft()
            wait = 0.0
            for limit, seconds in limits:
                span = seconds * time_scale
                if len(window) < limit:
                    continue
                inside = [t for t in window if t > now - span]
                if len(inside) >= limit:
                    # The call that frees a slot is the (len - limit + 1)-th oldest inside the window.
                    wait = max(wait, inside[len(inside) - limit] + span - now)
            if wait > 0:
                self.rejected += 1
                if fractional:
                    return f"{max(wait, 0.001):.3f}"
                return str(max(1, math.ceil(wait)))
            window.append(now)
            return None


class Faults:
    """Rules that make the server misbehave on matching requests."""

    def __init__(self, seed=1):
        self.lock = threading.Lock()
        self.rules = []
        self.rng = random.Random(seed)

    def set(self, rules, seed=None):
        compiled = []
        for r in rules:
            action = r.get("action")
            if action not in FAULT_ACTIONS:
                raise ValueError(f"unknown fault action {action!r}; use one of {FAULT_ACTIONS}")
            match = r.get("match") or {}
            unknown = set(match) - {"method", "path_regex", "kind"}
            if unknown:
                raise ValueError(f"unknown match keys {sorted(unknown)}")
            compiled.append({
                "spec": r,
                "method": (match.get("method") or "").upper() or None,
                "path": re.compile(match["path_regex"]) if match.get("path_regex") else None,
                "kind": match.get("kind"),
                "action": action,
                "count": r.get("count"),
                "after": int(r.get("after") or 0),
                "probability": r.get("probability"),
                "seen": 0, "fired": 0,
            })
        with self.lock:
            if seed is not None:
                self.rng = random.Random(seed)
            self.rules = compiled

    def clear(self):
        with self.lock:
            self.rules = []

    def describe(self):
        with self.lock:
            return [dict(r["spec"], seen=r["seen"], fired=r["fired"]) for r in self.rules]

    def pick(self, method, path, kind):
        """Return the first rule that fires for this request (its spec dict), or None."""
        with self.lock:
            for r in self.rules:
                if r["method"] and r["method"] != method:
                    continue
                if r["kind"] and r["kind"] != kind:
                    continue
                if r["path"] and not r["path"].search(path):
                    continue
                r["seen"] += 1
                if r["seen"] <= r["after"]:
                    continue
                if r["count"] is not None and r["fired"] >= r["count"]:
                    continue
                if r["probability"] is not None and self.rng.random() >= r["probability"]:
                    continue
                r["fired"] += 1
                return r["spec"]
        return None
