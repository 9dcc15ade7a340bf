# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: indicators_csv
short_description: The indicators of a CSV text, as entries for defender.endpoint.indicator
description:
  - Reads CSV text with Python's CSV reader, so a quoted cell may hold commas, quotes and line breaks, and a UTF-8
    byte order mark (as Excel writes it) is dropped.
  - The first row names the columns (case and surrounding spaces do not matter), at least C(value); the other
    columns are keys of the O(defender.endpoint.indicator#module:indicators) entries, such as C(type), C(action),
    C(title), C(description), C(severity), C(expiration), C(generate_alert), C(rbac_group_names).
  - Empty cells are left out (the module's defaults apply). C(rbac_group_names) is split on C(;); C(generate_alert)
    takes C(true)/C(false) (also C(yes)/C(no), C(1)/C(0)). Empty rows are skipped.
  - A row with more cells than the header has, or a header without C(value), is an error naming the line.
version_added: 0.4.0
author:
  - defender.endpoint contributors (!UNKNOWN)
options:
  _input:
    description: The CSV text, for example from C(lookup('ansible.builtin.file', path)).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Block what a CSV file lists
  defender.endpoint.indicator:
    indicators: "{{ lookup('ansible.builtin.file', '/srv/soc/iocs.csv') | defender.endpoint.indicators_csv }}"
    action: block
    title: INC-1234
    description: IOCs of INC-1234
"""

RETURN = r"""
_value:
  description: One dict per data row.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.indicators import entries_from_csv


def indicators_csv(text):
    try:
        return entries_from_csv(text)
    except DefenderConfigError as exc:
        raise AnsibleFilterError("defender.endpoint.indicators_csv: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"indicators_csv": indicators_csv}
