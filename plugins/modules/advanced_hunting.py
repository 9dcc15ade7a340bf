#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: advanced_hunting
short_description: Run an advanced hunting (KQL) query through Microsoft Graph
description:
  - Runs a KQL query with Microsoft Graph's C(security/runHuntingQuery), the Defender hunting API that keeps
    working (the Defender for Endpoint and Defender XDR hunting APIs stop returning data on 1 February 2027).
  - Returns the columns (RV(schema)) and the rows as dicts (RV(results)), or writes the rows to O(dest) as JSON
    Lines.
  - Graph is a second API with its own token; the same credential signs in once more for the Graph resource of
    O(cloud) (C(https://graph.microsoft.com) in the global cloud and GCC, C(https://graph.microsoft.us) in GCC High,
    C(https://dod-graph.microsoft.us) in DoD), and that token is cached like the Defender one. O(graph_url)
    overrides the Graph host. An O(access_token) is used only if it is a Graph token.
  - A query error (syntax or semantics), a missing permission and a quota refusal fail the task with the service's
    own message. A query is not sent again when its answer is lost.
version_added: 0.2.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  query:
    description:
      - The KQL query, for example C(DeviceInfo | where OSPlatform == "Windows11" | take 10).
      - Use this or O(query_file).
    type: str
  query_file:
    description:
      - A file holding the KQL query (UTF-8), on the host that runs the module.
      - A relative path is relative to the directory ansible-playbook was run from (resolved on the
        controller), and is refused when the task does not run on a local connection.
    type: path
  timespan:
    description:
      - The period the query covers, as ISO 8601, for example V(P7D), V(PT12H),
        V(2026-11-01T00:00:00Z/2026-11-08T00:00:00Z) or V(P7D/2026-11-08T00:00:00Z); V(7d), V(24h) and V(30m) are
        shorthand for the first forms.
      - Without it, the service's default (the last 30 days) applies.
    type: str
  dest:
    description:
      - Write the rows to this file as JSON Lines (one JSON object per row) instead of returning them.
      - Written atomically with mode 0600, and replaced only when the content differs (C(changed)).
      - A relative path is relative to the directory ansible-playbook was run from (resolved on the
        controller), and is refused when the task does not run on a local connection.
    type: path
notes:
  - "Permission: the Microsoft Graph application permission C(ThreatHunting.Read.All) (not a WindowsDefenderATP
    permission), with admin consent."
  - Limits of Microsoft Graph are the last 30 days of data, at most 100,000 rows and 50 MB per answer, at least 45 calls
    per minute per tenant, 3 minutes per query, and a CPU allocation per tenant; when it is used up, queries are
    refused until the next 15-minute cycle. The request waits up to 200 seconds for an answer, or O(timeout) if that
    is longer.
  - Not available in the China (21Vianet) cloud.
  - Check mode runs the query too, since it changes nothing in the tenant; with O(dest) nothing is written and
    C(changed) tells whether the file would change.
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.info
"""

EXAMPLES = r"""
- name: Devices that saw a file hash
  defender.endpoint.advanced_hunting:
    query: |
      DeviceFileEvents
      | where SHA256 == "3395856ce81f2b7382dee72602f798b642f14140b8b0a0cb8a1f3edb8ad2b1c9"
      | project Timestamp, DeviceName, FolderPath
    timespan: P7D
  register: hunt

- name: A saved query, rows to a file
  defender.endpoint.advanced_hunting:
    query_file: queries/suspicious-powershell.kql
    dest: /var/lib/soc/hunt.jsonl
"""

RETURN = r"""
schema:
  description: The columns, in order, each with its C(name) and KQL C(type).
  returned: success
  type: list
  elements: dict
  sample: [{name: Timestamp, type: DateTime}, {name: DeviceName, type: String}]
results:
  description: The rows, each a dict keyed by column name.
  returned: success and when O(dest) is not set
  type: list
  elements: dict
  sample: [{Timestamp: "2026-11-29T08:00:00Z", DeviceName: desktop-1.contoso.com}]
count:
  description: How many rows the query returned.
  returned: success
  type: int
  sample: 1
dest:
  description: The file the rows were written to.
  returned: when O(dest) is set
  type: str
  sample: /var/lib/soc/hunt.jsonl
"""

from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils import export as E
from ansible_collections.defender.endpoint.plugins.module_utils.apis import GRAPH
from ansible_collections.defender.endpoint.plugins.module_utils import hunting as H
from ansible_collections.defender.endpoint.plugins.module_utils import progress


def run(m):
    p = m.params
    query = H.check_query(p["query"]) if p.get("query") is not None else H.read_query_file(p["query_file"])
    timespan = H.check_timespan(p.get("timespan"))
    dest = E.check_dest(p["dest"]) if p.get("dest") else None
    client = m.client(api=GRAPH)
    client.timeout = max(client.timeout, H.QUERY_TIMEOUT)
    progress.report("running the hunting query%s" % (" over %s" % timespan if timespan else ""), force=True)
    schema, rows = H.run_query(client, query, timespan)
    progress.report("%s returned" % progress.plural(len(rows), "row"), done=len(rows), force=True)
    if dest:
        written = E.export(rows, dest, "jsonl", check_mode=m.check_mode)
        m.exit(changed=written["changed"], schema=schema, count=written["count"], dest=dest)
    m.exit(changed=False, schema=schema, results=rows, count=len(rows))


def main():
    m = DefenderModule(
        argument_spec=dict(
            query=dict(type="str"),
            query_file=dict(type="path"),
            timespan=dict(type="str"),
            dest=dict(type="path"),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("query", "query_file")],
        required_one_of=[("query", "query_file")],
    )
    m.run(run)


if __name__ == "__main__":
    main()
