"""Microsoft Graph ``/v1.0/security/alerts_v2`` on the Graph host (the alert shape is ``graph_security.to_graph_alert``,
the one an incident's alerts have too).

One data source: an alerts_v2 alert IS the tenant's MDE alert (``store.alerts``), seen through Graph's shape, so a
change made through either API shows in the other, as in a real tenant. Shapes and rules follow Microsoft's pages:

- list: ``GET /security/alerts_v2`` with ``$count, $filter, $skip, $top`` (security-list-alerts_v2.md); ``$filter``
  on ``assignedTo, classification, determination, createdDateTime, lastUpdateDateTime, severity, serviceSource,
  status`` only (anything else answers 400, like ``investigationState`` does on the service); ``$orderby`` is not
  documented but works in practice (Elastic's production queries send ``$orderby=lastUpdateDateTime asc``);
  ``@odata.nextLink`` when more remain; default order "most recent at the top".
- ``$top``: the service accepted 100 in observed logs; the legacy alerts API documented at most 1,000 and clients
  use at most that: the emulator refuses more than ``graph_alerts_max_top`` (default 1000) with Graph's message.
- get: ``GET /security/alerts_v2/{id}``; 404 ``NotFound`` otherwise.
- update: ``PATCH`` with ``status, classification, determination, assignedTo`` only (security-alert-update.md);
  200 with the whole alert.
- comments: ``POST /security/alerts_v2/{id}/comments`` with ``{"@odata.type":
  "microsoft.graph.security.alertComment", "comment": "..."}``: 200 with every comment of the alert; comments cannot
  be edited or deleted (no such method: 405).
- evolvable enum members (``serviceSource``/``detectionSource`` values past ``unknownFutureValue``) read as
  ``unknownFutureValue`` unless the request sends ``Prefer: include-unknown-enum-members``.
- permissions: reads need SecurityAlert.Read.All or SecurityAlert.ReadWrite.All, writes SecurityAlert.ReadWrite.All.
- limits: 150 requests a minute per app and tenant for ``/security`` (graph.py counts them, bucket ``security``).

Quirks a client must survive, configurable (``POST /_emulator/config``): ``graph_next_link: skip | skiptoken``
(the nextLink carries ``$skip=N`` or an opaque ``$skiptoken``) and ``graph_skip_stall: N`` (a ``$skip`` beyond N
answers an empty page without a nextLink, as deep ``$skip`` did for Elastic's alert stream; 0 = off).
"""

import base64
import json
import time
import urllib.parse

import api
import data as D
import graph_security as GS
from emulator_odata import ODataError, _Cmp, _In, _Lit, _Prop, parse_filter

ALERT_READ = ("SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All")
ALERT_WRITE = ("SecurityAlert.ReadWrite.All",)
GraphError = GS.GraphCallError

# Members per enum (security-alert.md). Both spellings of determination are documented (the property row and the
# value table disagree), so both are accepted.
ENUMS = {
    "status": ("unknown", "new", "inProgress", "resolved", "unknownFutureValue"),
    "severity": GS.SEVERITIES + ("unknownFutureValue",),
    "classification": GS.CLASSIFICATIONS + ("unknownFutureValue",),
    "determination": GS.DETERMINATIONS + ("unknownFutureValue",),
    "serviceSource": ("unknown", "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity",
                      "microsoftDefenderForCloudApps", "microsoftDefenderForOffice365", "microsoft365Defender",
                      "azureAdIdentityProtection", "microsoftAppGovernance", "dataLossPrevention",
                      "unknownFutureValue", "microsoftDefenderForCloud", "microsoftSentinel"),
}
PATCH_KEYS = ("status", "classification", "determination", "assignedTo")
PATCH_ENUMS = {"status": ("new", "inProgress", "resolved"), "classification": GS.CLASSIFICATIONS,
               "determination": GS.DETERMINATIONS}
FILTER_FIELDS = ("assignedTo", "classification", "determination", "createdDateTime", "lastUpdateDateTime",
                 "severity", "serviceSource", "status")
ORDER_FIELDS = ("createdDateTime", "lastUpdateDateTime", "severity", "status", "id")
_STATUS_TO_MDE = {v: k for k, v in GS._STATUS.items()}
_CLASSIFICATION_TO_MDE = {"unknown": None, "truePositive": "TruePositive", "falsePositive": "FalsePositive",
                          "informationalExpectedActivity": "InformationalExpectedActivity"}


def determination_to_mde(graph_value):
    if graph_value == "unknown":
        return None
    if graph_value == "notEnoughDataToValidate":
        return "NoEnoughDataToValidate"  # MDE's spelling
    return graph_value[:1].upper() + graph_value[1:]


class AlertView:
    """Graph's filterable fields of one MDE alert record, computed on demand (no whole alert per $filter test)."""

    __slots__ = ("a", "over")

    def __init__(self, a, over=None):
        self.a, self.over = a, over or {}

    def get(self, name, default=None):
        if name in self.over:
            return self.over[name]
        a = self.a
        if name == "status":
            return GS._STATUS.get(a["status"], "unknown")
        if name == "severity":
            return GS._SEVERITY.get(a["severity"], "unknown")
        if name == "classification":
            return GS.camel(a["classification"]) or "unknown"
        if name == "determination":
            return GS.camel(a["determination"]) or "unknown"
        if name == "assignedTo":
            return a["assignedTo"]
        if name == "createdDateTime":
            return a["alertCreationTime"]
        if name == "lastUpdateDateTime":
            return a["lastUpdateTime"]
        if name == "serviceSource":
            return "microsoftDefenderForEndpoint"
        if name == "id":
            return a["id"]
        return default


def alert_json(core, a, prefer_unknown):
    """Cached JSON text per (alert, Prefer); the cache entry goes when the alert changes (store.alert_changed)."""
    cache = core.store.graph_json
    key = (a["id"], bool(prefer_unknown))
    text = cache.get(key)
    if text is None:
        text = json.dumps(GS.hide_unknown(GS.to_graph_alert(core.store, a), prefer_unknown), ensure_ascii=False)
        cache[key] = text
    return text


# --- shared by the Graph security collections ---------------------------------------------------------


class Request:
    """What a collection handler sees: method, path segments after ``/v1.0/security``, query, headers, claims."""

    def __init__(self, core, method, path, pairs, headers, body, claims, request_id, entry):
        self.core, self.method, self.path, self.pairs = core, method, path, list(pairs or ())
        self.query = {}
        for k, v in self.pairs:
            self.query.setdefault(k, v)
        self.headers, self.body, self.claims, self.request_id, self.entry = headers, body, claims, request_id, entry

    @property
    def prefer_unknown(self):
        prefer = ",".join(self.headers.get_all("Prefer") or []) if hasattr(self.headers, "get_all") else \
            (self.headers.get("Prefer") or "")
        return GS.PREFER_UNKNOWN in [p.strip().lower() for p in prefer.split(",")]


def require(req, roles, GraphError):
    held = req.claims.get("roles") or []
    if not any(r in held for r in roles):
        raise GraphError(403, "Forbidden", "Insufficient privileges to complete the operation. The application needs "
                                           f"one of the Microsoft Graph permissions {', '.join(roles)}.")


def json_body(req, GraphError):
    ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise GraphError(415, "BadRequest", "A supported MIME type could not be found that matches the content type "
                                            "of the response.")
    try:
        body = json.loads(req.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        raise GraphError(400, "BadRequest", "Invalid request body: not JSON.")
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Invalid request body.")
    return body


def int_option(req, name, GraphError):
    raw = req.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for query option {name}.")
    if value < 0:
        raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for query option {name}.")
    return value


def _walk(node):
    yield node
    for child in ("left", "right", "inner", "body"):
        sub = getattr(node, child, None)
        if sub is not None:
            yield from _walk(sub)
    for sub in getattr(node, "parts", None) or ():
        yield from _walk(sub)
    for sub in getattr(node, "options", None) or ():
        yield from _walk(sub)


def compile_filter(req, fields, enums, entity_type, GraphError):
    """The $filter predicate over the documented fields; an enum compared with a value it does not have is a 400,
    as Graph answers ("The string 'x' is not a valid enumeration type constant")."""
    text = req.query.get("$filter")
    if text is None or not text.strip():
        return None
    try:
        pred = parse_filter(text, fields=list(fields), functions=(), allow_in=False, allow_lambda=False)
    except ODataError as exc:
        msg = str(exc).replace("microsoft.windowsDefenderATP.api.PublicEntity", entity_type)
        raise GraphError(400, "BadRequest", f"Invalid filter clause: {msg}")
    for node in _walk(pred.ast):
        if isinstance(node, (_Cmp, _In)) and isinstance(node.left, _Prop) and node.left.name in enums:
            values = [node.right] if isinstance(node, _Cmp) else node.options
            for v in values:
                if isinstance(v, _Lit) and isinstance(v.value, str) and v.value not in enums[node.left.name]:
                    raise GraphError(400, "BadRequest", f"The string '{v.value}' is not a valid enumeration type "
                                                        f"constant for property '{node.left.name}'.")
    return pred


def order_key(req, fields, GraphError):
    """[(field, descending)] from $orderby, or None."""
    text = req.query.get("$orderby")
    if not text:
        return None
    lookup = {f.lower(): f for f in fields}
    keys = []
    for part in text.split(","):
        bits = part.split()
        if not bits or len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
            raise GraphError(400, "BadRequest", f"Invalid $orderby clause '{text}'.")
        name = lookup.get(bits[0].lower())
        if name is None:
            raise GraphError(400, "BadRequest", f"Could not find a property named '{bits[0]}' for $orderby.")
        keys.append((name, len(bits) == 2 and bits[1].lower() == "desc"))
    return keys


def page(req, items, max_top, default_top, GraphError):
    """$skip/$skiptoken and $top with nextLink paging; returns (page, next_link, count)."""
    core = req.core
    top = int_option(req, "$top", GraphError)
    skip = int_option(req, "$skip", GraphError) or 0
    token = req.query.get("$skiptoken")
    if token is not None:
        try:
            skip = int(base64.urlsafe_b64decode(token.encode() + b"==").decode().split(":", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            raise GraphError(400, "BadRequest", "The $skiptoken is not valid.")
    if top is not None and top > max_top:
        raise GraphError(400, "", "The query specified in the URI is not valid. The limit of "
                                  f"'{max_top}' for Top query has been exceeded. The value from the incoming "
                                  f"request is '{top}'.")
    size = top if top is not None else default_top
    with core.lock:
        stall = int(core.config.get("graph_skip_stall") or 0)
        style = core.config.get("graph_next_link") or "skip"
    if stall and skip > stall:
        return [], None, len(items)
    chunk = items[skip: skip + size]
    nxt = None
    if skip + size < len(items):
        pairs = [(k, v) for k, v in req.pairs if k not in ("$skip", "$skiptoken")]
        if style == "skiptoken":
            tok = base64.urlsafe_b64encode(f"offset:{skip + size}".encode()).decode().rstrip("=")
            pairs.append(("$skiptoken", tok))
        else:
            pairs.append(("$skip", str(skip + size)))
        qs = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote, safe="$'(),:")
        nxt = f"{core.graph_url}{urllib.parse.quote(req.path)}?{qs}"
    return chunk, nxt, len(items)


def collection_text(context, values_json, next_link, count=None):
    head = '{"@odata.context":' + json.dumps(context)
    if count is not None:
        head += ',"@odata.count":' + str(count)
    if next_link:
        head += ',"@odata.nextLink":' + json.dumps(next_link)
    return head + ',"value":[' + ",".join(values_json) + "]}"


# --- alerts_v2 -------------------------------------------------------------------------------------


def _alert_or_404(core, alert_id, GraphError):
    a = core.store.alerts_by_id.get(alert_id)
    if a is None:
        raise GraphError(404, "NotFound", f"Alert '{alert_id}' was not found.")
    return a


def list_alerts(req, GraphError):
    require(req, ALERT_READ, GraphError)
    core = req.core
    for name in req.query:
        if name.startswith("$") and name not in ("$filter", "$top", "$skip", "$skiptoken", "$count", "$orderby"):
            raise GraphError(400, "BadRequest", f"Query option '{name}' is not allowed.")
    count = (req.query.get("$count") or "").lower()
    if count not in ("", "true", "false"):
        raise GraphError(400, "BadRequest", f"Invalid value '{req.query['$count']}' for query option $count.")
    pred = compile_filter(req, FILTER_FIELDS, ENUMS, "microsoft.graph.security.alert", GraphError)
    keys = order_key(req, ORDER_FIELDS, GraphError)
    with core.lock:
        max_top = int(core.config.get("graph_alerts_max_top") or 1000)
    prefer = req.prefer_unknown
    with core.lock:
        store = core.store
        overrides = store.graph_overrides
        items = store.alerts
        if pred is not None:
            items = [a for a in items if pred(AlertView(a, overrides.get(a["id"])))]
        if keys is None:
            items = items[::-1]  # most recent first (the store keeps creation order, then id)
        else:
            items = list(items)
            for name, desc in reversed(keys):
                items.sort(key=lambda a, n=name: (AlertView(a).get(n) is not None, AlertView(a).get(n) or ""),
                           reverse=desc)
        chunk, nxt, total = page(req, items, max_top, max_top, GraphError)
        values = [alert_json(core, a, prefer) for a in chunk]
    context = f"{core.graph_url}/v1.0/$metadata#security/alerts_v2"
    return api.Reply(200, collection_text(context, values, nxt, total if count == "true" else None))


def get_alert(req, alert_id, GraphError):
    require(req, ALERT_READ, GraphError)
    core = req.core
    with core.lock:
        a = _alert_or_404(core, alert_id, GraphError)
        text = alert_json(core, a, req.prefer_unknown)
    context = json.dumps(f"{core.graph_url}/v1.0/$metadata#security/alerts_v2/$entity")
    return api.Reply(200, '{"@odata.context":' + context + "," + text[1:])


def patch_alert(req, alert_id, GraphError):
    require(req, ALERT_WRITE, GraphError)
    body = json_body(req, GraphError)
    for key in body:
        if key not in PATCH_KEYS:
            raise GraphError(400, "BadRequest", f"Invalid property '{key}': the updatable properties of "
                                                f"microsoft.graph.security.alert are {', '.join(PATCH_KEYS)}.")
    for key, members in PATCH_ENUMS.items():
        if key in body and body[key] not in members:
            raise GraphError(400, "BadRequest", f"Requested value '{body[key]}' was not found for property "
                                                f"'{key}'.")
    if "assignedTo" in body and body["assignedTo"] is not None and not isinstance(body["assignedTo"], str):
        raise GraphError(400, "BadRequest", "Property 'assignedTo' must be a string.")
    core = req.core
    now = time.time()
    with core.lock:
        a = _alert_or_404(core, alert_id, GraphError)
        if "status" in body:
            status = _STATUS_TO_MDE[body["status"]]
            if status == "Resolved" and a.get("resolvedTime") is None:
                a["resolvedTime"] = D.iso(now)
            elif status != "Resolved":
                a["resolvedTime"] = None
            a["status"] = status
        if "classification" in body:
            a["classification"] = _CLASSIFICATION_TO_MDE[body["classification"]]
        if "determination" in body:
            a["determination"] = determination_to_mde(body["determination"])
        if "assignedTo" in body:
            a["assignedTo"] = body["assignedTo"]
        a["lastUpdateTime"] = D.iso(now)
        core.store.alert_changed(a["id"])
        text = alert_json(core, a, req.prefer_unknown)
    context = json.dumps(f"{core.graph_url}/v1.0/$metadata#security/alerts_v2/$entity")
    return api.Reply(200, '{"@odata.context":' + context + "," + text[1:])


def post_comment(req, alert_id, GraphError):
    require(req, ALERT_WRITE, GraphError)
    body = json_body(req, GraphError)
    unknown = [k for k in body if k not in ("@odata.type", "comment")]
    if unknown:
        raise GraphError(400, "BadRequest", f"The property '{unknown[0]}' does not exist on type "
                                            "'microsoft.graph.security.alertComment'.")
    if body.get("@odata.type", "microsoft.graph.security.alertComment").lstrip("#") != \
            "microsoft.graph.security.alertComment":
        raise GraphError(400, "BadRequest", "The @odata.type must be microsoft.graph.security.alertComment.")
    text = body.get("comment")
    if not isinstance(text, str) or not text.strip():
        raise GraphError(400, "BadRequest", "The comment is required.")
    core = req.core
    now = time.time()
    with core.lock:
        a = _alert_or_404(core, alert_id, GraphError)
        author = core.identity.apps_by_id.get(req.claims["appid"], {}).get("display_name") or req.claims["appid"]
        a["comments"] = list(a.get("comments") or []) + [
            {"comment": text, "createdBy": author, "createdTime": D.iso(now)}]
        a["lastUpdateTime"] = D.iso(now)
        core.store.alert_changed(a["id"])
        comments = GS.to_graph_alert(core.store, a)["comments"]
    return api.Reply(200, {"@odata.context": f"{core.graph_url}/v1.0/$metadata#security/alerts_v2('{alert_id}')"
                                             "/comments", "value": comments})


def route_alerts(req, parts, GraphError):
    """``parts``: the segments after ``security/alerts_v2``."""
    m = req.method
    if not parts:
        if m == "GET":
            return list_alerts(req, GraphError)
    elif len(parts) == 1:
        if m == "GET":
            return get_alert(req, parts[0], GraphError)
        if m == "PATCH":
            return patch_alert(req, parts[0], GraphError)
    elif len(parts) == 2 and parts[1] == "comments":
        if m == "POST":
            return post_comment(req, parts[0], GraphError)
    raise GraphError(405, "Request_BadRequest", f"The HTTP method '{m}' is not allowed for this resource.")


def handle(core, method, parts, path, headers, body, pairs, claims, entry):
    """``parts``: the path's segments after ``/v1.0/security/alerts_v2`` (graph.py authenticated and counted it)."""
    req = Request(core, method, path, pairs, headers, body, claims, entry.get("request_id"), entry)
    return route_alerts(req, parts, GraphError)
