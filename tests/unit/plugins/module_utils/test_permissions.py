# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README's permission table is generated from plugins/module_utils/permissions.py and covers every module,
plugin and role of the collection."""

from __future__ import annotations

import os

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import permissions

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
FIX = ("add a row to CONTENT in plugins/module_utils/permissions.py (and any new permission to ROLES), then run "
       "scripts/permissions-table")

# Where each kind of content lives: (directory, how a file or folder there is named).
PLACES = {
    "module": ("plugins/modules", ".py"),
    "lookup": ("plugins/lookup", ".py"),
    "inventory": ("plugins/inventory", ".py"),
    "event_source": ("extensions/eda/plugins/event_source", ".py"),
    "role": ("roles", None),
}


def content_in(root):
    """``{(kind, name)}`` of every module, plugin and role present under ``root``."""
    found = set()
    for kind, (folder, ext) in PLACES.items():
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            continue
        for entry in os.listdir(path):
            if entry.startswith(("_", ".")):
                continue
            if ext is None and os.path.isdir(os.path.join(path, entry)):
                found.add((kind, entry))
            elif ext is not None and entry.endswith(ext):
                found.add((kind, entry[:-len(ext)]))
    return found


def rows():
    return set((kind, name) for kind, name, _needs, _note in permissions.CONTENT)


def test_every_module_plugin_and_role_has_a_row():
    missing = sorted(content_in(ROOT) - rows())
    assert not missing, "no permission row for %s: %s" % (", ".join("%s %s" % m for m in missing), FIX)


def test_every_row_names_content_that_exists():
    stale = sorted(rows() - content_in(ROOT))
    assert not stale, "permission rows for content that does not exist: %s" % ", ".join("%s %s" % s for s in stale)


def test_readme_table_is_generated_from_the_source():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    assert permissions.replace_table(readme) == readme, "README.md's permission table is out of date: run scripts/permissions-table"


def test_rows_are_unique_and_name_known_permissions_and_kinds():
    keys = [(kind, name) for kind, name, _needs, _note in permissions.CONTENT]
    assert len(keys) == len(set(keys))
    for kind, name, needs, note in permissions.CONTENT:
        assert kind in PLACES and kind in permissions.KIND_LABEL, (kind, name)
        assert isinstance(needs, tuple) and all(isinstance(g, tuple) and g for g in needs), name
        for group in needs:
            for role in group:
                assert role in permissions.ROLES, "%s needs %s, which is not in ROLES" % (name, role)
        assert "|" not in note and "\n" not in note, name


def test_display_names_are_the_ones_token_info_uses():
    from ansible_collections.defender.endpoint.plugins.module_utils import token_validation

    assert token_validation.ROLE_DISPLAY_NAMES is permissions.ROLE_DISPLAY_NAMES
    assert permissions.ROLE_DISPLAY_NAMES["Machine.ReadWrite.All"] == "Read and write all machine information"
    assert token_validation.role_label("Machine.Isolate") == 'Machine.Isolate ("Isolate machine")'


# --- the checks themselves can fail ---------------------------------------------------------------------------

def test_a_new_module_without_a_row_is_found(tmp_path):
    (tmp_path / "plugins" / "modules").mkdir(parents=True)
    (tmp_path / "plugins" / "modules" / "machine_teleport.py").write_text("# a module\n")
    (tmp_path / "plugins" / "modules" / "__init__.py").write_text("")
    (tmp_path / "roles" / "incident_response").mkdir(parents=True)
    assert content_in(str(tmp_path)) - rows() == {("module", "machine_teleport")}


def test_an_edited_readme_table_is_found():
    readme = "intro\n   %s\n   | stale | row |\n   %s\nrest\n" % (permissions.BEGIN, permissions.END)
    fixed = permissions.replace_table(readme)
    assert fixed != readme and "| stale | row |" not in fixed
    assert permissions.replace_table(fixed) == fixed
    assert fixed.startswith("intro\n   " + permissions.BEGIN + "\n   | content |") and fixed.endswith("   " + permissions.END + "\nrest\n")


def test_readme_without_markers_is_an_error():
    with pytest.raises(ValueError):
        permissions.replace_table("no table here")


def test_cells():
    assert permissions.needs_text(()) == "none"
    assert permissions.needs_text((("Machine.Isolate",), permissions.MACHINE_READ)) == (
        "`Machine.Isolate` (Isolate machine) **and** either `Machine.Read.All` (Read all machine profiles) or "
        "`Machine.ReadWrite.All` (Read and write all machine information)")
