# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The user_path filter: relative to the controller's working directory, symbolic links not followed."""

from __future__ import annotations

import os

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.defender.endpoint.plugins.filter.user_path import user_path


def test_relative_to_the_working_directory_and_links_kept(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    monkeypatch.chdir(tmp_path)
    assert user_path("link/out.jsonl") == str(tmp_path / "link" / "out.jsonl")
    assert user_path("./a/../b.csv") == str(tmp_path / "b.csv")
    assert user_path("/abs/x") == "/abs/x"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_path("~/r") == str(tmp_path / "home" / "r")


@pytest.mark.parametrize("bad", ["", "  ", None, 3])
def test_empty_or_not_a_string_is_refused(bad):
    with pytest.raises(AnsibleFilterError, match="non-empty string"):
        user_path(bad)
