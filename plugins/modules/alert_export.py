#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: alert_export
short_description: Export Microsoft Defender for Endpoint alerts to a JSON Lines or CSV file
description:
  - Reads every alert that matches the given filters (the same filters as M(defender.endpoint.alert_info)) and
    streams them to O(dest) as JSON Lines (one alert object per line) or CSV (one row per alert, with the chosen
    O(columns)). Memory does not grow with the number of alerts.
  - Paging is that of M(defender.endpoint.alert_info) (C($top)/C($skip) with overlapping pages, de-duplicated by
    id), so the export is complete however many alerts match.
  - With O(api=graph) the alerts come from Microsoft Graph's C(/security/alerts_v2), read by time boundary
    (C(lastUpdateDateTime ge) the last one read, oldest update first, C($skip=0); a deep C($skip) stalls on Graph),
    each alert once, with Graph's field names; JSON Lines are then written re-encoded as compact JSON.
  - The file is written to a temporary file in the same directory (mode C(0600), because alerts hold sensitive
    data) and renamed into place at the end, so O(dest) is either complete or untouched. It is replaced only when
    the new content differs from the file's (compared by SHA-256), so the task reports C(changed) only then; a
    re-run that finds the same alerts leaves the file alone.
  - While it runs, the task prints how many alerts were written at least every 10 seconds in the normal output
    (the collection's action plugin shows the progress the module reports while it runs; set the variable
    C(defender_progress=false) to turn that off).
  - Needs the application permission C(Alert.Read.All) (or C(Alert.ReadWrite.All)); with O(api=graph), the Microsoft
    Graph permission C(SecurityAlert.Read.All) (or C(SecurityAlert.ReadWrite.All)).
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  dest:
    description:
      - The file to write. Its directory must exist. C(~) is expanded.
      - A relative path is relative to the directory ansible-playbook was run from (resolved on the
        controller), and is refused when the task does not run on a local connection.
    type: path
    required: true
  format:
    description:
      - V(jsonl) writes each alert as the API returns it, one JSON object per line. Each line is the object's JSON
        text exactly as the service sent it (its spacing and escapes), parsed to check it but not re-encoded; an
        object sent over several lines is re-encoded as compact JSON on one line.
      - V(csv) writes a header row and one row per alert with O(columns) (RFC 4180 quoting, CRLF line ends, UTF-8).
      - By default, V(csv) when O(dest) ends in C(.csv), otherwise V(jsonl).
    type: str
    choices: [jsonl, csv]
  columns:
    description:
      - The CSV columns, in order, named as the API names alert fields (C(id), C(title), C(machineId), ...).
      - A nested field is reached with a dotted path, list positions counting from 0, for example
        C(comments.0.comment) or C(evidence.0.sha1). A list of plain values (such as C(mitreTechniques)) is
        written joined with C(, ); any other list or mapping is written as compact JSON. A missing field is an
        empty cell.
      - Every field is quoted. Text that a spreadsheet would run as a formula (C(=), C(+), C(-), C(@), a tab or a
        carriage return at its start, or right after a C(,), C(;), C(|), tab or line break and spaces, where a
        spreadsheet of another locale may split the cell) gets an apostrophe before it, also in the header row,
        unless O(csv_raw=true).
      - Only with O(format=csv).
      - The default is C(id), C(incidentId), C(severity), C(status), C(category), C(title), C(machineId),
        C(computerDnsName), C(alertCreationTime), C(lastUpdateTime), C(assignedTo), C(classification),
        C(determination), C(detectionSource), C(threatName); with O(api=graph) C(id), C(incidentId), C(severity),
        C(status), C(category), C(title), C(serviceSource), C(detectionSource), C(createdDateTime),
        C(lastUpdateDateTime), C(assignedTo), C(classification), C(determination), C(threatDisplayName),
        C(alertWebUrl).
    type: list
    elements: str
  csv_raw:
    description:
      - Write the CSV values as they are, without apostrophes before formula-like text and quoting only where
        RFC 4180 needs it, for programs that read the file. Do not open such a file in a spreadsheet.
      - Only with O(format=csv).
    type: bool
    default: false
notes:
  - In check mode the alerts are read and the file that would be written is hashed but not written, so
    C(changed) predicts exactly whether a real run would replace O(dest).
  - Each page is one request against the API's limit of 100 calls per minute and 1,500 per hour.
seealso:
  - module: defender.endpoint.alert_info
  - name: List alerts API
    description: Microsoft's reference for C(GET /api/alerts).
    link: https://learn.microsoft.com/en-us/defender-endpoint/api/get-alerts
extends_documentation_fragment:
  - defender.endpoint.alert_filters
  - defender.endpoint.alerts_api
  - defender.endpoint.alerts_api.filters
  - defender.endpoint.connection
  - defender.endpoint.attributes.action
attributes:
  check_mode:
    details: Reads the alerts and hashes the file that would be written, without writing it.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Every alert updated in the last week, as JSON Lines for the SIEM
  defender.endpoint.alert_export:
    updated_after: 7d
    dest: /var/lib/soc/alerts-week.jsonl
  register: export

- name: Open high-severity alerts as CSV for a spreadsheet, with the first comment and evidence file hash
  defender.endpoint.alert_export:
    severity: [High]
    status: [New, InProgress]
    dest: /srv/reports/open-high.csv
    columns: [id, title, computerDnsName, alertCreationTime, mitreTechniques, comments.0.comment, evidence.0.sha1]
    expand_evidence: true
"""

RETURN = r"""
api:
  description: The API the alerts came from.
  returned: always
  type: str
  sample: graph
path:
  description: The file written (absolute path).
  returned: always
  type: str
  sample: /var/lib/soc/alerts-week.jsonl
count:
  description: How many alerts were written (in check mode, would be written).
  returned: always
  type: int
  sample: 25000
format:
  description: The format written.
  returned: always
  type: str
  sample: csv
columns:
  description: The CSV columns.
  returned: when the format is CSV
  type: list
  elements: str
  sample: [id, title, severity]
sha256:
  description: SHA-256 of the content written (or, in check mode, of the content that would be written).
  returned: always
  type: str
  sample: 0f343b0931126a20f133d67c2b018a3b6b2a2b7b7c1e8e5d4f3a2b1c0d9e8f7a
filter:
  description: The OData C($filter) that was sent; V(null) when nothing was filtered.
  returned: always
  type: str
  sample: "severity eq 'High' and alertCreationTime ge 2026-01-30T08:00:00Z"
requests:
  description: How many list requests were sent (pages, including the overlap re-reads).
  returned: always
  type: int
  sample: 3
"""

from ansible_collections.defender.endpoint.plugins.module_utils import alerts
from ansible_collections.defender.endpoint.plugins.module_utils import export
from ansible_collections.defender.endpoint.plugins.module_utils import graph_alerts
from ansible_collections.defender.endpoint.plugins.module_utils import progress
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule


def run(m):
    p = m.params
    api = graph_alerts.choose_api(p.get("api"), m.warn)
    graph_alerts.check_options_for_api(p, api)
    flt, page_size, dest, fmt, columns = alerts.check_export_params(p, api)
    if api == graph_alerts.GRAPH:
        # Large reads go by time boundary (ascending lastUpdateDateTime): a deep $skip stalls on Graph.
        flt, local = flt
        pager = graph_alerts.GraphAlertPages(m.client(api=api), flt, local, page_size, limit=p.get("limit"),
                                             by_time=True)
        raw = False
    else:
        # JSON Lines: each alert is written as the JSON text the service sent (still parsed, to check it and read
        # its id), not decoded into a dict and encoded again
        raw = fmt == "jsonl"
        pager = alerts.AlertPages(m.client(), p, flt, page_size, limit=p.get("limit"),
                                  expand_evidence=p["expand_evidence"], raw=raw)
    verb = "read (check mode)" if m.check_mode else "written"

    def on_progress(count):
        progress.report("%s %s, %s" % (progress.plural(count, "alert"), verb,
                                       progress.plural(pager.requests, "request")), done=count)

    progress.report("reading alerts", force=True)
    out = export.export_blocks(pager.blocks(), dest, fmt=fmt, columns=columns, check_mode=m.check_mode,
                               on_progress=on_progress, encoded=raw, raw=p["csv_raw"])
    progress.report("%s %s" % (progress.plural(out["count"], "alert"), verb), done=out["count"], force=True)
    result = dict(changed=out["changed"], path=dest, count=out["count"], format=fmt, sha256=out["sha256"],
                  filter=flt, requests=pager.requests, api=api)
    if columns is not None:
        result["columns"] = columns
    m.exit(**result)


def main():
    m = DefenderModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            format=dict(type="str", choices=list(export.FORMATS)),
            columns=dict(type="list", elements="str"),
            csv_raw=dict(type="bool", default=False),
            **dict(alerts.FILTER_ARGUMENT_SPEC, **graph_alerts.API_ARGUMENT_SPEC,
                   **graph_alerts.GRAPH_FILTER_ARGUMENT_SPEC)
        ),
        supports_check_mode=True,
    )
    m.run(run)


if __name__ == "__main__":
    main()
