# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live response: the library (read, plan, upload, delete) and the rules for commands and their results.

Microsoft's pages: api/list-library-files.md, api/upload-library.md, api/delete-library.md (role Library.Manage,
uploads of at most 20 MB as multipart/form-data), api/run-live-response.md (commands PutFile, RunScript, GetFile in
that order), api/get-live-response-result.md (a RunScript result is JSON with script_name, exit_code, script_output,
script_errors), live-response.md (library names of letters, digits, '-', '_' and '.').
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from urllib.parse import urlsplit

from ansible_collections.defender.endpoint.plugins.module_utils import progress
from ansible_collections.defender.endpoint.plugins.module_utils.machines import action_summary, is_final

from ansible_collections.defender.endpoint.plugins.module_utils.client import segment
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.module_utils.validation import check_no_control

LIBRARY_PATH = "/api/libraryfiles"
MAX_LIBRARY_BYTES = 20 * 1024 * 1024
LIBRARY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,255}\Z")
COMMAND_TYPES = ("PutFile", "RunScript", "GetFile")  # the service runs them in this order only
# What each command's entry in the module's `commands` option holds -> the service's param key
COMMAND_KEYS = {"PutFile": ("file", "FileName"), "RunScript": ("script", "ScriptName"), "GetFile": ("path", "Path")}
MAX_ARGS_LENGTH = 2048


def check_library_name(name, option="name"):
    """A library file name as the portal accepts it; a DefenderConfigError otherwise (before any request)."""
    if not isinstance(name, str) or not LIBRARY_NAME.match(name):
        raise DefenderConfigError("%s must be a library file name of letters, digits, '-', '_' and '.' (the rule "
                                  "of the live response library), got %r" % (option, str(name)[:80]))
    return name


def read_library(client):
    """The library as {lower-case name: entry}."""
    answer = client.get(LIBRARY_PATH) or {}
    return {str(e.get("fileName", "")).lower(): e for e in answer.get("value") or []}


def file_digest(path):
    """(sha256 hex, size) of a local file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def entry_view(entry):
    """The documented fields of a library entry, for results and diffs."""
    if entry is None:
        return None
    keys = ("fileName", "sha256", "description", "hasParameters", "parametersDescription", "creationTime",
            "lastUpdatedTime", "createdBy")
    return {k: entry.get(k) for k in keys}


def differences(current, sha256, description=None, has_parameters=None, parameters_description=None):
    """The fields where ``current`` differs from the wanted file and metadata (None: not asked for)."""
    if current is None:
        return ["fileName"]
    wanted = {"sha256": sha256, "description": description, "hasParameters": has_parameters,
              "parametersDescription": parameters_description}
    out = []
    for key, value in wanted.items():
        if value is None:
            continue
        have = current.get(key)
        if key == "sha256":
            have = (have or "").lower()
        if have != value:
            out.append(key)
    return out


def upload(client, name, path, description=None, has_parameters=None, parameters_description=None, override=False):
    """POST the file as multipart/form-data; the new entry. A lost answer reads the library back: the upload
    counts as done when an entry of that name holds the file's hash, and is never sent twice."""
    fields = {"OverrideIfExists": "true" if override else "false"}
    if description is not None:
        fields["Description"] = description
    if has_parameters is not None:
        fields["HasParameters"] = "true" if has_parameters else "false"
    if parameters_description is not None:
        fields["ParametersDescription"] = parameters_description
    with open(path, "rb") as handle:
        content = handle.read(MAX_LIBRARY_BYTES + 1)
    sha256 = hashlib.sha256(content).hexdigest()
    try:
        return client.post_form(LIBRARY_PATH, fields, files={"File": (name, content)})
    except DefenderOutcomeUnknownError:
        entry = read_library(client).get(name.lower())
        if entry is not None and (entry.get("sha256") or "").lower() == sha256:
            return entry
        raise


def delete(client, name):
    client.request("DELETE", "%s/%s" % (LIBRARY_PATH, segment(name, "name")))


# --- commands ---------------------------------------------------------------------------------------------


def check_commands(commands):
    """The module's ``commands`` as the service's ``Commands``, checked before any request: known types in the
    service's order, the one key each type needs, library names by the library's rule, no control characters."""
    if not commands:
        raise DefenderConfigError("commands must list at least one command (PutFile, RunScript, GetFile)")
    out = []
    last = 0
    for i, cmd in enumerate(commands):
        where = "commands[%d]" % i
        if not isinstance(cmd, dict):
            raise DefenderConfigError("%s must be a dict with type and file, script or path" % where)
        type_ = cmd.get("type")
        if type_ not in COMMAND_TYPES:
            raise DefenderConfigError("%s.type must be one of %s, got %r" % (where, ", ".join(COMMAND_TYPES), type_))
        order = COMMAND_TYPES.index(type_)
        if order < last:
            raise DefenderConfigError("%s: the service runs PutFile, then RunScript, then GetFile commands in that "
                                      "order only; put %s before %s" % (where, type_, COMMAND_TYPES[last]))
        last = order
        option, key = COMMAND_KEYS[type_]
        extra = sorted(set(k for k, v in cmd.items() if v is not None) - {"type", option, "parameters"})
        if extra or (cmd.get("parameters") is not None and type_ != "RunScript"):
            raise DefenderConfigError("%s: a %s command takes %s%s; not %s" % (
                where, type_, option, " and parameters" if type_ == "RunScript" else "",
                ", ".join(extra or ["parameters"])))
        value = cmd.get(option)
        if not isinstance(value, str) or not value.strip():
            raise DefenderConfigError("%s: a %s command needs %s" % (where, type_, option))
        check_no_control(value, "%s.%s" % (where, option))
        if type_ in ("PutFile", "RunScript"):
            check_library_name(value, "%s.%s" % (where, option))
        params = [{"key": key, "value": value}]
        args = cmd.get("parameters")
        if args is not None:
            if not isinstance(args, str):
                raise DefenderConfigError("%s.parameters must be one string (the script's arguments)" % where)
            check_no_control(args, "%s.parameters" % where)
            if len(args) > MAX_ARGS_LENGTH:
                raise DefenderConfigError("%s.parameters is longer than %d characters" % (where, MAX_ARGS_LENGTH))
            if args:
                params.append({"key": "Args", "value": args})
        out.append({"type": type_, "params": params})
    return out


def parse_script_result(content):
    """A RunScript result file -> {script_name, exit_code, output, errors}; the service pads the text with NULs."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    try:
        data = json.loads(text.strip().strip("\x00"))
    except ValueError:
        raise DefenderError("the RunScript result is not the documented JSON document") from None
    if not isinstance(data, dict):
        raise DefenderError("the RunScript result is not the documented JSON document")

    def clean(value):
        return value.replace("\x00", "") if isinstance(value, str) else value

    return {"script_name": data.get("script_name"), "exit_code": data.get("exit_code"),
            "output": clean(data.get("script_output")), "errors": clean(data.get("script_errors"))}


def check_dest(dest):
    """``dest`` (for GetFile results): an existing or creatable directory, checked before any request."""
    if dest is None:
        return
    dest = os.path.abspath(dest)
    if os.path.lexists(dest) and (os.path.islink(dest) or not os.path.isdir(dest)):
        raise DefenderConfigError("dest %s exists and is not a directory (a symbolic link is not followed)" % dest)
    parent = dest
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DefenderConfigError("dest %s cannot be written (%s is not a writable directory)" % (dest, parent))


def _key(commands):
    return [(c.get("type"), sorted((p.get("key"), p.get("value")) for p in c.get("params") or [])) for c in commands]


def commands_of(action):
    """The commands of a LiveResponse action as its history shows them, in the form :func:`check_commands` gives
    (parameters in key order), so that a rerun of the same task finds its own session."""
    shown = [c.get("command") or {} for c in sorted(action.get("commands") or [], key=lambda c: c.get("index", 0))]
    return _key(shown)


def same_commands(action, commands):
    return commands_of(action) == _key(commands)


RESULT_LINK = "/api/machineactions/%s/GetLiveResponseResultDownloadLink(index=%d)"
MAX_SCRIPT_RESULT = 16 * 1024 * 1024


def _link(client, action_id, index):
    answer = client.get(RESULT_LINK % (segment(action_id, "action id"), index))
    url = (answer.get("value") if isinstance(answer, dict) else answer) or ""
    url = url.strip().strip('"') if isinstance(url, str) else ""
    if urlsplit(url).scheme.lower() != "https" or not urlsplit(url).hostname:
        raise DefenderError("the result link of command %d is not an HTTPS link; nothing was downloaded" % index)
    return url


def _with_fresh_link(client, action_id, index, use):
    """``use(url)``; one new link when the first one is refused (expired: links last 30 minutes)."""
    for attempt in (1, 2):
        try:
            return use(_link(client, action_id, index))
        except DefenderError as exc:
            if attempt == 2 or exc.status not in (401, 403):
                raise
    raise AssertionError("unreachable")


def _file_name(result, index, path):
    machine = re.sub(r"[^A-Za-z0-9._-]", "_", result.get("computer_dns_name") or result["machine_id"]).strip(".")
    base = re.sub(r"[^A-Za-z0-9._-]", "_", re.split(r"[\\/]", path)[-1]).strip(".") or "file"
    return "%s_%s_%d_%s" % (machine or result["machine_id"], result["action"]["id"], index, base)


def _param(command, key):
    for p in (command.get("command") or {}).get("params") or []:
        if p.get("key") == key:
            return p.get("value")
    return None


def command_results(client, downloader, result, dest):
    """One entry per command of ``result``'s (final) action: its status and errors; a RunScript's parsed result; a
    GetFile's file in ``dest`` (0600, renamed into place) with its SHA-256 and size. Returns (entries, failed
    command or None)."""
    action = result["action"]
    entries, failed = [], None
    for cmd in sorted(action.get("commands") or [], key=lambda c: c.get("index", 0)):
        index, type_ = cmd.get("index", 0), (cmd.get("command") or {}).get("type")
        entry = {"index": index, "type": type_, "status": cmd.get("commandStatus"), "errors": cmd.get("errors") or []}
        key = COMMAND_KEYS.get(type_, (None, None))
        if key[0]:
            entry[key[0]] = _param(cmd, key[1])
        if entry["status"] == "Failed" and failed is None:
            failed = entry
        if entry["status"] == "Completed" and type_ == "RunScript":
            body = _with_fresh_link(client, action["id"], index, lambda url: downloader.read(url, MAX_SCRIPT_RESULT))
            entry.update(parse_script_result(body))
        elif entry["status"] == "Completed" and type_ == "GetFile" and dest:
            if not os.path.isdir(dest):
                os.makedirs(dest, mode=0o700, exist_ok=True)
            target = os.path.join(dest, _file_name(result, index, entry["path"] or ""))
            digest, size = _with_fresh_link(client, action["id"], index, lambda url: downloader.fetch(url, target))
            entry.update(file_path=target, sha256=digest, size=size)
        entries.append(entry)
    return entries, failed


def fetch_results(module, client, results):
    """The live_response follow-up: after the engine, every final session's command results. Check mode fetches
    nothing (it would write files)."""
    from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.package import PackageDownloader

    if module.check_mode:
        for result in results:
            if result["changed"] and not result.get("action"):
                result["msg"] += "; would run %d command(s)" % len(module.params["commands"])
        return
    dest = module.params.get("dest")
    settings = module.settings
    downloader = PackageDownloader(client, settings.validate_certs, settings.ca_path, settings.timeout)
    todo = [r for r in results if r["machine_id"] and r.get("action") and is_final(r["action"])]
    for done, result in enumerate(todo):
        name = result["computer_dns_name"] or result["machine_id"]
        progress.report("fetching the results of %s (%d of %d)" % (name, done + 1, len(todo)),
                        done=done, total=len(todo))
        try:
            result["commands"], failed = command_results(client, downloader, result, dest)
        except (DefenderError, OSError) as exc:
            result.update(failed=True, msg="%s; its results could not be fetched: %s" % (
                action_summary(result["action"]), exc if isinstance(exc, DefenderError) else
                (exc.strerror or type(exc).__name__)))
            continue
        if failed is not None:
            what = failed.get("script") or failed.get("path") or failed.get("file") or ""
            result.update(failed=True, msg="%s; command %d (%s %s) failed: %s; the commands after it were not run" % (
                action_summary(result["action"]), failed["index"], failed["type"], what,
                "; ".join(str(e) for e in failed["errors"]) or "no error text"))
