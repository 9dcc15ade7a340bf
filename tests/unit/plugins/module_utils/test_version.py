# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""galaxy.yml is the one source of the version; the User-Agent copy must follow it."""

from __future__ import annotations

import os
import re

from ansible_collections.defender.endpoint.plugins.module_utils._version import COLLECTION_VERSION

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def test_version_matches_galaxy_yml():
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        match = re.search(r"^version:\s*([^\s#]+)", handle.read(), re.M)
    assert match and match.group(1).strip("'\"") == COLLECTION_VERSION, (
        "run scripts/bump-version: galaxy.yml and plugins/module_utils/_version.py disagree")
