#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: software_info
short_description: Read the software inventory of Defender Vulnerability Management
description:
  - By software id (O(software_id), such as C(microsoft-_-edge)) the product, and on request the machines that
    have it (O(include_machines)) and its vulnerabilities (O(include_vulnerabilities)).
  - By machine (O(machine)) the software installed on one machine (C(GET /api/machines/{id}/software)).
  - Otherwise the organization's software list (C(GET /api/Software)), filtered by O(name), O(vendor) and a raw
    O(filter).
version_added: 0.3.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  software_id:
    description:
      - A software id, C(vendor-_-product) as the API writes it (C(microsoft-_-edge), C(openssl-_-openssl)).
    type: str
  machine:
    description:
      - A machine id (40 hexadecimal characters) or computer name.
    type: str
  include_machines:
    description:
      - With O(software_id), also read the machines that have it (C(GET /api/Software/{id}/machineReferences)).
    type: bool
    default: false
  include_vulnerabilities:
    description:
      - With O(software_id), also read its vulnerabilities (C(GET /api/Software/{id}/vulnerabilities)).
    type: bool
    default: false
  name:
    description:
      - Only software with exactly this name (C(edge), C(openssl)).
    type: str
  vendor:
    description:
      - Only software of exactly this vendor (C(microsoft)).
    type: str
  filter:
    description:
      - A raw OData C($filter) clause, joined to the others with C(and). The API documents filtering on C(id),
        C(name) and C(vendor).
    type: str
  limit:
    description:
      - Return at most this many products (list mode).
    type: int
notes:
  - "Permissions: C(Software.Read.All); C(Vulnerability.Read.All) for O(include_vulnerabilities) (Microsoft's page
    for that call is not explicit; both are safe to grant); C(Machine.Read.All) to resolve a computer name."
seealso:
  - module: defender.endpoint.vulnerability_info
  - module: defender.endpoint.recommendation_info
  - name: List software
    description: Microsoft's reference for C(GET /api/Software).
    link: https://learn.microsoft.com/en-us/defender-endpoint/api/get-software
extends_documentation_fragment:
  - defender.endpoint.connection
  - defender.endpoint.attributes.info
"""

EXAMPLES = r"""
- name: Where is OpenSSL installed, and which CVEs does it carry
  defender.endpoint.software_info:
    software_id: openssl-_-openssl
    include_machines: true
    include_vulnerabilities: true

- name: Software on one machine
  defender.endpoint.software_info:
    machine: srv-00042.contoso.com

- name: Every Microsoft product in the inventory
  defender.endpoint.software_info:
    vendor: microsoft
"""

RETURN = r"""
software:
  description: The products, as the API returns them.
  returned: always
  type: list
  elements: dict
  sample:
    - id: microsoft-_-edge
      name: edge
      vendor: microsoft
      weaknesses: 8
      publicExploit: true
      activeAlert: false
      exposedMachines: 42
      impactScore: 2.11
machines:
  description: The machines that have the product (C(id), C(computerDnsName), C(osPlatform), C(rbacGroupName)).
  returned: with O(include_machines)
  type: list
  elements: dict
  sample: [{id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07, computerDnsName: ws-00042.contoso.com}]
vulnerabilities:
  description: The product's vulnerabilities.
  returned: with O(include_vulnerabilities)
  type: list
  elements: dict
  sample: [{id: CVE-2024-21412, severity: High}]
machine:
  description: The machine read, with O(machine).
  returned: with O(machine)
  type: dict
  sample: {id: 1e5bc9d7e413ddd7902c2932e418702b84d0cc07, computerDnsName: ws-00042.contoso.com}
not_found:
  description: True when O(software_id) is not in the inventory.
  returned: with O(software_id)
  type: bool
  sample: false
filter:
  description: The OData C($filter) sent in list mode (V(null) when none).
  returned: in list mode
  type: str
  sample: "vendor eq 'microsoft'"
count:
  description: How many products were returned.
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.defender.endpoint.plugins.module_utils import vulnerabilities as V
from ansible_collections.defender.endpoint.plugins.module_utils.module import DefenderModule
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.machines import check_machine_ref


def validate(p):
    software_id = V.check_software_id(p["software_id"]) if p.get("software_id") is not None else None
    machine = check_machine_ref(p["machine"]) if p.get("machine") is not None else None
    list_only = [k for k in ("name", "vendor", "filter", "limit") if p.get(k) is not None]
    if (software_id or machine) and list_only:
        raise DefenderConfigError("%s apply to the software list, not with software_id or machine" % ", ".join(list_only))
    if not software_id and (p["include_machines"] or p["include_vulnerabilities"]):
        raise DefenderConfigError("include_machines and include_vulnerabilities need software_id")
    if p.get("limit") is not None and p["limit"] < 1:
        raise DefenderConfigError("limit must be at least 1, got %d" % p["limit"])
    flt = None if software_id or machine else V.software_filter(p.get("name"), p.get("vendor"), p.get("filter"))
    return software_id, machine, flt


def run(m):
    p = m.params
    software_id, machine, flt = validate(p)
    client = m.client()
    if software_id:
        one = V.get_software(client, software_id)
        out = dict(changed=False, software=[one] if one else [], not_found=one is None, count=1 if one else 0)
        if one and p["include_machines"]:
            out["machines"] = V.software_part(client, one["id"], "machineReferences")
        if one and p["include_vulnerabilities"]:
            out["vulnerabilities"] = V.software_part(client, one["id"], "vulnerabilities")
        return m.exit(**out)
    if machine:
        found = V.resolve_machine(client, machine)
        software = V.machine_software(client, found["id"])
        return m.exit(changed=False, machine=found, software=software, count=len(software))
    software = V.list_software(client, flt, limit=p.get("limit"))
    m.exit(changed=False, software=software, filter=flt, count=len(software))


def main():
    m = DefenderModule(
        argument_spec=dict(
            software_id=dict(type="str"),
            machine=dict(type="str"),
            include_machines=dict(type="bool", default=False),
            include_vulnerabilities=dict(type="bool", default=False),
            name=dict(type="str"),
            vendor=dict(type="str"),
            filter=dict(type="str"),
            limit=dict(type="int"),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("software_id", "machine")],
    )
    m.run(run)


if __name__ == "__main__":
    main()
