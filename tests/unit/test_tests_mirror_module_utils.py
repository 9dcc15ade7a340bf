# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The unit tests mirror plugins/module_utils: each file (of a package too) has tests of its own in
tests/unit/plugins/module_utils/[<package>/]test_<file>.py, so a maintainer finds them where the code is."""

from __future__ import annotations

import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CODE = os.path.join(ROOT, "plugins", "module_utils")
TESTS = os.path.join(ROOT, "tests", "unit", "plugins", "module_utils")


def expected_tests():
    for folder, dirs, files in os.walk(CODE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        package = os.path.relpath(folder, CODE)
        for name in sorted(files):
            if name.endswith(".py") and name != "__init__.py":
                yield os.path.normpath(os.path.join(package, "test_%s" % name.lstrip("_")))


def test_every_module_utils_file_has_its_test_file():
    missing = [path for path in expected_tests() if not os.path.isfile(os.path.join(TESTS, path))]
    assert not missing, "module_utils files without tests/unit/plugins/module_utils/<same path>: %s" % missing
