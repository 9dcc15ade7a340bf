# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options every module on the machine-action engine (module_utils/machine_actions.py) shares; their argument
spec is machine_actions.action_argument_spec."""

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
  comment:
    description:
      - The comment recorded with the action (C(Comment)); required by the API.
    type: str
    required: true
  wait_sleep:
    description:
      - Seconds between two polls of the actions.
    type: int
    default: 5
  max_parallel:
    description:
      - How many machines are handled at the same time.
    type: int
    default: 8
  requests_per_minute:
    description:
      - Client-side budget of API requests per minute for this task, shared by all parallel workers.
      - The API allows 100 calls per minute (and 1500 per hour) per application and tenant, so two tasks
        running at once with the same app share that limit; a C(429) answer is retried after the
        C(Retry-After) the API sends.
    type: int
    default: 100
"""
