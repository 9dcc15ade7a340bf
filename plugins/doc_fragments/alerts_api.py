# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``api`` option of the alert modules (DOCUMENTATION) and the Graph-only read option (FILTERS); the argument spec
beside it is ``module_utils.graph_alerts.API_ARGUMENT_SPEC`` / ``GRAPH_FILTER_ARGUMENT_SPEC``."""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  api:
    description:
      - Which API the alerts are read and changed through.
      - V(defender) uses C(/api/alerts) of the Defender for Endpoint API (permissions C(Alert.Read.All),
        C(Alert.ReadWrite.All)), which Microsoft retires on 2027-02-01 (message center post MC1220762).
      - V(graph) uses Microsoft Graph's C(/security/alerts_v2) (Microsoft Graph permissions C(SecurityAlert.Read.All),
        C(SecurityAlert.ReadWrite.All)); the same credential gets a second token, for Graph. Results keep Graph's
        field names (C(createdDateTime), C(serviceSource), typed C(evidence), ...); option values are accepted in
        either API's spelling (V(High) or V(high)).
      - When neither this option nor the environment variable E(DEFENDER_ALERTS_API) is set, V(defender) is used and
        the task warns once, naming the date and this option. Set it to either value to silence the warning.
      - The collection's documentation has a migration page (docs/migrating-to-graph.md) with the field and id mapping.
    type: str
    choices: [defender, graph]
"""

    FILTERS = r"""
options:
  service_source:
    description:
      - Only alerts of these products (C(serviceSource eq ...)), for example V(microsoftDefenderForEndpoint),
        V(microsoftDefenderForOffice365), V(microsoftDefenderForIdentity), V(microsoft365Defender),
        V(microsoftSentinel); matched case-insensitively and sent in Graph's spelling.
      - Only with O(api=graph). Graph returns the alerts of every Defender product, the Defender for Endpoint API
        only its own.
    type: list
    elements: str
"""
