# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors raised by the shared client. Messages never carry headers, form bodies or tokens."""

from __future__ import annotations


class DefenderError(Exception):
    """An API, sign-in or transport failure, with what the service said about it.

    ``status`` is the HTTP status (None when no response arrived), ``code`` the API error code
    (``Forbidden``, ``ActiveRequestAlreadyExists``, an ``AADSTS`` code...), ``target`` the request id
    Microsoft support asks for.
    """

    def __init__(self, message, status=None, code=None, target=None, method=None, path=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.target = target
        self.method = method
        self.path = path

    def __str__(self):
        parts = [self.message]
        where = " ".join(part for part in (self.method, self.path) if part)
        detail = []
        if self.status:
            detail.append("HTTP %s" % self.status)
        if self.code:
            detail.append(str(self.code))
        if where:
            detail.append(where)
        if self.target:
            detail.append("request id %s" % self.target)
        if detail:
            parts.append("(%s)" % ", ".join(detail))
        return " ".join(parts)

    def reworded(self, message, kind=None):
        """A :class:`DefenderError` (or ``kind``) with another ``message`` (say what failed and what to do, quoting
        ``self.message``) that keeps this error's status, code, request id, method and path: the one way to re-word
        an error, so that no re-wording drops the request id Microsoft support asks for."""
        return (kind or DefenderError)(message, status=self.status, code=self.code, target=self.target,
                                       method=self.method, path=self.path)

    def to_result(self):
        """The fields a module returns next to ``msg`` when it fails."""
        return {
            "status": self.status,
            "error_code": self.code,
            "request_id": self.target,
        }


class DefenderConfigError(DefenderError):
    """Bad or conflicting input, found before any request is sent."""


class DefenderAuthError(DefenderError):
    """Sign-in failed: no token could be acquired."""


class DefenderOutcomeUnknownError(DefenderError):
    """A state-changing request was sent but its response was lost.

    The service may or may not have acted. Callers must re-read state before doing anything else;
    the request is never re-sent by the client.
    """
