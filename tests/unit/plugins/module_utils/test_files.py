# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files.py: the one atomic, private write that never goes through a link."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.files import AtomicWrite, write_atomically


def test_whole_file_mode_0600_and_no_temporary_left(tmp_path):
    dest = tmp_path / "out.jsonl"
    dest.write_text("old")
    os.chmod(dest, 0o644)
    write_atomically(str(dest), b"new\n")
    assert dest.read_bytes() == b"new\n" and stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["out.jsonl"]


def test_a_failure_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    dest = tmp_path / "out.csv"
    dest.write_text("old")
    with pytest.raises(RuntimeError):
        with AtomicWrite(str(dest), encoding="utf-8") as out:
            out.file.write("half")
            raise RuntimeError("cut")
    assert dest.read_text() == "old" and os.listdir(tmp_path) == ["out.csv"]


def test_keep_false_leaves_dest_as_it_was(tmp_path):
    dest = tmp_path / "same.json"
    dest.write_text("same")
    before = os.stat(dest).st_ino
    with AtomicWrite(str(dest), encoding="utf-8") as out:
        out.file.write("same")
        out.keep = False
    assert os.stat(dest).st_ino == before and os.listdir(tmp_path) == ["same.json"]


def test_refuses_to_write_through_a_symlink(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("precious")
    link = tmp_path / "out.jsonl"
    link.symlink_to(target)
    with pytest.raises(DefenderConfigError, match="is a symbolic link; refusing to write through it"):
        write_atomically(str(link), b"data")
    assert target.read_text() == "precious" and os.path.islink(link)
    write_atomically(str(link), b"data", replace_link=True)  # a file the collection owns: the link is replaced
    assert target.read_text() == "precious" and not os.path.islink(link) and link.read_bytes() == b"data"


def test_refuses_a_fifo_or_a_folder(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(DefenderConfigError, match="exists and is not a regular file"):
        write_atomically(str(fifo), b"data")
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(DefenderConfigError, match="state_file .* is not a regular file"):
        write_atomically(str(folder), b"data", name="state_file")
