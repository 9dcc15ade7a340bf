# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one validation layer: GUID pattern, control-character rule, "404 means absent", the DefenderModule
surface, and guards that keep each of them in one place."""

from __future__ import annotations

import os
import re

import pytest

from ansible.module_utils import basic
from ansible_collections.defender.endpoint.plugins.module_utils import client as http
from ansible_collections.defender.endpoint.plugins.module_utils import module as module_base, validation
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module

PLUGINS = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir, os.pardir,
                                       "plugins"))
GOOD_GUID = "0a1b2c3d-0001-4000-8000-00000000f011"


@pytest.mark.parametrize("value, ok", [
    (GOOD_GUID, True), (GOOD_GUID.upper(), True), (GOOD_GUID[:-1], False), (GOOD_GUID + "0", False),
    ("{%s}" % GOOD_GUID, False), (GOOD_GUID.replace("-", ""), False), ("", False), (None, False),
    (GOOD_GUID + "\n", False),
])
def test_one_guid_pattern(value, ok):
    assert (isinstance(value, str) and validation.GUID.match(value) is not None) is ok


def test_check_guid_strips_and_names_the_option():
    assert validation.check_guid("  %s " % GOOD_GUID, "id") == GOOD_GUID
    with pytest.raises(DefenderConfigError) as info:
        validation.check_guid("nope", "id", "a machine action id (a GUID)")
    assert "id must be a machine action id (a GUID)" in str(info.value)


@pytest.mark.parametrize("char", [chr(c) for c in list(range(32)) + [127]])
def test_every_control_character_is_refused(char):
    assert validation.has_control("a%sb" % char)
    with pytest.raises(DefenderConfigError) as info:
        validation.check_no_control("a%sb" % char, "name")
    assert "name" in str(info.value) and "control character" in str(info.value)


@pytest.mark.parametrize("value", ["plain", "with space", "ünïcødé", "quote ' and \"", "x\u00a0y"])
def test_printable_text_passes(value):
    assert not validation.has_control(value)
    assert validation.check_text("  %s  " % value, "name") == value.strip()


def test_check_text_refuses_empty_and_long():
    for bad in ("", "   ", None, 5):
        with pytest.raises(DefenderConfigError):
            validation.check_text(bad, "tag")
    with pytest.raises(DefenderConfigError) as info:
        validation.check_text("x" * 11, "tag", max_length=10)
    assert "longer than 10" in str(info.value)


@pytest.mark.parametrize("check", [
    lambda v: http.segment(v, "id"),
    lambda v: validation.check_no_control(v, "x"),
    lambda v: __import__("ansible_collections.defender.endpoint.plugins.module_utils.odata",
                         fromlist=["literal"]).literal(v),
    lambda v: __import__("ansible_collections.defender.endpoint.plugins.module_utils.odata",
                         fromlist=["raw_clause"]).raw_clause("a eq '%s'" % v),
    lambda v: __import__("ansible_collections.defender.endpoint.plugins.module_utils.machines",
                         fromlist=["check_machine_ref"]).check_machine_ref("host" + v),
    lambda v: __import__("ansible_collections.defender.endpoint.plugins.module_utils.alert_update",
                         fromlist=["check_ids"]).check_ids(["da1" + v]),
])
@pytest.mark.parametrize("char", ["\x00", "\t", "\n", "\r", "\x1b", "\x7f"])
def test_every_user_text_path_follows_the_same_rule(check, char):
    with pytest.raises(DefenderConfigError):
        check("x%sy" % char)


def test_unknown_options_lists_valid_names_and_suggests():
    msg = validation.unknown_options({"tenant": 1, "clientsecret": 2, "client_id": 3},
                                     ["tenant_id", "client_id", "client_secret"], "defender.endpoint.token")
    assert msg.startswith("defender.endpoint.token: unknown option(s) ")
    assert "tenant (did you mean tenant_id?)" in msg and "clientsecret (did you mean client_secret?)" in msg
    assert msg.endswith("valid options are client_id, client_secret, tenant_id")
    assert validation.unknown_options({"client_id": 1}, ["client_id"], "x") is None


# --- "404 means absent" -------------------------------------------------------------------------------------

class Answers:
    def __init__(self, error=None, body=None):
        self.error, self.body, self.calls = error, body, []

    def get(self, path, params=None):
        self.calls.append((path, params))
        if self.error is not None:
            raise self.error
        return self.body


def test_404_means_absent():
    fake = Answers(error=DefenderError("not found", status=404))
    assert http.get_or_none(fake, "/api/alerts/x", params={"a": 1}) is None
    assert fake.calls == [("/api/alerts/x", {"a": 1})]
    assert http.get_or_none(Answers(body={"id": "x"}), "/api/alerts/x") == {"id": "x"}


@pytest.mark.parametrize("status", [None, 400, 401, 403, 429, 500, 503])
def test_only_404_means_absent(status):
    with pytest.raises(DefenderError) as info:
        http.get_or_none(Answers(error=DefenderError("no", status=status)), "/api/alerts/x")
    assert info.value.status == status


def test_client_method_uses_the_same_helper():
    client = http.DefenderClient.__new__(http.DefenderClient)
    client.get = Answers(error=DefenderError("gone", status=404)).get
    assert client.get_or_none("/api/machines/x") is None


# --- the DefenderModule surface -----------------------------------------------------------------------------

def _module_main(body, **spec_kwargs):
    def main():
        m = module_base.DefenderModule(argument_spec=dict(x=dict(type="str")), supports_check_mode=True, **spec_kwargs)
        m.run(body)
    return main


def test_fail_keeps_results_and_adds_error_fields(monkeypatch):
    def body(m):
        m.fail(DefenderError("half done", status=502, code="BadGateway", target="req-1"),
               changed=True, results=[{"machine_id": "a", "changed": True}])

    result, failed = run_module(_module_main(body), {"access_token": "a.b.c"}, monkeypatch)
    assert failed and result["msg"].startswith("half done")
    assert result["changed"] is True and result["results"] == [{"machine_id": "a", "changed": True}]
    assert (result["status"], result["error_code"], result["request_id"]) == (502, "BadGateway", "req-1")


def test_fail_with_a_plain_message_is_unchanged(monkeypatch):
    result, failed = run_module(_module_main(lambda m: m.fail("2 of 3 machines failed", results=[])),
                                {"access_token": "a.b.c"}, monkeypatch)
    assert failed and result == {"msg": "2 of 3 machines failed", "results": [], "changed": False}


def test_warn_and_diff(monkeypatch):
    seen = {"warnings": []}
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, msg: seen["warnings"].append(msg))

    def body(m):
        m.warn("careful")
        seen["diff"] = m.diff
        m.exit(changed=False)

    run_module(_module_main(body), {"access_token": "a.b.c", "_ansible_diff": True}, monkeypatch)
    assert seen == {"diff": True, "warnings": ["careful"]}
    run_module(_module_main(body), {"access_token": "a.b.c"}, monkeypatch)
    assert seen["diff"] is False and seen["warnings"] == ["careful", "careful"]


def test_spec_rules_are_checked_by_ansible_before_run(monkeypatch):
    ran = []
    main = _module_main(lambda m: ran.append(1), required_by={"x": "access_token"})
    result, failed = run_module(main, {"x": "1", "client_secret": "s", "tenant_id": GOOD_GUID,
                                       "client_id": GOOD_GUID}, monkeypatch)
    assert failed and "required by 'x': access_token" in result["msg"] and not ran


# --- guards: one place for each rule --------------------------------------------------------------------------

def _sources():
    for root, _dirs, files in os.walk(PLUGINS):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as handle:
                    yield os.path.relpath(path, PLUGINS), handle.read()


def test_sources_were_found():
    names = [n for n, _text in _sources()]
    assert "module_utils/validation.py" in names and len(names) > 10


def test_one_guid_pattern_and_one_control_rule_in_the_plugins():
    guid = re.compile(r"\[0-9a-fA-F\]\{8\}-")
    control = re.compile(r"ord\(c\)\s*(<|==)")
    offenders = [n for n, text in _sources() if n != "module_utils/validation.py"
                 and (guid.search(text) or control.search(text))]
    assert offenders == []


def test_modules_do_not_reach_into_ansible_module():
    offenders = [n for n, text in _sources() if re.search(r"\bm\.module\b", text)]
    assert offenders == []


def test_anchored_patterns_do_not_accept_a_trailing_newline():
    from ansible_collections.defender.endpoint.plugins.module_utils import machines
    assert machines.is_machine_id("a" * 40) and not machines.is_machine_id("a" * 40 + "\n")
    assert validation.DOMAIN.match("contoso.com") and not validation.DOMAIN.match("contoso.com\n")
