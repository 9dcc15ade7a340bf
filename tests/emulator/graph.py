"""Microsoft Graph on its own host: ``POST /v1.0/security/runHuntingQuery`` over a small KQL subset.

Per https://learn.microsoft.com/en-us/graph/api/security-security-runhuntingquery: body ``{"Query", "Timespan"}``;
answer ``{"schema": [{"name", "type"}], "results": [...]}``;
Graph-audience tokens only (``https://graph.microsoft.com`` and the national-cloud Graph hosts) with the Graph
application permission ``ThreatHunting.Read.All``; errors in Graph's envelope
``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``; KQL errors are 400
``BadRequest`` carrying the engine's text ("... Fix syntax errors in your query." / "... Fix semantic errors in
your query."); a quota refusal is 429 ``TooManyRequests``.

The KQL subset, evaluated on the emulator's own data (machines, alerts, alert evidence):
tables ``DeviceInfo``, ``AlertInfo``, ``AlertEvidence``; operators ``where`` (``== != =~ !~ < <= > >=``,
``contains !contains has startswith endswith in !in``, ``and``/``or``/``not()``, parentheses, ``ago(7d)``,
``datetime(...)``), ``project``, ``take``/``limit``, ``top N by``, ``order by``/``sort by``, ``summarize count()
[by ...]``, ``count``, ``distinct``.
"""

import datetime as _dt
import json
import re
import time
import urllib.parse

import api
import data as D
import graph_alerts
import graph_security
from emulator_odata import datetime_key

HUNT_ROLE = "ThreatHunting.Read.All"
MAX_ROWS = 100000
DAY = 86400.0


class GraphError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_reply(status, code, message, request_id, headers=None):
    body = {"error": {"code": code, "message": message, "innerError": {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id, "client-request-id": request_id}}}
    return api.Reply(status, body, headers, code)


# --- tables -------------------------------------------------------------------------------------

SCHEMAS = {
    "DeviceInfo": [("Timestamp", "DateTime"), ("DeviceId", "String"), ("DeviceName", "String"),
                   ("OSPlatform", "String"), ("OSBuild", "Int64"), ("PublicIP", "String"), ("MachineGroup", "String"),
                   ("OnboardingStatus", "String")],
    "AlertInfo": [("Timestamp", "DateTime"), ("AlertId", "String"), ("Title", "String"), ("Category", "String"),
                  ("Severity", "String"), ("ServiceSource", "String"), ("DetectionSource", "String"),
                  ("AttackTechniques", "String")],
    "AlertEvidence": [("Timestamp", "DateTime"), ("AlertId", "String"), ("Title", "String"), ("EntityType", "String"),
                      ("EvidenceRole", "String"), ("SHA1", "String"), ("SHA256", "String"), ("FileName", "String"),
                      ("FolderPath", "String"), ("DeviceId", "String"), ("DeviceName", "String"),
                      ("AccountName", "String"), ("RemoteIP", "String"), ("RemoteUrl", "String")],
}


def _rows(store, table):
    if table == "DeviceInfo":
        for m in store.machines:
            yield {"Timestamp": m.get("lastSeen"), "DeviceId": m["id"], "DeviceName": m.get("computerDnsName"),
                   "OSPlatform": m.get("osPlatform"), "OSBuild": m.get("osBuild"),
                   "PublicIP": m.get("lastExternalIpAddress"), "MachineGroup": m.get("rbacGroupName"),
                   "OnboardingStatus": m.get("onboardingStatus")}
    elif table == "AlertInfo":
        for a in store.alerts:
            yield {"Timestamp": a["alertCreationTime"], "AlertId": a["id"], "Title": a["title"],
                   "Category": a["category"], "Severity": a["severity"],
                   "ServiceSource": "Microsoft Defender for Endpoint", "DetectionSource": a["detectionSource"],
                   "AttackTechniques": json.dumps(a.get("mitreTechniques") or [])}
    elif table == "AlertEvidence":
        for a in store.alerts:
            for ev in store.alert_evidence(a):
                yield {"Timestamp": ev.get("evidenceCreationTime") or a["alertCreationTime"], "AlertId": a["id"],
                       "Title": a["title"], "EntityType": ev.get("entityType"),
                       "EvidenceRole": "Impacted" if ev.get("entityType") == "User" else "Related",
                       "SHA1": ev.get("sha1"), "SHA256": ev.get("sha256"), "FileName": ev.get("fileName"),
                       "FolderPath": ev.get("filePath"), "DeviceId": a["machineId"],
                       "DeviceName": a["computerDnsName"], "AccountName": ev.get("accountName"),
                       "RemoteIP": ev.get("ipAddress"), "RemoteUrl": ev.get("url")}


# --- KQL lexer and parser ------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<num>\d+(?:\.\d+)?(?:[dhms]|ms)?\b)
    |(?P<op>==|!=|=~|!~|<=|>=|!contains\b|!in\b|[|(),<>=])|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))""", re.X)


class KqlError(Exception):
    pass


def _syntax(token, pos):
    return KqlError(f"Syntax error: Query could not be parsed at '{token}' on line [1,{pos}]. "
                    "Fix syntax errors in your query.")


def _semantic(text):
    return KqlError(f"Semantic error: {text}. Fix semantic errors in your query.")


def tokenize(text):
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise _syntax(text[pos:pos + 10].strip(), pos + 1)
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens):
        self.t, self.i = tokens, 0

    def peek(self, k=0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else ("end", "<end>", 0)

    def take(self, value=None, kind=None):
        tok = self.peek()
        if (value is not None and tok[1].lower() != value) or (kind is not None and tok[0] != kind):
            raise _syntax(tok[1], tok[2])
        self.i += 1
        return tok

    def at(self, value):
        return self.peek()[1].lower() == value

    def ident(self):
        return self.take(kind="ident")[1]

    def integer(self):
        tok = self.take(kind="num")
        if not tok[1].isdigit():
            raise _syntax(tok[1], tok[2])
        return int(tok[1])

    # expressions: or > and > comparison
    def expr(self):
        left = self.conj()
        while self.at("or"):
            self.take()
            right = self.conj()
            left = ("or", left, right)
        return left

    def conj(self):
        left = self.cond()
        while self.at("and"):
            self.take()
            right = self.cond()
            left = ("and", left, right)
        return left

    def cond(self):
        if self.at("("):
            self.take("(")
            inner = self.expr()
            self.take(")")
            return inner
        if self.at("not") and self.peek(1)[1] == "(":
            self.take()
            self.take("(")
            inner = self.expr()
            self.take(")")
            return ("not", inner)
        col = self.ident()
        tok = self.peek()
        op = tok[1].lower()
        if op not in ("==", "!=", "=~", "!~", "<", "<=", ">", ">=", "contains", "!contains", "has", "startswith",
                      "endswith", "in", "!in"):
            raise _syntax(tok[1], tok[2])
        self.take()
        if op in ("in", "!in"):
            self.take("(")
            values = [self.value()]
            while self.at(","):
                self.take(",")
                values.append(self.value())
            self.take(")")
            return (op, col, values)
        return (op, col, self.value())

    def value(self):
        tok = self.peek()
        if tok[0] == "str":
            self.take()
            return bytes(tok[1][1:-1], "utf-8").decode("unicode_escape")
        if tok[0] == "num":
            self.take()
            if tok[1][-1] in "dhms":
                raise _syntax(tok[1], tok[2])
            return float(tok[1]) if "." in tok[1] else int(tok[1])
        if tok[1].lower() in ("true", "false"):
            self.take()
            return tok[1].lower() == "true"
        if tok[1].lower() == "ago":
            self.take()
            self.take("(")
            span = self.take(kind="num")
            self.take(")")
            return _Time(time.time() - _span_seconds(span[1], span[2]))
        if tok[1].lower() == "datetime":
            self.take()
            self.take("(")
            parts = []
            while not self.at(")") and self.peek()[0] != "end":
                parts.append(self.take()[1])
            self.take(")")
            key = datetime_key("".join(parts).strip("'\""))
            if key is None:
                raise _syntax("datetime", tok[2])
            return _Time(None, key)
        raise _syntax(tok[1], tok[2])


class _Time:
    __slots__ = ("key",)

    def __init__(self, epoch, key=None):
        self.key = key if key is not None else datetime_key(D.iso(epoch))


def _span_seconds(text, pos):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(d|h|m|s|ms)", text)
    if not m:
        raise _syntax(text, pos)
    unit = {"d": DAY, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}[m.group(2)]
    return float(m.group(1)) * unit


def parse(text):
    """``(table, [operators])``; raises KqlError."""
    tokens = tokenize(text)
    if not tokens:
        raise _syntax("<end>", 1)
    p = _Parser(tokens)
    table = p.ident()
    ops = []
    while p.peek()[0] != "end":
        p.take("|")
        tok = p.peek()
        name = tok[1].lower()
        if tok[0] != "ident":
            raise KqlError(f"Syntax error: Query operator expected at '{tok[1]}' on line [1,{tok[2]}]. "
                           "Fix syntax errors in your query.")
        p.take()
        if name == "where":
            ops.append(("where", p.expr()))
        elif name == "project":
            cols = [p.ident()]
            while p.at(","):
                p.take(",")
                cols.append(p.ident())
            ops.append(("project", cols))
        elif name in ("take", "limit"):
            ops.append(("take", p.integer()))
        elif name == "count":
            ops.append(("count",))
        elif name == "distinct":
            cols = [p.ident()]
            while p.at(","):
                p.take(",")
                cols.append(p.ident())
            ops.append(("distinct", cols))
        elif name in ("order", "sort", "top"):
            n = None
            if name == "top":
                n = p.integer()
            else:
                pass
            p.take("by")
            col = p.ident()
            desc = True
            if p.at("asc") or p.at("desc"):
                desc = p.take()[1].lower() == "desc"
            ops.append(("order", col, desc))
            if n is not None:
                ops.append(("take", n))
        elif name == "summarize":
            alias = "count_"
            if p.peek(1)[1] == "=":
                alias = p.ident()
                p.take("=")
            p.take("count")
            p.take("(")
            p.take(")")
            by = []
            if p.at("by"):
                p.take("by")
                by = [p.ident()]
                while p.at(","):
                    p.take(",")
                    by.append(p.ident())
            ops.append(("summarize", alias, by))
        else:
            raise KqlError(f"Syntax error: Query operator expected, got '{tok[1]}' on line [1,{tok[2]}]. "
                           "Fix syntax errors in your query.")
    return table, ops


# --- evaluation -------------------------------------------------------------------------------------

def _cmp_value(v):
    if isinstance(v, _Time):
        return v.key
    return v


def _test(node, row, columns):
    kind = node[0]
    if kind == "or":
        return _test(node[1], row, columns) or _test(node[2], row, columns)
    if kind == "and":
        return _test(node[1], row, columns) and _test(node[2], row, columns)
    if kind == "not":
        return not _test(node[1], row, columns)
    op, col, value = node
    if col not in columns:
        raise _semantic(f"'where' operator: Failed to resolve scalar expression named '{col}'")
    have = row.get(col)
    if columns[col] == "DateTime":
        have = datetime_key(have) if isinstance(have, str) else None
    want = [_cmp_value(v) for v in value] if isinstance(value, list) else _cmp_value(value)
    if have is None:
        return op in ("!=", "!~", "!contains", "!in")
    if op in ("<", "<=", ">", ">="):
        try:
            return {"<": have < want, "<=": have <= want, ">": have > want, ">=": have >= want}[op]
        except TypeError:
            raise _semantic(f"Cannot compare values of '{col}' with {value!r}")
    if op in ("in", "!in"):
        return (have in want) == (op == "in")
    h, w = str(have), str(want)
    if op == "==":
        return have == want
    if op == "!=":
        return have != want
    if op == "=~":
        return h.lower() == w.lower()
    if op == "!~":
        return h.lower() != w.lower()
    if op == "contains":
        return w.lower() in h.lower()
    if op == "!contains":
        return w.lower() not in h.lower()
    if op == "has":
        return re.search(r"(?<![A-Za-z0-9])%s(?![A-Za-z0-9])" % re.escape(w), h, re.I) is not None
    if op == "startswith":
        return h.lower().startswith(w.lower())
    return h.lower().endswith(w.lower())


def run_query(store, text, since_key=None, until_key=None):
    """Evaluate ``text`` on ``store``; returns (schema list of (name, type), rows list)."""
    table, ops = parse(text)
    if table not in SCHEMAS:
        raise _semantic(f"Failed to resolve table or column expression named '{table}'")
    columns = dict(SCHEMAS[table])
    order = [c for c, _t in SCHEMAS[table]]
    rows = []
    for r in _rows(store, table):
        ts = datetime_key(r.get("Timestamp")) if r.get("Timestamp") else None
        if since_key and (ts is None or ts < since_key):
            continue
        if until_key and ts is not None and ts > until_key:
            continue
        rows.append(r)
    for op in ops:
        if op[0] == "where":
            rows = [r for r in rows if _test(op[1], r, columns)]
        elif op[0] in ("project", "distinct"):
            for c in op[1]:
                if c not in columns:
                    raise _semantic(f"'{op[0]}' operator: Failed to resolve scalar expression named '{c}'")
            order = list(op[1])
            columns = {c: columns[c] for c in order}
            rows = [{c: r.get(c) for c in order} for r in rows]
            if op[0] == "distinct":
                seen, unique = set(), []
                for r in rows:
                    key = json.dumps([r[c] for c in order])
                    if key not in seen:
                        seen.add(key)
                        unique.append(r)
                rows = unique
        elif op[0] == "take":
            rows = rows[:op[1]]
        elif op[0] == "order":
            col, desc = op[1], op[2]
            if col not in columns:
                raise _semantic(f"'order' operator: Failed to resolve scalar expression named '{col}'")
            present = [r for r in rows if r.get(col) is not None]
            missing = [r for r in rows if r.get(col) is None]
            present.sort(key=lambda r: r[col], reverse=desc)
            rows = present + missing
        elif op[0] == "count":
            rows = [{"Count": len(rows)}]
            columns, order = {"Count": "Int64"}, ["Count"]
        elif op[0] == "summarize":
            alias, by = op[1], op[2]
            for c in by:
                if c not in columns:
                    raise _semantic(f"'summarize' operator: Failed to resolve scalar expression named '{c}'")
            groups = {}
            for r in rows:
                key = tuple(r.get(c) for c in by)
                groups[key] = groups.get(key, 0) + 1
            rows = [dict(zip(by, k), **{alias: n}) for k, n in groups.items()]
            columns = dict({c: columns[c] for c in by}, **{alias: "Int64"})
            order = by + [alias]
    rows = rows[:MAX_ROWS]
    return [(c, columns[c]) for c in order], [{c: r.get(c) for c in order} for r in rows]


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", re.I)


def _duration(text):
    m = _DURATION.match(text)
    if not m or not any(m.groups()):
        return None
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return d * DAY + h * 3600 + mi * 60 + s


def _epoch_of(text):
    key = datetime_key(text)
    if key is None:
        return None
    return _dt.datetime.fromisoformat(key).replace(tzinfo=_dt.timezone.utc).timestamp()


def timespan_bounds(text, now=None):
    """(since_epoch, until_epoch) for an ISO 8601 timespan as runHuntingQuery takes it; None when invalid."""
    now = now or time.time()
    if text is None:
        return now - 30 * DAY, None
    parts = text.split("/")
    if len(parts) == 1:
        dur = _duration(parts[0])
        if dur is not None:
            return now - dur, None
        start = _epoch_of(parts[0])
        return (start, None) if start is not None else None
    if len(parts) != 2:
        return None
    a, b = parts
    da, db = _duration(a), _duration(b)
    ea, eb = _epoch_of(a), _epoch_of(b)
    if ea is not None and eb is not None:
        return ea, eb
    if da is not None and eb is not None:
        return eb - da, eb
    if ea is not None and db is not None:
        return ea, ea + db
    return None


# --- the handler ----------------------------------------------------------------------------------


def handle(core, method, path, headers, body, request_id, entry, pairs=()):
    """One request to the Graph host; returns an api.Reply."""
    try:
        return _handle(core, method, path, headers, body, request_id, entry, pairs)
    except (GraphError, graph_security.GraphCallError) as exc:
        return error_reply(exc.status, exc.code, exc.message, request_id, exc.headers)


def _security(core, method, path, headers, body, pairs, claims, entry):
    """``/v1.0/security/...`` other than hunting: the resource's module, or None for an unknown one."""
    parts = [urllib.parse.unquote(s) for s in path.split("/") if s]
    if len(parts) < 3 or parts[0].lower() != "v1.0" or parts[1] != "security":
        return None
    if parts[2] in ("incidents", "alerts_v2"):
        with core.lock:
            scale = float(core.config["time_scale"])
        retry = core.throttle.check(("graph", claims["tid"], claims["appid"]), "security", scale)
        if retry is not None:
            core.count("throttled")
            raise GraphError(429, "TooManyRequests", "Too many requests.", {"Retry-After": retry})
        if parts[2] == "alerts_v2":
            return graph_alerts.handle(core, method, parts[3:], path, headers, body, pairs, claims, entry)
        return graph_security.handle(core, method, parts[3:], path, headers, body, pairs, claims, entry)
    return None


def _handle(core, method, path, headers, body, request_id, entry, pairs=()):
    auth = headers.get("Authorization") or ""
    if auth[:7].lower() != "bearer " or not auth[7:].strip():
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.",
                         {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    from identity import GRAPH_RESOURCES, AuthError
    try:
        claims = core.identity.verify_access_token(auth[7:].strip(), audiences=GRAPH_RESOURCES)
    except AuthError as exc:
        raise GraphError(401, "InvalidAuthenticationToken", f"Access token validation failure. {exc}",
                         {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    entry["app"], entry["tenant"] = claims["appid"], claims["tid"]
    core.count("api_requests")
    core.count("api_requests_by_app", claims["appid"])
    if path.rstrip("/").lower() != "/v1.0/security/runhuntingquery":
        reply = _security(core, method, path, headers, body, pairs, claims, entry)
        if reply is not None:
            return reply
        segment = [s for s in path.split("/") if s][-1:] or [""]
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment[0]}'.")
    if method != "POST":
        raise GraphError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed for this resource.")
    if HUNT_ROLE not in (claims.get("roles") or []):
        raise GraphError(403, "Forbidden", "Insufficient privileges to complete the operation: the application "
                                           f"needs the Microsoft Graph permission {HUNT_ROLE}.")
    with core.lock:
        quota = dict(core.hunting_quota)
        if quota.get("calls", 0) > 0:
            core.hunting_quota["calls"] -= 1
    if quota.get("calls", 0) > 0:
        core.count("throttled")
        raise GraphError(429, "TooManyRequests", "Query execution has exceeded the allowed limits. The query "
                                                 "has used more than the allowed CPU resources for this tenant; "
                                                 "try again after the next 15-minute cycle.",
                         {"Retry-After": str(quota.get("retry_after", 1))})
    with core.lock:
        scale = float(core.config["time_scale"])
    retry = core.throttle.check(("graph", claims["tid"]), "hunting", scale)
    if retry is not None:
        core.count("throttled")
        raise GraphError(429, "TooManyRequests", "Please retry again later.", {"Retry-After": retry})
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise GraphError(415, "BadRequest", "A supported MIME type could not be found that matches the content type "
                                            "of the response.")
    try:
        payload = json.loads(body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        raise GraphError(400, "BadRequest", "Invalid request body: not JSON.")
    if not isinstance(payload, dict):
        raise GraphError(400, "BadRequest", "Invalid request body.")
    keys = {k.lower(): k for k in payload}
    unknown = [k for k in payload if k.lower() not in ("query", "timespan")]
    if unknown:
        raise GraphError(400, "BadRequest", f"The property '{unknown[0]}' does not exist on type "
                                            "'microsoft.graph.security.runHuntingQuery'.")
    entry["body"] = {"Query": "<kql>"} if "query" in keys else {}
    query = payload.get(keys.get("query", "Query"))
    timespan = payload.get(keys["timespan"]) if "timespan" in keys else None
    if not isinstance(query, str) or not query.strip():
        raise GraphError(400, "BadRequest", "Query is required.")
    if timespan is not None and not isinstance(timespan, str):
        raise GraphError(400, "BadRequest", "Timespan must be an ISO 8601 string.")
    bounds = timespan_bounds(timespan)
    if bounds is None:
        raise GraphError(400, "BadRequest", f"Invalid timespan '{timespan}'.")
    since = datetime_key(D.iso(bounds[0])) if bounds[0] is not None else None
    until = datetime_key(D.iso(bounds[1])) if bounds[1] is not None else None
    try:
        with core.lock:
            schema, rows = run_query(core.store, query, since, until)
    except KqlError as exc:
        raise GraphError(400, "BadRequest", str(exc))
    out = {"@odata.context": f"{core.graph_url}/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
           "schema": [{"name": n, "type": t} for n, t in schema], "results": rows}
    return api.Reply(200, out)
