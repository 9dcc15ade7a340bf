# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Outcome unknown: read back, never re-send.

When a write's response is lost (the client raises :class:`DefenderOutcomeUnknownError`: no answer, an unreadable
one, or a 5xx, which a gateway can send after the service applied the write), the service may or may not have
acted. Sending again could apply it twice (two isolations, two imports), so every writer of the collection does
the same thing, here: read the items again, keep those that visibly show the change, and for the others say
that nothing was re-sent and that the next run (which reads first) is safe.

    found = outcome.read_back(lost, ids, read=lambda ids: {...}, shows=lambda key, current: ...)
    found.seen        # {key: current} for the keys that show the change
    found.missing     # keys that do not (yet), or all keys when the read failed (found.read_error)
    raise found.error("alert(s)")     # one wording for every writer, the lost request's status and id kept

A write that has nothing to read back (a hunting query changes nothing, but costs quota) uses :func:`not_resent`.
"""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError

MAX_LISTED = 10


class ReadBack:
    """What reading again after a lost response found."""

    def __init__(self, lost, keys, seen, current=None, read_error=None):
        self.lost = lost
        self.keys = list(keys)
        self.seen = seen                    # {key: current} for the keys that show the change
        self.current = current or {}        # {key: current} for every key the read returned
        self.missing = [k for k in self.keys if k not in seen]
        self.read_error = read_error

    @property
    def complete(self):
        """Every item shows the change: report it as done (changed) and go on."""
        return not self.missing

    def message(self, what, lost=None, only=None):
        """Why the outcome stays unknown, for ``what`` (a plural noun such as ``alert(s)``); empty when complete.
        ``lost``: how to name the lost request (default: the error with its status, path and request id);
        ``only``: the keys to speak of (for example one machine's result), default all."""
        keys = self.keys if only is None else [k for k in self.keys if k in only]
        missing = [k for k in self.missing if k in keys]
        if not missing:
            return ""
        lost = str(self.lost) if lost is None else lost
        if self.read_error is not None:
            return ("outcome unknown: %s; the %s could not be read again (%s). The request was not re-sent: check "
                    "%s, then re-run the task (it reads first)"
                    % (lost, what, self.read_error, ", ".join(str(k) for k in keys[:MAX_LISTED])))
        return ("outcome unknown: %s; read again, %d of %d %s do not show the change yet (%s). The request was not "
                "re-sent, because the service may still apply it: re-run the task later (it reads first)"
                % (lost, len(missing), len(keys), what, ", ".join(str(k) for k in missing[:MAX_LISTED])))

    def error(self, what):
        """:meth:`message` as a DefenderError that keeps the lost request's status, code, request id and path."""
        return _like(self.lost, self.message(what, self.lost.message))


def read_back(lost, keys, read, shows):
    """Read ``keys`` again after ``lost`` (the DefenderOutcomeUnknownError of the write); never re-sends.

    ``read(keys)`` returns ``{key: current}`` (a key it cannot find may be absent or None); ``shows(key, current)``
    is true when ``current`` shows the write's change. A failed read leaves every key missing.
    """
    keys = list(keys)
    try:
        current = read(keys)
    except DefenderError as exc:
        return ReadBack(lost, keys, {}, read_error=exc)
    current = dict((k, current.get(k)) for k in keys if current.get(k) is not None)
    seen = dict((k, v) for k, v in current.items() if shows(k, v))
    return ReadBack(lost, keys, seen, current)


def not_resent(lost, what, advice):
    """For a lost request that has nothing to read back (``what``: the request): not sent again, and what to do."""
    return _like(lost, "no answer to %s (%s); it was not sent again. %s" % (what, lost.message, advice))


def _like(lost, message):
    return lost.reworded(message)
