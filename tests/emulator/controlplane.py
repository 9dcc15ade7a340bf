"""The ``/_emulator`` control interface (no auth; loopback only; not logged)."""

import json
import time

import jwt

import data as D
import identity
import indicators as TI
import tvm
from emulator_odata import ODataError, parse_filter


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _body(raw):
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ControlError(400, f"body is not JSON: {exc}")


def _seed_indicators(core, body):
    """Add indicators as some app created them: ``{"app": "full", "indicators": [...]}`` (API bodies) and/or
    ``{"count": N}`` generated FileSha256 Block indicators; ``{"cap": N}`` changes the tenant's cap."""
    app = core.identity.apps.get(body.get("app", "full"))
    if app is None:
        raise ControlError(400, f"unknown app {body.get('app')!r}")
    claims = {"appid": app["client_id"], "roles": ["Ti.ReadWrite"]}
    items = list(body.get("indicators") or [])
    for i in range(int(body.get("count") or 0)):
        items.append({"indicatorValue": "%064x" % (0xfeed0000 + i), "indicatorType": "FileSha256", "action": "Block",
                      "title": "seeded", "description": "seeded by the control interface"})
    with core.lock:
        if body.get("cap") is not None:
            core.indicators.cap = int(body["cap"])
        made = []
        for one in items:
            try:
                TI.validate(one)
                made.append(core.indicators.upsert(claims, one, app["display_name"])["id"])
            except TI.IndicatorError as exc:
                raise ControlError(400, exc.message)
        return {"ok": True, "created": len(made), "ids": made[:1000], "total": len(core.indicators.items),
                "cap": core.indicators.cap}


def handle(core, method, path, query, raw):
    parts = [p for p in path.split("/") if p][1:]  # drop "_emulator"
    body = _body(raw) if method in ("POST", "PUT", "PATCH") else {}
    key = (method, "/".join(parts[:1]))
    store_lock = core.lock
    try:
        if key == ("POST", "reset"):
            core.reset(**body)
            return 200, {"ok": True, "alerts": len(core.store.alerts), "machines": len(core.store.machines)}
        if key == ("GET", "settings"):
            return 200, core.settings
        if key == ("GET", "requests"):
            return 200, core.requests_log(query.get("kind"), query.get("method"))
        if key == ("DELETE", "requests"):
            core.clear_log()
            return 200, {"ok": True}
        if key == ("POST", "faults"):
            rules = body.get("rules")
            if not isinstance(rules, list):
                raise ControlError(400, "body must be {\"rules\": [...]}")
            core.faults.set(rules, body.get("seed"))
            return 200, {"ok": True, "rules": core.faults.describe()}
        if key == ("GET", "faults"):
            return 200, core.faults.describe()
        if key == ("DELETE", "faults"):
            core.faults.clear()
            return 200, {"ok": True}
        if key == ("POST", "config"):
            core.apply_config(body)
            return 200, core.public_config()
        if key == ("GET", "config"):
            return 200, core.public_config()
        if key == ("GET", "stats"):
            with core.log_lock:
                stats = json.loads(json.dumps(core.stats))
            stats["throttled"] = core.throttle.rejected
            return 200, stats
        if parts[:1] == ["state"] and method == "GET":
            return _state(core, parts[1:], query)
        if key == ("POST", "alerts"):
            items = body if isinstance(body, list) else body.get("alerts", [body])
            # "graph": Graph-only values of the alert as alerts_v2 shows it (e.g. serviceSource, detectionSource)
            graph_only = [dict(i.pop("graph", None) or {}) for i in items]
            with store_lock:
                created = core.store.add_alerts(items)
                for a, extra in zip(created, graph_only):
                    if extra:
                        core.store.graph_overrides[a["id"]] = extra
                return 200, [core.store.alert_public(a) for a in created]
        if method == "POST" and len(parts) == 3 and parts[0] == "machines" and parts[2] == "report":
            return 200, _report(core, parts[1], body)
        if key == ("POST", "machines") and len(parts) == 1:
            items = body if isinstance(body, list) else body.get("machines", [body])
            return 200, _add_machines(core, items)
        if key == ("POST", "query") and len(parts) == 2:
            return 200, _query(core, parts[1], body.get("filter"))
        if key == ("GET", "indicators"):
            with store_lock:
                return 200, sorted(core.indicators.items.values(), key=lambda i: int(i["id"]))
        if key == ("POST", "indicators"):
            return 200, _seed_indicators(core, body)
        if key == ("POST", "hunting_quota"):
            # The next N runHuntingQuery calls are refused with the CPU-quota 429.
            with store_lock:
                core.hunting_quota = {"calls": int(body.get("calls", 0)), "retry_after": body.get("retry_after", 1)}
                return 200, dict(core.hunting_quota)
        if key == ("POST", "vulnerabilities"):
            return 200, _fix_vulnerabilities(core, body)
        if key == ("POST", "incident"):
            return 200, _incident(core, body)
        if key == ("POST", "assertion"):
            app = body.get("app", "federated")
            if app != "federated":
                raise ControlError(400, "only the 'federated' app uses external assertions")
            return 200, {"assertion": core.identity.federated_assertion(int(body.get("lifetime", 3600)))}
        if key == ("GET", "federation"):
            return 200, {"keys": [core.identity.issuer_key.jwk(core.identity.federation_issuer)]}
        if parts[:1] == ["keys"]:
            return _keys(core, method, parts[1:], body)
        if key == ("POST", "token"):
            return 200, _mint(core, body)
    except (ValueError, TypeError, KeyError) as exc:
        raise ControlError(400, f"{type(exc).__name__}: {exc}")
    raise ControlError(404, f"no control route {method} {path}")


def _state(core, parts, query):
    now = time.time()
    with core.lock:
        store = core.store
        if parts[:1] == ["alerts"] and len(parts) == 2:
            alert = store.alerts_by_id.get(parts[1])
            if alert is None:
                raise ControlError(404, f"alert {parts[1]} not found")
            return 200, store.alert_public(alert)
        if parts[:1] == ["machines"] and len(parts) == 2:
            m = store.find_machine(parts[1])
            if m is None:
                raise ControlError(404, f"machine {parts[1]} not found")
            out = dict(m)
            out["isolationState"] = store.isolation_state(m["id"], now)
            out["ipHistory"] = [{"ipAddress": ip, "from": D.iso(a), "to": D.iso(b)}
                                for ip, a, b in store.ip_history[m["id"]]]
            return 200, out
        if parts == ["machineactions"]:
            mid = query.get("machineId")
            recs = store.actions if not mid else store.machine_actions(mid.lower())
            out = []
            for r in recs:
                d = store.action_public(r, now)
                d["_completesAt"] = D.iso(r["t_done"])
                out.append(d)
            return 200, out
        if parts[:1] == ["incidents"] and len(parts) == 2:
            import graph_security
            inc = graph_security.book(store).incident(parts[1])
            if inc is None:
                raise ControlError(404, f"incident {parts[1]} not found")
            return 200, inc
        if parts == ["specials"]:
            return 200, dict(store.specials)
        if parts == ["vulnerabilities"]:
            # ground truth for tests: which machines have which CVE (all, or ?cve_id=; ?machine= for one machine)
            t = tvm._tvm(core)
            if query.get("machine"):
                m = store.find_machine(query["machine"])
                if m is None:
                    raise ControlError(404, f"machine {query['machine']} not found")
                mi = tvm.machine_index(core, m)
                return 200, {"machine_id": m["id"], "cves": [tvm.CATALOGUE[c]["id"] for c in t.rows.get(mi, ())]}
            wanted = query.get("cve_id")
            out = {}
            for c, cve in enumerate(tvm.CATALOGUE):
                if wanted is None or cve["id"] == wanted:
                    out[cve["id"]] = {"machine_ids": sorted(store.machines[mi]["id"] for mi in t.cve_machines[c]),
                                      "severity": cve["severity"], "fixing_kb": cve["kb"],
                                      "public_exploit": cve["public"]}
            return 200, {"rows": t.row_count(), "cves": out}
    raise ControlError(404, f"no state route {'/'.join(parts)}")


def _fix_vulnerabilities(core, body):
    """``{"machine": id or name, "cve_ids": [...]?}``: the machine was patched (all its CVEs, or those)."""
    with core.lock:
        m = core.store.find_machine(str(body.get("machine") or ""))
        if m is None:
            raise ControlError(404, f"machine {body.get('machine')!r} not found")
        cves = body.get("cve_ids")
        fixed = tvm._tvm(core).fix(tvm.machine_index(core, m), set(cves) if cves else None)
        return {"machine_id": m["id"], "fixed": fixed}


def _add_machines(core, items):
    created = []
    with core.lock:
        store = core.store
        for p in items:
            i = len(store.machines) + 100000
            m = store.new_machine(i, p.get("computerDnsName"))
            m.update({k: v for k, v in p.items() if k in D.MACHINE_FIELDS})
            if m["id"] in store.machines_by_id:
                raise ValueError(f"machine id {m['id']} already exists")
            if "lastIpAddress" in p:
                m["ipAddresses"][0]["ipAddress"] = p["lastIpAddress"]
            store.add_machine(m)
            created.append(dict(m))
    return created


def _report(core, machine_id, body):
    """The machine sends a full report: ``lastSeen`` (default now) and healthStatus Active. An offboard only stops
    the sensor, so a machine can come back under the same id this way."""
    with core.lock:
        m = core.store.machines_by_id.get(machine_id.lower())
        if m is None:
            raise ControlError(404, f"machine {machine_id} not found")
        m["lastSeen"] = body.get("lastSeen") or D.iso(time.time())
        m["healthStatus"] = "Active"
        return dict(m)


def _query(core, entity, text):
    fields = {"alerts": D.ALERT_FIELDS, "machines": D.MACHINE_FIELDS, "machineactions": D.ACTION_FIELDS}
    if entity not in fields:
        raise ControlError(404, f"unknown entity {entity}")
    try:
        pred = parse_filter(text, fields[entity], D.ACTION_ALIASES if entity == "machineactions" else None) \
            if text else (lambda _: True)
    except ODataError as exc:
        raise ControlError(400, f"ODataError: {exc}")
    now = time.time()
    with core.lock:
        store = core.store
        if entity == "alerts":
            items = store.alerts
        elif entity == "machines":
            items = store.machines
        else:
            items = [store.action_public(r, now) for r in store.actions]
        return {"ids": [x["id"] for x in items if pred(x)]}


def _incident(core, body):
    """A fresh high-severity New incident: ``alerts`` alerts (default 1) on ``machines`` new healthy machines with
    unique names (default 1), one ``incidentId``; ``graph`` sets fields of the Graph incident (e.g. status
    ``awaitingAction``, ``systemTags``). The first machine and alert keep the historic keys."""
    import graph_security
    count, n_machines = int(body.get("alerts", 1)), int(body.get("machines", 1))
    if count < 1 or n_machines < 1:
        raise ValueError("alerts and machines must be >= 1")
    with core.lock:
        store = core.store
        incident_id = int(body.get("incidentId") or 0) or max([a["incidentId"] for a in store.alerts] + [100000]) + 1
        machines = []
        n = sum(1 for m in store.machines if m["computerDnsName"].startswith("incident-"))
        for k in range(n_machines):
            name = body.get("computerDnsName") if k == 0 and body.get("computerDnsName") else None
            while name is None or name.lower() in store.machines_by_name:
                n += 1
                name = f"incident-{n:03d}.contoso.com"
            m = store.new_machine(len(store.machines) + 200000, name, healthStatus="Active", riskScore="High",
                                  lastSeen=D.iso(time.time() - 60))
            store.add_machine(m)
            machines.append(m)
        partials = []
        for k in range(count):
            partial = {"machineId": machines[k % n_machines]["id"], "severity": body.get("severity", "High"),
                       "status": "New", "assignedTo": None, "classification": None, "determination": None,
                       "resolvedTime": None, "title": body.get("title", "Ransomware activity detected"),
                       "category": "Ransomware", "incidentId": incident_id}
            if body.get("evidence") is not None:
                partial["evidence"] = body["evidence"]  # e.g. File evidence with hashes
            partials.append(partial)
        alerts = store.add_alerts(partials)
        if body.get("graph"):
            graph_security.book(store).changes.setdefault(str(incident_id), {}).update(body["graph"])
        return {"alert_id": alerts[0]["id"], "machine_id": machines[0]["id"],
                "machine_name": machines[0]["computerDnsName"], "incident_id": str(incident_id),
                "alert_ids": [a["id"] for a in alerts], "machine_ids": [m["id"] for m in machines],
                "machine_names": [m["computerDnsName"] for m in machines]}


def _keys(core, method, parts, body):
    ident = core.identity
    if method == "POST" and parts == ["rotate"]:
        kid = ident.rotate(publish=body.get("publish", True), drop_old=body.get("drop_old", False))
        return 200, {"kid": kid, "keys": _key_list(ident)}
    if method == "POST" and parts == ["publish"]:
        ident.publish_all()
        return 200, {"keys": _key_list(ident)}
    if method == "GET" and not parts:
        return 200, {"keys": _key_list(ident)}
    raise ControlError(404, "no such keys route")


def _key_list(ident):
    with ident.lock:
        return [{"kid": k.kid, "published": k.published, "signing": k is ident.signer} for k in ident.keys]


def _mint(core, body):
    """Mint an access token directly (tests: expired/not-yet-valid/other tenant tokens)."""
    ident = core.identity
    app = ident.apps[body.get("app", "full")]
    tenant = ident.resolve_tenant(body.get("tenant", ident.main_tenant["id"]))
    token, claims = ident._mint(app, tenant, body.get("resource", identity.DEFAULT_RESOURCE), "1")
    offset = int(body.get("offset", 0))  # shift iat/nbf/exp (negative: an already expired token)
    if offset or "roles" in body or "lifetime" in body:
        claims = dict(claims)
        if "lifetime" in body:
            claims["exp"] = claims["iat"] + int(body["lifetime"])
        for k in ("iat", "nbf", "exp"):
            claims[k] += offset
        if "roles" in body:
            claims["roles"] = list(body["roles"])
        with ident.lock:
            signer = ident.signer
        token = jwt.encode(claims, signer.pem, algorithm="RS256",
                           headers={"typ": "JWT", "kid": signer.kid, "x5t": signer.kid})
    return {"access_token": token, "claims": claims}
