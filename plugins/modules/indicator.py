#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: indicator
short_description: Custom indicators (file hashes, IPs, URLs, domains, certificates) as declarative state
description:
  - Makes one indicator (O(value) and O(type)) or many (O(indicators)) present or absent in Defender for Endpoint.
  - Indicators are matched on their type and value (case-insensitive, except URLs). Only indicators that differ
    from the request are sent; an indicator that already matches is left alone, so a second run changes nothing.
  - Several indicators with the same type and value (left over from earlier tools, since the API's own match key
    includes the action) are reduced to one; the others are deleted.
  - One indicator is sent with C(POST /api/indicators) and C(DELETE /api/indicators/{id}). A list goes through
    C(/api/indicators/import) and C(BatchDelete) in chunks of 500, paced to their limit of 30 calls per minute.
    Creations and updates are sent before deletions.
  - A tenant holds at most 15,000 active indicators. The count is checked before anything is sent; a run that would
    pass it fails and sends nothing. With C(Ti.ReadWrite) the app sees only its own indicators, so the check can
    only count those; the service refuses the rest.
  - Values are checked for their type before any request, hashes by length, IP addresses as single addresses (no
    CIDR, range or wildcard; IPv6 with all eight groups), domains without scheme or path, URLs with a host.
  - When the service answers that some items of an import failed (it answers 200 even then), the task fails, naming
    them, and returns what was done.
version_added: 0.2.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  value:
    description:
      - The indicator value, a hash, an IP address, a URL, a domain or a certificate thumbprint.
      - Use this or O(indicators).
    type: str
  type:
    description:
      - The indicator type. Also the default type of O(indicators) entries.
    type: str
    choices: [file_sha1, file_sha256, file_md5, ip, url, domain, certificate_thumbprint]
  action:
    description:
      - What Defender does when it sees the indicator. Required with O(state=present).
      - Files take V(allowed), V(audit), V(warn), V(block) and V(block_and_remediate); IPs, URLs and domains take
        V(allowed), V(audit), V(warn) and V(block); certificates take V(allowed) and V(block_and_remediate).
      - V(audit) implies O(generate_alert=true), as the API requires.
      - V(alert) and V(alert_and_block) were retired in January 2022; they are sent as their replacements with
        O(generate_alert=true), with a warning. V(alert) becomes V(audit) (certificates do not take it, so it is
        refused for them); V(alert_and_block) becomes V(block_and_remediate) for files and certificates and
        V(block) for IPs, URLs and domains (which do not take V(block_and_remediate)).
      - With O(state=absent), only indicators with this action are removed; without it, every indicator of that
        type and value.
      - Also the default action of O(indicators) entries.
    type: str
    choices: [alert, alert_and_block, allowed, audit, block, block_and_remediate, warn]
  title:
    description:
      - Title of the indicator (required by the API for O(state=present)). Also the default of O(indicators) entries.
    type: str
  description:
    description:
      - Description of the indicator (required by the API for O(state=present)). Also the default of O(indicators)
        entries.
    type: str
  severity:
    description:
      - Severity of the alerts the indicator raises.
    type: str
    choices: [Informational, Low, Medium, High]
  expiration:
    description:
      - When the indicator expires and is deleted by the service, an ISO 8601 time such as C(2027-01-31T00:00:00Z).
    type: str
  generate_alert:
    description:
      - Whether a match raises an alert. Not compared when not set.
    type: bool
  recommended_actions:
    description:
      - Recommended actions text shown with the alert.
    type: str
  rbac_group_names:
    description:
      - Device group names the indicator applies to; an empty list means all devices.
      - When not set, an update keeps the indicator's current groups (see the notes).
    type: list
    elements: str
  educate_url:
    description:
      - The page users are sent to when the indicator blocks or warns (C(educateUrl)); only for V(block) and
        V(warn) indicators of type V(url) or V(domain) (Microsoft documents it for Block/Warn URL indicators).
    type: str
  external_id:
    description:
      - Your own correlation id for the indicator, for example a ticket number (C(externalID)).
    type: str
  application:
    description:
      - The application the indicator is associated with (C(application)). The service sets it when the
        indicator is created and ignores it on updates, so a different value on an existing indicator is not an
        update (a warning says so).
    type: str
  indicators:
    description:
      - Many indicators, each a dict with C(value) and, unless set at the top level, C(type), C(action), C(title),
        C(description), and optionally C(severity), C(expiration), C(generate_alert), C(recommended_actions),
        C(rbac_group_names), C(educate_url), C(external_id), C(application). Top-level options are the defaults of
        every entry.
      - Use this or O(value). Sent with import and BatchDelete, even for one entry.
    type: list
    elements: dict
  state:
    description:
      - V(present) creates or updates the indicators; V(absent) deletes them.
    type: str
    choices: [present, absent]
    default: present
notes:
  - "Permissions: C(Ti.ReadWrite.All) (sees and manages every indicator) or C(Ti.ReadWrite) (sees and manages only
    the indicators this app created; indicators of other apps or of the portal are invisible to it, so they are
    neither matched nor counted)."
  - Changing an indicator's action may create a new indicator on the service's side (its match key is not
    documented); the old one is then deleted, after the new one exists.
  - Microsoft does not document whether an update merges the fields it omits or resets them. An update therefore
    sends the complete indicator, the options the task sets plus the current values of the ones it does not
    (severity, expiration, generate_alert, recommended_actions, rbac_group_names, educate_url, external_id), so an
    update cannot widen an indicator scoped to device groups to every device.
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.action
"""

EXAMPLES = r"""
- name: Block a file by its SHA-256
  defender.endpoint.indicator:
    value: 3395856ce81f2b7382dee72602f798b642f14140b8b0a0cb8a1f3edb8ad2b1c9
    type: file_sha256
    action: block_and_remediate
    title: INC-1234 dropper
    description: Dropper found during INC-1234
    severity: High
    generate_alert: true

- name: Block what an investigation found, in one import
  defender.endpoint.indicator:
    action: block
    title: INC-1234
    description: Found during INC-1234
    expiration: "2027-01-31T00:00:00Z"
    indicators:
      - {value: 203.0.113.7, type: ip}
      - {value: bad.example, type: domain}
      - {value: "https://files.example/payload", type: url}

- name: Remove an IP indicator
  defender.endpoint.indicator:
    value: 203.0.113.7
    type: ip
    state: absent
"""

RETURN = r"""
msg:
  description: What was done (or, in check mode, would be done), in counts.
  returned: always
  type: str
  sample: created 1, updated 0, deleted 0 indicator(s)
created:
  description: How many indicators were (or, in check mode, would be) created.
  returned: always
  type: int
  sample: 2
updated:
  description: How many indicators were (or would be) updated.
  returned: always
  type: int
  sample: 0
deleted:
  description: How many indicators were (or would be) deleted (absent ones, duplicates, and ones replaced after an
    action change).
  returned: always
  type: int
  sample: 1
indicators:
  description: One entry per requested indicator.
  returned: always
  type: list
  elements: dict
  contains:
    type:
      description: The indicator type (option spelling).
      type: str
      sample: ip
    value:
      description: The indicator value.
      type: str
      sample: 203.0.113.7
    result:
      description:
        - V(created), V(updated), V(unchanged), V(deleted), V(absent) (nothing to delete) or V(failed).
        - Duplicates removed next to an V(unchanged) or V(updated) indicator are counted in RV(deleted).
      type: str
      sample: created
    id:
      description: The indicator id, when known.
      type: str
      sample: "995"
    indicator:
      description: The indicator as the API returns it after the change (predicted in check mode), or the deleted
        one.
      type: dict
failed_indicators:
  description: Indicators the service refused in an import, with its reason (only when the task fails for them).
  returned: failure
  type: list
  elements: dict
  sample: [{indicator: "file_sha256 aaaa...", reason: "Invalid hash"}]
"""

from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils import indicators as I

DIFF_FIELDS = ("action", "title", "description", "severity", "expirationTime", "generateAlert",
               "recommendedActions", "rbacGroupNames", "educateUrl", "externalID", "application")


def wanted(m):
    p = m.params
    defaults = {k: p.get(k) for k in I.ITEM_KEYS if k != "value" and p.get(k) is not None}
    items = p["indicators"] if p.get("indicators") is not None else [{"value": p.get("value")}]
    if not items:
        raise DefenderConfigError("indicators is an empty list")
    return I.unique([I.desired(item, defaults, p["state"], m.warn) for item in items])


def _view(ind):
    return {f: ind.get(f) for f in DIFF_FIELDS if ind and ind.get(f) is not None} if ind else None


def diff_of(plan):
    before, after = {}, {}
    for entry in plan.results:
        if entry["result"] in ("unchanged", "absent"):
            continue
        name = "%s %s" % (entry["type"], entry["value"])
        if entry["result"] == "deleted":
            before[name], after[name] = _view(entry["indicator"]), None
        elif entry["result"] == "created":
            before[name], after[name] = None, _view(entry["indicator"])
        else:
            old = next((u[1] for u in plan.update if I.key_of(u[0]["indicatorType"], u[0]["indicatorValue"])
                        == I.key_of(I.TYPES[entry["type"]], entry["value"])), entry["indicator"])
            before[name], after[name] = _view(old), _view(entry["indicator"])
    return {"before": before, "after": after}


def run(m):
    p = m.params
    want = wanted(m)  # every value validated before any request
    client = m.client()
    bulk = p.get("indicators") is not None
    if bulk:
        existing = I.read(client)
    else:
        existing = I.read(client, api_type=want[0]["indicatorType"], value=want[0]["indicatorValue"])
    plan = I.plan(want, existing, p["state"])
    if plan.create:
        # The cap counts every active indicator the app can see, not only this value's.
        plan.visible = len(existing) if bulk else len(I.read(client))
        I.check_cap(plan)
    for note in plan.notes:
        m.warn(note)
    changed = bool(plan.create or plan.update or plan.delete)
    result = dict(changed=changed, created=len(plan.create), updated=len(plan.update),
                  deleted=len({str(i.get("id")) for i in plan.delete}), indicators=plan.results)
    if m.diff:
        result["diff"] = diff_of(plan)
    if m.check_mode or not changed:
        m.exit(msg=summary(result, m.check_mode), **result)
    sender = I.Sender(client, bulk)
    sender.send(plan)
    failed = {label for label, _reason in sender.failures}
    for entry in plan.results:
        if "%s %s" % (entry["type"], entry["value"]) in failed:
            entry["result"] = "failed"
    result["created"] = sum(1 for e in plan.results if e["result"] == "created")
    result["updated"] = sum(1 for e in plan.results if e["result"] == "updated")
    result["deleted"] = sender.deleted
    if sender.failures:
        result["failed_indicators"] = [{"indicator": label, "reason": reason} for label, reason in sender.failures]
        m.fail("the service refused %d of %d indicator(s): %s" % (
            len(sender.failures), len(plan.create) + len(plan.update),
            "; ".join("%s (%s)" % f for f in sender.failures[:5])), **result)
    m.exit(msg=summary(result, False), **result)


def summary(result, check_mode):
    return "%screated %d, updated %d, deleted %d indicator(s)" % (
        "would have " if check_mode and result["changed"] else "", result["created"], result["updated"],
        result["deleted"])


def main():
    m = DefenderModule(
        argument_spec=dict(
            value=dict(type="str"),
            type=dict(type="str", choices=list(I.TYPES)),
            action=dict(type="str", choices=sorted(I.ACTIONS)),
            title=dict(type="str"),
            description=dict(type="str"),
            severity=dict(type="str", choices=list(I.SEVERITIES)),
            expiration=dict(type="str"),
            generate_alert=dict(type="bool"),
            recommended_actions=dict(type="str"),
            rbac_group_names=dict(type="list", elements="str"),
            educate_url=dict(type="str"),
            external_id=dict(type="str"),
            application=dict(type="str"),
            indicators=dict(type="list", elements="dict"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("value", "indicators")],
        required_one_of=[("value", "indicators")],
    )
    m.run(run)


if __name__ == "__main__":
    main()
