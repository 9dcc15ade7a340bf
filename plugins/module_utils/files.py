# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way this collection writes a file: whole or not at all, private, never through a link.

Exports, hunting results, downloaded packages, the token cache, the event source's state and reports all hold
sensitive data and are read by other programs while they may be rewritten, so each goes through
:class:`AtomicWrite`.
"""

from __future__ import annotations

import os
import stat
import tempfile

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError


def check_target(path, name="dest"):
    """Refuse a ``path`` that is a symbolic link, or exists and is not a regular file (a FIFO or device would hang
    or redirect the write, a folder cannot be replaced). A missing file is fine."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(st.st_mode):
        raise DefenderConfigError("%s %s is a symbolic link; refusing to write through it (remove it, or give the "
                                  "real path)" % (name, path))
    if not stat.S_ISREG(st.st_mode):
        raise DefenderConfigError("%s %s exists and is not a regular file; refusing to write there" % (name, path))
    return path


class AtomicWrite:
    """Write ``dest`` through a temporary file in the same folder (mode 0600, so the rename never crosses a file
    system), flushed and fsynced (``durable``), then renamed over ``dest``: a reader sees the old file or the new one,
    never half of it, and a failure leaves the old file and no temporary behind. ``dest`` is checked by
    :func:`check_target` first; ``replace_link=True`` replaces a symbolic link or other non-regular file at
    ``dest`` with the new file instead of refusing (for files the collection owns, such as the token cache: the
    rename never writes through the link).

    ::

        with AtomicWrite(dest) as out:      # out.file: binary, or text when encoding is given
            out.file.write(data)
            out.keep = changed              # False: leave dest as it was (the same content)
    """

    def __init__(self, dest, encoding=None, durable=True, replace_link=False, name="dest", mode=0o600):
        self.dest = os.path.abspath(dest)
        if not replace_link:
            check_target(self.dest, name)
        self.encoding = encoding
        self.durable = durable
        self.mode = mode
        self.keep = True
        self.file = None
        self._tmp = None

    def __enter__(self):
        directory = os.path.dirname(self.dest)
        fd, self._tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(self.dest), suffix=".tmp")
        try:
            if self.mode != 0o600:  # mkstemp creates the file 0600
                os.fchmod(fd, self.mode)
            self.file = os.fdopen(fd, "w" if self.encoding else "wb", encoding=self.encoding)
        except BaseException:
            os.close(fd)
            self._discard()
            raise
        return self

    def __exit__(self, exc_type, _exc, _traceback):
        try:
            if exc_type is None:
                self.file.flush()
                if self.durable:
                    os.fsync(self.file.fileno())
            self.file.close()
            if exc_type is None and self.keep:
                os.replace(self._tmp, self.dest)
                self._tmp = None
        finally:
            self._discard()
        return False

    def _discard(self):
        if self._tmp is not None:
            try:
                os.unlink(self._tmp)
            except OSError:
                pass
            self._tmp = None


def write_atomically(dest, data, **kwargs):
    """``data`` (bytes, or text with ``encoding=``) as the whole content of ``dest`` (see :class:`AtomicWrite`)."""
    with AtomicWrite(dest, **kwargs) as out:
        out.file.write(data)
