# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper (not part of the collection): time-scale the collection's client-side rate budget.

benchmarks/run puts this directory on PYTHONPATH for the isolation scenario only, with BENCH_TIME_SCALE set to the
emulator's time scale. The emulator's "minute" then lasts 60 * scale seconds, and so does the period of every
RateBudget the module creates: same capacity (requests_per_minute), same algorithm, time compressed by the same
factor on both sides. Nothing else in the module is touched.

With BENCH_BUDGET=sliding (``benchmarks/run --budget-experiment sliding``), RateBudget.acquire is replaced by a
sliding-window log, to measure what that change to the module would do; the default run measures the module as
shipped.
"""

import os
import sys

_SCALE = os.environ.get("BENCH_TIME_SCALE")
_PREFIX = "ansible_collections.defender.endpoint.plugins.module_utils."


def _patch(module):
    budget = getattr(module, "RateBudget", None)
    if budget is None or budget.__module__ != module.__name__ or getattr(budget, "_bench_scaled", False):
        return
    original = budget.__init__
    scale = float(_SCALE)

    def __init__(self, per_period, period=60.0, *args, **kwargs):
        original(self, per_period, period * scale, *args, **kwargs)

    budget.__init__ = __init__
    budget._bench_scaled = True
    if os.environ.get("BENCH_BUDGET") == "sliding":
        budget.acquire = _sliding_acquire
    log = os.environ.get("BENCH_TIME_SCALE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write("RateBudget period scaled by %s in pid %d\n" % (scale, os.getpid()))


def _sliding_acquire(self):
    """EXPERIMENT (benchmarks/run --budget-experiment sliding), not the shipped algorithm: at most ``capacity``
    requests in any trailing ``period``, the way the API counts, instead of a token bucket (which lets a full
    bucket plus its refill through in the first period)."""
    import collections
    while True:
        with self.lock:
            sent = getattr(self, "_bench_sent", None)
            if sent is None:
                sent = self._bench_sent = collections.deque()
            now = self.clock()
            while sent and sent[0] <= now - self.period:
                sent.popleft()
            if len(sent) < self.capacity:
                sent.append(now)
                return
            wait = sent[0] + self.period - now + 0.001
        self.sleep(wait)


class _Finder:
    """Meta path finder that patches the collection's module_utils module defining RateBudget (client.py, formerly
    http.py) right after it is executed."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(_PREFIX):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                loader = spec.loader
                exec_module = loader.exec_module

                def patched_exec(module, _exec=exec_module):
                    _exec(module)
                    _patch(module)

                try:
                    loader.exec_module = patched_exec
                except AttributeError:
                    return None
                return spec
        return None


if _SCALE:
    sys.meta_path.insert(0, _Finder())
