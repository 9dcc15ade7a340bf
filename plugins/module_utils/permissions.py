# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one source of what each module, plugin and role needs in application permissions, and of the names the
Entra portal shows for them (``token_info`` prints those).

The README's permission table is generated from :data:`CONTENT` by ``scripts/permissions-table``, and
``tests/unit/test_permissions.py`` fails when the README and this file disagree, or when a module, plugin or role
of the collection has no row here. Adding content: add its row to :data:`CONTENT` (and any new permission to
:data:`ROLES`), then run ``scripts/permissions-table``.

This file imports nothing, so the script can load it without the collection being installed.
"""

from __future__ import annotations

WDATP = "WindowsDefenderATP"
GRAPH = "Microsoft Graph"

# Application permissions: name -> (the API the permission belongs to, the name the Entra portal shows).
# WindowsDefenderATP: the permission table of each API page under
# https://learn.microsoft.com/en-us/defender-endpoint/api/
ROLES = {
    "Alert.Read.All": (WDATP, "Read all alerts"),
    "Alert.ReadWrite.All": (WDATP, "Read and write all alerts"),
    "Machine.Read.All": (WDATP, "Read all machine profiles"),
    "Machine.ReadWrite.All": (WDATP, "Read and write all machine information"),
    "Machine.Isolate": (WDATP, "Isolate machine"),
    "Machine.Scan": (WDATP, "Scan machine"),
    "Machine.RestrictExecution": (WDATP, "Restrict code execution"),
    "Machine.CollectForensics": (WDATP, "Collect forensics"),
    "Machine.Offboard": (WDATP, "Offboard machine"),
    "Machine.StopAndQuarantine": (WDATP, "Stop And Quarantine"),
    "Machine.LiveResponse": (WDATP, "Run live response on a specific machine"),
    "Library.Manage": (WDATP, "Manage live response library"),
    "AdvancedQuery.Read.All": (WDATP, "Run advanced queries"),
    "Ti.ReadWrite": (WDATP, "Read and write Indicators"),
    "Ti.ReadWrite.All": (WDATP, "Read and write All Indicators"),
    "Ip.Read.All": (WDATP, "Read IP address profiles"),
    # Vulnerability management (the permission tables of get-all-vulnerabilities, get-software and
    # get-all-recommendations under https://learn.microsoft.com/en-us/defender-endpoint/api/)
    "Vulnerability.Read.All": (WDATP, "Read Threat and Vulnerability Management vulnerability information"),
    "Software.Read.All": (WDATP, "Read Threat and Vulnerability Management software information"),
    "SecurityRecommendation.Read.All": (WDATP, "Read Threat and Vulnerability Management security recommendation "
                                               "information"),
    # Microsoft Graph: advanced hunting through security/runHuntingQuery
    # (https://learn.microsoft.com/en-us/graph/api/security-security-runhuntingquery#permissions).
    "ThreatHunting.Read.All": (GRAPH, "Run hunting queries"),
    # Microsoft Graph security incidents and alerts (https://learn.microsoft.com/en-us/graph/permissions-reference).
    "SecurityIncident.Read.All": (GRAPH, "Read all security incidents"),
    "SecurityIncident.ReadWrite.All": (GRAPH, "Read and write to all security incidents"),
    "SecurityAlert.Read.All": (GRAPH, "Read all security alerts"),
    "SecurityAlert.ReadWrite.All": (GRAPH, "Read and write to all security alerts"),
}

ROLE_DISPLAY_NAMES = dict((name, display) for name, (_api, display) in ROLES.items())

MACHINE_READ = ("Machine.Read.All", "Machine.ReadWrite.All")
ALERT_READ = ("Alert.Read.All", "Alert.ReadWrite.All")
TI = ("Ti.ReadWrite", "Ti.ReadWrite.All")
INCIDENT_READ = ("SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All")

# One row per module, plugin and role: (kind, name, needs, note).
# kind: module | lookup | inventory | event_source | role (how the content is found in the tree).
# needs: groups of permissions that are all required; within a group any one is enough, the first being the least
# privileged. An empty tuple: no permission at all. note: when or why, shown next to the permissions.
CONTENT = (
    ("module", "token", (), "acquires a token; it carries whatever the app was granted"),
    ("lookup", "token", (), "as the token module"),
    ("module", "token_info", (), "checks the permissions you list in `required_roles`"),
    ("module", "alert_info", (ALERT_READ,), "with `api: graph` the Microsoft Graph permission `SecurityAlert.Read.All` "
     "instead"),
    ("module", "alert_export", (ALERT_READ,), "with `api: graph` the Microsoft Graph permission "
     "`SecurityAlert.Read.All` instead"),
    ("module", "alert", (("Alert.ReadWrite.All",),), "with `api: graph` the Microsoft Graph permission "
     "`SecurityAlert.ReadWrite.All` instead"),
    ("module", "machine_info", (MACHINE_READ,), ""),
    ("module", "machine_action_info", (MACHINE_READ,), ""),
    ("module", "machine_isolation", (("Machine.Isolate",), MACHINE_READ),
     "names and action history are read first"),
    ("module", "machine_tag", (("Machine.ReadWrite.All",),),
     "the tag endpoints need it; it also covers reading the machines"),
    ("module", "machine_app_restriction", (("Machine.RestrictExecution",), MACHINE_READ),
     "names and action history are read first"),
    ("module", "machine_action", (MACHINE_READ,),
     "plus the permission of the action: `Machine.Scan` (Scan machine) for `av_scan`, `Machine.CollectForensics` "
     "(Collect forensics) for `collect_investigation_package`, "
     "`Machine.StopAndQuarantine` (Stop And Quarantine) for `stop_and_quarantine_file`, `Machine.Offboard` "
     "(Offboard machine) for `offboard`"),
    ("module", "indicator", (TI,),
     "`Ti.ReadWrite` sees and manages only the indicators this app created; `Ti.ReadWrite.All` all of them"),
    ("module", "indicator_info", (TI,), "`Ti.ReadWrite` lists only the indicators this app created"),
    ("module", "advanced_hunting", (("ThreatHunting.Read.All",),),
     "a Microsoft Graph permission: the same credential gets a second token, for Graph"),
    ("module", "live_response_library", (("Library.Manage",),), ""),
    ("module", "live_response", (("Machine.LiveResponse",), MACHINE_READ),
     "names, action history and result links are read with the second"),
    ("module", "incident_info", (INCIDENT_READ,),
     "a Microsoft Graph permission; also for `include_alerts` (Graph documents no alert permission for an "
     "incident's alerts, which is uncertain)"),
    ("module", "incident", (("SecurityIncident.ReadWrite.All",),),
     "a Microsoft Graph permission; it is the only one that allows comments"),
    ("module", "vulnerability_info", (("Vulnerability.Read.All",),),
     "`Machine.Read.All` too to resolve a computer name or name the machines of `exposed_machines`"),
    ("module", "vulnerability_export", (("Vulnerability.Read.All",),), ""),
    ("module", "software_info", (("Software.Read.All",),),
     "`Vulnerability.Read.All` too for `include_vulnerabilities`; `Machine.Read.All` to resolve a computer name"),
    ("module", "recommendation_info", (("SecurityRecommendation.Read.All",),),
     "`Machine.Read.All` too to resolve a computer name"),
    ("inventory", "machines", (MACHINE_READ,), ""),
    ("event_source", "incidents", (INCIDENT_READ,),
     "a Microsoft Graph permission; the rulebook's playbooks need their own modules' permissions"),
    ("event_source", "alerts", (ALERT_READ,), "with `api: graph` the Microsoft Graph permission "
     "`SecurityAlert.Read.All` instead; the rulebook's playbooks need their own modules' permissions"),
    ("role", "incident_response", (("Machine.Isolate",), MACHINE_READ, ALERT_READ),
     "`Alert.ReadWrite.All` when it updates alerts (the default; with `incident_response_alerts_api: graph` the "
     "Microsoft Graph permission `SecurityAlert.ReadWrite.All` instead); by incident (`incident_response_incident_id`, "
     "playbook `respond_incident`) the Microsoft Graph permission `SecurityIncident.ReadWrite.All` instead of the alert "
     "ones; each optional step adds the permissions of its module"),
)

KIND_LABEL = {"module": "", "lookup": "lookup ", "inventory": "inventory ", "event_source": "event source ",
              "role": "role "}


def _group(group):
    names = ["`%s` (%s)" % (role, ROLES[role][1]) for role in group]
    return names[0] if len(names) == 1 else "either " + " or ".join(names)


def needs_text(needs):
    """The permissions cell: groups joined with **and**, alternatives with either/or, each with its portal name."""
    if not needs:
        return "none"
    parts = [_group(g) for g in needs]
    apis = sorted(set(ROLES[r][0] for g in needs for r in g))
    text = " **and** ".join(parts)
    if apis != [WDATP]:
        text += " (%s)" % ", ".join(apis)
    return text


def markdown_table():
    """The README table, one row per entry of :data:`CONTENT`, in its order."""
    lines = ["| content | application permissions (portal name) | note |", "|---|---|---|"]
    for kind, name, needs, note in CONTENT:
        lines.append("| %s`%s` | %s | %s |" % (KIND_LABEL[kind], name, needs_text(needs), note))
    return "\n".join(lines) + "\n"


BEGIN = "<!-- permission table: generated by scripts/permissions-table from plugins/module_utils/permissions.py -->"
END = "<!-- end of permission table -->"


def replace_table(readme):
    """``readme`` with the lines between :data:`BEGIN` and :data:`END` replaced by :func:`markdown_table`,
    indented as the :data:`BEGIN` line is (the table sits inside a numbered list)."""
    start, stop = readme.find(BEGIN), readme.find(END)
    if start < 0 or stop < start:
        raise ValueError("README.md has no permission table markers (%s ... %s)" % (BEGIN, END))
    indent = readme[readme.rfind("\n", 0, start) + 1:start]
    table = "".join(indent + line + "\n" for line in markdown_table().splitlines())
    return readme[:start + len(BEGIN)] + "\n" + table + indent + readme[stop:]
