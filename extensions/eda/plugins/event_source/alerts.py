# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Event-Driven Ansible source: Microsoft Defender for Endpoint alerts as they are created or updated."""

from __future__ import annotations

DOCUMENTATION = r"""
short_description: Microsoft Defender for Endpoint alerts, each created or updated alert once, as events
description:
  - Polls the alerts every O(interval) seconds for alerts updated past the last one emitted (C(lastUpdateTime) on the
    Defender API, C(lastUpdateDateTime) on Microsoft Graph), and puts one event per change on the queue, oldest first.
  - 'Each event is C({"alert": <the alert as the API returns it>, "change": "created" | "updated", "api": "defender" |
    "graph"}).'
  - The position is kept in O(state_file), written atomically after each event, so a restart resumes after the
    last emitted change, neither losing nor repeating changes. Without O(state_file) every start begins at O(since).
  - Takes the same credentials and environment variables as the collection's modules (E(AZURE_TENANT_ID),
    E(AZURE_CLIENT_ID), E(AZURE_CLIENT_SECRET), E(DEFENDER_API_URL), ...); tokens are renewed before they expire.
  - Throttling (HTTP 429) is waited out as the API's C(Retry-After) says; other passing failures (5xx, network)
    are logged and retried at the next interval with a growing delay. Errors that cannot pass (bad credentials, a
    missing permission, a filter the API refuses) stop the source with a clear message.
  - Needs C(Alert.Read.All) (Defender API) or the Microsoft Graph permission C(SecurityAlert.Read.All) (O(api=graph)).
    The decision environment needs the collection's Python requirements and ansible-core.
options:
  api:
    description:
      - Which API the alerts come from. V(defender) reads C(/api/alerts) of the Defender for Endpoint API, which
        Microsoft retires on 2027-02-01 (MC1220762); V(graph) reads Microsoft Graph's C(/security/alerts_v2) (paged by
        time boundary), where alerts have Graph's field names (see docs/migrating-to-graph.md).
      - When neither this nor E(DEFENDER_ALERTS_API) is set, V(defender) is used and the source logs one warning
        naming the date and this option.
      - The state of one API is not reused by the other (the source starts again from O(since)).
    type: str
    choices: [defender, graph]
  interval:
    description: Seconds between polls.
    type: int
    default: 60
  severity:
    description:
      - Only alerts with one of these severities.
      - One or more of V(UnSpecified), V(Informational), V(Low), V(Medium), V(High), matched case-insensitively
        and sent in the API's spelling (with O(api=graph) Graph's, V(unknown) for V(UnSpecified)).
    type: list
    elements: str
  status:
    description:
      - Only alerts with one of these statuses.
      - One or more of V(Unknown), V(New), V(InProgress), V(Resolved), matched case-insensitively and sent in the
        API's spelling (with O(api=graph) Graph's, such as V(inProgress)).
    type: list
    elements: str
  filter:
    description:
      - A raw OData C($filter) expression, sent as written but always as one parenthesised clause joined to the
        other filters with C(and), so an C(or) inside it stays inside.
      - Quote string values yourself (C(title eq 'x'), a quote inside doubled, C('O''Brien')). Quotes and
        parentheses must balance and control characters (a newline, a tab) are refused, so the expression cannot
        close the parenthesis around it and widen the query; write it on one line (or fold it with YAML's C(>-)).
      - Only the fields and operators Microsoft documents for alerts are accepted by the service (see the
        List alerts API page); others are answered with HTTP 400. With O(api=graph) they are Graph's (C(assignedTo),
        C(classification), C(determination), C(createdDateTime), C(lastUpdateDateTime), C(severity),
        C(serviceSource), C(status)).
    type: str
  since:
    description:
      - How far back the first poll looks (no state yet), as an age such as V(1h) or V(2d), or an ISO 8601 time.
      - Nothing updated before it is emitted, also not through O(overlap) (which applies to changes already
        seen, never to the look-back asked for).
    type: str
    default: 1h
  state_file:
    description:
      - Where the position (a timestamp and the alerts emitted around it) persists across restarts, mode 0600.
      - The state of another tenant, API or filter is not reused.
    type: path
  overlap:
    description:
      - Seconds before the last emitted C(lastUpdateTime) that every poll reads again, so that an alert the API
        shows late, or one sharing that timestamp, is not missed. Changes already emitted are recognised.
    type: int
    default: 300
  page_size:
    description:
      - Alerts per request (C($top)), at most 10,000 (the Defender API's cap), or 1,000 with O(api=graph).
      - The default is the largest page of the API used.
      - Smaller pages mean more requests against the API's per-minute limit.
    type: int
  tenant_id:
    description: As in the modules; E(AZURE_TENANT_ID) when not set.
    type: str
  client_id:
    description: As in the modules; E(AZURE_CLIENT_ID) when not set.
    type: str
  client_secret:
    description: As in the modules; E(AZURE_CLIENT_SECRET) when not set.
    type: str
  client_certificate_path:
    description: As in the modules; E(AZURE_CLIENT_CERTIFICATE_PATH) when not set.
    type: path
  client_certificate_password:
    description: As in the modules; E(AZURE_CLIENT_CERTIFICATE_PASSWORD) when not set.
    type: str
  client_assertion_file:
    description: As in the modules; E(AZURE_FEDERATED_TOKEN_FILE) when not set.
    type: path
  access_token:
    description: As in the modules (no renewal without credentials); E(DEFENDER_ACCESS_TOKEN) when not set.
    type: str
  cloud:
    description: As in the modules; E(DEFENDER_CLOUD) when not set.
    type: str
  region:
    description: As in the modules; E(DEFENDER_REGION) when not set.
    type: str
  api_url:
    description: As in the modules; E(DEFENDER_API_URL) when not set.
    type: str
  login_url:
    description: As in the modules; E(AZURE_AUTHORITY_HOST) when not set.
    type: str
  resource:
    description: As in the modules; E(DEFENDER_RESOURCE) when not set.
    type: str
  validate_certs:
    description: As in the modules.
    type: bool
    default: true
  ca_path:
    description: As in the modules; E(DEFENDER_CA_PATH) when not set.
    type: path
  timeout:
    description: As in the modules.
    type: int
    default: 30
  token_cache:
    description: As in the modules; E(DEFENDER_TOKEN_CACHE) when not set.
    type: bool
"""

EXAMPLES = r"""
- name: Respond to new high-severity Defender alerts
  hosts: localhost
  sources:
    - name: defender
      defender.endpoint.alerts:
        interval: 60
        severity: [High]
        state_file: /var/lib/eda/defender-alerts.state.json
  rules:
    - name: New high-severity alert
      condition: event.change == "created"
      action:
        run_playbook:
          name: defender.endpoint.respond
          extra_vars:
            incident_response_alert_ids:
              - "{{ event.alert.id }}"
"""

import asyncio
import logging
import os
import sys

NAME = "defender.endpoint.alerts"
LOG = logging.getLogger(NAME)
OWN = ("api", "interval", "severity", "status", "filter", "since", "state_file", "overlap", "page_size")


def _import_collection():
    """The collection's own client. ansible-rulebook runs this file by path (runpy), not as part of a package,
    so when ``ansible_collections`` is not importable the tree this file sits in is put on the path."""
    try:
        from ansible_collections.defender.endpoint.plugins.plugin_utils import _alert_feed  # noqa: F401
    except ImportError:
        # <root>/ansible_collections/defender/endpoint/extensions/eda/plugins/event_source/alerts.py
        parts = os.path.abspath(__file__).split(os.sep)
        if len(parts) < 9 or parts[-8] != "ansible_collections":
            raise
        sys.path.insert(0, os.sep.join(parts[:-8]) or os.sep)
    from ansible_collections.defender.endpoint.plugins.module_utils import settings as connection_settings
    from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError
    from ansible_collections.defender.endpoint.plugins.plugin_utils import _alert_feed, _event_source
    return connection_settings, DefenderError, _alert_feed, _event_source


def _api(args, warn):
    """The ``api`` argument, else E(DEFENDER_ALERTS_API), else the Defender API with one warning."""
    from ansible_collections.defender.endpoint.plugins.module_utils import graph_alerts
    value = args.get("api") or os.environ.get("DEFENDER_ALERTS_API") or None
    if value is not None and value not in graph_alerts.APIS:
        raise ValueError("defender.endpoint.alerts: api must be one of %s, got %r"
                         % (", ".join(graph_alerts.APIS), value))
    return graph_alerts.choose_api(value, warn)


def build(args, warn=None):
    """``(feed, interval)`` from the source's arguments; ValueError for anything wrong, before any request."""
    connection_settings, DefenderError, feeds, events = _import_collection()
    prefix = NAME + ": "
    args = events.check_args(args, OWN, connection_settings.CONNECTION_ARGUMENT_SPEC, prefix)
    interval = events.whole_number(args, "interval", 60, 1, prefix)
    overlap = events.whole_number(args, "overlap", 300, 0, prefix)
    # None: the largest page of the API used (10,000 Defender API, 1,000 Graph)
    page_size = events.whole_number(args, "page_size", None, 1, prefix) if args.get("page_size") is not None else None
    state_file = events.state_file_path(args.get("state_file"), prefix)
    api = _api(args, warn)
    try:
        settings = connection_settings.Settings(
            events.connection_options(args, connection_settings.CONNECTION_ARGUMENT_SPEC))
        client, _provider = connection_settings.connect(settings, warn=warn, api=api)
        criteria = {k: args.get(k) for k in ("severity", "status", "filter") if args.get(k) is not None}
        feed = feeds.AlertFeed(client, criteria, args.get("since") or "1h", overlap=overlap,
                               state_file=state_file, page_size=page_size,
                               scope="%s|%s" % (settings.endpoints.api_url, settings.tenant_id), warn=warn, api=api,
                               source=feeds.GraphAlertsSource if api == "graph" else None)
    except DefenderError as exc:
        raise ValueError("defender.endpoint.alerts: %s" % exc) from None
    return feed, interval, DefenderError


async def run(queue, feed, interval, error_class, sleep=asyncio.sleep):
    """Poll forever; every event is handed over before the position moves past it."""
    events = _import_collection()[3]
    await events.poll_forever(queue, feed, interval, error_class,
                              lambda alert, change: {"alert": alert, "change": change, "api": feed.api}, NAME,
                              sleep=sleep)


async def main(queue, args):
    """Entry point ansible-rulebook calls."""
    feed, interval, error_class = build(args, warn=LOG.warning)
    await run(queue, feed, interval, error_class)


if __name__ == "__main__":
    # By hand: python alerts.py (credentials from the environment) prints the events.
    class _PrintQueue:
        async def put(self, event):
            print(event)  # noqa: T201

    asyncio.run(main(_PrintQueue(), {"since": os.environ.get("DEFENDER_ALERTS_SINCE", "1h")}))
