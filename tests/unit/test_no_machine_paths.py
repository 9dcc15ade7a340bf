# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No file of the collection names a folder of a developer's machine (a home, root's home, a work tree): shipped
docs and code must work, and read right, on anybody's machine."""

from __future__ import annotations

import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Built from parts so that this file does not match itself.
MACHINE_PATH = re.compile(r"(?<![\w.~$%{}-])/(?:" + "|".join(["ho" + "me", "ro" + "ot", "wo" + "rk"]) + r")/")
SKIP_DIRS = {".git", ".cache", "output", "__pycache__", ".tox", ".pytest_cache", ".hypothesis", "node_modules"}


def _files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".venv")]
        for name in files:
            if name not in SKIP_DIRS:  # a worktree's .git is a file naming where the repository is
                yield os.path.join(folder, name)


def test_no_machine_paths():
    found = []
    for path in _files():
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (UnicodeDecodeError, OSError):
            continue  # binary files
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append("%s:%d: %s" % (os.path.relpath(path, ROOT), number, line.strip()[:120]))
    assert not found, "paths of a developer's machine:\n" + "\n".join(found)


def test_the_check_finds_them():
    for line in ("see " + "/ho" + "me/alice/x", "/ro" + "ot/.cache", "`" + "/wo" + "rk/main/.venv/bin/python`"):
        assert MACHINE_PATH.search(line), line
    for line in ("https://example.com/home/x", "~/.cache/x", "$HOME/x", "a/home/b", "{{ x }}/home/y"):
        assert not MACHINE_PATH.search(line), line
