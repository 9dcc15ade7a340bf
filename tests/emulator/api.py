"""The MDE REST API (alerts, machines, machine actions) on top of ``data.Store``.

Handlers take the emulator core and a parsed request and return a ``Reply``.
Errors use the MDE body ``{"error": {"code", "message", "target"}}`` where
``target`` is the request id (also sent as the ``request-id`` header).
"""

import copy
import hashlib
import hmac
import io
import json
import re
import time
import urllib.parse
import zipfile

import data as D
import indicators as TI
from emulator_odata import ODataError, parse_filter

MAX_TOP = 10000
ALERT_READ = ["Alert.Read.All", "Alert.ReadWrite.All"]
ALERT_WRITE = ["Alert.ReadWrite.All"]
MACHINE_READ = ["Machine.Read.All", "Machine.ReadWrite.All"]
MACHINE_WRITE = ["Machine.ReadWrite.All"]
ISOLATE = ["Machine.Isolate"]
ANY_ACTION = ["Machine.Isolate", "Machine.Scan", "Machine.RestrictExecution", "Machine.CollectForensics",
              "Machine.Offboard", "Machine.StopAndQuarantine", "Machine.LiveResponse"]
ISOLATION_TYPES = ("Full", "Selective", "UnManagedDevice")
ALERT_PATCH_KEYS = ("status", "assignedTo", "classification", "determination", "comment")


class Reply:
    __slots__ = ("status", "body", "headers", "code")

    def __init__(self, status, body=None, headers=None, code=None):
        self.status, self.body, self.headers, self.code = status, body, headers or {}, code


class ApiError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_reply(status, code, message, request_id, headers=None):
    body = {"error": {"code": code, "message": message, "target": request_id}}
    return Reply(status, body, headers, code)


class Request:
    """What the handlers see: method, path (decoded), query (first value per key),
    raw query pairs, headers, body bytes, and after auth the token claims."""

    def __init__(self, method, path, query_pairs, headers, body, request_id):
        self.method = method
        self.path = path
        self.query_pairs = query_pairs
        self.query = {}
        for k, v in query_pairs:
            self.query.setdefault(k, v)
        self.headers = headers
        self.body = body
        self.request_id = request_id
        self.claims = None
        self.json = None


# --- helpers --------------------------------------------------------------------------


def _require_roles(req, required):
    held = req.claims.get("roles") or []
    if not any(r in held for r in required):
        raise ApiError(403, "Forbidden",
                       f"Missing application roles. API required roles: {','.join(required)}, "
                       f"application roles: {','.join(held)}.")


def _json_body(req):
    ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "UnsupportedMediaType",
                       f"Content-Type '{ctype or '(none)'}' is not supported; use 'application/json'.")
    try:
        body = json.loads(req.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "InvalidRequestBody", f"Request body is not valid JSON: {exc}")
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequestBody", "Request body must be a JSON object.")
    req.json = body
    return body


def _int_option(req, name):
    raw = req.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "ODataError", f"Invalid value '{raw}' for {name} query option: expected an integer.")
    if value < 0:
        raise ApiError(400, "ODataError", f"Invalid value '{raw}' for {name} query option: must be >= 0.")
    return value


def _filter(req, entity, aliases=None):
    """The $filter predicate, restricted to what the API documents for ``entity`` (else 400, as the service)."""
    text = req.query.get("$filter")
    if text is None or not text.strip():
        return None
    try:
        fields = D.FILTER_FIELDS[entity] if isinstance(entity, str) else entity  # or the documented list itself
        return parse_filter(text, fields=fields, aliases=aliases, functions=D.FILTER_FUNCTIONS,
                            allow_in=False, allow_lambda=False)
    except ODataError as exc:
        raise ApiError(400, "ODataError", f"Invalid filter clause: {exc}")


def _refuse_orderby(req):
    """$orderby is not among the documented query options of the alerts, machines and machine actions lists (only
    $filter, $top, $skip, and $expand on alerts): refuse it, so nothing in the collection relies on an order the
    service does not promise. Whether the real service ignores, honours or refuses it is not documented."""
    if "$orderby" in req.query:
        raise ApiError(400, "ODataError", "The query option '$orderby' is not supported on %s." % req.path)


def _page(core, req, items, max_top=MAX_TOP):
    """Apply $top/$skip with MDE's rules; returns (page, next_link or None)."""
    top = _int_option(req, "$top")
    skip = _int_option(req, "$skip") or 0
    if top is not None and top > max_top:
        raise ApiError(400, "ODataError",
                       f"The limit of '{max_top}' for Top query has been exceeded. The value from the incoming "
                       f"request is '{top}'.")
    if top is not None:
        # Real service: no @odata.nextLink at all when $top is given.
        return items[skip: skip + top], None
    page = items[skip: skip + MAX_TOP]
    nxt = None
    if skip + MAX_TOP < len(items):
        pairs = [(k, v) for k, v in req.query_pairs if k != "$skip"] + [("$skip", str(skip + MAX_TOP))]
        qs = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote, safe="$'(),:")
        nxt = f"{core.api_url}{urllib.parse.quote(req.path)}?{qs}"
    return page, nxt


def _collection(context, values_json, next_link):
    head = '{"@odata.context":' + json.dumps(context)
    if next_link:
        head += ',"@odata.nextLink":' + json.dumps(next_link)
    return head + ',"value":[' + ",".join(values_json) + "]}"


def _dumps(obj):
    return json.dumps(obj, ensure_ascii=False)


# --- alerts ---------------------------------------------------------------------------------


def list_alerts(core, req):
    _require_roles(req, ALERT_READ)
    store = core.store
    _refuse_orderby(req)
    pred = _filter(req, "alerts")
    expand = (req.query.get("$expand") or "").strip().lower()
    if expand and expand != "evidence":
        raise ApiError(400, "ODataError", f"Property '{req.query['$expand']}' cannot be expanded.")
    with core.lock:
        items = store.alerts if pred is None else [a for a in store.alerts if pred(a)]
        page, nxt = _page(core, req, items)
        values = [store.alert_to_json(a, with_evidence=bool(expand)) for a in page]
    return Reply(200, _collection(f"{core.api_url}/api/$metadata#Alerts", values, nxt))


def _get_alert(core, alert_id):
    alert = core.store.alerts_by_id.get(alert_id)
    if alert is None:
        raise ApiError(404, "NotFound", f"Alert {alert_id} was not found")
    return alert


def get_alert(core, req, alert_id):
    _require_roles(req, ALERT_READ)
    with core.lock:
        alert = _get_alert(core, alert_id)
        body = core.store.alert_public(alert)
    body = {"@odata.context": f"{core.api_url}/api/$metadata#Alerts/$entity", **body}
    return Reply(200, body)


def _validate_alert_update(body, allowed_extra=()):
    unknown = [k for k in body if k not in ALERT_PATCH_KEYS and k not in allowed_extra]
    if unknown:
        raise ApiError(400, "InvalidRequestBody",
                       f"Request body has unknown properties: {', '.join(unknown)}. Updatable properties: "
                       f"{', '.join(ALERT_PATCH_KEYS)} (case-sensitive).")
    checks = (("status", D.PATCH_STATUSES, False), ("classification", D.CLASSIFICATIONS, True),
              ("determination", D.DETERMINATIONS, True))
    for key, allowed, nullable in checks:
        if key in body:
            v = body[key]
            if (v is None and not nullable) or (v is not None and v not in allowed):
                raise ApiError(400, "InvalidRequestBody",
                               f"Invalid value '{v}' for property '{key}'. Allowed values: {', '.join(allowed)}.")
    for key in ("assignedTo", "comment"):
        if key in body and body[key] is not None and not isinstance(body[key], str):
            raise ApiError(400, "InvalidRequestBody", f"Property '{key}' must be a string.")


def _apply_alert_update(store, alert, body, author, now):
    changed = False
    for key in ("status", "assignedTo", "classification", "determination"):
        if key in body and alert.get(key) != body[key]:
            alert[key] = body[key]
            changed = True
    if "status" in body:
        if body["status"] == "Resolved" and alert.get("resolvedTime") is None:
            alert["resolvedTime"] = D.iso(now)
        elif body["status"] != "Resolved":
            alert["resolvedTime"] = None
    if body.get("comment"):
        alert["comments"] = alert["comments"] + [
            {"comment": body["comment"], "createdBy": author, "createdTime": D.iso(now)}]
        changed = True
    # MDE bumps lastUpdateTime on every accepted update (and the default order does not depend on it).
    alert["lastUpdateTime"] = D.iso(now)
    store.alert_changed(alert["id"])
    return changed


def patch_alert(core, req, alert_id):
    _require_roles(req, ALERT_WRITE)
    body = _json_body(req)
    with core.lock:
        alert = _get_alert(core, alert_id)
        _validate_alert_update(body)
        _apply_alert_update(core.store, alert, body, req.claims["appid"], time.time())
        out = core.store.alert_public(alert)
    return Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#Alerts/$entity", **out})


def batch_update_alerts(core, req):
    _require_roles(req, ALERT_WRITE)
    body = _json_body(req)
    ids = body.get("alertIds")
    if "alertIds" not in body:
        raise ApiError(400, "MissingRequiredParameter", "alertIds is required (case-sensitive).")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "InvalidRequestBody", "alertIds must be a non-empty list of alert ids.")
    if len(ids) > MAX_TOP:
        raise ApiError(400, "MaximumBatchSizeExceeded", f"At most {MAX_TOP} alert ids per request.")
    _validate_alert_update(body, allowed_extra=("alertIds",))
    update = {k: v for k, v in body.items() if k != "alertIds"}
    with core.lock:
        missing = [i for i in ids if i not in core.store.alerts_by_id]
        if missing:
            raise ApiError(404, "NotFound", f"Alerts not found: {', '.join(missing[:20])}")
        now = time.time()
        for i in dict.fromkeys(ids):
            _apply_alert_update(core.store, core.store.alerts_by_id[i], update, req.claims["appid"], now)
    return Reply(200, b"")


# --- machines ---------------------------------------------------------------------------------


def list_machines(core, req):
    _require_roles(req, MACHINE_READ)
    _refuse_orderby(req)
    pred = _filter(req, "machines")
    with core.lock:
        items = core.store.machines if pred is None else [m for m in core.store.machines if pred(m)]
        page, nxt = _page(core, req, items)
        values = [_dumps(m) for m in page]
    return Reply(200, _collection(f"{core.api_url}/api/$metadata#Machines", values, nxt))


def _get_machine(core, key, by_name=True):
    m = core.store.find_machine(key) if by_name else core.store.machines_by_id.get(key.lower())
    if m is None:
        raise ApiError(404, "ResourceNotFound", f"Machine {key} was not found")
    return m


def get_machine(core, req, key):
    _require_roles(req, MACHINE_READ)
    with core.lock:
        m = dict(_get_machine(core, key))
    return Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#Machines/$entity", **m})


def machine_alerts(core, req, key):
    # $filter as on /api/alerts (the docs' samples filter this path: .../alerts/$count?$filter=status ne 'Resolved');
    # $top/$skip as on the other collections.
    _require_roles(req, ALERT_READ)
    pred = _filter(req, "alerts")
    expand = (req.query.get("$expand") or "").strip().lower()
    if expand and expand != "evidence":
        raise ApiError(400, "ODataError", f"Property '{req.query['$expand']}' cannot be expanded.")
    with core.lock:
        mid = _get_machine(core, key)["id"]
        items = [a for a in core.store.alerts if a["machineId"] == mid and (pred is None or pred(a))]
        page, nxt = _page(core, req, items)
        values = [core.store.alert_to_json(a, with_evidence=bool(expand)) for a in page]
    return Reply(200, _collection(f"{core.api_url}/api/$metadata#Alerts", values, nxt))


_FINDBYIP_RE = re.compile(r"^findbyip\(ip='([^']*)',\s*timestamp=([^)]*)\)$", re.I)


def find_by_ip(core, req, segment):
    _require_roles(req, MACHINE_READ)
    m = _FINDBYIP_RE.match(segment)
    if not m:
        raise ApiError(400, "InvalidInput", "Expected findbyip(ip='{IP}',timestamp={ISO-8601 time}).")
    ip, stamp = m.group(1), m.group(2).strip().strip("'")
    try:
        ts = D._epoch(stamp)
    except ValueError:
        raise ApiError(400, "InvalidInput", f"Invalid timestamp '{stamp}'.")
    if not re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+", ip):
        raise ApiError(400, "InvalidIpAddress", f"Invalid IP address '{ip}'.")
    now = time.time()
    if ts < now - 30 * D.DAY:
        raise ApiError(400, "InvalidInput", "The timestamp must be within the last 30 days.")
    window = 15 * 60
    with core.lock:
        hits = [core.store.machines_by_id[mid] for mid, hist in core.store.ip_history.items()
                if any(h_ip == ip and start - window <= ts <= end + window for h_ip, start, end in hist)]
        values = [_dumps(x) for x in hits]
    return Reply(200, _collection(f"{core.api_url}/api/$metadata#Machines", values, None))


def find_by_tag(core, req):
    _require_roles(req, MACHINE_READ)
    tag = req.query.get("tag")
    if not tag:
        raise ApiError(400, "MissingRequiredParameter", "Query parameter 'tag' is required.")
    starts = (req.query.get("useStartsWithFilter") or "false").lower()
    if starts not in ("true", "false"):
        raise ApiError(400, "InvalidInput", "useStartsWithFilter must be true or false.")
    t = tag.lower()
    with core.lock:
        if starts == "true":
            hits = [m for m in core.store.machines if any(x.lower().startswith(t) for x in m["machineTags"])]
        else:
            hits = [m for m in core.store.machines if any(x.lower() == t for x in m["machineTags"])]
        values = [_dumps(x) for x in hits]
    return Reply(200, _collection(f"{core.api_url}/api/$metadata#Machines", values, None))


TAG_ACTIONS = ("Add", "Remove")
MAX_TAG_MACHINES = 500  # DD add-or-remove-multiple-machine-tags.md: "up to 500 machines per API call"


def _tag_body(req, keys):
    """``(value, action)`` of a tag request; body keys are case-sensitive and unknown ones refused."""
    body = _json_body(req)
    unknown = [k for k in body if k not in keys]
    if unknown:
        raise ApiError(400, "InvalidRequestBody", f"Request body has unknown properties: {', '.join(unknown)}. "
                                                  f"Expected (case-sensitive): {', '.join(keys)}.")
    value, action = body.get("Value"), body.get("Action")
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "MissingRequiredParameter", "Value (the tag) is required and must be a non-empty string.")
    if action not in TAG_ACTIONS:
        raise ApiError(400, "InvalidRequestBody", "Action must be 'Add' or 'Remove' (case-sensitive).")
    return body, value, action


def _apply_tag(m, value, action):
    if action == "Add" and value not in m["machineTags"]:
        m["machineTags"] = m["machineTags"] + [value]
    elif action == "Remove" and value in m["machineTags"]:
        m["machineTags"] = [t for t in m["machineTags"] if t != value]


def machine_tags(core, req, key):
    """POST /api/machines/{id}/tags {"Value", "Action"}: 200 with the updated machine."""
    _require_roles(req, MACHINE_WRITE)
    _body, value, action = _tag_body(req, ("Value", "Action"))
    with core.lock:
        m = _get_machine(core, key, by_name=False)
        before = copy.deepcopy(m)
        _apply_tag(m, value, action)
        # Tags can take a while to show after a successful call: the answer may not show the change yet.
        out = before if core.config.get("tag_answer_stale") else dict(m)
    return Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#Machines/$entity", **out})


def machine_tags_bulk(core, req):
    """POST /api/machines/AddOrRemoveTagForMultipleMachines {"Value", "Action", "MachineIds"}: one tag, at most
    500 machines, 200 with the updated machines. Whether one unknown id fails the whole call is not documented; the
    emulator takes the strict reading (404 naming it, nothing changed), so the collection cannot rely on more."""
    _require_roles(req, MACHINE_WRITE)
    body, value, action = _tag_body(req, ("Value", "Action", "MachineIds"))
    ids = body.get("MachineIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise ApiError(400, "InvalidRequestBody", "MachineIds must be a non-empty list of machine ids.")
    if len(ids) > MAX_TAG_MACHINES:
        raise ApiError(400, "MaximumBatchSizeExceeded",
                       f"A tag can be added or removed for up to {MAX_TAG_MACHINES} machines per call; got {len(ids)}.")
    with core.lock:
        found = [core.store.machines_by_id.get(i.lower()) for i in ids]
        missing = [i for i, m in zip(ids, found) if m is None]
        if missing:
            raise ApiError(404, "ResourceNotFound", f"Machine {missing[0]} was not found")
        done = {}
        for m in found:
            if m["id"] not in done:
                done[m["id"]] = copy.deepcopy(m) if core.config.get("tag_answer_stale") else m
            _apply_tag(m, value, action)
        values = [_dumps(m) for m in done.values()]
    return Reply(200, _collection(f"{core.api_url}/api/$metadata#Machines", values, None))


# --- machine actions ------------------------------------------------------------------------------


# POST /api/machines/{id}/<verb> (verb matched case-insensitively): action type, role (the action pages under
# https://learn.microsoft.com/en-us/defender-endpoint/api/).
ACTION_VERBS = {
    "isolate": ("Isolate", "Machine.Isolate"),
    "unisolate": ("Unisolate", "Machine.Isolate"),
    "runantivirusscan": ("RunAntiVirusScan", "Machine.Scan"),
    "restrictcodeexecution": ("RestrictCodeExecution", "Machine.RestrictExecution"),
    "unrestrictcodeexecution": ("UnrestrictCodeExecution", "Machine.RestrictExecution"),
    "collectinvestigationpackage": ("CollectInvestigationPackage", "Machine.CollectForensics"),
    "offboard": ("Offboard", "Machine.Offboard"),
    "stopandquarantinefile": ("StopAndQuarantineFile", "Machine.StopAndQuarantine"),
}
# Body keys besides the required Comment (case-sensitive); the required ones are checked below.
ACTION_BODY_KEYS = {"Isolate": ("IsolationType",), "RunAntiVirusScan": ("ScanType",), "StopAndQuarantineFile": ("Sha1",)}
SCAN_TYPES = ("Quick", "Full")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")


def _action_body(body, type_):
    """(scope, relatedFileInfo) from a validated action body; ApiError for what the API refuses."""
    allowed = ("Comment",) + ACTION_BODY_KEYS.get(type_, ())
    comment = body.get("Comment")
    if not isinstance(comment, str) or not comment.strip():
        raise ApiError(400, "MissingRequiredParameter",
                       "Comment is required (body keys are case-sensitive: %s)." % ", ".join(repr(k) for k in allowed))
    unknown = [k for k in body if k not in allowed]
    if unknown:
        raise ApiError(400, "InvalidRequestBody",
                       f"Request body has unknown properties: {', '.join(unknown)}. "
                       f"Expected (case-sensitive): {', '.join(allowed)}.")
    if type_ == "Isolate":
        scope = body.get("IsolationType", "Full")
        if scope not in ISOLATION_TYPES:
            raise ApiError(400, "InvalidRequestBody",
                           f"Invalid IsolationType '{scope}'. Allowed values: {', '.join(ISOLATION_TYPES)}.")
        return scope, None
    if type_ == "RunAntiVirusScan":
        scope = body.get("ScanType")
        if scope is None:
            raise ApiError(400, "MissingRequiredParameter", "ScanType is required (Quick or Full).")
        if scope not in SCAN_TYPES:
            raise ApiError(400, "InvalidRequestBody", f"Invalid ScanType '{scope}'. Allowed values: Quick, Full.")
        return scope, None
    if type_ == "StopAndQuarantineFile":
        sha1 = body.get("Sha1")
        if sha1 is None:
            raise ApiError(400, "MissingRequiredParameter", "Sha1 is required.")
        if not isinstance(sha1, str) or not _SHA1.match(sha1):
            raise ApiError(400, "InvalidHashValue", f"Invalid Sha1 value '{str(sha1)[:80]}'.")
        return None, {"fileIdentifier": sha1.lower(), "fileIdentifierType": "Sha1"}
    return None, None


def machine_action(core, req, key, verb):
    """POST /api/machines/{id}/<verb>: every machine action Microsoft documents."""
    type_, role = ACTION_VERBS[verb]
    _require_roles(req, [role])
    body = _json_body(req)
    scope, file_info = _action_body(body, type_)
    comment = body["Comment"]
    cfg = core.config
    with core.lock:
        m = _get_machine(core, key, by_name=False)
        now = time.time()
        store = core.store
        active = [r for r in store.machine_actions(m["id"])
                  if store.action_status(r, now)[0] in ("Pending", "InProgress")]
        dup = [r for r in active if r["obj"]["type"] == type_
               and (file_info is None or (r["obj"].get("relatedFileInfo") or {}).get("fileIdentifier")
                    == file_info["fileIdentifier"])]
        if dup and type_ == "CollectInvestigationPackage":
            raise ApiError(400, "BadRequest", "An investigation package collection is already running on this "
                                              "machine.")  # api/collect-investigation-package: always a 400
        if dup:
            mode = cfg["duplicate_mode"]
            if mode == "alternate":
                core.dup_counter += 1
                mode = "error" if core.dup_counter % 2 else "return_pending"
            if mode == "return_pending":
                return Reply(201, {"@odata.context": f"{core.api_url}/api/$metadata#MachineActions/$entity",
                                   **store.action_public(dup[-1], now)})
            raise ApiError(400, "ActiveRequestAlreadyExists", "Action is already in progress")
        scale = float(cfg["time_scale"])
        t_progress = now + float(cfg["lifecycle"]["pending"]) * scale
        t_done = t_progress + float(cfg["lifecycle"]["in_progress"]) * scale
        outcome = cfg["action_outcome"].get(m["id"], "Succeeded")
        rec = store.add_action(m, type_, req.claims["appid"], comment, scope, now, t_progress, t_done, outcome)
        if file_info is not None:
            rec["obj"]["relatedFileInfo"] = file_info
        if cfg["out_of_order"] and type_ in ("Isolate", "Unisolate"):
            # An earlier, still-pending isolate/unisolate completes after this one (microsoft-365-docs#5903).
            for other in active:
                if other["obj"]["type"] in ("Isolate", "Unisolate"):
                    delta = other["t_done"] - other["t_progress"]
                    other["t_done"] = max(other["t_done"], t_done + 0.05 * max(scale, 0.01) + 0.01)
                    other["t_progress"] = min(other["t_progress"], other["t_done"] - delta)
        out = store.action_public(rec, now)
    return Reply(201, {"@odata.context": f"{core.api_url}/api/$metadata#MachineActions/$entity", **out})


# --- investigation package (api/collect-investigation-package, api/get-package-sas-uri) -----------------

PACKAGE_NAME = "WDATP_Investigation_Package.zip"
DOWNLOAD_PREFIX = "/safedownload/"


def _sign(core, action_id, expires):
    return hmac.new(core.download_key, f"{action_id}|{expires}".encode(), hashlib.sha256).hexdigest()


def get_package_uri(core, req, action_id):
    """GET /api/machineactions/{id}/getPackageUri: 404 until the collection succeeded, then a short-lived
    signed link, wrapped in literal double quotes as the documented example is."""
    _require_roles(req, MACHINE_READ)
    with core.lock:
        now = time.time()
        rec = _get_action(core, action_id)
        if rec["obj"]["type"] != "CollectInvestigationPackage" or core.store.action_status(rec, now)[0] != "Succeeded":
            raise ApiError(404, "NotFound", f"Package for machine action {action_id} was not found")
        expires = int(now + float(core.config["package_url_lifetime"]))
        aid = rec["obj"]["id"]
        token = urllib.parse.quote(f"{aid}|{expires}|{_sign(core, aid, expires)}", safe="")
    url = f"{core.api_url}{DOWNLOAD_PREFIX}{PACKAGE_NAME}?token={token}"
    return Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#Edm.String", "value": f'"{url}"'})


def package_bytes(action_id, computer_name):
    """A small zip with a few of the data points of the investigation package (respond-machine-alerts), the same
    for the same action."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        stamp = (2026, 1, 1, 0, 0, 0)
        for name, text in (
                ("SystemInformation.txt", f"Host Name: {computer_name}\nPackage for action {action_id}\n"),
                ("Processes/Processes.csv", "Name,Id\nexplorer.exe,4120\npowershell.exe,6632\n"),
                ("Network connections/ActiveNetConnections.txt", "TCP 10.0.0.5:49712 203.0.113.7:443 ESTABLISHED\n"),
                ("CollectionSummaryReport.xls", "Data point\tStatus\nProcesses\tSucceeded\n")):
            zf.writestr(zipfile.ZipInfo(name, stamp), text * 50)
    return buf.getvalue()


def download_package(core, headers, query):
    """GET /safedownload/<name>?token=...: the signed link alone authorizes; a bearer header is refused (the
    API's token must never reach the download host)."""
    if headers.get("Authorization"):
        return error_reply(400, "InvalidAuthenticationInfo", "Authorization header is not accepted together with a "
                           "signed link.", None)
    try:
        aid, expires, sig = urllib.parse.unquote(query.get("token", "")).split("|")
        expires = int(expires)
    except ValueError:
        return error_reply(403, "AuthenticationFailed", "Signature not valid.", None)
    if not hmac.compare_digest(sig, _sign(core, aid, expires)):
        return error_reply(403, "AuthenticationFailed", "Signature not valid.", None)
    if time.time() > expires:
        return error_reply(403, "AuthenticationFailed", "Signed expiry time has passed.", None)
    with core.lock:
        rec = _get_action(core, aid)
        name = rec["obj"]["computerDnsName"]
    return Reply(200, package_bytes(aid, name), {"Content-Type": "application/zip"})


def list_actions(core, req):
    _require_roles(req, MACHINE_READ)
    _refuse_orderby(req)
    pred = _filter(req, "machineactions")
    with core.lock:
        now = time.time()
        items = [core.store.action_public(r, now) for r in core.store.actions]
        if pred is not None:
            items = [a for a in items if pred(a)]
        page, nxt = _page(core, req, items)
    return Reply(200, _collection(f"{core.api_url}/api/$metadata#MachineActions", [_dumps(a) for a in page], nxt))


def _get_action(core, action_id):
    rec = core.store.actions_by_id.get(action_id.lower())
    if rec is None:
        raise ApiError(404, "NotFound", f"Machine action {action_id} was not found")
    return rec


def get_action(core, req, action_id):
    _require_roles(req, MACHINE_READ)
    with core.lock:
        out = core.store.action_public(_get_action(core, action_id), time.time())
    return Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#MachineActions/$entity", **out})


def cancel_action(core, req, action_id):
    _require_roles(req, ANY_ACTION)
    body = _json_body(req)
    comment = body.get("Comment")
    if not isinstance(comment, str) or not comment.strip():
        raise ApiError(400, "MissingRequiredParameter", "Comment is required (case-sensitive: 'Comment').")
    with core.lock:
        rec = _get_action(core, action_id)
        now = time.time()
        status = core.store.action_status(rec, now)[0]
        if status in D.FINAL_ACTION_STATES:
            raise ApiError(400, "BadRequest", f"Machine action {action_id} is already in a final state ({status}).")
        rec["cancelled_at"] = now
        rec["obj"].update(cancellationRequestor=req.claims["appid"], cancellationComment=comment,
                          cancellationDateTimeUtc=D.iso(now))
        out = core.store.action_public(rec, now)
    return Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#MachineActions/$entity", **out})


# --- indicators -------------------------------------------------------------------------------


def _ti_error(exc):
    return ApiError(exc.status, exc.code, exc.message)


def _app_name(core, req):
    app = core.identity.apps_by_id.get(str(req.claims.get("appid")).lower())
    return app["display_name"] if app else str(req.claims.get("appid"))


def list_indicators(core, req):
    _require_roles(req, TI.TI_ROLES)
    pred = _filter(req, TI.FILTER_FIELDS)
    with core.lock:
        items = [i for i in core.indicators.visible(req.claims) if pred is None or pred(i)]
        items.sort(key=lambda i: int(i["id"]))
        page, nxt = _page(core, req, items)
        values = [_dumps(i) for i in page]
    return Reply(200, _collection(f"{core.api_url}/api/$metadata#Indicators", values, nxt))


def post_indicator(core, req):
    _require_roles(req, TI.TI_ROLES)
    body = _json_body(req)
    try:
        TI.validate(body)
        with core.lock:
            item = core.indicators.upsert(req.claims, body, _app_name(core, req))
            out = dict(item)
    except TI.IndicatorError as exc:
        raise _ti_error(exc)
    return Reply(200, dict({"@odata.context": f"{core.api_url}/api/$metadata#Indicators/$entity"}, **out))


def delete_indicator(core, req, indicator_id):
    _require_roles(req, TI.TI_ROLES)
    with core.lock:
        missing = core.indicators.delete(req.claims, [indicator_id])
    if missing:
        raise ApiError(404, "NotFound", f"Indicator {indicator_id} was not found")
    return Reply(204)


def import_indicators(core, req):
    _require_roles(req, TI.TI_ROLES)
    body = _json_body(req)
    unknown = [k for k in body if k != "Indicators"]
    items = body.get("Indicators")
    if unknown or not isinstance(items, list):
        raise ApiError(400, "InvalidRequestBody", "The body must be {\"Indicators\": [...]} (case-sensitive).")
    if not items:
        raise ApiError(400, "InvalidRequestBody", "Indicators must not be empty.")
    if len(items) > TI.MAX_BATCH:
        raise ApiError(400, "MaximumBatchSizeExceeded", f"At most {TI.MAX_BATCH} indicators per import.")
    results = []
    name = _app_name(core, req)
    with core.lock:
        for one in items:
            value = one.get("indicatorValue") if isinstance(one, dict) else None
            try:
                TI.validate(one)
                item = core.indicators.upsert(req.claims, one, name)
                results.append({"id": item["id"], "indicator": value, "isFailed": False, "failureReason": None})
            except TI.IndicatorError as exc:
                results.append({"id": None, "indicator": value, "isFailed": True, "failureReason": exc.message})
    return Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#Collection(microsoft.windowsDefenderATP.api."
                                         "ImportIndicatorResult)", "value": results})


def batch_delete_indicators(core, req):
    _require_roles(req, TI.TI_ROLES)
    body = _json_body(req)
    ids = body.get("IndicatorIds")
    if [k for k in body if k != "IndicatorIds"] or not isinstance(ids, list):
        raise ApiError(400, "InvalidRequestBody", "The body must be {\"IndicatorIds\": [...]} (case-sensitive).")
    if not ids:
        raise ApiError(400, "InvalidRequestBody", "IndicatorIds must not be empty.")
    if len(ids) > TI.MAX_BATCH:
        raise ApiError(400, "MaximumBatchSizeExceeded", f"At most {TI.MAX_BATCH} ids per call.")
    if not all(isinstance(i, str) and i.isdigit() for i in ids):
        raise ApiError(400, "InvalidInput", "IndicatorIds must be indicator ids (numeric strings).")
    with core.lock:
        missing = core.indicators.delete(req.claims, ids)
    if missing:
        raise ApiError(404, "NotFound", f"Indicators not found: {', '.join(missing[:20])}")
    return Reply(204)


# --- retired APIs ----------------------------------------------------------------------------

# What each retirable API covers (first path segment after /api, or machines/{id}/alerts). Microsoft's notice
# MC1220762 retires the Defender for Endpoint API fully on 2027-02-01 (its scope is disputed: Microsoft cites it
# from the advanced hunting pages only); what a retired endpoint answers is not documented, so the status is a
# setting (410 Gone by default, or 404) and the body is the usual error envelope.
RETIRED_APIS = {"alerts": ("alerts",), "hunting": ("advancedqueries", "advancedhunting")}


def retired_reply(core, req):
    """The answer of a retired endpoint (before authentication: the endpoint is gone), or None."""
    with core.lock:
        retired = list(core.config.get("retired") or ())
        status = int(core.config.get("retired_status") or 410)
    if not retired:
        return None
    path = req.path
    if path.lower().startswith("/api/v1.0/"):
        path = "/api/" + path[len("/api/v1.0/"):]
    parts = [p.lower() for p in path.split("/") if p][1:]
    for name in retired:
        heads = RETIRED_APIS[name]
        if (parts and parts[0] in heads) or (name == "alerts" and len(parts) == 3 and parts[0] == "machines"
                                             and parts[2] == "alerts"):
            return error_reply(status, "Gone" if status == 410 else "NotFound",
                               "This Microsoft Defender for Endpoint API has been retired (MC1220762). Use the "
                               "Microsoft Graph security API instead.", req.request_id)
    return None


# --- routing ----------------------------------------------------------------------------------


def route(core, req):
    """Pick the handler for an authenticated API request; raises ApiError (404) if none."""
    path = req.path
    if path.lower().startswith("/api/v1.0/"):
        path = "/api/" + path[len("/api/v1.0/"):]
    parts = [p for p in path.split("/") if p][1:]  # drop "api"
    if not parts:
        raise ApiError(404, "NotFound", "Resource not found")
    import liveresponse  # imports this module: not at the top
    handler = liveresponse.route(parts, req.method)
    if handler is not None:
        return handler
    head = parts[0].lower()
    n = len(parts)
    m = req.method
    if head == "alerts":
        if n == 1 and m == "GET":
            return list_alerts
        if n == 2 and parts[1].lower() == "batchupdate" and m == "POST":
            return batch_update_alerts
        if n == 2 and m == "GET":
            return lambda c, r: get_alert(c, r, parts[1])
        if n == 2 and m == "PATCH":
            return lambda c, r: patch_alert(c, r, parts[1])
    elif head == "machines":
        if n == 1 and m == "GET":
            return list_machines
        if n == 2 and m == "GET" and parts[1].lower() in TVM_EXPORTS:
            return TVM_EXPORTS[parts[1].lower()]
        if n == 3 and m == "GET" and parts[2].lower() in TVM_MACHINE:
            return lambda c, r: TVM_MACHINE[parts[2].lower()](c, r, parts[1])
        if n == 2 and m == "GET" and parts[1].lower().startswith("findbyip("):
            return lambda c, r: find_by_ip(c, r, parts[1])
        if n == 2 and m == "GET" and parts[1].lower() == "findbytag":
            return find_by_tag
        if n == 2 and m == "POST" and parts[1].lower() == "addorremovetagformultiplemachines":
            return machine_tags_bulk
        if n == 2 and m == "GET":
            return lambda c, r: get_machine(c, r, parts[1])
        if n == 3 and m == "GET" and parts[2].lower() == "alerts":
            return lambda c, r: machine_alerts(c, r, parts[1])
        if n == 3 and m == "POST" and parts[2].lower() in ACTION_VERBS:
            return lambda c, r: machine_action(c, r, parts[1], parts[2].lower())
        if n == 3 and m == "POST" and parts[2].lower() == "tags":
            return lambda c, r: machine_tags(c, r, parts[1])
    elif head == "machineactions":
        if n == 1 and m == "GET":
            return list_actions
        if n == 2 and m == "GET":
            return lambda c, r: get_action(c, r, parts[1])
        if n == 3 and m == "POST" and parts[2].lower() == "cancel":
            return lambda c, r: cancel_action(c, r, parts[1])
        if n == 3 and m == "GET" and parts[2].lower() == "getpackageuri":
            return lambda c, r: get_package_uri(c, r, parts[1])
    elif head == "indicators":
        if n == 1 and m == "GET":
            return list_indicators
        if n == 1 and m == "POST":
            return post_indicator
        if n == 2 and m == "POST" and parts[1].lower() == "import":
            return import_indicators
        if n == 2 and m == "POST" and parts[1].lower() == "batchdelete":
            return batch_delete_indicators
        if n == 2 and m == "DELETE":
            return lambda c, r: delete_indicator(c, r, parts[1])
    elif head == "vulnerabilities" and m == "GET":
        if n == 1:
            return tvm.list_vulnerabilities
        if n == 2 and parts[1].lower() == "machinesvulnerabilities":
            return tvm.machines_vulnerabilities
        if n == 2:
            return lambda c, r: tvm.get_vulnerability(c, r, parts[1])
        if n == 3 and parts[2].lower() == "machinereferences":
            return lambda c, r: tvm.vulnerability_machines(c, r, parts[1])
    elif head == "software" and m == "GET":
        if n == 1:
            return tvm.list_software
        if n == 2:
            return lambda c, r: tvm.get_software(c, r, parts[1])
        if n == 3 and parts[2].lower() == "machinereferences":
            return lambda c, r: tvm.software_machines(c, r, parts[1])
        if n == 3 and parts[2].lower() == "vulnerabilities":
            return lambda c, r: tvm.software_vulnerabilities(c, r, parts[1])
    elif head == "recommendations" and m == "GET":
        if n == 1:
            return tvm.list_recommendations
        if n == 2:
            return lambda c, r: tvm.get_recommendation(c, r, parts[1])
    raise ApiError(404, "NotFound", f"No API route for {m} {req.path}")


# Vulnerability management routes under /api/machines; tvm uses this module's helpers
import tvm  # noqa: E402  pylint: disable=wrong-import-position

TVM_EXPORTS = {"softwarevulnerabilitiesbymachine": tvm.export_by_machine,
               "softwarevulnerabilitychangesbymachine": tvm.export_changes,
               "softwarevulnerabilitiesexport": tvm.export_files}
TVM_MACHINE = {"vulnerabilities": tvm.machine_vulnerabilities, "software": tvm.machine_software,
               "recommendations": tvm.machine_recommendations}


def bucket_for(req):
    low = req.path.lower().rstrip("/")
    if low.endswith("/softwarevulnerabilitiesexport"):
        return "tvm_files"  # 5 calls per minute, 20 per hour (get-assessment-software-vulnerabilities)
    if low.endswith("/softwarevulnerabilitiesbymachine") or low.endswith("/softwarevulnerabilitychangesbymachine"):
        return "tvm_json"  # 30 calls per minute, 1,000 per hour
    if low.startswith("/api/machines/") and low.endswith("/vulnerabilities"):
        return "tvm_machine"  # 50 calls per minute, 1,500 per hour (get-discovered-vulnerabilities.md)
    if low.endswith("/getpackageuri"):
        return "package"  # 2 calls a minute, 120 an hour (api/get-package-sas-uri)
    if low.endswith("/alerts/batchupdate"):
        return "batch"
    if low.endswith("/indicators/import"):
        return "ti_import"  # 30 calls per minute
    if low.endswith("/runliveresponse"):
        return "live_response"  # 10 calls a minute (run-live-response.md)
    if low.endswith("/indicators/batchdelete"):
        return "ti_delete"  # 30 calls per minute and 1,500 per hour; a window of its own (limits are per API)
    return "default"
