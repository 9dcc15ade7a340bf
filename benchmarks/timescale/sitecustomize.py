# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper (not part of the collection): time-scale the collection's client-side rate budget.

benchmarks/run puts this directory on PYTHONPATH for the isolation scenario only, with BENCH_TIME_SCALE set to the
emulator's time scale. The emulator's "minute" then lasts 60 * scale seconds, and so does every window of every
RateBudget the module creates (RateBudget.configure is wrapped): same capacities, same algorithm (pacing, learning
periods), time compressed by the same factor on both sides. Retry-After comes from the emulator in real seconds
already. Nothing else in the module is touched.
"""

import os
import sys

_SCALE = os.environ.get("BENCH_TIME_SCALE")
_PREFIX = "ansible_collections.defender.endpoint.plugins.module_utils."


def _patch(module):
    budget = getattr(module, "RateBudget", None)
    if budget is None or budget.__module__ != module.__name__ or getattr(budget, "_bench_scaled", False):
        return
    original = budget.configure
    scale = float(_SCALE)

    def configure(self, limits):
        original(self, tuple((n, float(s) * scale) for n, s in limits))

    budget.configure = configure
    budget._bench_scaled = True
    log = os.environ.get("BENCH_TIME_SCALE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write("RateBudget windows scaled by %s in pid %d\n" % (scale, os.getpid()))


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
