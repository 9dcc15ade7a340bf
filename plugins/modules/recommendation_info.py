#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: recommendation_info
short_description: Read the security recommendations of Defender Vulnerability Management
description:
  - By machine (O(machine)) the recommendations for one machine (C(GET /api/machines/{id}/recommendations)).
  - By software (O(software_id), such as C(microsoft-_-edge)) the recommendations for that product (the list
    filtered by its C(productName) and C(vendor), both documented filter fields).
  - Otherwise the organization's recommendations (C(GET /api/recommendations)), filtered by O(product_name),
    O(vendor), O(status), O(remediation_type), O(min_severity_score) and a raw O(filter).
version_added: 0.3.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  machine:
    description:
      - A machine id (40 hexadecimal characters) or computer name.
    type: str
  software_id:
    description:
      - A software id, C(vendor-_-product) (C(microsoft-_-edge)).
    type: str
  product_name:
    description:
      - Only recommendations for this product name (C(edge)).
    type: str
  vendor:
    description:
      - Only recommendations for products of this vendor.
    type: str
  status:
    description:
      - Only recommendations with this status, as the API writes it (V(Active) in Microsoft's examples; the other
        values are not listed on its pages).
    type: str
  remediation_type:
    description:
      - Only recommendations with this remediation type.
    type: str
    choices: [ConfigurationChange, Update, Upgrade, Uninstall]
  min_severity_score:
    description:
      - Only recommendations with a severity score of at least this (0 to 10).
    type: float
  filter:
    description:
      - A raw OData C($filter) clause, joined to the others with C(and). The API documents filtering on C(id),
        C(productName), C(vendor), C(recommendedVersion), C(recommendationCategory), C(subCategory),
        C(severityScore), C(remediationType), C(recommendedProgram), C(recommendedVendor) and C(status).
    type: str
  limit:
    description:
      - Return at most this many recommendations (list mode).
    type: int
notes:
  - "Permissions: C(SecurityRecommendation.Read.All) (and C(Machine.Read.All) to resolve a computer name)."
seealso:
  - module: defender.endpoint.vulnerability_info
  - module: defender.endpoint.software_info
  - name: List security recommendations
    description: Microsoft's reference for C(GET /api/recommendations).
    link: https://learn.microsoft.com/en-us/defender-endpoint/api/get-all-recommendations
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.info
"""

EXAMPLES = r"""
- name: Active update recommendations with a severity score of 7 or more
  defender.endpoint.recommendation_info:
    status: Active
    remediation_type: Update
    min_severity_score: 7

- name: What Defender recommends for one machine
  defender.endpoint.recommendation_info:
    machine: srv-00042.contoso.com
"""

RETURN = r"""
recommendations:
  description: The recommendations, as the API returns them.
  returned: always
  type: list
  elements: dict
  sample:
    - id: va-_-microsoft-_-edge
      productName: edge
      vendor: microsoft
      recommendationName: Update Edge
      recommendedVersion: 120.0.2210.133
      remediationType: Update
      status: Active
      severityScore: 8.8
      exposedMachinesCount: 42
machine:
  description: The machine read, with O(machine).
  returned: with O(machine)
  type: dict
  sample: {id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07, computerDnsName: ws-00042.contoso.com}
filter:
  description: The OData C($filter) sent (V(null) when none).
  returned: unless O(machine) is given
  type: str
  sample: "status eq 'Active' and severityScore ge 7.0"
count:
  description: How many recommendations were returned.
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.defender.endpoint.plugins.module_utils import vulnerabilities as V
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.machines import check_machine_ref
from ansible_collections.defender.endpoint.plugins.module_utils.validation import check_text


def validate(p):
    machine = check_machine_ref(p["machine"]) if p.get("machine") is not None else None
    given = [k for k in ("software_id", "product_name", "vendor", "status", "remediation_type", "min_severity_score",
                         "filter", "limit") if p.get(k) is not None]
    if machine and given:
        raise DefenderConfigError("%s do not apply with machine" % ", ".join(given))
    if p.get("status") is not None:
        check_text(p["status"], "status")
    if p.get("software_id") is not None and (p.get("product_name") or p.get("vendor")):
        raise DefenderConfigError("software_id already names the product and vendor")
    if p.get("limit") is not None and p["limit"] < 1:
        raise DefenderConfigError("limit must be at least 1, got %d" % p["limit"])
    name, vendor = p.get("product_name"), p.get("vendor")
    if p.get("software_id") is not None:
        vendor, name = V.check_software_id(p["software_id"]).split("-_-", 1)
    flt = None if machine else V.recommendation_filter(name, vendor, p.get("status"), p.get("remediation_type"),
                                                       p.get("min_severity_score"), p.get("filter"))
    return machine, flt


def run(m):
    p = m.params
    machine, flt = validate(p)
    client = m.client()
    if machine:
        found = V.resolve_machine(client, machine)
        recs = V.machine_recommendations(client, found["id"])
        return m.exit(changed=False, machine=found, recommendations=recs, count=len(recs))
    recs = V.list_recommendations(client, flt, limit=p.get("limit"))
    m.exit(changed=False, recommendations=recs, filter=flt, count=len(recs))


def main():
    m = DefenderModule(
        argument_spec=dict(
            machine=dict(type="str"),
            software_id=dict(type="str"),
            product_name=dict(type="str"),
            vendor=dict(type="str"),
            status=dict(type="str"),
            remediation_type=dict(type="str", choices=list(V.REMEDIATION_TYPES)),
            min_severity_score=dict(type="float"),
            filter=dict(type="str"),
            limit=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    m.run(run)


if __name__ == "__main__":
    main()
