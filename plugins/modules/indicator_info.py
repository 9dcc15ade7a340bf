#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: indicator_info
short_description: Read custom indicators
description:
  - Lists the custom indicators the app can see, filtered by O(value), O(type), O(action) and a raw OData O(filter).
  - Pages past the API's 10,000 items per request.
version_added: 0.2.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  value:
    description:
      - Only indicators with exactly this value.
    type: str
  type:
    description:
      - Only indicators of this type.
    type: str
    choices: [file_sha1, file_sha256, file_md5, ip, url, domain, certificate_thumbprint]
  action:
    description:
      - Only indicators with this action (V(alert) and V(alert_and_block) find indicators created before those
        actions were retired).
    type: str
    choices: [alert, alert_and_block, allowed, audit, block, block_and_remediate, warn]
  filter:
    description:
      - A raw OData C($filter) clause, joined to the others with C(and). The API documents filtering on
        C(application), C(createdByDisplayName), C(expirationTime), C(generateAlert), C(title), C(rbacGroupNames),
        C(rbacGroupIds), C(indicatorValue), C(indicatorType), C(creationTimeDateTimeUtc), C(createdBy), C(action)
        and C(severity).
    type: str
  limit:
    description:
      - Read at most this many indicators.
    type: int
notes:
  - "Permissions: C(Ti.ReadWrite.All) (every indicator) or C(Ti.ReadWrite) (only those this app created)."
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.info
"""

EXAMPLES = r"""
- name: Every blocked IP
  defender.endpoint.indicator_info:
    type: ip
    action: block

- name: Indicators that expire this year
  defender.endpoint.indicator_info:
    filter: "expirationTime lt 2027-01-01T00:00:00Z"
"""

RETURN = r"""
indicators:
  description: The indicators as the API returns them, in id order.
  returned: always
  type: list
  elements: dict
  sample:
    - id: "995"
      indicatorValue: 203.0.113.7
      indicatorType: IpAddress
      action: Block
      title: INC-1234
      description: Found during INC-1234
      severity: High
      generateAlert: true
      createdBy: 0a1b2c3d-0001-4000-8000-00000000f011
      creationTimeDateTimeUtc: "2026-11-29T12:00:00.0000000Z"
      expirationTime: "2027-01-31T00:00:00Z"
      rbacGroupNames: []
count:
  description: How many indicators were returned.
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.odata import raw_clause
from ansible_collections.defender.endpoint.plugins.module_utils.validation import check_text
from ansible_collections.defender.endpoint.plugins.module_utils import indicators as I


def run(m):
    p = m.params
    api_type = I.TYPES[p["type"]] if p.get("type") else None
    value = p.get("value")
    if value is not None and api_type:
        value = I.check_value(api_type, value)
    elif value is not None:
        value = check_text(value, "value")
    raw = raw_clause(p["filter"]) if p.get("filter") is not None else None
    if p.get("limit") is not None and p["limit"] < 1:
        raise DefenderConfigError("limit must be 1 or more")
    found = I.read(m.client(), api_type=api_type, value=value, action=I.ACTIONS[p["action"]] if p.get("action") else None,
                   raw=raw, limit=p.get("limit"))
    found.sort(key=I.id_order)
    m.exit(changed=False, indicators=found, count=len(found))


def main():
    m = DefenderModule(
        argument_spec=dict(
            value=dict(type="str"),
            type=dict(type="str", choices=list(I.TYPES)),
            action=dict(type="str", choices=sorted(I.ACTIONS)),
            filter=dict(type="str"),
            limit=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    m.run(run)


if __name__ == "__main__":
    main()
