# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No function or class of plugins/ is defined twice in the same scope: the second silently replaces the first
(a second ``machine_label`` turned failure messages into ``None: no machine named ...``)."""

from __future__ import annotations

import ast
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _sources():
    for folder, _dirs, files in os.walk(os.path.join(ROOT, "plugins")):
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def _redefined(body, where):
    seen, out = {}, []
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name in seen and not _is_overload(node):
                out.append("%s: %s defined at lines %d and %d" % (where, node.name, seen[node.name], node.lineno))
            seen[node.name] = node.lineno
            if isinstance(node, ast.ClassDef):
                out.extend(_redefined(node.body, "%s.%s" % (where, node.name)))
    return out


def _is_overload(node):
    # property setters reuse the getter's name on purpose
    return any(isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter") for d in node.decorator_list)


def test_redefinition_is_found():
    tree = ast.parse("def a():\n    pass\n\n\ndef a():\n    pass\n")
    assert _redefined(tree.body, "x") == ["x: a defined at lines 1 and 5"]


def test_no_definition_shadows_another():
    problems = []
    for path in _sources():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        problems.extend(_redefined(tree.body, os.path.relpath(path, ROOT)))
    assert not problems, problems
