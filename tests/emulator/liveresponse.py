"""Live response: the library, ``runliveresponse`` sessions and their result links.

Behaviour follows Microsoft's pages (defender-docs ``api/run-live-response.md``, ``api/get-live-response-result.md``,
``api/list-library-files.md``, ``api/upload-library.md``, ``api/delete-library.md``, ``live-response.md``):

- Library: ``GET/POST /api/libraryfiles``, ``DELETE /api/libraryfiles/{name}``; role ``Library.Manage``; uploads are
  ``multipart/form-data`` with ``File`` (required), ``Description``, ``ParametersDescription``, ``HasParameters``,
  ``OverrideIfExists``; at most 20 MB; names of letters, digits, ``-``, ``_`` and ``.``.
- ``POST /api/machines/{id}/runliveresponse``: body ``{"Comment", "Commands": [{"type", "params": [{"key",
  "value"}]}]}``; types PutFile, RunScript, GetFile in that order; role ``Machine.LiveResponse``; 10 calls a minute;
  25 sessions running at once (429 beyond); one session per machine (400 ``ActiveRequestAlreadyExists``); an offline
  machine's session is queued up to 3 days; a script runs at most 10 minutes; the first failed command stops the rest.
- ``GET /api/machineactions/{id}/GetLiveResponseResultDownloadLink(index=N)``: a link valid 30 minutes to the result
  of a RunScript (JSON ``script_name``, ``exit_code``, ``script_output``, ``script_errors``) or GetFile (the file).
  The link alone authorizes: a bearer header is refused, so a client that sends its token there fails a test.

Not documented, so chosen here and said so in docs/live-response.md: the error answered for an existing library name
without ``OverrideIfExists`` (400 here), for a disabled tenant setting (400 ``LiveResponseNotEnabled``), and
whether a GetFile result is wrapped in a zip (here: the file's bytes as they are).
"""

import email
import email.policy
import hashlib
import hmac
import json
import re
import time
import urllib.parse

import data as D
from api import MACHINE_READ, ApiError, Reply, _get_action, _get_machine, _json_body, _require_roles

LIBRARY_ROLE = ["Library.Manage"]
LIVE_RESPONSE_ROLE = ["Machine.LiveResponse"]
# current page: Machine.Read.All / Machine.ReadWrite.All; older copies: Machine.LiveResponse (both accepted)
RESULT_ROLES = MACHINE_READ + ["Machine.LiveResponse"]
COMMAND_ORDER = ("PutFile", "RunScript", "GetFile")
COMMAND_PARAMS = {"PutFile": {"FileName": True}, "RunScript": {"ScriptName": True, "Args": False},
                  "GetFile": {"Path": True}}
LIBRARY_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
UPLOAD_FIELDS = ("File", "Description", "ParametersDescription", "HasParameters", "OverrideIfExists")
RESULT_PREFIX = "/safedownload/liveresponse/"
QUEUE_DAYS = 3
SCRIPT_TIMEOUT = 600.0

DEFAULTS = {
    "max_upload_bytes": 20 * 1024 * 1024,
    "max_sessions": 25,
    "link_lifetime": 1800,          # seconds a result link stays valid (not scaled)
    "enabled": True,                # tenant setting "Live response"
    "servers": True,                # "Live response for servers"
    "unsigned_scripts": False,      # "Live response unsigned script execution"
    "queued": [],                   # machine ids that are offline: their sessions stay Pending (up to 3 days)
    "scripts": {},                  # script name -> {"exit_code", "output", "errors", "timeout", "signed"}
    "missing_paths": [],            # GetFile paths that do not exist on the machines (the command fails)
}


class LiveState:
    """The tenant's library and what live response needs beside the machine actions."""

    def __init__(self):
        self.library = {}  # lower-case name -> entry (with the content bytes under "_content")
        self.config = json.loads(json.dumps(DEFAULTS))

    def configure(self, value):
        unknown = set(value) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown live_response keys {sorted(unknown)}")
        self.config.update(json.loads(json.dumps(value)))
        self.config["queued"] = [str(x).lower() for x in self.config["queued"]]


def state(core):
    return core.live


# --- library ---------------------------------------------------------------------------------------


def _public_entry(entry):
    return {k: v for k, v in entry.items() if not k.startswith("_")}


def list_library(core, req):
    _require_roles(req, LIBRARY_ROLE)
    with core.lock:
        values = [_public_entry(e) for e in sorted(state(core).library.values(), key=lambda e: e["fileName"].lower())]
    return Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#LibraryFiles", "value": values})


def _multipart(req):
    ctype = req.headers.get("Content-Type") or ""
    if not ctype.lower().startswith("multipart/form-data"):
        raise ApiError(415, "UnsupportedMediaType", "Upload the file as multipart/form-data.")
    msg = email.message_from_bytes(b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + req.body,
                                   policy=email.policy.HTTP)
    if not msg.is_multipart():
        raise ApiError(400, "InvalidRequestBody", "The multipart body could not be read.")
    fields = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            raise ApiError(400, "InvalidRequestBody", "A multipart part has no name.")
        if name not in UPLOAD_FIELDS:
            raise ApiError(400, "InvalidRequestBody", f"Unknown form field '{name}'. Expected: {', '.join(UPLOAD_FIELDS)}.")
        payload = part.get_payload(decode=True) or b""
        fields[name] = (part.get_filename(), payload)
    return fields


def _form_bool(fields, name):
    raw = fields.get(name, (None, b""))[1].decode("utf-8", "replace").strip().lower()
    if raw in ("", "false"):
        return False
    if raw == "true":
        return True
    raise ApiError(400, "InvalidRequestBody", f"{name} must be true or false.")


def upload_library(core, req):
    _require_roles(req, LIBRARY_ROLE)
    live = state(core)
    if len(req.body) > live.config["max_upload_bytes"] + 64 * 1024:
        raise ApiError(400, "FileTooLarge", "The file is larger than the 20 MB the library accepts.")
    fields = _multipart(req)
    if "File" not in fields or not fields["File"][0]:
        raise ApiError(400, "MissingRequiredParameter", "File is required.")
    name, content = fields["File"]
    if not LIBRARY_NAME.match(name):
        raise ApiError(400, "InvalidRequestBody", "File names may hold letters, digits, '-', '_' and '.' only.")
    if len(content) > live.config["max_upload_bytes"]:
        raise ApiError(400, "FileTooLarge", "The file is larger than the 20 MB the library accepts.")
    override = _form_bool(fields, "OverrideIfExists")
    has_params = _form_bool(fields, "HasParameters")
    text = {k: fields[k][1].decode("utf-8", "replace") if k in fields else None
            for k in ("Description", "ParametersDescription")}
    with core.lock:
        now = D.iso(time.time())
        old = live.library.get(name.lower())
        if old is not None and not override:
            raise ApiError(400, "BadRequest", f"A file named '{old['fileName']}' is already in the library; "
                                              "set OverrideIfExists to replace it.")
        entry = {
            "fileName": name,
            "sha256": hashlib.sha256(content).hexdigest(),
            "description": text["Description"],
            "creationTime": old["creationTime"] if old else now,
            "lastUpdatedTime": now,
            "createdBy": core.identity.apps_by_id.get(str(req.claims.get("appid")).lower(), {}).get(
                "display_name", str(req.claims.get("appid"))),
            "hasParameters": has_params,
            "parametersDescription": text["ParametersDescription"],
            "_content": content,
        }
        live.library[name.lower()] = entry
    return Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#LibraryFiles/$entity",
                       **_public_entry(entry)})


def delete_library(core, req, name):
    _require_roles(req, LIBRARY_ROLE)
    with core.lock:
        if state(core).library.pop(name.lower(), None) is None:
            raise ApiError(404, "NotFound", f"Library file {name} was not found")
    return Reply(204)


# --- sessions ----------------------------------------------------------------------------------------


def _commands(body):
    """The validated command list: [(type, {key: value})]; ApiError for what the service refuses."""
    allowed = ("Comment", "Commands")
    unknown = [k for k in body if k not in allowed]
    if unknown:
        raise ApiError(400, "InvalidRequestBody", f"Request body has unknown properties: {', '.join(unknown)}. "
                                                  f"Expected (case-sensitive): {', '.join(allowed)}.")
    comment = body.get("Comment")
    if not isinstance(comment, str) or not comment.strip():
        raise ApiError(400, "MissingRequiredParameter", "Comment is required (case-sensitive: 'Comment').")
    commands = body.get("Commands")
    if not isinstance(commands, list) or not commands:
        raise ApiError(400, "MissingRequiredParameter", "Commands is required: a non-empty list.")
    out, last = [], 0
    for i, cmd in enumerate(commands):
        if not isinstance(cmd, dict) or set(cmd) - {"type", "params"}:
            raise ApiError(400, "InvalidRequestBody", f"Command {i}: expected the keys 'type' and 'params'.")
        type_ = cmd.get("type")
        if type_ not in COMMAND_ORDER:
            raise ApiError(400, "InvalidRequestBody", f"Command {i}: type must be one of {', '.join(COMMAND_ORDER)}.")
        order = COMMAND_ORDER.index(type_)
        if order < last:
            raise ApiError(400, "InvalidRequestBody", "Commands must be in the order PutFile, RunScript, GetFile.")
        last = order
        params = cmd.get("params")
        if not isinstance(params, list):
            raise ApiError(400, "InvalidRequestBody", f"Command {i}: params must be a list of key/value pairs.")
        values = {}
        for p in params:
            if not isinstance(p, dict) or set(p) != {"key", "value"} or not isinstance(p["value"], str):
                raise ApiError(400, "InvalidRequestBody", f"Command {i}: each param is {{'key', 'value'}}.")
            if p["key"] not in COMMAND_PARAMS[type_]:
                raise ApiError(400, "InvalidRequestBody", f"Command {i}: unknown param '{p['key']}' for {type_}.")
            values[p["key"]] = p["value"]
        missing = [k for k, required in COMMAND_PARAMS[type_].items() if required and not values.get(k)]
        if missing:
            raise ApiError(400, "MissingRequiredParameter", f"Command {i}: {type_} needs {', '.join(missing)}.")
        out.append((type_, values))
    return comment, out


def run_live_response(core, req, key):
    _require_roles(req, LIVE_RESPONSE_ROLE)
    comment, commands = _commands(_json_body(req))
    live = state(core)
    cfg = live.config
    with core.lock:
        if not cfg["enabled"]:
            raise ApiError(400, "LiveResponseNotEnabled", "Live response is turned off in the tenant's advanced "
                                                          "features (Settings > Endpoints > Advanced features).")
        m = _get_machine(core, key, by_name=False)
        if (m.get("osPlatform") or "").startswith("WindowsServer") and not cfg["servers"]:
            raise ApiError(400, "LiveResponseNotEnabled", "Live response for servers is turned off in the tenant's "
                                                          "advanced features.")
        for type_, values in commands:
            name = values.get("FileName") or values.get("ScriptName")
            if name and name.lower() not in live.library:
                raise ApiError(400, "InvalidRequestBody", f"'{name}' is not in the live response library.")
        now = time.time()
        store = core.store
        active = [r for r in store.actions if r["obj"]["type"] == "LiveResponse"
                  and store.action_status(r, now)[0] in ("Pending", "InProgress")]
        if any(r["obj"]["machineId"] == m["id"] for r in active):
            raise ApiError(400, "ActiveRequestAlreadyExists", "Action is already in progress")
        running = [r for r in active if r["obj"]["machineId"] not in cfg["queued"]]
        if len(running) >= int(cfg["max_sessions"]):
            raise ApiError(429, "TooManyRequests",
                           f"The limit of {cfg['max_sessions']} concurrent live response sessions was reached.",
                           {"Retry-After": str(max(1, int(60 * float(core.config["time_scale"]))))})
        scale = float(core.config["time_scale"])
        pending = float(core.config["lifecycle"]["pending"]) * scale
        step = float(core.config["lifecycle"]["in_progress"]) * scale
        queued = m["id"] in cfg["queued"]
        t_progress = now + (QUEUE_DAYS * D.DAY * scale if queued else pending)
        plan = _plan(cfg, m, commands, live)
        t_done = t_progress + step * max(1, plan["ran"])
        rec = store.add_action(m, "LiveResponse", req.claims["appid"], comment, None, now, t_progress, t_done,
                               plan["outcome"] if not queued else "TimeOut")
        rec["live"] = {"commands": commands, "plan": plan, "step": step, "queued": queued}
        rec["commands_view"] = _commands_view
        out = store.action_public(rec, now)
    return Reply(201, {"@odata.context": f"{core.api_url}/api/$metadata#MachineActions/$entity", **out})


def _plan(cfg, machine, commands, live):
    """What each command will do, decided when the session is created (deterministic for tests)."""
    results, outcome, failed_at = [], "Succeeded", None
    for i, (type_, values) in enumerate(commands):
        errors = []
        result = None
        if type_ == "RunScript":
            script = values["ScriptName"]
            behaviour = cfg["scripts"].get(script, {})
            if script.lower().endswith(".ps1") and not behaviour.get("signed", True) and not cfg["unsigned_scripts"]:
                errors = ["The script is not signed and unsigned script execution is turned off in the tenant's "
                          "advanced features."]
            elif behaviour.get("timeout"):
                errors = ["Script execution timed out after 10 minutes."]
            else:
                args = values.get("Args", "")
                output = behaviour.get("output", f"Transcript started\r\nran {script} {args}".rstrip()
                                       + f" on {machine['computerDnsName']}\r\n")
                result = {"script_name": script, "exit_code": int(behaviour.get("exit_code", 0)),
                          "script_output": output + "\u0000" * 4,
                          "script_errors": behaviour.get("errors", "")}
        elif type_ == "GetFile":
            path = values["Path"]
            if path in cfg["missing_paths"]:
                errors = [f"File {path} was not found on the machine."]
            else:
                result = (f"contents of {path} on {machine['computerDnsName']}\n" * 20).encode("utf-8")
        results.append({"errors": errors, "result": result})
        if errors:
            outcome, failed_at = "Failed", i
            break
    return {"results": results, "outcome": outcome, "failed_at": failed_at, "ran": len(results)}


def _commands_view(rec, status, now):
    """The commands[] of a live response action as the service shows them at ``now``."""
    live = rec["live"]
    plan = live["plan"]
    out = []
    for i, (type_, values) in enumerate(live["commands"]):
        start = rec["t_progress"] + i * live["step"]
        end = start + live["step"]
        ran = i < plan["ran"]
        if status == "Cancelled" or not ran or now < end or status == "Pending":
            cstatus, errors = "Created", []
        else:
            errors = plan["results"][i]["errors"]
            cstatus = "Failed" if errors else "Completed"
        out.append({
            "index": i,
            "startTime": D.iso(start) if ran and now >= start and status != "Pending" else None,
            "endTime": D.iso(end) if cstatus != "Created" else None,
            "commandStatus": cstatus,
            "errors": list(errors),
            "command": {"type": type_, "params": [{"key": k, "value": v} for k, v in values.items()]},
        })
    return out


# --- results -------------------------------------------------------------------------------------------

_LINK = re.compile(r"^GetLiveResponseResultDownloadLink\(index=(\d+)\)$", re.IGNORECASE)


def result_index(segment):
    match = _LINK.match(segment)
    return int(match.group(1)) if match else None


def _sign(core, action_id, index, expires):
    return hmac.new(core.download_key, f"lr|{action_id}|{index}|{expires}".encode(), hashlib.sha256).hexdigest()


def result_link(core, req, action_id, index):
    _require_roles(req, RESULT_ROLES)
    with core.lock:
        now = time.time()
        rec = _get_action(core, action_id)
        if rec["obj"]["type"] != "LiveResponse":
            raise ApiError(400, "BadRequest", f"Machine action {action_id} is not a live response action.")
        live = rec["live"]
        if index >= len(live["commands"]):
            raise ApiError(400, "BadRequest", f"The action has no command at index {index}.")
        if live["commands"][index][0] == "PutFile":
            raise ApiError(400, "BadRequest", "PutFile commands have no result.")
        status = core.store.action_status(rec, now)[0]
        view = _commands_view(rec, status, now)[index]
        if view["commandStatus"] != "Completed":
            raise ApiError(404, "NotFound", f"The result of command {index} is not available "
                                            f"(command status {view['commandStatus']}).")
        expires = int(now + float(state(core).config["link_lifetime"]))
        aid = rec["obj"]["id"]
        sig = _sign(core, aid, index, expires)
    query = urllib.parse.urlencode({"se": expires, "sig": sig})
    url = f"{core.api_url}{RESULT_PREFIX}{aid}/{index}?{query}"
    return Reply(200, {"@odata.context": f"{core.api_url}/api/$metadata#Edm.String", "value": url})


def download_result(core, path, headers, query):
    """GET /safedownload/liveresponse/<action>/<index>?se=..&sig=..: the link alone authorizes."""
    from api import error_reply
    if headers.get("Authorization"):
        return error_reply(400, "InvalidAuthenticationInfo", "Authorization header is not accepted together with a "
                           "signed link.", None)
    try:
        aid, index = path[len(RESULT_PREFIX):].split("/")
        index, expires = int(index), int(query.get("se", ""))
    except ValueError:
        return error_reply(403, "AuthenticationFailed", "Signature not valid.", None)
    if not hmac.compare_digest(query.get("sig", ""), _sign(core, aid, index, expires)):
        return error_reply(403, "AuthenticationFailed", "Signature not valid.", None)
    if time.time() > expires:
        return error_reply(403, "AuthenticationFailed", "Signed expiry time has passed.", None)
    with core.lock:
        try:
            rec = _get_action(core, aid)
        except ApiError:
            return error_reply(404, "BlobNotFound", "The specified blob does not exist.", None)
        result = rec["live"]["plan"]["results"][index]["result"]
    if isinstance(result, dict):
        return Reply(200, json.dumps(result).encode("utf-8"), {"Content-Type": "application/octet-stream"})
    return Reply(200, result, {"Content-Type": "application/octet-stream"})


def route(parts, method):
    """The handler for /api/<parts...> when it is a live response route, else None."""
    head, n = parts[0].lower(), len(parts)
    if head == "libraryfiles":
        if n == 1 and method == "GET":
            return list_library
        if n == 1 and method == "POST":
            return upload_library
        if n == 2 and method == "DELETE":
            return lambda c, r: delete_library(c, r, parts[1])
    if head == "machines" and n == 3 and method == "POST" and parts[2].lower() == "runliveresponse":
        return lambda c, r: run_live_response(c, r, parts[1])
    if head == "machineactions" and n == 3 and method == "GET":
        index = result_index(parts[2])
        if index is not None:
            return lambda c, r: result_link(c, r, parts[1], index)
    return None
