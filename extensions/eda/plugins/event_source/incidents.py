# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Event-Driven Ansible source: Microsoft Defender XDR incidents (Microsoft Graph) as they are created or updated."""

from __future__ import annotations

DOCUMENTATION = r"""
short_description: Microsoft Defender XDR incidents, each created or updated incident once, as events
description:
  - Polls Microsoft Graph's incidents (C(/security/incidents)) every O(interval) seconds for incidents whose
    C(lastUpdateDateTime) is past the last one emitted, and puts one event per change on the queue, oldest first.
  - 'Each event is C({"incident": <the incident as Graph returns it>, "change": "created" | "updated", "api": "graph"}).'
  - The position is kept in O(state_file), written atomically after each event, as the C(defender.endpoint.alerts)
    source does, so a restart resumes after the last emitted change, neither losing nor repeating changes. Without
    O(state_file) every start begins at O(since).
  - Takes the same credentials and environment variables as the collection's modules; the token is a Microsoft
    Graph token of the same credential, renewed before it expires.
  - Throttling (HTTP 429) is waited out as Graph's C(Retry-After) says; other passing failures (5xx, network) are
    logged and retried at the next interval with a growing delay. Errors that cannot pass (bad credentials, a
    missing permission, a filter Graph refuses) stop the source with a clear message.
  - Needs the Microsoft Graph permission C(SecurityIncident.Read.All). The decision environment needs the
    collection's Python requirements and ansible-core.
options:
  interval:
    description: Seconds between polls.
    type: int
    default: 60
  status:
    description: Only incidents with one of these statuses (V(active), V(inProgress), V(resolved), V(redirected), V(awaitingAction)).
    type: list
    elements: str
  severity:
    description: Only incidents with one of these severities (V(unknown), V(informational), V(low), V(medium), V(high)).
    type: list
    elements: str
  assigned_to:
    description: Only incidents assigned to one of these owners.
    type: list
    elements: str
  classification:
    description: Only incidents with one of these classifications.
    type: list
    elements: str
  determination:
    description: Only incidents with one of these determinations.
    type: list
    elements: str
  filter:
    description: A raw OData C($filter) expression in Graph's incident field names, combined with the others with C(and).
    type: str
  since:
    description:
      - How far back the first poll looks (no state yet), as an age such as V(1h) or V(2d), or an ISO 8601 time.
    type: str
    default: 1h
  state_file:
    description:
      - Where the position persists across restarts, mode 0600. The state of another tenant or filter is not reused.
    type: path
  overlap:
    description:
      - Seconds before the last emitted C(lastUpdateDateTime) that every poll reads again, so that an incident Graph
        shows late, or one sharing that timestamp, is not missed. Changes already emitted are recognised.
    type: int
    default: 300
  page_size:
    description: Incidents per request (C($top)), 1 to 50 (Graph refuses more).
    type: int
    default: 50
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
    description: A Microsoft Graph token (no renewal without credentials); E(DEFENDER_ACCESS_TOKEN) when not set.
    type: str
  cloud:
    description: As in the modules; E(DEFENDER_CLOUD) when not set.
    type: str
  graph_url:
    description: As in the modules; E(DEFENDER_GRAPH_URL) when not set.
    type: str
  login_url:
    description: As in the modules; E(AZURE_AUTHORITY_HOST) when not set.
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
- name: Respond to new high-severity incidents
  hosts: localhost
  sources:
    - name: defender
      defender.endpoint.incidents:
        interval: 60
        severity: [high]
        status: [active]
        state_file: /var/lib/eda/defender-incidents.state.json
  rules:
    - name: New high-severity incident
      condition: event.change == "created"
      action:
        run_playbook:
          name: defender.endpoint.respond_incident
          extra_vars:
            incident_id: "{{ event.incident.id }}"
"""

import asyncio
import logging
import os
import sys

NAME = "defender.endpoint.incidents"
LOG = logging.getLogger(NAME)
OWN = ("interval", "status", "severity", "assigned_to", "classification", "determination", "filter", "since",
       "state_file", "overlap", "page_size")


def _import_collection():
    """The collection's own client. ansible-rulebook runs this file by path (runpy), not as part of a package,
    so when ``ansible_collections`` is not importable the tree this file sits in is put on the path."""
    try:
        from ansible_collections.defender.endpoint.plugins.plugin_utils import _event_source  # noqa: F401
    except ImportError:
        # <root>/ansible_collections/defender/endpoint/extensions/eda/plugins/event_source/incidents.py
        parts = os.path.abspath(__file__).split(os.sep)
        if len(parts) < 9 or parts[-8] != "ansible_collections":
            raise
        sys.path.insert(0, os.sep.join(parts[:-8]) or os.sep)
    from ansible_collections.defender.endpoint.plugins.module_utils import settings as common
    from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError
    from ansible_collections.defender.endpoint.plugins.plugin_utils import _event_source as E
    from ansible_collections.defender.endpoint.plugins.plugin_utils._alert_feed import AlertFeed
    from ansible_collections.defender.endpoint.plugins.plugin_utils._incident_feed import IncidentSource
    return common, DefenderError, E, AlertFeed, IncidentSource


def build(args, warn=None):
    """``(feed, interval, error class, shared helpers)`` from the source's arguments; ValueError for anything wrong,
    before any request."""
    common, DefenderError, E, AlertFeed, IncidentSource = _import_collection()
    from ansible_collections.defender.endpoint.plugins.module_utils.apis import GRAPH  # importable from here on
    prefix = NAME + ": "
    args = E.check_args(args, OWN, common.CONNECTION_ARGUMENT_SPEC, prefix)
    interval = E.whole_number(args, "interval", 60, 1, prefix)
    overlap = E.whole_number(args, "overlap", 300, 0, prefix)
    page_size = E.whole_number(args, "page_size", 50, 1, prefix)
    state_file = E.state_file_path(args.get("state_file"), prefix)
    try:
        settings = common.Settings(E.connection_options(args, common.CONNECTION_ARGUMENT_SPEC))
        client, _provider = common.connect(settings, warn=warn, api="graph")
        names = ("status", "severity", "assigned_to", "classification", "determination", "filter")
        criteria = {k: args.get(k) for k in names if args.get(k) is not None}
        feed = AlertFeed(client, criteria, args.get("since") or "1h", overlap=overlap, state_file=state_file,
                         page_size=page_size, scope="%s|%s" % (GRAPH.base_url(settings.endpoints), settings.tenant_id),
                         warn=warn, source=IncidentSource)
    except DefenderError as exc:
        raise ValueError(prefix + str(exc)) from None
    return feed, interval, DefenderError, E


def event(incident, change):
    return {"incident": incident, "change": change, "api": "graph"}


async def main(queue, args):
    """Entry point ansible-rulebook calls."""
    feed, interval, error_class, E = build(args, warn=LOG.warning)
    await E.poll_forever(queue, feed, interval, error_class, event, NAME)


if __name__ == "__main__":
    # By hand: python incidents.py (credentials from the environment) prints the events.
    class _PrintQueue:
        async def put(self, item):
            print(item)  # noqa: T201

    asyncio.run(main(_PrintQueue(), {"since": os.environ.get("DEFENDER_INCIDENTS_SINCE", "1h")}))
