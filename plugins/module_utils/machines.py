# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Machines and machine actions: resolution of ids and computer names, reads of machine actions, and polling
of actions. Shared by the machine modules and the incident_response role.

Resolution rules (what ``resolve`` does with one reference):

- 40 hexadecimal characters is a machine id: ``$filter=id eq '<id>'`` (batched), confirmed with
  ``GET /api/machines/{id}`` when the list does not return it. Anything else is a computer name.
- A computer name is looked up with ``$filter=computerDnsName eq '<escaped>'`` (batched with ``or``) and the
  answer is compared with the name **case-insensitively on this side**, so the result does not depend on
  how the service compares. Only for names that found nothing, a second query uses
  ``tolower(computerDnsName) eq '<lowercased>'`` (a service that rejects ``tolower`` just finds nothing).
  ``GET /api/machines/{name}`` is documented to accept a name but returns a single machine, which would
  hide duplicates, so it is never used to resolve a name.
- Devices that are not onboarded (``onboardingStatus`` other than ``Onboarded``: found by device discovery, such as
  printers and routers) are set aside first; a name that matches only such devices fails, naming them (pass the
  id to act on one, for example to contain it with isolation type ``UnManagedDevice``).
- One machine has the name and it is not merged into another: that one (even when flagged
  ``isPotentialDuplication``: it is the only machine with that name).
- Several machines share the name: the ones flagged ``isPotentialDuplication`` or carrying
  ``mergedIntoMachineId`` are set aside. One left: that one. Several left: the most recently seen wins only
  when its ``lastSeen`` is at least :data:`CLEARLY_NEWER` (24 hours) newer than every other; otherwise the
  name is ambiguous and fails, listing the candidate ids. ``lastSeen`` is refreshed by a full report about
  once a day, so two healthy machines seen within the same day cannot be told apart (both are live: the name
  is ambiguous), while a machine last seen a day or more after the others is the one that replaced them (a
  reinstall that got a new machine id). None left (all flagged or merged): the name fails, naming the
  candidates and their merge targets; a merge is never followed, pass the id of the machine to act on.
- Nothing found: fails clearly. Nothing is ever sent for a reference that did not resolve.

Machine actions are read here (a machine's history, batched and paged; several actions by id; polling until final).
What the history means for a task (isolation state, an action already running) is machine_actions/history.py.
"""

from __future__ import annotations

import datetime
import re
import time

from ansible_collections.defender.endpoint.plugins.module_utils import progress
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.client import get_or_none, segment
from ansible_collections.defender.endpoint.plugins.module_utils.odata import (
    and_all,
    any_of,
    filter_chunks,
    literal,
    parse_time,
)
from ansible_collections.defender.endpoint.plugins.module_utils.validation import check_guid, has_control

MACHINES = "/api/machines"
ACTIONS = "/api/machineactions"

ACTION_TYPES = ("RunAntiVirusScan", "Offboard", "LiveResponse", "CollectInvestigationPackage", "Isolate",
                "Unisolate", "StopAndQuarantineFile", "RestrictCodeExecution", "UnrestrictCodeExecution")
# Machine fields' documented values (list filters of machine_info and the machines inventory plugin).
HEALTH_STATUSES = ("Active", "Inactive", "ImpairedCommunication", "NoSensorData", "NoSensorDataImpairedCommunication",
                   "Unknown")
RISK_SCORES = ("None", "Informational", "Low", "Medium", "High")
EXPOSURE_LEVELS = ("None", "Low", "Medium", "High")
ACTION_STATUSES = ("Pending", "InProgress", "Succeeded", "Failed", "TimeOut", "Cancelled")
FINAL_STATUSES = frozenset(("Succeeded", "Failed", "TimeOut", "Cancelled"))
NO_EFFECT_STATUSES = frozenset(("Failed", "TimeOut", "Cancelled"))
ACTIVE_STATUSES = frozenset(("Pending", "InProgress"))

# lastSeen (a full report) is refreshed about once a day: a day's lead separates the reinstalled machine from its
# stale twin, less cannot separate two live machines.
CLEARLY_NEWER = datetime.timedelta(hours=24)
BATCH = 20          # references per OData "or" query (see odata.MAX_OR_VALUES; names are also kept under a URL budget)
HISTORY_PAGE = 1000
MAX_NAME = 255

_MACHINE_ID = re.compile(r"^[0-9a-fA-F]{40}\Z")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class MachineResolutionError(DefenderError):
    """A reference that matched no machine (code ``NotFound``) or several (code ``Ambiguous``)."""

    def __init__(self, message, code, candidates=None):
        super().__init__(message, code=code)
        self.candidates = candidates or []


def already_in_progress(error):
    """True for the API's answer to a duplicate machine action: HTTP 400 with the code seen in real responses
    (``ActiveRequestAlreadyExists``) or the message Microsoft documents ("Action is already in progress")."""
    if getattr(error, "status", None) != 400:
        return False
    message = (getattr(error, "message", None) or str(error)).lower()
    return error.code == "ActiveRequestAlreadyExists" or "action is already in progress" in message


# --- input checks -------------------------------------------------------------------------------------------

def is_machine_id(value):
    return isinstance(value, str) and bool(_MACHINE_ID.match(value))


def check_machine_ref(value, name="machine"):
    """A machine id or computer name from the user, stripped; raises DefenderConfigError."""
    if not isinstance(value, str) or not value.strip():
        raise DefenderConfigError("%s must be a machine id (40 hexadecimal characters) or a computer name, got %r"
                                  % (name, value))
    value = value.strip()
    if len(value) > MAX_NAME or has_control(value):
        raise DefenderConfigError("%s %r is not a valid machine id or computer name" % (name, value[:60]))
    return value


def check_machine_id(value, name="machine_id"):
    if not is_machine_id(value):
        raise DefenderConfigError("%s must be a machine id (40 hexadecimal characters), got %r" % (name, value))
    return value.lower()


def check_action_id(value, name="id"):
    return check_guid(value, name, "a machine action id (a GUID)")


# --- time and action helpers --------------------------------------------------------------------------------

def _time(text):
    if not text:
        return _EPOCH
    try:
        return parse_time(text)
    except DefenderError:
        return _EPOCH


def last_update(action):
    """The action's last update time text; the API spells the field two ways."""
    return action.get("lastUpdateDateTimeUtc") or action.get("lastUpdateTimeUtc")


def updated_at(action):
    """The action's last update as a datetime (the epoch when missing or unreadable)."""
    return _time(last_update(action))


def parse_seen(machine):
    """The machine's ``lastSeen`` as a datetime (the epoch when missing or unreadable)."""
    return _time(machine.get("lastSeen")) if isinstance(machine, dict) else _EPOCH


def normalize_action(action):
    """A copy that always carries ``lastUpdateDateTimeUtc`` (from ``lastUpdateTimeUtc`` if needed)."""
    if not isinstance(action, dict):
        return action
    out = dict((k, v) for k, v in action.items() if not k.startswith("@odata."))
    if not out.get("lastUpdateDateTimeUtc") and out.get("lastUpdateTimeUtc"):
        out["lastUpdateDateTimeUtc"] = out["lastUpdateTimeUtc"]
    return out


def created_key(action):
    return (_time(action.get("creationDateTimeUtc")), _time(last_update(action)), str(action.get("id") or ""))


def sort_actions(actions):
    return sorted(actions, key=created_key)


def is_final(action):
    return isinstance(action, dict) and action.get("status") in FINAL_STATUSES


def action_summary(action):
    if not action:
        return "no action"
    parts = ["%s action %s is %s" % (action.get("type"), action.get("id"), action.get("status"))]
    if action.get("lastUpdateDateTimeUtc") or action.get("lastUpdateTimeUtc"):
        parts.append("(last update %s)" % last_update(action))
    if action.get("cancellationComment"):
        parts.append("cancelled: %s" % action["cancellationComment"])
    if action.get("errorHResult"):
        parts.append("error HRESULT %s" % action["errorHResult"])
    return " ".join(parts)


# --- API reads ----------------------------------------------------------------------------------------------

def chunks(items, size=BATCH):
    """Consecutive lists of at most ``size`` items (the one chunking helper of the collection)."""
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _lower_name_filter(names):
    """``tolower(computerDnsName) eq '<name>'`` for each name, joined with ``or``; odata.eq takes only a plain
    property, so the function call is written here, and each value still goes through odata.literal."""
    clauses = ["tolower(computerDnsName) eq %s" % literal(n.lower(), "name") for n in names]
    return clauses[0] if len(clauses) == 1 else "(" + " or ".join(clauses) + ")"


def get_machine(client, machine_id):
    """One machine by id, or None on 404."""
    return get_or_none(client, "%s/%s" % (MACHINES, segment(machine_id, "machine id")))


def list_machines(client, flt, page_size=HISTORY_PAGE, limit=None):
    return list(client.pages(MACHINES, params={"$filter": flt}, page_size=page_size, limit=limit))


def _same_name(a, b):
    return isinstance(a, str) and isinstance(b, str) and a.casefold() == b.casefold()


def find_by_names(client, names):
    """``{name: [machines whose computerDnsName equals it, case-insensitively]}`` for every name."""
    found = {n: {} for n in names}
    for chunk, flt in filter_chunks("computerDnsName", names):
        for machine in list_machines(client, flt):
            for n in chunk:
                if _same_name(machine.get("computerDnsName"), n):
                    found[n][machine.get("id")] = machine
    missing = [n for n in names if not found[n]]
    for chunk, flt in filter_chunks("computerDnsName", missing, build=_lower_name_filter):
        try:
            answer = list_machines(client, flt)
        except DefenderError as exc:
            if exc.status == 400:  # the service does not know tolower(): the eq query was all we could do
                break
            raise
        for machine in answer:
            for n in chunk:
                if _same_name(machine.get("computerDnsName"), n):
                    found[n][machine.get("id")] = machine
    return {n: list(v.values()) for n, v in found.items()}


def find_by_ids(client, ids):
    """``{id (lower case): machine or None}``.

    Many ids are read as a filtered list (``id eq 'a' or id eq 'b'...``, ``id`` is a documented filter field of
    ``GET /api/machines``), in chunks that keep each URL short (:func:`odata.filter_chunks`): 500 machines cost 25
    list requests, not 500 GETs. Only an id the list does not return is asked for with ``GET /api/machines/{id}``.
    """
    found = {}
    wanted = list(dict.fromkeys(i.lower() for i in ids))
    for chunk, flt in filter_chunks("id", wanted):
        for machine in list_machines(client, flt):
            if isinstance(machine.get("id"), str) and machine["id"].lower() in chunk:
                found[machine["id"].lower()] = machine
    for i in wanted:
        if i not in found:
            # Not in the list (for example outside its retention window): ask for it directly.
            found[i] = get_machine(client, i)
    return found


def _describe(machine):
    flags = []
    if machine.get("isPotentialDuplication"):
        flags.append("potential duplicate")
    if machine.get("mergedIntoMachineId"):
        flags.append("merged into %s" % machine["mergedIntoMachineId"])
    return "%s (lastSeen %s%s)" % (machine.get("id"), machine.get("lastSeen"), ", " + ", ".join(flags) if flags else "")


def is_onboarded(machine):
    """Onboarded to Defender for Endpoint (``onboardingStatus``, spelt ``Onboarded`` or ``onboarded``; a record
    without the field counts as onboarded). Device discovery also lists devices that are not (printers, routers)."""
    status = machine.get("onboardingStatus")
    return status is None or (isinstance(status, str) and status.lower() == "onboarded")


def select_machine(name, candidates, margin=CLEARLY_NEWER):
    """The machine a computer name means, and a note on how it was chosen (None when unique)."""
    if not candidates:
        raise MachineResolutionError("no machine named %r was found (a computer name is matched exactly, "
                                     "case-insensitively; use machine_info to search)" % name, "NotFound")
    unmanaged = [machine for machine in candidates if not is_onboarded(machine)]
    if unmanaged and len(unmanaged) == len(candidates):
        raise MachineResolutionError(
            "%r matches only devices that are not onboarded to Defender for Endpoint (found by device discovery): "
            "%s; a name is resolved to onboarded machines only, pass the id to act on such a device"
            % (name, "; ".join("%s (onboardingStatus %s)" % (machine.get("id"), machine.get("onboardingStatus"))
                               for machine in unmanaged)),
            "NotOnboarded", [machine.get("id") for machine in unmanaged])
    onboarded = [machine for machine in candidates if is_onboarded(machine)]
    if len(onboarded) == 1 and not onboarded[0].get("mergedIntoMachineId"):
        if len(candidates) == 1:
            return candidates[0], None
        return onboarded[0], ("%r matches %d devices; chose %s, the others are not onboarded"
                              % (name, len(candidates), onboarded[0].get("id")))
    live = [machine for machine in onboarded
            if not machine.get("isPotentialDuplication") and not machine.get("mergedIntoMachineId")]
    ids = [machine.get("id") for machine in candidates]
    if len(live) == 1:
        return live[0], ("%r matches %d machines; chose %s, the others are flagged as duplicates or merged%s"
                         % (name, len(candidates), live[0].get("id"), " or are not onboarded" if unmanaged else ""))
    if not live:
        raise MachineResolutionError(
            "%r matches only machines flagged as duplicates or merged: %s; pass the id of the machine to act on"
            % (name, "; ".join(_describe(machine) for machine in candidates)), "Ambiguous", ids)
    ranked = sorted(live, key=lambda machine: _time(machine.get("lastSeen")), reverse=True)
    newest, runner_up = ranked[0], ranked[1]
    if _time(newest.get("lastSeen")) - _time(runner_up.get("lastSeen")) >= margin:
        return newest, ("%r matches %d machines; chose %s, last seen at least %d hours after the others"
                        % (name, len(candidates), newest.get("id"), margin.total_seconds() // 3600))
    raise MachineResolutionError(
        "%r is ambiguous: %d machines share this computer name and none is clearly the current one: %s; "
        "pass the machine id instead" % (name, len(live), "; ".join(_describe(machine) for machine in ranked)),
        "Ambiguous", [machine.get("id") for machine in ranked])


class Resolution:
    """What a reference resolved to: ``machine`` (dict) or ``error`` (MachineResolutionError), plus a note."""

    def __init__(self, ref, machine=None, error=None, note=None):
        self.ref, self.machine, self.error, self.note = ref, machine, error, note

    @property
    def ok(self):
        return self.machine is not None


def resolve(client, refs):
    """``{ref: Resolution}`` for machine ids and computer names (see the module docstring for the rules)."""
    refs = list(dict.fromkeys(refs))
    ids = [r for r in refs if is_machine_id(r)]
    names = [r for r in refs if not is_machine_id(r)]
    out = {}
    by_id = find_by_ids(client, ids) if ids else {}
    for r in ids:
        machine = by_id.get(r.lower())
        if machine is None:
            out[r] = Resolution(r, error=MachineResolutionError("machine %s was not found" % r, "NotFound"))
        else:
            out[r] = Resolution(r, machine=machine)
    by_name = find_by_names(client, names) if names else {}
    for r in names:
        try:
            machine, note = select_machine(r, by_name.get(r, []))
            out[r] = Resolution(r, machine=machine, note=note)
        except MachineResolutionError as exc:
            out[r] = Resolution(r, error=exc)
    return out


def start_results(client, refs, new_result):
    """Resolve ``refs`` (see :func:`resolve`) and start one result per machine, in the order given.

    Returns ``(results, by_id, machines)``: ``new_result(ref, machine)`` for each reference; a reference that did
    not resolve gets a failed result ("nothing was sent for it", with the candidate ids of an ambiguous name); a
    machine named twice (by name and by id) is kept once; the note on how a name was resolved becomes ``msg``.
    ``by_id`` maps each resolved machine id to its result, ``machines`` to the machine as read.
    """
    resolutions = resolve(client, refs)
    results, by_id, machines = [], {}, {}
    for ref in refs:
        r = resolutions[ref]
        res = new_result(ref, r.machine)
        if r.error is not None:
            res.update(failed=True, msg="%s; nothing was sent for it" % r.error.message)
            if r.error.candidates:
                res["candidates"] = r.error.candidates
        elif r.machine.get("id") in by_id:
            continue  # the same machine, named twice
        else:
            by_id[r.machine["id"]] = res
            machines[r.machine["id"]] = r.machine
            if r.note:
                res["msg"] = r.note
        results.append(res)
    return results, by_id, machines


def action_history(client, machine_ids, types):
    """``{machine id: [actions of these types]}`` for every id (batched, paged, unsorted)."""
    out = {i: [] for i in machine_ids}
    lower = {i.lower(): i for i in machine_ids}
    for chunk in chunks(machine_ids):
        flt = and_all(any_of("machineId", chunk), any_of("type", types))
        for a in client.pages(ACTIONS, params={"$filter": flt}, page_size=HISTORY_PAGE):
            key = lower.get(str(a.get("machineId") or "").lower())
            if key is not None and a.get("type") in types:
                out[key].append(normalize_action(a))
    return out


def get_actions(client, action_ids):
    """``{id: action}`` for several actions, read in batches of ``id eq`` filters.

    An action the service does not show (yet) is absent from the answer: a 404 for a single action is not an
    error here, because an action just created can take a moment to become visible.
    """
    out = {}
    for chunk in chunks(action_ids):
        if len(chunk) == 1:
            action = get_or_none(client, "%s/%s" % (ACTIONS, segment(chunk[0], "action id")))
            if action is not None:
                out[chunk[0]] = normalize_action(action)
            continue
        flt = any_of("id", chunk)
        for a in client.pages(ACTIONS, params={"$filter": flt}, page_size=HISTORY_PAGE):
            out[a.get("id")] = normalize_action(a)
    return out


def wait_for_actions(client, action_ids, timeout, sleep, clock=time.monotonic, sleeper=time.sleep, latest=None):
    """Poll until every action is final or ``timeout`` seconds pass; returns ``{id: last seen action}``.

    One action is read with ``GET /api/machineactions/{id}``; several are read together with an ``id eq``
    filter, so polling a fleet costs one request per 20 actions per round. An action not visible yet (404,
    or missing from the list) is polled again until the deadline. ``latest`` (a dict) is filled as the
    polls go, so a caller still has what was seen when a poll raises.
    """
    deadline = clock() + max(0, timeout)
    pending = list(dict.fromkeys(action_ids))
    latest = {} if latest is None else latest
    while pending:
        got = get_actions(client, pending)
        latest.update(got)
        pending = [i for i in pending if not is_final(latest.get(i))]
        if not pending:
            break
        progress.report(progress.waiting_for_actions(action_ids, latest, timeout - (deadline - clock()), timeout))
        left = deadline - clock()
        if left <= 0:
            break
        sleeper(min(max(sleep, 0.05), left))
    return latest
