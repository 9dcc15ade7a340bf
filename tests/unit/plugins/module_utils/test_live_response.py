# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live response rules checked before any request: library names, commands in the service's order, parameters;
and the reading of RunScript results."""

from __future__ import annotations

import json

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import live_response as LR
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError


@pytest.mark.parametrize("name, ok", [
    ("triage.ps1", True), ("collect-v2_final.sh", True), ("a", True),
    ("with space.ps1", False), ("../evil.ps1", False), ("dir/x.sh", False), ("x\n.sh", False), ("", False),
    (None, False), ("é.ps1", False),
])
def test_library_names(name, ok):
    if ok:
        assert LR.check_library_name(name) == name
    else:
        with pytest.raises(DefenderConfigError):
            LR.check_library_name(name)


def test_commands_become_the_documented_body():
    body = LR.check_commands([
        {"type": "PutFile", "file": "tool.exe"},
        {"type": "RunScript", "script": "triage.ps1", "parameters": "-Days 3"},
        {"type": "RunScript", "script": "plain.sh"},
        {"type": "GetFile", "path": "C:\\Windows\\Temp\\out.zip"},
    ])
    assert body == [
        {"type": "PutFile", "params": [{"key": "FileName", "value": "tool.exe"}]},
        {"type": "RunScript", "params": [{"key": "ScriptName", "value": "triage.ps1"}, {"key": "Args", "value": "-Days 3"}]},
        {"type": "RunScript", "params": [{"key": "ScriptName", "value": "plain.sh"}]},
        {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\Windows\\Temp\\out.zip"}]},
    ]


@pytest.mark.parametrize("commands, text", [
    ([], "at least one"),
    ([{"type": "GetFile", "path": "a"}, {"type": "RunScript", "script": "x.ps1"}], "in that order"),
    ([{"type": "Shell", "script": "x"}], "type must be one of"),
    ([{"type": "RunScript"}], "needs script"),
    ([{"type": "RunScript", "script": "../x.ps1"}], "library file name"),
    ([{"type": "GetFile", "path": "a", "parameters": "x"}], "takes path"),
    ([{"type": "PutFile", "file": "a", "path": "b"}], "takes file"),
    ([{"type": "RunScript", "script": "x.ps1", "parameters": "a\nb"}], "control character"),
    ([{"type": "RunScript", "script": "x.ps1", "parameters": ["a"]}], "one string"),
    ([{"type": "RunScript", "script": "x.ps1", "parameters": "a" * 3000}], "longer than"),
    (["RunScript"], "must be a dict"),
])
def test_commands_refused_before_any_request(commands, text):
    with pytest.raises(DefenderConfigError) as info:
        LR.check_commands(commands)
    assert text in str(info.value)


def test_script_result_parsed_and_nul_padding_removed():
    doc = {"script_name": "triage.ps1", "exit_code": 3, "script_output": "out\x00\x00", "script_errors": "err"}
    parsed = LR.parse_script_result(json.dumps(doc).encode() + b"\x00\x00")
    assert parsed == {"script_name": "triage.ps1", "exit_code": 3, "output": "out", "errors": "err"}
    with pytest.raises(DefenderError):
        LR.parse_script_result(b"not json")
    with pytest.raises(DefenderError):
        LR.parse_script_result(b"[1]")


def test_differences_compare_only_what_is_asked(tmp_path):
    entry = {"fileName": "a.sh", "sha256": "AB", "description": "d", "hasParameters": False}
    assert LR.differences(None, "ab") == ["fileName"]
    assert LR.differences(entry, "ab") == []
    assert LR.differences(entry, "cd") == ["sha256"]
    assert LR.differences(entry, "ab", description="other", has_parameters=True) == ["description", "hasParameters"]
    f = tmp_path / "x"
    f.write_bytes(b"abc")
    assert LR.file_digest(str(f)) == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3)


def _session(commands, status="Succeeded", action_id="a1", updated="2026-12-04T10:00:00Z"):
    shown = [{"index": i, "commandStatus": "Completed", "errors": [], "command": c} for i, c in enumerate(commands)]
    return {"id": action_id, "type": "LiveResponse", "status": status, "commands": shown,
            "creationDateTimeUtc": updated, "lastUpdateDateTimeUtc": updated}


def test_a_rerun_finds_its_own_session_whatever_the_parameter_order():
    body = LR.check_commands([{"type": "RunScript", "script": "a.ps1", "parameters": "-x"}])
    shown = [{"type": "RunScript", "params": [{"key": "Args", "value": "-x"}, {"key": "ScriptName", "value": "a.ps1"}]}]
    assert LR.same_commands(_session(shown), body)
    assert not LR.same_commands(_session(shown), LR.check_commands([{"type": "RunScript", "script": "a.ps1"}]))


def test_one_session_per_machine_another_one_is_waited_for():
    from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import history, registry, specs
    params = {"commands": [{"type": "RunScript", "script": "a.ps1"}], "comment": "c", "dest": None,
              "skip_if_done_within": "24h"}
    _entry, spec = specs.one_shot(params, entry=registry.LIVE_RESPONSE, now=None)
    mine = LR.check_commands(params["commands"])
    other = [{"type": "GetFile", "params": [{"key": "Path", "value": "x"}]}]
    # another session running: wait for it (never a second POST racing the service's one-per-machine rule)
    plan, _state, acts = spec.plan([_session(other, status="InProgress", action_id="b")])
    assert plan == history.PLAN_WAIT and [a["id"] for a in acts] == ["b"]
    # the same session running: followed, not duplicated
    plan, state, acts = spec.plan([_session(mine, status="Pending", action_id="c")])
    assert (plan, state, acts[0]["id"]) == (history.PLAN_NONE, history.STATE_ACTIVE, "c")
    # finished sessions of other commands do not block
    plan, _state, _acts = spec.plan([_session(other, status="Succeeded", action_id="d")])
    assert plan == history.PLAN_SEND
    # the same one succeeded long ago: outside the 24h window, sent again
    plan, _state, _acts = spec.plan([_session(mine, updated="2020-01-01T00:00:00Z")])
    assert plan == history.PLAN_SEND
