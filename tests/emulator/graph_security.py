"""Microsoft Graph security collections on the Graph host: ``/v1.0/security/alerts_v2`` (this file) and the helpers
a second collection (``/v1.0/security/incidents``) reuses: query options, paging, enum handling, permissions.

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
- limits: 150 requests a minute per app and tenant for ``/security`` (the "Security detections and incidents"
  service limits), the ``security`` throttle bucket.

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
from emulator_odata import ODataError, _Cmp, _In, _Lit, _Prop, parse_filter

ALERT_READ = ("SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All")
ALERT_WRITE = ("SecurityAlert.ReadWrite.All",)
PREFER_UNKNOWN = "include-unknown-enum-members"

# --- enum mapping between the MDE record and Graph's alert ------------------------------------------------

STATUS = {"New": "new", "InProgress": "inProgress", "Resolved": "resolved", "Unknown": "unknown"}
SEVERITY = {"UnSpecified": "unknown", "Informational": "informational", "Low": "low", "Medium": "medium",
            "High": "high"}
CLASSIFICATION = {None: "unknown", "TruePositive": "truePositive", "FalsePositive": "falsePositive",
                  "InformationalExpectedActivity": "informationalExpectedActivity"}
DETECTION_SOURCE = {"WindowsDefenderAtp": "microsoftDefenderForEndpoint", "WindowsDefenderAv": "antivirus",
                    "CustomDetection": "customDetection", "AutomatedInvestigation": "automatedInvestigation",
                    "SmartScreen": "smartScreen", "CustomerTI": "customTi"}
# MDE spells one value differently ("NoEnoughDataToValidate"); the rest are the same words in PascalCase.
DETERMINATION_TO_MDE = {"notEnoughDataToValidate": "NoEnoughDataToValidate", "unknown": None}

# Members per enum (security-alert.md). Both spellings of determination are documented (the property row and the
# value table disagree), so both are accepted.
ENUMS = {
    "status": ("unknown", "new", "inProgress", "resolved", "unknownFutureValue"),
    "severity": ("unknown", "informational", "low", "medium", "high", "unknownFutureValue"),
    "classification": ("unknown", "falsePositive", "truePositive", "informationalExpectedActivity",
                       "unknownFutureValue"),
    "determination": ("unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware",
                      "other", "multiStagedAttack", "compromisedUser", "compromisedAccount", "phishing",
                      "maliciousUserActivity", "clean", "notMalicious", "insufficientData",
                      "notEnoughDataToValidate", "confirmedUserActivity", "confirmedActivity",
                      "lineOfBusinessApplication", "unknownFutureValue"),
    "serviceSource": ("unknown", "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity",
                      "microsoftDefenderForCloudApps", "microsoftDefenderForOffice365", "microsoft365Defender",
                      "azureAdIdentityProtection", "microsoftAppGovernance", "dataLossPrevention",
                      "unknownFutureValue", "microsoftDefenderForCloud", "microsoftSentinel"),
}
# Members after unknownFutureValue: hidden without the Prefer header.
EVOLVABLE = {
    "serviceSource": frozenset({"microsoftDefenderForCloud", "microsoftSentinel", "microsoftInsiderRiskManagement"}),
    "detectionSource": frozenset({"microsoftSentinel", "scheduledAlerts", "nrtAlerts", "microsoftDefenderForCloud",
                                  "microsoftInsiderRiskManagement", "builtInMl", "microsoftThreatIntelligence"}),
}
PATCH_KEYS = ("status", "classification", "determination", "assignedTo")
PATCH_ENUMS = {"status": ("new", "inProgress", "resolved"), "classification": ENUMS["classification"][:-1],
               "determination": ENUMS["determination"][:-1]}
FILTER_FIELDS = ("assignedTo", "classification", "determination", "createdDateTime", "lastUpdateDateTime",
                 "severity", "serviceSource", "status")
ORDER_FIELDS = ("createdDateTime", "lastUpdateDateTime", "severity", "status", "id")


def _lower_first(text):
    return text[:1].lower() + text[1:] if text else text


def determination_of(mde_value):
    if mde_value is None:
        return "unknown"
    if mde_value == "NoEnoughDataToValidate":
        return "notEnoughDataToValidate"
    return _lower_first(mde_value)


def determination_to_mde(graph_value):
    if graph_value in DETERMINATION_TO_MDE:
        return DETERMINATION_TO_MDE[graph_value]
    return graph_value[:1].upper() + graph_value[1:]


class AlertView:
    """Graph's fields of one MDE alert record, computed on demand (the $filter predicate reads a few of them)."""

    __slots__ = ("a", "over")

    def __init__(self, a, over=None):
        self.a, self.over = a, over or {}

    def get(self, name, default=None):
        if name in self.over:
            return self.over[name]
        a = self.a
        if name == "status":
            return STATUS.get(a["status"], "unknown")
        if name == "severity":
            return SEVERITY.get(a["severity"], "unknown")
        if name == "classification":
            return CLASSIFICATION.get(a["classification"], "unknown")
        if name == "determination":
            return determination_of(a["determination"])
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


def graph_comments(a):
    return [{"@odata.type": "microsoft.graph.security.alertComment", "comment": c.get("comment"),
             "createdByDisplayName": c.get("createdBy"), "createdDateTime": c.get("createdTime")}
            for c in a.get("comments") or []]


def _evidence(store, a, machine):
    """Graph evidence of the alert: the device, then the MDE evidence (users, processes, files) in Graph types."""
    created = a["alertCreationTime"]
    common = {"createdDateTime": created, "verdict": "suspicious", "remediationStatus": "none",
              "remediationStatusDetails": None, "roles": [], "detailedRoles": [], "tags": []}
    out = []
    m = machine or {}
    out.append(dict(common, **{
        "@odata.type": "#microsoft.graph.security.deviceEvidence", "roles": ["compromised"],
        "detailedRoles": ["Main device"], "firstSeenDateTime": m.get("firstSeen"), "mdeDeviceId": a["machineId"],
        "azureAdDeviceId": m.get("aadDeviceId"), "deviceDnsName": a["computerDnsName"],
        "osPlatform": m.get("osPlatform"), "osBuild": m.get("osBuild"), "version": m.get("version"),
        "healthStatus": _lower_first(m.get("healthStatus") or "") or None,
        "riskScore": _lower_first(m.get("riskScore") or "") or None, "rbacGroupId": m.get("rbacGroupId"),
        "rbacGroupName": a.get("rbacGroupName"), "onboardingStatus": _lower_first(m.get("onboardingStatus") or "")
        or None, "defenderAvStatus": _lower_first(m.get("defenderAvStatus") or "") or None,
        "ipInterfaces": [i["ipAddress"] for i in m.get("ipAddresses") or [] if i.get("ipAddress")],
        "loggedOnUsers": [{"accountName": u.get("accountName"), "domainName": u.get("domainName")}
                          for u in a.get("loggedOnUsers") or []],
        "vmMetadata": m.get("vmMetadata")}))
    for ev in store.alert_evidence(a):
        kind = ev.get("entityType")
        file_details = {"sha1": ev.get("sha1"), "sha256": ev.get("sha256"), "fileName": ev.get("fileName"),
                        "filePath": ev.get("filePath"), "fileSize": None, "filePublisher": None, "signer": None,
                        "issuer": None}
        when = ev.get("evidenceCreationTime") or created
        if kind == "User":
            out.append(dict(common, createdDateTime=when, **{
                "@odata.type": "#microsoft.graph.security.userEvidence", "roles": ["impacted"],
                "userAccount": {"accountName": ev.get("accountName"), "domainName": ev.get("domainName"),
                                "userSid": ev.get("userSid"), "azureAdUserId": ev.get("aadUserId"),
                                "userPrincipalName": ev.get("userPrincipalName"), "displayName": None}}))
        elif kind == "Process":
            out.append(dict(common, createdDateTime=when, **{
                "@odata.type": "#microsoft.graph.security.processEvidence", "processId": ev.get("processId"),
                "parentProcessId": ev.get("parentProcessId"), "processCommandLine": ev.get("processCommandLine"),
                "processCreationDateTime": ev.get("processCreationTime"),
                "parentProcessCreationDateTime": ev.get("parentProcessCreationTime"),
                "detectionStatus": _lower_first(ev.get("detectionStatus") or "") or None,
                "mdeDeviceId": a["machineId"], "imageFile": file_details,
                "parentProcessImageFile": {"sha1": None, "sha256": None,
                                           "fileName": ev.get("parentProcessFileName"),
                                           "filePath": ev.get("parentProcessFilePath"), "fileSize": None,
                                           "filePublisher": None, "signer": None, "issuer": None},
                "userAccount": None}))
        elif kind == "File":
            out.append(dict(common, createdDateTime=when, **{
                "@odata.type": "#microsoft.graph.security.fileEvidence",
                "detectionStatus": _lower_first(ev.get("detectionStatus") or "") or None,
                "mdeDeviceId": a["machineId"], "fileDetails": file_details}))
        elif kind == "Ip":
            out.append(dict(common, createdDateTime=when, **{
                "@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": ev.get("ipAddress")}))
        elif kind == "Url":
            out.append(dict(common, createdDateTime=when, **{
                "@odata.type": "#microsoft.graph.security.urlEvidence", "url": ev.get("url")}))
    return out


def alert_dict(core, a):
    """The whole Graph alert of MDE record ``a``, evolvable members included (callers hide them when asked)."""
    store = core.store
    tid = a.get("aadTenantId") or store.tenant_id
    over = store.graph_overrides.get(a["id"])
    view = AlertView(a, over)
    out = {
        "@odata.type": "#microsoft.graph.security.alert",
        "id": a["id"], "providerAlertId": a["id"], "incidentId": str(a["incidentId"]),
        "status": view.get("status"), "severity": view.get("severity"),
        "classification": view.get("classification"), "determination": view.get("determination"),
        "serviceSource": view.get("serviceSource"),
        "detectionSource": DETECTION_SOURCE.get(a["detectionSource"], "unknown"),
        "productName": "Microsoft Defender for Endpoint", "detectorId": a["detectorId"], "tenantId": tid,
        "title": a["title"], "description": a["description"],
        "recommendedActions": "Collect artifacts and determine scope; isolate the device if the activity is "
                              "confirmed.",
        "category": a["category"], "assignedTo": a["assignedTo"],
        "alertWebUrl": f"https://security.microsoft.com/alerts/{a['id']}?tid={tid}",
        "incidentWebUrl": f"https://security.microsoft.com/incidents/{a['incidentId']}?tid={tid}",
        "actorDisplayName": None, "threatDisplayName": a.get("threatName") or a.get("threatFamilyName"),
        "threatFamilyName": a.get("threatFamilyName"), "mitreTechniques": list(a.get("mitreTechniques") or []),
        "createdDateTime": a["alertCreationTime"], "lastUpdateDateTime": a["lastUpdateTime"],
        "resolvedDateTime": a.get("resolvedTime"), "firstActivityDateTime": a.get("firstEventTime"),
        "lastActivityDateTime": a.get("lastEventTime"), "alertPolicyId": None, "additionalData": {},
        "systemTags": [], "comments": graph_comments(a),
        "evidence": _evidence(store, a, store.machines_by_id.get(a["machineId"])),
    }
    if over:
        out.update({k: v for k, v in over.items() if k in out})
    return out


def hide_unknown(obj, prefer_unknown):
    """Evolvable enum members become ``unknownFutureValue`` unless the caller opted in with the Prefer header."""
    if prefer_unknown:
        return obj
    for field, members in EVOLVABLE.items():
        if obj.get(field) in members:
            obj[field] = "unknownFutureValue"
    return obj


def alert_json(core, a, prefer_unknown):
    """Cached JSON text per (alert, Prefer); the cache entry goes when the alert changes (store.alert_changed)."""
    cache = core.store.graph_json
    key = (a["id"], bool(prefer_unknown))
    text = cache.get(key)
    if text is None:
        text = json.dumps(hide_unknown(alert_dict(core, a), prefer_unknown), ensure_ascii=False)
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
        return PREFER_UNKNOWN in [p.strip().lower() for p in prefer.split(",")]


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


def throttle(req, GraphError):
    core = req.core
    with core.lock:
        scale = float(core.config["time_scale"])
    retry = core.throttle.check((req.claims["appid"], req.claims["tid"]), "security", scale)
    if retry is not None:
        core.count("throttled")
        raise GraphError(429, "TooManyRequests", "Too many requests.", {"Retry-After": retry})


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
            status = {v: k for k, v in STATUS.items()}[body["status"]]
            if status == "Resolved" and a.get("resolvedTime") is None:
                a["resolvedTime"] = D.iso(now)
            elif status != "Resolved":
                a["resolvedTime"] = None
            a["status"] = status
        if "classification" in body:
            a["classification"] = {v: k for k, v in CLASSIFICATION.items()}[body["classification"]]
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
        comments = graph_comments(a)
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


# Collections under /v1.0/security: name -> handler(req, parts_after_name, GraphError). The incidents collection
# registers itself here too.
COLLECTIONS = {"alerts_v2": route_alerts}


def handle(core, method, path, pairs, headers, body, claims, request_id, entry, GraphError):
    """A request under ``/v1.0/security/<collection>``; None when the path is not one of the collections."""
    segs = [urllib.parse.unquote(s) for s in path.split("/") if s]
    if len(segs) < 3 or segs[0].lower() != "v1.0" or segs[1].lower() != "security":
        return None
    handler = COLLECTIONS.get(segs[2].lower())
    if handler is None:
        return None
    req = Request(core, method, path, pairs, headers, body, claims, request_id, entry)
    throttle(req, GraphError)
    return handler(req, segs[3:], GraphError)
