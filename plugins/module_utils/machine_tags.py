# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Machine tags as declarative state: read each machine's ``machineTags``, send only what differs.

The API (https://learn.microsoft.com/en-us/defender-endpoint/api/add-or-remove-machine-tags and
.../api/add-or-remove-multiple-machine-tags):

- ``POST /api/machines/{id}/tags`` with ``{"Value": tag, "Action": "Add"|"Remove"}``: one tag on one machine,
  200 with the updated machine.
- ``POST /api/machines/AddOrRemoveTagForMultipleMachines`` with ``{"Value", "Action", "MachineIds"}``: one tag on
  at most 500 machines, 200 with the updated machines.
- Both need ``Machine.ReadWrite.All`` and count against 100 calls a minute and 1,500 an hour.

Plan: the machines are resolved (and their tags read) as filtered lists by :func:`machines.resolve`; each tag that
must change on exactly one machine goes through the per-machine endpoint, on more through the multi-machine one in
chunks of 500 (one call per tag and chunk instead of one per machine). A multi-machine call answered 404 (the docs
do not say whether one unknown id fails the whole call) is split in halves and sent again, down to single machines,
so one machine that left the retention window does not stop the others and costs about 2 log2(n) extra calls. A
call whose outcome is unknown (response lost) is never sent again: the machines are read again and what they show
decides.
"""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.module_utils import machines as M
from ansible_collections.defender.endpoint.plugins.module_utils import outcome
from ansible_collections.defender.endpoint.plugins.module_utils.client import segment
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.results import machine_result
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.module_utils.validation import check_no_control

BULK_PATH = "/api/machines/AddOrRemoveTagForMultipleMachines"
BULK_MAX = 500      # machines per multi-machine call (documented limit)
SINGLE_MAX = 1      # a change needed on this many machines or fewer uses the per-machine endpoint


def tag_path(machine_id):
    return "/api/machines/%s/tags" % segment(machine_id, "machine id")


def check_tags(tags):
    """The tags from the user, de-duplicated in order; DefenderConfigError before anything is sent."""
    if not isinstance(tags, list) or not tags:
        raise DefenderConfigError("tags must be a non-empty list of tag names")
    out = []
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or not tag.strip():
            raise DefenderConfigError("tags[%d] must be a non-empty string, got %r" % (i, tag))
        check_no_control(tag, "tags[%d]" % i, "tag")
        if tag != tag.strip():
            # The portal trims tags; a tag stored without the spaces would read back as a change on every run.
            raise DefenderConfigError("tags[%d] %r starts or ends with a space" % (i, tag[:60]))
        if tag not in out:
            out.append(tag)
    return out


def wanted_tags(current, tags, state):
    """``(after, added, removed)`` for one machine. Tags compare exactly (case-sensitive), as they are stored."""
    current = list(current or [])
    if state == "present":
        added = [t for t in tags if t not in current]
        return current + added, added, []
    removed = [t for t in tags if t in current]
    return [t for t in current if t not in removed], [], removed


def new_result(ref, machine=None):
    return machine_result(ref, machine, previous_tags=None, tags=None, added=[], removed=[])


class TagWork:
    """One task: plan every machine, send the calls (one per tag, or per tag and 500 machines), report."""

    def __init__(self, client, tags, state, check_mode, warn=None):
        self.client = client
        self.tags = tags
        self.state = state
        self.action = "Add" if state == "present" else "Remove"
        self.check_mode = check_mode
        self.current = {}   # machine id -> tags as they are now, as far as we know
        self.errors = {}    # machine id -> message of the call that failed for it
        self.unknown = {}   # machine id -> tags whose call's outcome is unknown
        self.lost = None    # the last DefenderOutcomeUnknownError of a tag call
        self.lagging = {}   # machine id -> tags the API accepted but its answer does not show yet
        self.warn = warn
        self.calls = 0

    def execute(self, refs):
        results, by_id, machines = M.start_results(self.client, refs, new_result)
        for i, res in by_id.items():
            before = list(machines[i].get("machineTags") or [])
            after, added, removed = wanted_tags(before, self.tags, self.state)
            res.update(previous_tags=before, tags=after, added=added, removed=removed, changed=bool(added or removed))
            self.current[i] = before
        if not self.check_mode:
            self.send(by_id)
            self.settle(by_id)
        for i, res in by_id.items():
            if not res["failed"]:
                res["msg"] = "; ".join(x for x in (res["msg"], self.describe(res), self.lag_note(i)) if x)
        if self.lagging and self.warn:
            self.warn("the API accepted the tag calls, but %d machine(s) do not show the change yet (%s); tags can "
                      "take a while to appear, so they are reported changed" % (
                          len(self.lagging), ", ".join(sorted(self.lagging)[:10])))
        return results

    def lag_note(self, machine_id):
        tags = self.lagging.get(machine_id)
        return ("accepted, not shown yet: %s (tags can take a while to appear)" % ", ".join(tags)) if tags else ""

    def describe(self, res):
        verb = "would " if self.check_mode else ""
        parts = []
        if res["added"]:
            parts.append("%sadd %s" % (verb, ", ".join(res["added"])) if verb else "added %s" % ", ".join(res["added"]))
        if res["removed"]:
            parts.append("%sremove %s" % (verb, ", ".join(res["removed"])) if verb
                         else "removed %s" % ", ".join(res["removed"]))
        return "; ".join(parts) if parts else "tags already %s" % self.state

    # --- sending ----------------------------------------------------------------------------------------------

    def send(self, by_id):
        for tag in self.tags:
            key = "added" if self.state == "present" else "removed"
            ids = [i for i, res in by_id.items() if tag in res[key]]
            if len(ids) <= SINGLE_MAX:
                for i in ids:
                    self.single(i, tag)
            else:
                for chunk in M.chunks(ids, BULK_MAX):
                    self.bulk(chunk, tag)

    def _applied(self, machine_id, tag, answer=None):
        """A call succeeded: the machine's tags as the answer shows them. An answer that does not show the change
        yet is not a failure (tags can take a while to appear): the change is reported and noted."""
        predicted = wanted_tags(self.current[machine_id], [tag], self.state)[0]
        if (isinstance(answer, dict) and str(answer.get("id") or "").lower() == machine_id.lower()
                and isinstance(answer.get("machineTags"), list)):
            shown = list(answer["machineTags"])
            if any(wanted_tags(shown, [tag], self.state)[1:]):
                self.lagging.setdefault(machine_id, []).append(tag)
                shown = wanted_tags(shown, [tag], self.state)[0]
            self.current[machine_id] = shown
        else:
            self.current[machine_id] = predicted

    def single(self, machine_id, tag):
        self.calls += 1
        try:
            answer = self.client.post(tag_path(machine_id), {"Value": tag, "Action": self.action})
        except DefenderOutcomeUnknownError as exc:
            self.lost = exc
            self.unknown.setdefault(machine_id, []).append(tag)
            return
        except DefenderError as exc:
            hint = " (the tag endpoints need Machine.ReadWrite.All)" if exc.status in (401, 403) else ""
            self.errors.setdefault(machine_id, "%s %r: %s%s" % (self.action, tag, exc, hint))
            return
        self._applied(machine_id, tag, answer)

    def bulk(self, ids, tag):
        self.calls += 1
        try:
            answer = self.client.post(BULK_PATH, {"Value": tag, "Action": self.action, "MachineIds": ids})
        except DefenderOutcomeUnknownError as exc:
            self.lost = exc
            for i in ids:
                self.unknown.setdefault(i, []).append(tag)
            return
        except DefenderError as exc:
            if exc.status == 404:
                # Undocumented whether one unknown id fails the whole call: split it in halves and try again, down
                # to single machines, so one missing machine costs a few calls, not one per machine of the chunk.
                half = len(ids) // 2
                for part in (ids[:half], ids[half:]):
                    if len(part) == 1:
                        self.single(part[0], tag)
                    elif part:
                        self.bulk(part, tag)
                return
            hint = " (the tag endpoints need Machine.ReadWrite.All)" if exc.status in (401, 403) else ""
            for i in ids:
                self.errors.setdefault(i, "%s %r: %s%s" % (self.action, tag, exc, hint))
            return
        returned = {}
        if isinstance(answer, dict) and isinstance(answer.get("value"), list):
            returned = dict((str(machine.get("id") or "").lower(), machine) for machine in answer["value"]
                            if isinstance(machine, dict))
        for i in ids:
            self._applied(i, tag, returned.get(i.lower()))

    def _read_tags(self, ids):
        machines = M.find_by_ids(self.client, ids)
        return dict((i, (machines.get(i.lower()) or {}).get("machineTags")) for i in ids)

    def settle(self, by_id):
        """Read back machines whose call's outcome is unknown (never re-send), then fill each result."""
        if self.unknown:
            found = outcome.read_back(self.lost, list(self.unknown), self._read_tags,
                                      lambda i, tags: not any(wanted_tags(tags, self.unknown[i], self.state)[1:]))
            for i, tags in self.unknown.items():
                if i in found.current:
                    self.current[i] = list(found.current[i])
                if i not in found.seen:
                    sent = "%s %s was sent but %s" % (self.action, ", ".join(repr(t) for t in tags), self.lost)
                    self.errors.setdefault(i, found.message("machine(s)", sent, only=[i]))
        for i, res in by_id.items():
            res["tags"] = list(self.current[i])
            if i in self.errors:
                before = res["previous_tags"]
                res.update(failed=True, msg=self.errors[i], changed=res["tags"] != before,
                           added=[t for t in res["tags"] if t not in before],
                           removed=[t for t in before if t not in res["tags"]])
