# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The machines a task works on (machine_isolation, machine_app_restriction, machine_action, machine_tag); their
argument spec is machine_actions.specs.MACHINE_SELECTION_SPEC."""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  machine:
    description:
      - One machine, by machine id (40 hexadecimal characters) or computer name (matched exactly, without
        regard to case, against C(computerDnsName)).
      - Exactly one of O(machine) and O(machines) is required.
    type: str
  machines:
    description:
      - Several machines, each a machine id or a computer name as in O(machine).
      - A machine listed twice (also once by name and once by id) is handled once.
    type: list
    elements: str
"""
