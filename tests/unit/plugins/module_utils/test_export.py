# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""export: the fast CSV paths write what the per-cell reference functions would, and the collector comes back on."""

from __future__ import annotations

import csv
import gc
import io

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.defender.endpoint.plugins.module_utils import export as X

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | \
    st.text(max_size=6) | st.sampled_from(["=1+1", "+x", "-2", "@a", "\tx", "\rx", ""])
VALUES = st.recursive(SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=2),
                      max_leaves=5)
RECORDS = st.lists(st.one_of(st.dictionaries(st.sampled_from(["id", "title", "n", "evidence"]), VALUES),
                             st.fixed_dictionaries({"id": VALUES, "title": VALUES, "n": VALUES,
                                                    "evidence": st.lists(st.fixed_dictionaries({"sha1": VALUES}))}),
                             SCALARS, st.lists(SCALARS, max_size=2)), max_size=8)


def reference_csv(records, columns):
    """The per-cell way: one cell() per value, lookup() for every path (what the fast paths must equal)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow([X.cell(c) for c in columns])
    writer.writerows([X.cell(X.lookup(r, c)) for c in columns] for r in records)
    return out.getvalue()


@settings(max_examples=400, deadline=None)
@given(values=st.lists(VALUES, max_size=10))
def test_cells_equal_cell_of_each_value(values):
    assert X._cells(values) == [X.cell(v) for v in values]


@settings(max_examples=300, deadline=None)
@given(records=RECORDS, columns=st.sampled_from([["id"], ["id", "title", "n"], ["title", "evidence.0.sha1"],
                                                 ["n", "id", "evidence"]]))
def test_csv_blocks_equal_the_per_cell_reference(records, columns, tmp_path_factory):
    dest = str(tmp_path_factory.mktemp("csv") / "out.csv")
    result = X.export_blocks([records[:3], records[3:]], dest, fmt="csv", columns=columns)
    with open(dest, encoding="utf-8", newline="") as handle:
        assert handle.read() == reference_csv(records, columns)
    assert result["count"] == len(records)


def test_the_cyclic_collector_is_back_on_after_an_export_even_a_failed_one(tmp_path):
    assert gc.isenabled()

    def failing():
        yield [{"id": "a"}]
        assert not gc.isenabled(), "off while writing"
        raise RuntimeError("read failed")

    with pytest.raises(RuntimeError):
        X.export_blocks(failing(), str(tmp_path / "a.jsonl"))
    assert gc.isenabled() and list(tmp_path.iterdir()) == []
    gc.disable()
    try:
        X.export([{"id": "a"}], str(tmp_path / "b.jsonl"), check_mode=True)
        assert not gc.isenabled(), "left as it was found"
    finally:
        gc.enable()


def test_encoded_records_only_as_json_lines(tmp_path):
    with pytest.raises(X.DefenderConfigError, match="JSON Lines"):
        X.export_blocks([['{"id":"a"}']], str(tmp_path / "a.csv"), fmt="csv", columns=["id"], encoded=True)
    out = X.export_blocks([['{"id": "a"}', '{"id":"b"}'], [], ['["c"]']], str(tmp_path / "a.jsonl"), encoded=True)
    assert out["count"] == 3
    assert (tmp_path / "a.jsonl").read_text(encoding="utf-8") == '{"id": "a"}\n{"id":"b"}\n["c"]\n'


# --- issue 22 item 6: CSV injection ---------------------------------------------------------------------------------

def test_every_field_quoted_and_formulas_neutralised_after_separators_and_in_the_header(tmp_path):
    dest = str(tmp_path / "out.csv")
    records = [{"id": "a1", "title": "x;=1+1;cmd|'/C calc'!A0", "n": 5, "=HYPERLINK(1)": "y,@SUM(A1)"}]
    X.export_blocks([records], dest, fmt="csv", columns=["id", "title", "n", "=HYPERLINK(1)"])
    with open(dest, encoding="utf-8", newline="") as handle:
        text = handle.read()
    assert text.splitlines()[0] == '"id","title","n","\'=HYPERLINK(1)"'
    assert text.splitlines()[1] == '"a1","x;\'=1+1;cmd|\'/C calc\'!A0","5","y,\'@SUM(A1)"'
    # no unquoted field, whatever separator a spreadsheet's locale uses
    assert all(line.startswith('"') and line.endswith('"') for line in text.splitlines())


def test_raw_values_for_machine_consumers(tmp_path):
    dest = str(tmp_path / "raw.csv")
    records = [{"id": "a1", "title": "x;=1+1", "n": -2}]
    X.export_blocks([records], dest, fmt="csv", columns=["id", "title", "n"], raw=True)
    with open(dest, encoding="utf-8", newline="") as handle:
        assert list(csv.reader(handle)) == [["id", "title", "n"], ["a1", "x;=1+1", "-2"]]


@pytest.mark.parametrize("text, safe", [
    ("=1+1", "'=1+1"), ("a;=b", "a;'=b"), ("a, -b", "a, '-b"), ("a|+b", "a|'+b"), ("a\t@b", "a\t'@b"),
    ("2026-01-01", "2026-01-01"), ("x-y", "x-y"), ("a=b", "a=b"),
])
def test_neutralised_cells(text, safe):
    assert X.cell(text) == safe and X._cells([text]) == [safe]
    assert X.cell(text, raw=True) == text


# --- issue 22 item 5: what is at dest --------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_link_or_fifo_at_dest_is_refused_before_anything_is_read(tmp_path, kind):
    import os
    dest = tmp_path / "out.jsonl"
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    if kind == "symlink":
        dest.symlink_to(target)
    else:
        os.mkfifo(dest)  # reading it for the digest would hang the task
    with pytest.raises(X.DefenderConfigError, match="symbolic link" if kind == "symlink" else "not a regular file"):
        X.check_dest(str(dest))
    assert target.read_text() == "keep"
