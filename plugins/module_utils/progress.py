# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress of long work, for the person watching ``ansible-playbook``.

A module cannot print while it runs: Ansible reads its one JSON result at the end. So a module reports
progress here, and the controller-side action plugin (``plugins/plugin_utils/progress.py``), which waits for the
module in a worker thread, reads the latest record and prints it in the normal output.

The channel is one small JSON file whose path the action plugin passes in the environment variable
``DEFENDER_PROGRESS_FILE``; each report replaces it atomically (write a temporary file, rename), so the reader
never sees half a record. Without the variable (the module run without the action plugin, by ``async:``,
in a test) every call is a cheap no-op. Reporting never fails the module: an unwritable file only switches
reporting off.

How a module reports (counts and what is being waited for; never a secret, a token or a URL with a signature)::

    from ansible_collections.defender.endpoint.plugins.module_utils import progress

    progress.report("%d alerts written" % count, done=count)                   # throttled: call it freely
    progress.report("waiting for 3 of 5 actions (Isolate: 3 Pending)", done=2, total=5)
    progress.report("all 5 actions final", force=True)                         # not throttled

The module also needs an action plugin of its name (``plugins/action/<module>.py``) that is the shared
progress action; see ``plugins/plugin_utils/progress.py``.
"""

from __future__ import annotations

import json
import os
import time

ENV_VAR = "DEFENDER_PROGRESS_FILE"
MAX_MESSAGE = 300   # characters; the controller truncates too
MIN_INTERVAL = 1.0  # seconds between two writes of a changing message


class Progress:
    """Writes the latest progress record to ``path`` (default: from ``DEFENDER_PROGRESS_FILE``)."""

    def __init__(self, path=None, min_interval=MIN_INTERVAL, clock=time.monotonic):
        self.path = path if path is not None else (os.environ.get(ENV_VAR) or None)
        self.min_interval = min_interval
        self.clock = clock
        self.seq = 0
        self._last_write = None

    @property
    def enabled(self):
        return self.path is not None

    def report(self, message, done=None, total=None, force=False):
        """Record ``message`` (with optional ``done``/``total`` counts); True when it was written.

        Writes at most once per ``min_interval`` seconds unless ``force``; the controller prints at its own pace,
        so a skipped intermediate record costs nothing.
        """
        if self.path is None:
            return False
        now = self.clock()
        if not force and self._last_write is not None and now - self._last_write < self.min_interval:
            return False
        self.seq += 1
        record = {"seq": self.seq, "time": time.time(), "message": _clean(message)}
        if done is not None:
            record["done"] = done
        if total is not None:
            record["total"] = total
        from ansible_collections.defender.endpoint.plugins.module_utils.files import write_atomically
        try:  # the controller reads it while it is rewritten: whole or not at all (not fsynced: a progress line)
            write_atomically(self.path, json.dumps(record, ensure_ascii=False), encoding="utf-8", durable=False,
                             replace_link=True)
        except (OSError, TypeError, ValueError):
            self.path = None  # the controller went away or the folder is not ours: stop trying
            return False
        self._last_write = now
        return True


def _clean(message):
    """One line of printable text, bounded."""
    text = " ".join(str(message).split())
    text = "".join(c for c in text if c.isprintable())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."


_REPORTER = None


def reporter():
    """The module's one reporter (created on first use from the environment)."""
    global _REPORTER  # pylint: disable=global-statement
    if _REPORTER is None:
        _REPORTER = Progress()
    return _REPORTER


def report(message, done=None, total=None, force=False):
    """Report progress through the module's reporter; a no-op when nobody is listening."""
    return reporter().report(message, done=done, total=total, force=force)


def plural(count, noun, nouns=None):
    """``1 alert``, ``2,000 alerts``: counts as people read them."""
    return "{:,} {}".format(count, noun if count == 1 else (nouns or noun + "s"))


def waiting_for_actions(action_ids, latest, elapsed=None, timeout=None):
    """``waiting for 2 of 3 actions: Isolate on pc1.contoso.com (0a1b...) Pending, ...``: what a wait is on.

    ``latest`` maps action id to the last seen action (a dict with ``type``, ``status``, ``computerDnsName``,
    ``machineId``); an id not seen yet is "not visible yet".
    """
    ids = list(dict.fromkeys(action_ids))
    final = ("Succeeded", "Failed", "TimeOut", "Cancelled")
    waiting = [i for i in ids if (latest.get(i) or {}).get("status") not in final]
    parts = []
    for action_id in waiting[:3]:
        action = latest.get(action_id) or {}
        where = [action.get("computerDnsName") or ""]
        if action.get("machineId"):
            where.append("(%s)" % str(action["machineId"])[:12])
        where = " on " + " ".join(w for w in where if w) if any(where) else ""
        parts.append("%s%s %s" % (action.get("type") or "action", where, action.get("status") or "not visible yet"))
    if len(waiting) > 3:
        parts.append("%d more" % (len(waiting) - 3))
    text = "waiting for %d of %s" % (len(waiting), plural(len(ids), "action"))
    if parts:
        text += ": " + ", ".join(parts)
    if elapsed is not None and timeout is not None:
        text += "; %ds of the %ds timeout" % (int(elapsed), int(timeout))
    return text
