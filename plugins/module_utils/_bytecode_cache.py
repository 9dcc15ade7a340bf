# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""This collection's module_utils compiled once per source text, not on every task.

Ansible ships a module's module_utils as source files in a zip (AnsiballZ), and Python's zip importer cannot keep the
bytecode it compiles, so every task compiled the collection's module_utils again: about 35 ms of a 0.35 s task,
which was the whole difference to ``ansible.builtin.uri`` (measured, docs/performance.md). Each module imports this
file first; it puts a finder in front of the import system for this collection's module_utils only (nothing else),
and only for those loaded from a zip. The finder compiles such a module once and keeps the code object in
``$XDG_CACHE_HOME/defender.endpoint/bytecode`` (default ``~/.cache/...``), under a name made of Python's bytecode
magic number and the SHA-256 of the source, so a changed source never meets stale bytecode.

What is read back is trusted as much as Python trusts its own ``__pycache__``: only from a directory this user owns
with mode 0700, only files this user owns that nobody else can write, only when the SHA-256 recorded inside matches
the source; anything else is compiled as before (and never fails the task). Turned off with
``DEFENDER_BYTECODE_CACHE=false``. ``PYTHONDONTWRITEBYTECODE`` does not turn it off: that variable keeps
``__pycache__`` folders out of source trees and images (many container images set it), while this cache lives in the
user's cache directory, as msal's token cache does.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import marshal
import os
import stat
import sys
import tempfile
import zipimport

PACKAGE = "ansible_collections.defender.endpoint.plugins.module_utils."
_OFF = ("0", "false", "no", "off")


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "defender.endpoint", "bytecode")


def _private_dir(path, create):
    """True when ``path`` is a directory of this user's with mode 0700 (made so when ``create``)."""
    try:
        if create:
            os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700


class CachingLoader(importlib.abc.Loader):
    """Loads one module from the zip importer's source through the bytecode cache."""

    def __init__(self, zip_loader, fullname, origin, directory):
        self.zip_loader = zip_loader
        self.fullname = fullname
        self.origin = origin
        self.directory = directory
        self.hit = None  # after exec_module: True when the code came from the cache

    def create_module(self, spec):
        return None  # the default module object

    def get_source(self, fullname):
        return self.zip_loader.get_source(fullname)

    def exec_module(self, module):
        source = self.zip_loader.get_data(self.origin)
        digest = hashlib.sha256(source).digest()
        path = os.path.join(self.directory, "%s-%s.bin" % (importlib.util.MAGIC_NUMBER.hex(), digest.hex()))
        # the name a traceback shows: the module's path in the collection (the zip's temporary path changes per task)
        filename = self.fullname.replace(".", "/") + ".py"
        code = self._read(path, digest, filename)
        self.hit = code is not None
        if code is None:
            code = compile(source, filename, "exec", dont_inherit=True)
            self._write(path, digest, code)
        exec(code, module.__dict__)  # pylint: disable=exec-used

    @staticmethod
    def _read(path, digest, filename):
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if st.st_uid != os.getuid() or st.st_mode & 0o022 or not stat.S_ISREG(st.st_mode):
                return None
            with os.fdopen(fd, "rb") as handle:
                fd = None
                data = handle.read()
        finally:
            if fd is not None:
                os.close(fd)
        if data[:32] != digest:
            return None
        try:
            code = marshal.loads(data[32:])
        except (EOFError, ValueError, TypeError):
            return None
        return code if getattr(code, "co_filename", None) == filename else None

    def _write(self, path, digest, code):
        if not _private_dir(self.directory, create=True):
            return
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:  # mkstemp: mode 0600
                handle.write(digest + marshal.dumps(code))
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass


class CachingFinder(importlib.abc.MetaPathFinder):
    """Finds this collection's module_utils in a zip and hands them to :class:`CachingLoader`."""

    def __init__(self, directory):
        self.directory = directory

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(PACKAGE) or path is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, zipimport.zipimporter) or \
                spec.submodule_search_locations is not None or not spec.origin:
            return None  # not from a zip, or a package: the usual import does it
        spec.loader = CachingLoader(spec.loader, fullname, spec.origin, self.directory)
        return spec


def install():
    """Put the finder in front of the import system once per process (unless turned off, or the cache directory
    is not private to this user)."""
    if any(isinstance(f, CachingFinder) for f in sys.meta_path):
        return
    if os.environ.get("DEFENDER_BYTECODE_CACHE", "").strip().lower() in _OFF:
        return
    directory = cache_dir()
    if os.path.lexists(directory) and not _private_dir(directory, create=False):
        return  # someone else's, or open to others: compile as Python would
    # just before the path finder that would find the module in the zip (builtin and frozen modules stay first)
    position = next((i for i, f in enumerate(sys.meta_path) if f is importlib.machinery.PathFinder), len(sys.meta_path))
    sys.meta_path.insert(position, CachingFinder(directory))


install()
