# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_bytecode_cache, the way AnsiballZ runs it: module_utils from a zip, in a fresh interpreter each time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE_UTILS = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "plugins", "module_utils"))
PREFIX = "ansible_collections/defender/endpoint/plugins/module_utils/"
PROBE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.defender.endpoint.plugins.module_utils import _bytecode_cache
from ansible_collections.defender.endpoint.plugins.module_utils import odata
loader = odata.__spec__.loader
print(json.dumps({"cached_loader": isinstance(loader, _bytecode_cache.CachingLoader),
                  "hit": getattr(loader, "hit", None), "literal": odata.literal("O'Brien"),
                  "file": odata.literal.__code__.co_filename}))
"""


def make_zip(path, odata_source=None):
    with zipfile.ZipFile(path, "w") as archive:
        for package in ("ansible_collections/", "ansible_collections/defender/", "ansible_collections/defender/endpoint/",
                        "ansible_collections/defender/endpoint/plugins/", PREFIX):
            archive.writestr(package + "__init__.py", "")
        for name in ("_bytecode_cache.py", "odata.py", "errors.py", "validation.py"):
            with open(os.path.join(MODULE_UTILS, name), encoding="utf-8") as handle:
                source = handle.read()
            if name == "odata.py" and odata_source is not None:
                source = odata_source(source)
            archive.writestr(PREFIX + name, source)
    return str(path)


def probe(zip_path, cache_home, **env):
    environ = dict(os.environ, XDG_CACHE_HOME=str(cache_home), **env)
    environ.pop("PYTHONPATH", None)  # only the zip: nothing of the checkout may be imported
    out = subprocess.run([sys.executable, "-c", PROBE, zip_path], env=environ, capture_output=True, text=True,
                         check=True, cwd=str(cache_home))
    return json.loads(out.stdout)


@pytest.fixture
def cache_home(tmp_path):
    home = tmp_path / "cache"
    home.mkdir()
    return home


def cache_files(cache_home):
    directory = cache_home / "defender.endpoint" / "bytecode"
    return sorted(directory.iterdir()) if directory.is_dir() else []


def test_compiled_once_then_read_back(tmp_path, cache_home):
    zip_path = make_zip(tmp_path / "payload.zip")
    first = probe(zip_path, cache_home)
    assert first["cached_loader"] and first["hit"] is False and first["literal"] == "'O''Brien'"
    files = cache_files(cache_home)
    assert files and all(oct(f.stat().st_mode & 0o777) == "0o600" for f in files)
    assert oct((cache_home / "defender.endpoint" / "bytecode").stat().st_mode & 0o777) == "0o700"
    second = probe(zip_path, cache_home)
    assert second["hit"] is True and second["literal"] == "'O''Brien'"
    assert second["file"] == PREFIX + "odata.py", "tracebacks name the collection path, not a temporary zip"


def test_a_changed_source_is_compiled_again_never_served_stale(tmp_path, cache_home):
    probe(make_zip(tmp_path / "a.zip"), cache_home)
    old = 'return "\'" + value.replace("\'", "\'\'") + "\'"'
    changed = make_zip(tmp_path / "b.zip", lambda s: s.replace(old, 'return "[" + value + "]"'))
    got = probe(changed, cache_home)
    assert got["hit"] is False and got["literal"] == "[O'Brien]"


@pytest.mark.parametrize("spoil", ["garbage", "other_digest", "group_writable", "open_directory"])
def test_a_spoiled_cache_is_not_used(tmp_path, cache_home, spoil):
    zip_path = make_zip(tmp_path / "payload.zip")
    probe(zip_path, cache_home)
    directory = cache_home / "defender.endpoint" / "bytecode"
    for f in cache_files(cache_home):
        if spoil == "garbage":
            f.write_bytes(f.read_bytes()[:32] + b"not marshal data")
        elif spoil == "other_digest":
            f.write_bytes(b"\0" * 32 + f.read_bytes()[32:])
        elif spoil == "group_writable":
            f.chmod(0o620)
    if spoil == "open_directory":
        directory.chmod(0o777)
    got = probe(zip_path, cache_home)
    assert got["hit"] in (False, None) and got["literal"] == "'O''Brien'"
    if spoil == "open_directory":
        assert got["cached_loader"] is False, "a directory others can write to is not used at all"


def test_turned_off_and_only_for_zips(tmp_path, cache_home):
    got = probe(make_zip(tmp_path / "payload.zip"), cache_home, DEFENDER_BYTECODE_CACHE="false")
    assert got["cached_loader"] is False and cache_files(cache_home) == []
    # imported from a directory (unit tests, the controller), the finder stands aside
    from ansible_collections.defender.endpoint.plugins.module_utils import _bytecode_cache, odata
    assert not isinstance(odata.__spec__.loader, _bytecode_cache.CachingLoader)
