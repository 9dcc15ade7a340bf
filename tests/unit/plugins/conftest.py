# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every unit test gets its own folder for the controller-wide rate budgets (module_utils.rate.budget_dir): a
budget's state outlives the process, so tests sharing the user's folder would wait for each other's requests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_budget_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DEFENDER_BUDGET_DIR", str(tmp_path / "budgets"))
