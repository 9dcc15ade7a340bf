# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command lines of the docs, run verbatim through a shell from the user's folder (issue 22 items 1, 2 and 4):
relative paths resolve against the folder ansible-playbook is run from, values with spaces survive -e, and a CSV
with a quoted comma and Excel's byte order mark is read by a CSV reader."""
from __future__ import annotations

import re
import subprocess

from conftest import REPO

DOC = REPO / "docs" / "incident-response.md"


def documented(doc, playbook):
    """The ``ansible-playbook defender.endpoint.<playbook>`` lines of the doc's bash blocks (continuations joined)."""
    text = doc.read_text(encoding="utf-8").replace("\\\n", "")
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        lines += [ln.strip() for ln in block.splitlines()
                  if ln.strip().startswith("ansible-playbook defender.endpoint.%s " % playbook)]
    return lines


def shell(ansible, line, cwd):
    env = dict(ansible.env)
    env["DEFENDER_E2E_RESULTS_PATH"] = str(cwd / "results.jsonl")
    return subprocess.run(["bash", "-c", line], cwd=str(cwd), env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def test_block_indicators_command_lines_of_the_docs(emulator, ansible, tmp_path):
    emulator.reset()
    lines = documented(DOC, "block_indicators")
    assert len(lines) == 2 and "\"description\": \"IOCs of INC-4711\"" in lines[0], lines
    folder = tmp_path / "case"
    folder.mkdir()
    # as Excel saves it: a byte order mark, CRLF line ends, a quoted cell holding a comma
    (folder / "iocs.csv").write_bytes("\ufeffvalue,type,description\r\n203.0.113.77,ip,\"Seen in INC-4711, stage 2\"\r\n"
                                      "bad-4711.example,domain,\r\n".encode("utf-8"))
    first = shell(ansible, lines[0], folder)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    held = {i["indicatorValue"]: i for i in emulator.call("GET", "/indicators")}
    assert set(held) == {"203.0.113.77", "bad-4711.example"}, held
    assert held["203.0.113.77"]["description"] == "Seen in INC-4711, stage 2"
    assert held["bad-4711.example"]["description"] == "IOCs of INC-4711"  # the -e value with spaces, whole
    assert held["bad-4711.example"]["title"] == "INC-4711"
    gone = shell(ansible, lines[1], folder)
    assert gone.returncode == 0, gone.stdout[-3000:] + gone.stderr[-2000:]
    assert emulator.call("GET", "/indicators") == []


def test_relative_paths_are_relative_to_where_ansible_playbook_runs(emulator, ansible, tmp_path):
    emulator.reset()
    folder = tmp_path / "hunting"
    (folder / "queries").mkdir(parents=True)
    (folder / "queries" / "q.kql").write_text("DeviceInfo | take 3\n")
    (folder / "out").mkdir()
    run = shell(ansible, "ansible-playbook defender.endpoint.hunt -e query_file=queries/q.kql -e dest=out/hunt.jsonl",
                folder)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert (folder / "out" / "hunt.jsonl").is_file() and (folder / "out" / "hunt.md").is_file()
    run = shell(ansible, "ansible-playbook defender.endpoint.alerts_export -e since=30d -e limit=5 "
                         "-e dest=out/alerts.jsonl", folder)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert len((folder / "out" / "alerts.jsonl").read_text().splitlines()) == 5
    installed = subprocess.run(["find", ansible.collection_path, "-name", "hunt.jsonl", "-o", "-name", "alerts.jsonl"],
                               capture_output=True, text=True, check=False)
    assert installed.stdout == ""
