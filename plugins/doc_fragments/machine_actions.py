# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options every module on the machine-action engine (module_utils/machine_actions/) shares besides the machines
(defender.endpoint.machine_selection); their argument spec is machine_actions.specs.ACTION_SPEC."""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
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
      - Client-side budget of API requests per minute, shared by all parallel workers (and by every client of the
        task using the same application and API host); the hourly budget follows in proportion (1500 per hour for
        100 per minute).
      - The API allows 100 calls per minute (and 1500 per hour) per application and tenant. Requests are paced
        evenly rather than sent in bursts; a C(429) answer pauses every worker until the C(Retry-After) the API
        sends (at most O(max_retry_wait)) and slows the budget down, which then grows back slowly, so a stricter or
        shared limit is met with few C(429) answers.
      - When the machines need more requests than the hourly budget allows, the task warns before it starts, with
        the time it will take.
    type: int
    default: 100
"""
