# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Advanced hunting through Microsoft Graph's ``security/runHuntingQuery``
(https://learn.microsoft.com/en-us/graph/api/security-security-runhuntingquery).

The Defender for Endpoint hunting API (``/api/advancedqueries/run``) stops returning data on 1 February 2027; the
Graph action stays. It takes ``{"Query", "Timespan"}`` and answers ``{"schema": [...], "results": [...]}``. A KQL
error is a 400 whose message is the engine's own text, shown unchanged; a 429 is the call rate or the tenant's CPU
quota (blocked until the next 15-minute cycle).
"""

from __future__ import annotations

import re

from ansible_collections.defender.endpoint.plugins.module_utils import outcome
from ansible_collections.defender.endpoint.plugins.module_utils.validation import has_control
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)

PATH = "/v1.0/security/runHuntingQuery"
PERMISSION = "ThreatHunting.Read.All"
QUERY_TIMEOUT = 200  # seconds: Graph ends a query after 3 minutes; wait a little longer for its answer
MAX_QUERY = 100000  # characters; far above any real query, refuses a wrong file

_ISO_DURATION = re.compile(r"^P(?=\d|T\d)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$", re.I)
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$")
_SHORT = re.compile(r"^\s*(\d+)\s*(m|h|d)\s*$", re.I)


def check_query(text, name="query"):
    if not isinstance(text, str) or not text.strip():
        raise DefenderConfigError("%s is empty" % name)
    if len(text) > MAX_QUERY:
        raise DefenderConfigError("%s is %d characters long; the limit here is %d" % (name, len(text), MAX_QUERY))
    if has_control(text.replace("\t", " ").replace("\r", " ").replace("\n", " ")):  # KQL may span lines
        raise DefenderConfigError("%s contains a control character" % name)
    return text


def read_query_file(path):
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read(MAX_QUERY + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise DefenderConfigError("cannot read query_file %s: %s" % (path, getattr(exc, "strerror", None) or exc)) \
            from None
    return check_query(text, "query_file %s" % path)


def check_timespan(value):
    """An ISO 8601 timespan as Graph takes it (``P7D``, ``start/end``, ``duration/end``, ``start/duration``, a start
    time); ``7d``, ``24h`` and ``30m`` are accepted as shorthand for ``P7D``, ``PT24H``, ``PT30M``."""
    if value is None:
        return None
    text = str(value).strip()
    short = _SHORT.match(text)
    if short:
        n, unit = short.group(1), short.group(2).upper()
        return "P%sD" % n if unit == "D" else "PT%s%s" % (n, unit)
    parts = text.split("/")
    kinds = ["duration" if _ISO_DURATION.match(part) else "time" if _ISO_TIME.match(part) else None for part in parts]
    if None in kinds or len(parts) > 2 or kinds == ["duration", "duration"]:
        raise DefenderConfigError("timespan must be an ISO 8601 duration or interval such as P7D, PT12H, "
                                  "2026-11-01T00:00:00Z/2026-11-08T00:00:00Z or P7D/2026-11-08T00:00:00Z "
                                  "(or 7d, 24h, 30m), got %r" % text[:80])
    return text


def _schema(body):
    out = []
    for col in body.get("schema") or body.get("Schema") or []:
        if isinstance(col, dict):
            # The documentation shows both name/type and Name/Type.
            out.append({"name": col.get("name", col.get("Name")), "type": col.get("type", col.get("Type"))})
    return out


def run_query(graph_client, query, timespan=None):
    """POST the query; returns (schema, results). Errors carry the service's own message."""
    body = {"Query": query}
    if timespan:
        body["Timespan"] = timespan
    try:
        answer = graph_client.post(PATH, body)
    except DefenderOutcomeUnknownError as exc:
        # A query changes nothing, but re-running it spends the tenant's CPU quota: leave that to the user.
        raise outcome.not_resent(exc, "the hunting query", "Run the task again, or narrow the query or the "
                                 "timespan if it runs long") from None
    except DefenderError as exc:
        raise explain(exc) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("results", answer.get("Results")), list):
        raise DefenderError("Microsoft Graph answered the hunting query without a results list", method="POST",
                            path=PATH)
    return _schema(answer), answer.get("results", answer.get("Results"))


def explain(exc):
    """The service's message, with what to do about it."""
    if exc.status == 400:
        text = "the hunting query failed: %s" % exc.message
    elif exc.status == 403:
        text = ("%s. Advanced hunting needs the Microsoft Graph application permission %s (API permissions > "
                "Microsoft Graph > Application permissions, then grant admin consent); WindowsDefenderATP's "
                "AdvancedQuery.Read.All does not cover it" % (exc.message.rstrip("."), PERMISSION))
    elif exc.status == 429:
        text = ("hunting quota reached: %s. Wait for the next 15-minute cycle, or narrow the query or timespan"
                % exc.message.rstrip("."))
    else:
        return exc
    return exc.reworded(text)
