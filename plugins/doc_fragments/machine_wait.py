# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for the actions a task sent (machine_isolation, machine_app_restriction); their argument spec is
machine_actions.specs.wait_argument_spec(). machine_action documents its own (it waits for an action already running
too, and longer by default)."""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Wait until each action reaches a final status (C(Succeeded), C(Failed), C(TimeOut), C(Cancelled)).
      - A machine whose action ends C(Failed), C(TimeOut) or C(Cancelled), or is not final after
        O(wait_timeout) seconds, fails with the action's details.
      - Without O(wait), the task ends once the actions are accepted (C(Pending)).
      - An action just created that the API does not show yet (C(404)) is polled again until O(wait_timeout).
        When polling fails (the API keeps answering errors), the machines still waiting fail with that error,
        but their entries in RV(results) (with C(changed=true) and the action that was sent) are kept, and
        nothing is sent again.
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds to wait for actions to reach a final status, with O(wait=true).
      - Also bounds the wait for an action of the other kind that is still pending (see notes), with or
        without O(wait).
    type: int
    default: 300
"""
