# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The attributes block: INFO for read-only modules, ACTION for modules that change state."""

from __future__ import annotations


class ModuleDocFragment:

    INFO = r"""
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action_group:
    description: Use C(group/defender.endpoint.all) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - defender.endpoint.all
"""

    ACTION = r"""
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the current state and predicts the change without writing.
  diff_mode:
    support: full
  platform:
    platforms: posix
  action_group:
    description: Use C(group/defender.endpoint.all) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - defender.endpoint.all
"""
