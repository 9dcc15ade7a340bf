# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs live_response and prints its progress while it works (see plugin_utils/_progress.py)."""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.plugin_utils._progress import ProgressAction


class ActionModule(ProgressAction):
    pass
