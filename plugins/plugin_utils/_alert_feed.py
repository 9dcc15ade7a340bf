# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The alert feed behind the ``defender.endpoint.alerts`` event source: poll by ``lastUpdateTime``, emit each
change of an alert once, and keep the position in a state file so a restart neither loses nor repeats changes.

Position: a watermark ``W`` (the newest ``lastUpdateTime`` emitted; ``since`` at the first start) and ``recent``, the
``lastUpdateTime`` of every alert emitted at or after ``W - overlap``. Each poll asks for ``lastUpdateTime ge
W - overlap``, but never before ``since`` (kept in the state as ``floor``: the overlap is for changes near those
already seen, it does not widen the look-back the user asked for):

- the overlap catches an alert that becomes visible later than an alert updated after it (the service indexes
  with some delay), and alerts whose ``lastUpdateTime`` equals ``W`` (several alerts can share a timestamp,
  and one of them may be emitted just before a restart while the others are not);
- an alert is emitted when ``recent`` does not hold it at that ``lastUpdateTime`` (a change already emitted is
  recognised, a newer change of the same alert is emitted);
- alerts are emitted oldest change first, and the position moves after each one is handed over, so a restart
  resumes right after the last emitted change.

``change`` is ``created`` when the alert is new to the feed (not in ``recent``) and was created inside the
window asked for; an alert created before the window is an ``updated`` one, even if the feed never saw it before
(its creation happened before the feed's start or its ``since``).

What is not covered: an alert that becomes visible more than ``overlap`` after its ``lastUpdateTime`` is older
than the window and is missed. A crash between handing an event over and writing the state (SIGKILL, power loss)
emits that one change again; a clean stop (SIGTERM, cancellation) writes the state first.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os

from ansible_collections.defender.endpoint.plugins.module_utils import alerts
from ansible_collections.defender.endpoint.plugins.module_utils import graph_alerts
from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.files import write_atomically

STATE_VERSION = 1
CREATED = "created"
UPDATED = "updated"


def _when(text):
    """A ``lastUpdateTime``/``alertCreationTime`` text as an aware datetime (None when absent or unreadable)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return odata.parse_time(text)
    except DefenderError:
        return None


def _text(when):
    return odata.datetime_literal(when)


def write_json_atomically(path, data, durable=False):
    """Replace ``path`` with ``data`` as JSON, mode 0600: a reader sees the old file or the new one, never half."""
    write_atomically(path, json.dumps(data, sort_keys=True), encoding="utf-8", durable=durable, name="state_file")


class GraphAlertsSource:
    """The feed's reads with Microsoft Graph (``api: graph``): ``/security/alerts_v2`` by ``lastUpdateDateTime``,
    paged by time boundary (a deep ``$skip`` stalls on large windows)."""

    kind = "alerts_v2"
    updated_field, created_field = "lastUpdateDateTime", "createdDateTime"

    @staticmethod
    def build_filter(criteria):
        return graph_alerts.build_filter(criteria)[0]

    @staticmethod
    def check_page_size(page_size):
        return graph_alerts.check_page_size(page_size)

    @staticmethod
    def read(client, criteria, start, page_size):
        return graph_alerts.GraphAlertPages(client, graph_alerts.build_filter(criteria)[0], page_size=page_size,
                                            by_time=True, since=odata.datetime_literal(start))


class AlertFeed:
    """One feed. ``poll()`` reads (blocking; run it in a thread), ``mark(alert)`` records a handed-over event."""

    def __init__(self, client, criteria, since, overlap=300, state_file=None, page_size=odata.MAX_PAGE_SIZE,
                 scope="", warn=None, now=None, api="defender", source=None):
        self.client = client
        # Another collection read the same way (the incidents source): its build_filter, check_page_size, read and
        # updated_field / created_field; None for the Defender API's alerts.
        self.source = source
        self.api = api
        self.updated_field, self.created_field = ((source.updated_field, source.created_field) if source
                                                  else ("lastUpdateTime", "alertCreationTime"))
        build_filter = source.build_filter if source else alerts.build_filter
        self.criteria = dict(criteria)  # severity, status, filter: the build_filter options
        self.overlap = datetime.timedelta(seconds=overlap)
        self.state_file = state_file
        # None: the largest page of the API
        self.page_size = source.check_page_size(page_size) if source else \
            odata.check_page_size(odata.MAX_PAGE_SIZE if page_size is None else page_size)
        self.warn = warn or (lambda msg: None)
        # The state belongs to one tenant, API and query: another one starts from `since` again.
        key = [scope, build_filter(self.criteria)] + ([source.kind] if source else [])
        self.scope = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]
        self.watermark = odata.parse_time(since, "since", now=now)
        # The overlap re-reads changes near the last one emitted; it never reaches before the user's since.
        self.floor = self.watermark
        self.recent = {}  # alert id -> lastUpdateTime text of the change emitted
        self.dirty = False
        self._load()

    # --- state ---------------------------------------------------------------------------------------------

    def _load(self):
        if not self.state_file or not os.path.exists(self.state_file):
            return
        try:
            with open(self.state_file, encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError) as exc:
            raise DefenderConfigError("state_file %s cannot be read (%s); move it away to start again from since"
                                      % (self.state_file, type(exc).__name__)) from None
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise DefenderConfigError("state_file %s is not a state file of this source" % self.state_file)
        if state.get("scope") != self.scope:
            self.warn("state_file %s was written for another tenant, API or filter; starting from since"
                      % self.state_file)
            return
        watermark = _when(state.get("watermark"))
        recent = state.get("recent")
        if watermark is None or not isinstance(recent, dict):
            raise DefenderConfigError("state_file %s is damaged (no watermark); move it away to start again from "
                                      "since" % self.state_file)
        self.watermark = watermark
        self.floor = _when(state.get("floor")) or watermark - self.overlap  # states written before floor was kept
        self.recent = {str(k): v for k, v in recent.items() if _when(v) is not None}

    def save(self, durable=False):
        if not self.state_file or not self.dirty:
            return
        write_json_atomically(self.state_file, {"version": STATE_VERSION, "scope": self.scope,
                                                "watermark": _text(self.watermark), "floor": _text(self.floor),
                                                "recent": self.recent},
                              durable=durable)
        self.dirty = False

    # --- polling -------------------------------------------------------------------------------------------

    def window_start(self):
        return max(self.watermark - self.overlap, self.floor)

    def poll(self):
        """``[(alert, change)]`` not emitted yet, oldest change first."""
        start = self.window_start()
        if self.source is not None:
            items = self.source.read(self.client, self.criteria, start, self.page_size)
        else:
            flt = alerts.build_filter(dict(self.criteria, updated_after=start))
            items = self.client.pages(alerts.ALERTS_PATH, params={"$filter": flt}, page_size=self.page_size)
        fresh = []
        for alert in items:
            if not isinstance(alert, dict) or not alert.get("id"):
                continue
            updated = self.updated(alert)
            if updated is None:
                self.warn("%s has no %s; skipped" % (str(alert.get("id"))[:60], self.updated_field))
                continue
            seen = _when(self.recent.get(str(alert["id"])))
            if seen is not None and updated <= seen:
                continue
            if seen is None and updated < start:
                continue  # older than the window (the service compared with more precision): emitted before
            created = _when(alert.get(self.created_field))
            change = CREATED if seen is None and created is not None and created >= start else UPDATED
            fresh.append((updated, str(alert["id"]), alert, change))
        fresh.sort(key=lambda item: (item[0], item[1]))
        return [(alert, change) for _u, _i, alert, change in fresh]

    def updated(self, alert):
        """When this change happened (its last update, else its creation)."""
        return _when(alert.get(self.updated_field)) or _when(alert.get(self.created_field))

    def mark(self, alert):
        """Record that this change of ``alert`` was handed over: the position moves past it."""
        updated = self.updated(alert)
        self.recent[str(alert["id"])] = _text(updated)
        if updated > self.watermark:
            self.watermark = updated
            start = self.window_start()
            self.recent = {k: v for k, v in self.recent.items() if _when(v) >= start}
        self.dirty = True
