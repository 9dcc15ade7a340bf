# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One entry per machine action kind: everything that differs between actions, in one place.

An entry holds the action's API type (as the history shows it), the path segment of
``POST /api/machines/{id}/<path>``, the application permission, its own task options with their checks (run
before any request) and the body keys they become, what counts as "the same action" and as "already done" for
a rerun, the toggle pairing of a declarative action (its state names), whether the endpoint answers a plain 400
while one runs, and the follow-up the module runs after the engine (the package download).

Adding an action is one entry here (and in :data:`ONE_SHOT` or a toggle pair) plus its documentation; the
engine, the checks and the history reads need no change. Endpoints, bodies and permissions: the shared API
reference (Defender API, machine actions and response actions; see docs/incident-response.md for sources).
"""

from __future__ import annotations

import os
import re

from ansible_collections.defender.endpoint.plugins.module_utils import live_response, machines
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import package
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.history import Toggle


def _always(_params):
    return None


class ActionKind:
    """One kind of machine action. Hooks take the task's validated options (``params``)."""

    def __init__(self, name, api_type, path, permission, options=(), check=None, body=None, same=None,
                 satisfies=None, busy_400=False, state=None, pending_state=None, done_forever=False,
                 still_holds=None, no_longer_holds=None, follow_up=None, waits=None, default_within=None,
                 one_per_machine=False):
        self.name = name                    # the option value (machine_action's ``action``) or the toggle's state
        self.api_type = api_type            # MachineAction ``type``
        self.path = path                    # POST /api/machines/{id}/<path>
        self.permission = permission        # the application permission the POST needs
        self.options = tuple(options)       # task options only this action uses
        self._check = check                 # check(params): DefenderConfigError before any request
        self._body = body                   # body(params) -> extra body keys (besides Comment)
        self._same = same or _always        # same(params) -> predicate "the same action" (None: any of the type)
        self._satisfies = satisfies or _always  # satisfies(params) -> predicate "a success that counts"
        self.busy_400 = busy_400            # a plain 400 can mean "one is running": read back before failing
        self.state, self.pending_state = state, pending_state   # toggles only
        self.done_forever = done_forever    # a success counts however long ago (without skip_if_done_within)
        self.default_within = default_within  # skip_if_done_within when the task does not set it
        self._still_holds = still_holds     # still_holds(action, machine): a success that still holds
        self._no_longer_holds = no_longer_holds  # no_longer_holds(action, machine): why it is sent again
        self.follow_up = follow_up          # follow_up(module, client, results): after the engine, e.g. download
        self._waits = waits                 # waits(params): the task must wait for the actions (e.g. dest)
        self.one_per_machine = one_per_machine  # the service runs one of this type per machine, whatever its
        # parameters: another active one is waited for (then the plan is made again), never raced with a POST

    def __repr__(self):
        return "<ActionKind %s>" % self.name

    def check(self, params):
        if self._check:
            self._check(params)

    def body(self, params):
        out = {"Comment": params["comment"]}
        if self._body:
            out.update(self._body(params))
        return out

    def same(self, params):
        return self._same(params)

    def satisfies(self, params):
        return self._satisfies(params)

    def still_holds(self, action, machine):
        return self._still_holds(action, machine) if self._still_holds and machine is not None else True

    def resend_reason(self, action, machine):
        """Why a success that counted (``action``) no longer does, for the result's message."""
        return self._no_longer_holds(action, machine) if self._no_longer_holds else ""

    def waits(self, params):
        return bool(self._waits and self._waits(params))

    @property
    def done_reason(self):
        return "already" if self.done_forever else "within skip_if_done_within"


# --- isolation and app restriction: toggle pairs -----------------------------------------------------------------

ISOLATION_TYPES = {"full": "Full", "selective": "Selective", "unmanaged_device": "UnManagedDevice"}

ISOLATE = ActionKind(
    "isolated", "Isolate", "isolate", "Machine.Isolate", options=("isolation_type",),
    body=lambda p: {"IsolationType": ISOLATION_TYPES[p.get("isolation_type") or "full"]},
    state="isolated", pending_state="isolation_pending")
RELEASE = ActionKind("released", "Unisolate", "unisolate", "Machine.Isolate",
                     state="released", pending_state="release_pending")
RESTRICT = ActionKind("restricted", "RestrictCodeExecution", "restrictCodeExecution", "Machine.RestrictExecution",
                      state="restricted", pending_state="restriction_pending")
UNRESTRICT = ActionKind("unrestricted", "UnrestrictCodeExecution", "unrestrictCodeExecution",
                        "Machine.RestrictExecution", state="unrestricted", pending_state="unrestriction_pending")

ISOLATION = Toggle(ISOLATE, RELEASE)
RESTRICTION = Toggle(RESTRICT, UNRESTRICT)
# toggle -> {state: entry}: the entry sent to reach each state
TOGGLE_ENTRIES = {ISOLATION: {ISOLATE.state: ISOLATE, RELEASE.state: RELEASE},
                  RESTRICTION: {RESTRICT.state: RESTRICT, UNRESTRICT.state: UNRESTRICT}}


# --- one-shot actions (machine_action's ``action``) --------------------------------------------------------------

SCAN_TYPES = {"quick": "Quick", "full": "Full"}
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")


def _check_scan(p):
    if p.get("scan_type") is not None and p["scan_type"] not in SCAN_TYPES:
        raise DefenderConfigError("scan_type must be quick or full")


def _scan_type(p):
    return SCAN_TYPES[p.get("scan_type") or "quick"]


def _scan_satisfies(p):
    scan = _scan_type(p)
    return lambda action: action.get("scope") in (scan, "Full")  # a full scan that succeeded also covers a quick one


def _check_sha1(p):
    sha1 = p.get("sha1")
    if not isinstance(sha1, str) or not _SHA1.match(sha1.strip()):
        raise DefenderConfigError("sha1 must be the SHA-1 of the file (40 hexadecimal characters), got %r"
                                  % (sha1[:60] if isinstance(sha1, str) else sha1))


def _same_file(p):
    sha1 = p["sha1"].strip().lower()
    # only the same file counts: quarantining another file is another action
    return lambda action: str((action.get("relatedFileInfo") or {}).get("fileIdentifier") or "").lower() == sha1


def _check_dest(p):
    if p.get("dest") is None:
        return
    dest = os.path.abspath(p["dest"])
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise DefenderConfigError("dest %s exists and is not a directory" % dest)
    # Missing folders are created (0700) once a package is there to write: the nearest existing one must allow it.
    parent = dest
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise DefenderConfigError("dest %s cannot be written (%s is not a writable directory)" % (dest, parent))


def _download_packages(module, client, results):
    p = module.params
    if p.get("dest"):
        s = module.settings
        downloader = package.PackageDownloader(client, s.validate_certs, s.ca_path, s.timeout)
        package.collect_packages(results, p["dest"], downloader, module.check_mode, p["wait_timeout"],
                                 p["wait_sleep"])


def _check_offboard(p):
    if p.get("confirm_offboard") is not True:
        raise DefenderConfigError("offboard disconnects the machines from Defender for Endpoint and cannot be undone "
                                  "from the API; set confirm_offboard: true to offboard")


def _not_seen_since(action, machine):
    """An offboard only stops the sensor: a machine seen (``lastSeen``, a full report) after the offboard completed
    is back under the same id and may be offboarded again."""
    return machines.parse_seen(machine) <= machines.updated_at(action)


def _seen_again(action, machine):
    name = machine.get("computerDnsName") or machine.get("id")
    return "%s was seen at %s, after %s: it is back" % (name, machine.get("lastSeen"), machines.action_summary(action))


AV_SCAN = ActionKind(
    "av_scan", "RunAntiVirusScan", "runAntiVirusScan", "Machine.Scan", options=("scan_type",), check=_check_scan,
    body=lambda p: {"ScanType": _scan_type(p)}, satisfies=_scan_satisfies, default_within="24h")
COLLECT = ActionKind(
    "collect_investigation_package", "CollectInvestigationPackage", "collectInvestigationPackage",
    "Machine.CollectForensics", options=("dest",), check=_check_dest, busy_400=True,
    follow_up=_download_packages, waits=lambda p: bool(p.get("dest")), default_within="24h")
QUARANTINE = ActionKind(
    "stop_and_quarantine_file", "StopAndQuarantineFile", "StopAndQuarantineFile", "Machine.StopAndQuarantine",
    options=("sha1",), check=_check_sha1, body=lambda p: {"Sha1": p["sha1"].strip().lower()}, same=_same_file)
OFFBOARD = ActionKind(
    "offboard", "Offboard", "offboard", "Machine.Offboard", options=("confirm_offboard",), check=_check_offboard,
    done_forever=True, still_holds=_not_seen_since, no_longer_holds=_seen_again)

ONE_SHOT = dict((k.name, k) for k in (AV_SCAN, COLLECT, QUARANTINE, OFFBOARD))


# --- live response (the live_response module) ---------------------------------------------------------------------


def _check_live_response(p):
    live_response.check_commands(p.get("commands"))
    live_response.check_dest(p.get("dest"))


def _same_commands(p):
    wanted = live_response.check_commands(p["commands"])
    # the same session: the same commands in the same order (a rerun of the task), as the history shows them
    return lambda action: live_response.same_commands(action, wanted)


LIVE_RESPONSE = ActionKind(
    "live_response", "LiveResponse", "runliveresponse", "Machine.LiveResponse", options=("commands", "dest"),
    check=_check_live_response, body=lambda p: {"Commands": live_response.check_commands(p["commands"])},
    same=_same_commands, one_per_machine=True, default_within="24h", waits=lambda p: True,
    follow_up=live_response.fetch_results)
