# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the Microsoft Graph pagers: every incident (5,000) and every alerts_v2 alert (60,000) read through
the collection's shared client, by ``@odata.nextLink`` and by time boundary (``lastUpdateDateTime ge <cursor>``,
ascending, ``$skip=0``), with the pagers the alert modules use (``graph_alerts.NextLinkPager`` and
``TimeBoundaryPager``), against a bare
``requests`` loop over the same pages (same page size, same queries, same token; no retries, no de-duplication, no
checks). Each read must return every item exactly once (ids counted); the figure is the pager's items per second as a
ratio of the loop's, measured in the same run against the same emulator (a separate process, throttling off), the
two alternating (after one untimed read of each, which fills the emulator's cache of alert texts), the median of
``--rounds`` runs each.

    python benchmarks/graph_paging.py                          # 5,000 incidents, 60,000 alerts, 3 rounds
    python benchmarks/graph_paging.py --alerts 6000 --incidents 500 --rounds 1 --json out.json

Needs ansible-core, requests and msal in the running interpreter (benchmarks/run's venv or scripts/test's).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
EMULATOR_DIR = os.path.join(REPO, "tests", "emulator")
GRAPH = "https://graph.microsoft.com"
ALERTS = "/v1.0/security/alerts_v2"
INCIDENTS = "/v1.0/security/incidents"
PAGE = {ALERTS: 1000, INCIDENTS: 50}  # the largest pages each collection takes
MACHINES = 200


def collection_imports(tmp):
    """The collection importable as ansible_collections.defender.endpoint (a symlinked layout)."""
    root = os.path.join(tmp, "collections")
    os.makedirs(os.path.join(root, "ansible_collections", "defender"), exist_ok=True)
    link = os.path.join(root, "ansible_collections", "defender", "endpoint")
    if not os.path.exists(link):
        os.symlink(REPO, link)
    sys.path.insert(0, root)
    from ansible_collections.defender.endpoint.plugins.module_utils import graph_alerts, rate, settings as S
    return graph_alerts, rate, S


def alerts_for_incidents(seed, wanted):
    """``(seed, alerts)``: a seeded tenant whose alerts belong to exactly ``wanted`` incidents (grouped by incidentId)."""
    sys.path.insert(0, EMULATOR_DIR)
    import data as D  # pylint: disable=import-error

    def incidents(s, n):
        return len({a["incidentId"] for a in D.Store(seed=s, alerts=n, machines=MACHINES).alerts})

    for s in range(seed, seed + 50):
        low, high = wanted, wanted * 3
        while low < high:  # the first alert count that reaches `wanted` incidents
            mid = (low + high) // 2
            if incidents(s, mid) < wanted:
                low = mid + 1
            else:
                high = mid
        if incidents(s, low) == wanted:
            return s, low
    raise SystemExit("no seed gives exactly %d incidents" % wanted)


def bare_next_link(session, base, token, path):
    """The loop a user writes: GET, take value, follow @odata.nextLink."""
    headers = {"Authorization": "Bearer " + token, "Prefer": "include-unknown-enum-members"}
    url, params, ids, pages = base + path, {"$top": PAGE[path]}, [], 0
    while url:
        r = session.get(url, params=params, headers=headers, timeout=120)
        r.raise_for_status()
        body = r.json()
        ids.extend(item["id"] for item in body["value"])
        url, params, pages = body.get("@odata.nextLink"), None, pages + 1
    return ids, pages


def bare_time_boundary(session, base, token, path):
    """Elastic's loop: lastUpdateDateTime ge <last>, ascending, $skip=0; the boundary's ids skipped by hand."""
    headers = {"Authorization": "Bearer " + token, "Prefer": "include-unknown-enum-members"}
    top, cursor, seen_at_cursor, ids, pages, skip = PAGE[path], None, set(), [], 0, 0
    while True:
        params = {"$orderby": "lastUpdateDateTime asc", "$top": top, "$skip": skip}
        if cursor:
            params["$filter"] = "lastUpdateDateTime ge %s" % cursor
        r = session.get(base + path, params=params, headers=headers, timeout=120)
        r.raise_for_status()
        page = r.json()["value"]
        pages += 1
        ids.extend(item["id"] for item in page if item["id"] not in seen_at_cursor)
        if len(page) < top:
            return ids, pages
        last = page[-1]["lastUpdateDateTime"]
        tail = {item["id"] for item in page if item["lastUpdateDateTime"] == last}
        if last == cursor:
            seen_at_cursor |= tail
            skip = len(seen_at_cursor)
        else:
            cursor, seen_at_cursor, skip = last, tail, 0


def pager_read(pagers, client, path, by_time):
    """Every item through the pager the alert modules use (graph_alerts picks the shared client's)."""
    if by_time:
        pager = pagers.TimeBoundaryPager(client, path, "lastUpdateDateTime", page_size=PAGE[path])
    else:
        pager = pagers.NextLinkPager(client, path, page_size=PAGE[path])
    ids = [item["id"] for _ids, block in pager.blocks() for item in block]
    return ids, pager.requests


def timed(func):
    start = time.perf_counter()
    ids, pages = func()
    return time.perf_counter() - start, ids, pages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=60000)
    ap.add_argument("--incidents", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="graph-paging-")
    pagers, rate, S = collection_imports(tmp)
    sys.path.insert(0, EMULATOR_DIR)
    from control import EmulatorControl, start_emulator, stop_emulator  # pylint: disable=import-error

    incident_seed, incident_alerts = alerts_for_incidents(args.seed, args.incidents)
    proc, settings = start_emulator(os.path.join(tmp, "emulator"), alerts=args.alerts, machines=MACHINES,
                                    seed=args.seed)
    ctl = EmulatorControl(settings)
    rows = []
    try:
        ctl.config(throttle=False)
        session = requests.Session()
        session.trust_env = False
        session.verify = settings["ca_path"]
        token = session.post("%s/%s/oauth2/v2.0/token" % (settings["login_url"], settings["tenant_id"]), data={
            "grant_type": "client_credentials", "client_id": settings["client_id"],
            "client_secret": settings["client_secret"], "scope": GRAPH + "/.default"}).json()["access_token"]
        options = dict(tenant_id=settings["tenant_id"], client_id=settings["client_id"], access_token=token,
                       api_url=settings["api_url"], login_url=settings["login_url"], graph_url=settings["graph_url"],
                       ca_path=settings["ca_path"], validate_certs=True, token_cache=False, timeout=120)
        # The client paces itself to the documented limits (150 requests a minute on /security); the bare loop does
        # not, and the emulator's throttle is off: the pacing is left out of the comparison (its cost is the least
        # time column of docs/performance.md) with a budget no read reaches.
        unbounded = rate.RateBudget(limits=((10 ** 9, 60.0),))
        client, _provider = S.connect(S.Settings(options), api="graph", rate_budget=unbounded)
        base = settings["graph_url"]
        for path, label, seed, tenant_alerts in ((INCIDENTS, "incidents", incident_seed, incident_alerts),
                                                 (ALERTS, "alerts_v2", args.seed, args.alerts)):
            ctl.reset(seed=seed, alerts=tenant_alerts, machines=MACHINES, throttle=False)
            expected = session.get(base + path, params={"$count": "true", "$top": 1},
                                   headers={"Authorization": "Bearer " + token}).json()["@odata.count"]
            for by_time in (False, True):
                mode = "time boundary" if by_time else "nextLink"
                ours, bare, pages = [], [], None
                bare_func = functools.partial(bare_time_boundary if by_time else bare_next_link, session, base, token,
                                              path)
                pager_func = functools.partial(pager_read, pagers, client, path, by_time)
                bare_func()  # warm-up, untimed: the emulator caches each alert's JSON on first read
                pager_func()
                for n in range(args.rounds):
                    # alternate which goes first, so neither always meets the other's leftovers
                    for which in (("bare", "pager") if n % 2 == 0 else ("pager", "bare")):
                        seconds, ids, count = timed(bare_func if which == "bare" else pager_func)
                        assert len(ids) == len(set(ids)) == expected, (label, mode, which, len(ids), expected)
                        if which == "bare":
                            bare.append(seconds)
                            bare_pages = count
                        else:
                            ours.append(seconds)
                            pages = count
                row = {"collection": label, "paging": mode, "items": expected, "pages": pages,
                       "bare_pages": bare_pages, "pager_s": statistics.median(ours),
                       "requests_loop_s": statistics.median(bare)}
                row["ratio"] = row["requests_loop_s"] / row["pager_s"]  # rate ratio: pager items/s over loop's
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        stop_emulator(proc)
    out = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": "%s, %d CPUs, Python %s" % (
        platform.machine(), os.cpu_count() or 0, platform.python_version()), "rounds": args.rounds, "rows": rows}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=2)
    print("| collection | paging | items, each once | pages | pager | requests loop | rate ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        cells = (r["collection"], r["paging"], format(r["items"], ","), r["pages"], r["pager_s"],
                 r["requests_loop_s"], r["ratio"])
        print("| %s | %s | %s | %s | %.2f s | %.2f s | %.2fx |" % cells)


if __name__ == "__main__":
    main()
