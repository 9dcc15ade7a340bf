# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No comment or document cites the team's API notes, which are not in the repository: a reader
cannot follow such a reference. Cite Microsoft's page (a learn.microsoft.com address or its page name), a
documentation issue, or a file of this repository instead."""

from __future__ import annotations

import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FOLDERS = ("plugins", "extensions", "roles", "playbooks", "docs", "benchmarks", "scripts", "tests", "meta")
TOP_FILES = ("README.md", "SECURITY.md", "CONTRIBUTING.md")
SKIP_DIRS = {".git", ".cache", "output", "__pycache__", ".pytest_cache", ".hypothesis", "node_modules"}
# Built from parts so that this file does not match itself.
CITATION = re.compile(r"\b" + "fa" + r"cts(?: sheet|\s*§|\s+\d|\s+[A-Z]\.\d)|" + "api-fa" + r"cts\.md|-tvm-" + "fa" + r"cts",
                      re.IGNORECASE)


def _files():
    for name in TOP_FILES:
        if os.path.exists(os.path.join(ROOT, name)):
            yield os.path.join(ROOT, name)
    for top in FOLDERS:
        for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            for name in files:
                yield os.path.join(folder, name)


def citations(text):
    return [line.strip()[:120] for line in text.splitlines() if CITATION.search(line)]


def test_no_citation_of_documents_outside_the_repository():
    found = []
    for path in _files():
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (UnicodeDecodeError, OSError):
            continue
        found.extend("%s: %s" % (os.path.relpath(path, ROOT), line) for line in citations(text))
    assert not found, "citations of documents that are not in the repository:\n" + "\n".join(found)


def test_the_check_finds_them():
    sheet = "fa" + "cts"
    for line in ("# see the %s sheet 4.4" % sheet, "limits (%s §8.1)" % sheet, "# %s 5.2: always a 400" % sheet,
                 "(%s A.8)" % sheet, "mde-api-%s.md section 11" % sheet):
        assert citations(line), line
    assert not citations("gather_" + sheet + ": false") and not citations("ansible_" + sheet)
