# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The attributes block: INFO for read-only modules, ACTION for modules that change state.

Self-contained on purpose: a doc fragment's own extends_documentation_fragment is not resolved, so the descriptions
of ansible.builtin.action_common_attributes are repeated here."""

from __future__ import annotations


class ModuleDocFragment:

    INFO = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
  action_group:
    description: Use C(group/defender.endpoint.all) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - defender.endpoint.all
"""

    ACTION = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads the current state and predicts the change without writing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
  action_group:
    description: Use C(group/defender.endpoint.all) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - defender.endpoint.all
"""
