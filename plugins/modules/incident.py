#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: incident
short_description: Update a Microsoft Defender XDR incident and comment on it through Microsoft Graph
description:
  - Brings one incident to the wanted status, owner, classification, determination, severity, name, description,
    summary and custom tags, and adds a comment once, through Microsoft Graph
    (C(PATCH /v1.0/security/incidents/{id}), C(POST /v1.0/security/incidents/{id}/comments)).
  - Reads the incident first and sends only what differs (enum values compared case-insensitively, the two names
    Graph's pages use for one determination compared as the same), so a second run changes nothing. The PATCH
    answer is the whole incident, which the module returns.
  - Comments cannot be edited or deleted in Graph, so a comment whose text the incident already carries is not
    added again.
  - Resolving an incident in Defender also resolves its alerts.
  - Needs the Microsoft Graph application permission C(SecurityIncident.ReadWrite.All).
version_added: 0.3.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  id:
    description:
      - The incident's id (a decimal string such as V(2972395)).
    type: str
    required: true
  status:
    description:
      - V(active) or V(resolved), matched case-insensitively. Graph also documents V(redirected), which marks a
        merge and is not offered here.
    type: str
  assigned_to:
    description:
      - The owner (a user principal name), compared case-insensitively.
    type: str
  classification:
    description:
      - One of V(unknown), V(falsePositive), V(truePositive), V(informationalExpectedActivity), matched
        case-insensitively.
    type: str
  determination:
    description:
      - For example V(malware), V(phishing), V(multiStagedAttack), V(securityTesting), V(unwantedSoftware),
        V(other).
      - Graph's pages list two names for some values (V(compromisedUser) or V(compromisedAccount), V(clean) or
        V(notMalicious), V(insufficientData) or V(notEnoughDataToValidate), V(confirmedUserActivity) or
        V(confirmedActivity)); the one given is sent, and the other reading back counts as the same. If the
        service refuses one name, use the other.
    type: str
  severity:
    description:
      - One of V(unknown), V(informational), V(low), V(medium), V(high).
    type: str
  display_name:
    description:
      - The incident's name.
    type: str
  description:
    description:
      - The incident's description.
    type: str
  summary:
    description:
      - The incident's summary.
    type: str
  custom_tags:
    description:
      - Custom tags, managed as O(custom_tags_state) says. Tags are compared exactly.
    type: list
    elements: str
  custom_tags_state:
    description:
      - V(present) adds the O(custom_tags) that are missing, V(absent) removes them, V(exact) makes them the
        incident's whole tag list (V(exact) with an empty list removes every tag).
      - Graph replaces the whole list on each change; the module sends the list it computed.
    type: str
    choices: [present, absent, exact]
    default: present
  comment:
    description:
      - A comment to add, unless the incident already has a comment with this text (surrounding white space
        ignored).
    type: str
notes:
  - Check mode reads the incident and predicts the result without writing; with C(--diff) the managed fields are
    shown before and after.
  - A write whose answer is lost (no response, or a server error after sending) is never sent again; the incident
    is read back, and the task fails when the change does not show, asking to check and run again.
seealso:
  - module: defender.endpoint.incident_info
  - name: Update incident (Microsoft Graph)
    description: Microsoft's reference for C(PATCH /security/incidents/{id}).
    link: https://learn.microsoft.com/en-us/graph/api/security-incident-update
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.action
"""

EXAMPLES = r"""
- name: Comment on an incident, classify and resolve it
  defender.endpoint.incident:
    tenant_id: "{{ defender_tenant_id }}"
    client_id: "{{ defender_client_id }}"
    client_secret: "{{ defender_client_secret }}"
    id: "2972395"
    comment: "Contained by Ansible: machines isolated, file hashes blocked."
    classification: truePositive
    determination: malware
    status: resolved

- name: Take ownership and tag it
  defender.endpoint.incident:
    id: "2972395"
    assigned_to: secop1@contoso.com
    custom_tags: [ansible, ransomware]
"""

RETURN = r"""
incident:
  description: The incident after the change (Graph's PATCH answer), or the prediction in check mode.
  returned: success
  type: dict
  sample:
    id: "2972395"
    status: resolved
    classification: truePositive
    determination: malware
    assignedTo: secop1@contoso.com
    customTags: [ansible]
    comments: [{comment: Contained by Ansible, createdByDisplayName: "API-App:1a2b...", createdDateTime: "2026-12-01T08:00:00Z"}]
changes:
  description: The fields sent in the PATCH (empty when nothing differed).
  returned: always
  type: dict
  sample: {status: resolved, classification: truePositive}
comment_added:
  description: Whether the comment was added (or, in check mode, would be).
  returned: always
  type: bool
  sample: true
api:
  description: The API used, always V(graph).
  returned: always
  type: str
  sample: graph
diff:
  description: The managed fields before and after, with C(--diff).
  returned: when diff mode is on
  type: dict
  sample: {before: {status: active}, after: {status: resolved}}
"""

from ansible_collections.defender.endpoint.plugins.module_utils import incidents
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError, DefenderOutcomeUnknownError


def read(reader, incident_id):
    incident = reader.one(incident_id)
    if not isinstance(incident, dict):
        raise DefenderError("incident %s not found; nothing was changed" % incident_id, status=404, code="NotFound")
    return incident


def read_back(reader, incident_id, exc, still_missing):
    """After a write whose outcome is unknown: the incident read again, or an error when the change does not show
    (the write is never sent again)."""
    try:
        now = read(reader, incident_id)
    except DefenderError as err:
        raise exc.reworded("%s; incident %s could not be read again to see whether it was applied (%s). It was not "
                           "re-sent: check the incident, then run the task again" % (exc.message, incident_id, err)) \
            from None
    if still_missing(now):
        raise exc.reworded("%s; incident %s read again does not show the change yet. It was not re-sent, because the "
                           "service may still apply it: check the incident, then run the task again"
                           % (exc.message, incident_id))
    return now


def run(m):
    p = m.params
    incident_id = incidents.check_id(p["id"])
    wanted = incidents.wanted_state(p)
    client = m.client(api="graph")
    reader = incidents.Reader(client)
    before = read(reader, incident_id)
    body, comment = incidents.changes_for(before, wanted)

    if m.check_mode:
        after = incidents.predict(before, body, comment)
    else:
        after = before
        if comment is not None:
            try:
                comments = incidents.add_comment(client, incident_id, comment)
                after = dict(after, comments=comments) if comments is not None else read(reader, incident_id)
            except DefenderOutcomeUnknownError as exc:
                after = read_back(reader, incident_id, exc, lambda now: not incidents.has_comment(now, comment))
        if body:
            try:
                answer = client.patch(incidents.incident_path(incident_id), body)
                after = answer if isinstance(answer, dict) and answer.get("id") else read(reader, incident_id)
            except DefenderOutcomeUnknownError as exc:
                after = read_back(reader, incident_id, exc, lambda now: bool(incidents.changes_for(now, wanted)[0]))
            except DefenderError as exc:
                if exc.status == 400:
                    raise exc.reworded("Microsoft Graph rejected the update of incident %s with %s: %s%s" % (
                        incident_id, ", ".join("%s=%r" % kv for kv in sorted(body.items())), exc.message,
                        " (for determination, Graph's pages name some values twice: try the other name)"
                        if "determination" in body else "")) from None
                raise
    result = dict(changed=bool(body) or comment is not None, incident=after, changes=body,
                  comment_added=comment is not None, api="graph")
    if m.diff:
        result["diff"] = dict(before=incidents.managed_view(before), after=incidents.managed_view(after),
                              before_header="incident %s" % incident_id, after_header="incident %s" % incident_id)
    m.exit(**result)


def main():
    m = DefenderModule(
        argument_spec=dict(
            id=dict(type="str", required=True),
            status=dict(type="str"),
            assigned_to=dict(type="str"),
            classification=dict(type="str"),
            determination=dict(type="str"),
            severity=dict(type="str"),
            display_name=dict(type="str"),
            description=dict(type="str"),
            summary=dict(type="str"),
            custom_tags=dict(type="list", elements="str"),
            custom_tags_state=dict(type="str", choices=["present", "absent", "exact"], default="present"),
            comment=dict(type="str"),
        ),
        required_one_of=[("status", "assigned_to", "classification", "determination", "severity", "display_name",
                          "description", "summary", "custom_tags", "comment")],
        supports_check_mode=True,
    )
    m.run(run)


if __name__ == "__main__":
    main()
