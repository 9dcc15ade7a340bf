# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing records to a file: JSON Lines or CSV, streamed, atomic, and ``changed`` only when the content differs.

Used by ``alert_export`` (and by any module that writes what it reads to ``dest``). Records are written as they
arrive, so memory does not grow with their number. The file is written to a temporary file in the destination's
directory (mode 0600) while a SHA-256 of the content is computed; it replaces ``dest`` only when that digest
differs from the existing file's, so a re-run that finds the same records leaves the file (and its timestamp)
alone and reports no change. In check mode the same digest is computed without writing anything, so the
prediction is exact.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gc
import hashlib
import io
import itertools
import json
import operator
import os
import re

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.files import AtomicWrite
from ansible_collections.defender.endpoint.plugins.module_utils.validation import has_control

FORMATS = ("jsonl", "csv")
LIST_SEPARATOR = ", "
# A spreadsheet runs a cell that starts with one of these as a formula ("CSV injection"); such text gets an
# apostrophe before it, which spreadsheets show as text. Not only at the start of a cell: also after a separator
# (and spaces), since a spreadsheet whose locale splits on ";" (or "|", a tab) may cut an unquoted cell there.
# Every field is quoted as well. raw=True writes the values as they are (for programs, not spreadsheets).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_CHARS = "".join(FORMULA_START)
_FORMULA = re.compile(r"(^|[,;|\t\r\n])( *)(?=[=+\-@\t\r])")


def defuse(text):
    """``text`` with an apostrophe before every formula start (at the beginning and after each separator)."""
    return _FORMULA.sub(r"\1\2'", text)


def check_dest(dest):
    """The absolute destination path, checked before anything is read."""
    if not isinstance(dest, str) or not dest.strip():
        raise DefenderConfigError("dest must be a file path")
    dest = os.path.abspath(os.path.expanduser(dest))
    directory = os.path.dirname(dest) or "."
    if os.path.islink(dest):
        raise DefenderConfigError("dest %s is a symbolic link; refusing to write through it (remove it, or give the "
                                  "real path)" % dest)
    if os.path.isdir(dest):
        raise DefenderConfigError("dest %s is a directory; give a file name" % dest)
    if os.path.exists(dest) and not os.path.isfile(dest):
        # a FIFO or device: reading it for the digest would hang, writing would go to whatever it is
        raise DefenderConfigError("dest %s exists and is not a regular file; refusing to write there" % dest)
    if not os.path.isdir(directory):
        raise DefenderConfigError("the directory of dest (%s) does not exist" % directory)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DefenderConfigError("the directory of dest (%s) is not writable" % directory)
    return dest


def check_columns(columns):
    """A de-duplicated list of column paths (``title``, ``comments.0.comment``)."""
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = columns.split(",")
    out = []
    for column in columns:
        if not isinstance(column, str) or not column.strip():
            raise DefenderConfigError("columns must be non-empty field names, got %r" % (column,))
        column = column.strip()
        if any(not part for part in column.split(".")) or has_control(column):
            raise DefenderConfigError("column %r is not a field name or dotted path such as comments.0.comment"
                                      % column[:80])
        if column not in out:
            out.append(column)
    if not out:
        raise DefenderConfigError("columns must not be empty")
    return out


def lookup(record, path):
    """The value at a dotted ``path`` (``evidence.0.sha1``); None when any step is missing."""
    value = record
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit():
            index = int(part)
            value = value[index] if index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def cell(value, raw=False):
    """One CSV cell: nested values flattened, formula-looking text defused (unless ``raw``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        text = LIST_SEPARATOR.join("" if v is None else str(v) for v in value)
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return text if raw else defuse(text)


class _Sink:
    """A text stream that hashes what it is given and writes it, UTF-8 encoded once, to a binary file (or
    nowhere, in check mode)."""

    def __init__(self, handle=None):
        self.handle = handle
        self.digest = hashlib.sha256()

    def write(self, text):
        # surrogatepass: a lone surrogate the service escaped and json decoded is written, not a traceback
        data = text.encode("utf-8", "surrogatepass")
        self.digest.update(data)
        if self.handle is not None:
            self.handle.write(data)
        return len(text)


def file_digest(path):
    """SHA-256 hex digest of an existing file, None when there is no file."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def _blocks(records, size=1000):
    """Lists of up to ``size`` records."""
    records = iter(records)
    while True:
        block = list(itertools.islice(records, size))
        if not block:
            return
        yield block


@contextlib.contextmanager
def _no_cyclic_gc():
    """The cyclic garbage collector off while records are written, as it was found after.

    An export allocates millions of short-lived objects without reference cycles (decoded alerts, cells, rows),
    which reference counting frees; the cyclic collector, triggered by their number, finds nothing in them and
    took 8 % of a CSV export's time (measured). A module process runs one export at a time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _write(blocks, sink, fmt, columns, encoded, on_progress, raw=False):
    # Whole blocks (a page of alerts, or 1,000 records) are encoded, hashed and written at once: one call per line
    # showed in profiles. Each block is dropped before the next is asked for, so memory stays within one block.
    count = 0
    if fmt == "jsonl":
        dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        for block in blocks:
            text = "\n".join(block if encoded else map(dumps, block))
            if block:
                sink.write(text)
                sink.write("\n")
            count += len(block)
            block = text = None
            on_progress(count)
    else:
        quoting = csv.QUOTE_MINIMAL if raw else csv.QUOTE_ALL
        csv.writer(sink, lineterminator="\r\n", quoting=quoting).writerow([cell(c, raw) for c in columns])
        for block in blocks:
            # Column by column, common cells (text, None, whole numbers) inline: a function call per cell was two
            # thirds of a CSV export's time. Each block is written through one buffer: one hash and write call.
            buffer = io.StringIO()
            cells = functools.partial(_cells, raw=raw)
            csv.writer(buffer, lineterminator="\r\n", quoting=quoting).writerows(
                zip(*map(cells, _columns(block, columns))))
            sink.write(buffer.getvalue())
            count += len(block)
            block = buffer = None
            on_progress(count)
    return count


def _columns(records, paths):
    """For each of ``paths``, the values there of each record (None where missing)."""
    if not any("." in path for path in paths):
        try:  # C speed: the API sends every property of an alert (null when empty), so the usual block has them all
            return list(zip(*map(operator.itemgetter(*paths), records))) if len(paths) > 1 else \
                [list(map(operator.itemgetter(paths[0]), records))]
        except (KeyError, TypeError):  # a property missing, or a record that is not an object
            pass
    return [[lookup(record, path) for record in records] for path in paths]


def _cells(values, raw=False):
    """The CSV cells of one column: :func:`cell` of each value, with text, None and integers handled inline."""
    # type() is, not isinstance(): a bool is an int, and must go through cell() to become true/false
    # pylint: disable=unidiomatic-typecheck
    if raw:
        return [v if type(v) is str else  # noqa: E721
                "" if v is None else str(v) if type(v) is int else cell(v, True) for v in values]  # noqa: E721
    search, sub = _FORMULA.search, _FORMULA.sub
    return [(sub(r"\1\2'", v) if search(v) else v) if type(v) is str else  # noqa: E721
            "" if v is None else str(v) if type(v) is int else cell(v) for v in values]  # noqa: E721


def export(records, dest, fmt="jsonl", columns=None, check_mode=False, on_progress=None, raw=False):
    """Stream ``records`` (dicts) to ``dest``; returns ``dict(count, changed, sha256)``.

    ``dest`` is replaced atomically, and only when the new content differs from the file's; the temporary file
    is removed on any failure, leaving ``dest`` as it was. ``on_progress(count)`` is called after each block of
    records written (progress reporting).
    """
    return export_blocks(_blocks(records), dest, fmt=fmt, columns=columns, check_mode=check_mode,
                         on_progress=on_progress, raw=raw)


def export_blocks(blocks, dest, fmt="jsonl", columns=None, check_mode=False, on_progress=None, encoded=False,
                  raw=False):
    """:func:`export` for records that come in lists (a page at a time). ``encoded=True``: the records are
    JSON texts already, each on one line (:func:`odata.split_collection`), written as they are (JSON Lines
    only). ``raw=True``: CSV cells as they are (see FORMULA_START)."""
    if fmt not in FORMATS:
        raise DefenderConfigError("format must be one of %s, got %r" % (", ".join(FORMATS), fmt))
    if fmt == "csv" and not columns:
        raise DefenderConfigError("columns are needed for CSV")
    if encoded and fmt != "jsonl":
        raise DefenderConfigError("JSON texts can only be written as JSON Lines")
    on_progress = on_progress or (lambda count: None)
    before = file_digest(dest)
    if check_mode:
        sink = _Sink()
        with _no_cyclic_gc():
            count = _write(blocks, sink, fmt, columns, encoded, on_progress, raw)
        after = sink.digest.hexdigest()
        return dict(count=count, changed=after != before, sha256=after)

    with AtomicWrite(dest) as out:  # 0600: alerts hold sensitive data
        sink = _Sink(out.file)
        with _no_cyclic_gc():
            count = _write(blocks, sink, fmt, columns, encoded, on_progress, raw)
        after = sink.digest.hexdigest()
        changed = out.keep = after != before
    return dict(count=count, changed=changed, sha256=after)
