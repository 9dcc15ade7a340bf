# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""indicator and indicator_info, run in-process against an in-memory indicators API (the emulator's store)."""

from __future__ import annotations

import pytest

from ansible.module_utils import basic

from ansible_collections.defender.endpoint.plugins.module_utils import indicators as I
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.modules import indicator as indicator_module
from ansible_collections.defender.endpoint.plugins.modules import indicator_info as info_module
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.fake_indicators import (  # noqa: F401 pylint: disable=unused-import
    CONNECTION,
    fake_ti,
)
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module

SHA = "3395856ce81f2b7382dee72602f798b642f14140b8b0a0cb8a1f3edb8ad2b1c9"
BASE = dict(type="file_sha256", action="block", title="INC-1", description="found in INC-1")


@pytest.fixture
def warnings(monkeypatch):
    seen = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning: seen.append(warning))
    return seen


def run(monkeypatch, main=indicator_module.main, **args):
    merged = dict(CONNECTION)
    merged.update(args)
    return run_module(main, merged, monkeypatch)


def body(value=SHA, itype="FileSha256", action="Block", **extra):
    out = {"indicatorValue": value, "indicatorType": itype, "action": action, "title": "t", "description": "d"}
    out.update(extra)
    return out


# --- validation before any request -------------------------------------------------------------


@pytest.mark.parametrize("itype, value, message", [
    ("file_sha256", "abc", "64 hexadecimal"),
    ("file_sha1", SHA, "40 hexadecimal"),
    ("file_md5", "z" * 32, "32 hexadecimal"),
    ("ip", "10.0.0.0/8", "CIDR"),
    ("ip", "10.0.0.1-10.0.0.9", "CIDR"),
    ("ip", "2001:db8::1", "all 8 IPv6 groups"),
    ("ip", "300.1.1.1", "not an IPv4"),
    ("domain", "https://bad.example", "not a domain"),
    ("domain", "*.bad.example", "not a domain"),
    ("url", "not a url", "not a URL"),
    ("url", "https://*.example/x", "not a URL"),
])
def test_bad_values_fail_before_any_request(fake_ti, monkeypatch, itype, value, message):
    result, failed = run(monkeypatch, **{**BASE, "type": itype, "value": value, "action": "block"})
    assert failed and message in result["msg"], result
    assert fake_ti.calls == []


@pytest.mark.parametrize("args, message", [
    (dict(BASE, value="203.0.113.7", type="ip", action="block_and_remediate"), "not available for ip"),
    (dict(BASE, value="a" * 40, type="certificate_thumbprint"), "not available for certificate_thumbprint"),
    (dict(BASE, value=SHA, action="audit", generate_alert=False), "requires generate_alert"),
    (dict(BASE, value=SHA, title=None), "title is required"),
    (dict(BASE, value=SHA, expiration="next tuesday"), "expiration"),
    (dict(indicators=[{"value": SHA, "typo": 1}], **BASE), "unknown key"),
    (dict(indicators=[{"value": SHA}, {"value": SHA, "title": "other"}], **BASE), "requested twice"),
])
def test_bad_combinations_fail_before_any_request(fake_ti, monkeypatch, args, message):
    result, failed = run(monkeypatch, **args)
    assert failed and message in result["msg"], result
    assert fake_ti.calls == []


def test_valid_values_pass():
    assert I.check_value("IpAddress", "2001:0db8:0:0:0:0:0:1") == "2001:0db8:0:0:0:0:0:1"
    assert I.check_value("Url", "https://files.example/a?b=c") and I.check_value("Url", "http://203.0.113.7/x")
    assert I.check_value("DomainName", "sub.bad.example")
    with pytest.raises(DefenderConfigError):
        I.check_value("DomainName", "bad.example\n")


# --- one indicator ---------------------------------------------------------------------------------


def test_create_then_idempotent_then_update_only_what_differs(fake_ti, monkeypatch):
    result, failed = run(monkeypatch, value=SHA, severity="High", **BASE)
    assert not failed and result["changed"] and result["created"] == 1, result
    assert result["indicators"][0]["result"] == "created" and result["indicators"][0]["id"]
    assert [c[:2] for c in fake_ti.writes()] == [("POST", "/api/indicators")]
    fake_ti.calls.clear()
    result, failed = run(monkeypatch, value=SHA.upper(), severity="High", **BASE)  # hashes match case-insensitively
    assert not failed and not result["changed"] and result["indicators"][0]["result"] == "unchanged"
    assert fake_ti.writes() == []
    result, failed = run(monkeypatch, value=SHA, severity="Low", **BASE)
    assert result["changed"] and result["updated"] == 1 and result["created"] == 0
    assert len(fake_ti.store.items) == 1 and next(iter(fake_ti.store.items.values()))["severity"] == "Low"


def test_check_mode_and_diff_predict_without_writing(fake_ti, monkeypatch):
    fake_ti.seed(body(title="old"))
    result, failed = run(monkeypatch, value=SHA, _ansible_check_mode=True, _ansible_diff=True,
                         **{**BASE, "title": "new"})
    assert not failed and result["changed"] and result["updated"] == 1
    name = "file_sha256 " + SHA
    assert result["diff"]["before"][name]["title"] == "old" and result["diff"]["after"][name]["title"] == "new"
    assert fake_ti.writes() == []


def test_action_change_replaces_the_old_indicator_after_the_new_exists(fake_ti, monkeypatch):
    fake_ti.seed(body(action="Allowed"))
    result, failed = run(monkeypatch, value=SHA, **BASE)
    assert not failed and result["changed"], result
    writes = [c[:2] for c in fake_ti.writes()]
    assert writes[0] == ("POST", "/api/indicators") and writes[1][0] == "DELETE"
    left = list(fake_ti.store.items.values())
    assert [i["action"] for i in left] == ["Block"] and result["deleted"] == 1
    assert result["indicators"][0]["id"] == left[0]["id"]


def test_duplicates_are_reduced_to_one(fake_ti, monkeypatch):
    fake_ti.seed(body(action="Allowed"), body(action="Block", title="INC-1", description="found in INC-1"))
    result, failed = run(monkeypatch, value=SHA, **BASE)
    assert not failed and result["changed"] and result["deleted"] == 1 and result["updated"] == 0
    assert [i["action"] for i in fake_ti.store.items.values()] == ["Block"]


def test_retired_action_is_sent_as_its_replacement(fake_ti, monkeypatch, warnings):
    result, failed = run(monkeypatch, value=SHA, **{**BASE, "action": "alert_and_block"})
    assert not failed
    sent = fake_ti.writes()[0][2]
    assert sent["action"] == "BlockAndRemediate" and sent["generateAlert"] is True
    assert any("retired" in w for w in warnings)


def test_absent(fake_ti, monkeypatch):
    fake_ti.seed(body())
    result, failed = run(monkeypatch, value=SHA, type="file_sha256", state="absent")
    assert not failed and result["changed"] and result["deleted"] == 1
    assert fake_ti.store.items == {}
    result, failed = run(monkeypatch, value=SHA, type="file_sha256", state="absent")
    assert not result["changed"] and result["indicators"][0]["result"] == "absent"


def test_lost_post_is_read_back_not_resent(fake_ti, monkeypatch):
    def fail(method, path, data, n):
        if method == "POST":
            fake_ti.fail_on = None
            fake_ti.store.upsert(fake_ti.claims, I.body_for(dict(body(), title="INC-1",
                                                                 description="found in INC-1")), "app")
            return DefenderOutcomeUnknownError("no response", method="POST", path=path)
        return None
    fake_ti.fail_on = fail
    result, failed = run(monkeypatch, value=SHA, **BASE)
    assert not failed and result["changed"], result
    assert len([c for c in fake_ti.calls if c[0] == "POST"]) == 1


# --- many ------------------------------------------------------------------------------------------


def test_many_go_through_import_and_batch_delete_in_chunks(fake_ti, monkeypatch):
    items = [{"value": "%064x" % i} for i in range(1200)]
    result, failed = run(monkeypatch, indicators=items, **BASE)
    assert not failed and result["created"] == 1200, result["msg"] if failed else None
    imports = [c for c in fake_ti.writes() if c[1] == "/api/indicators/import"]
    assert [len(c[2]["Indicators"]) for c in imports] == [500, 500, 200]
    fake_ti.calls.clear()
    result, failed = run(monkeypatch, indicators=items, **BASE)
    assert not result["changed"] and fake_ti.writes() == []
    result, failed = run(monkeypatch, indicators=items[:600], type="file_sha256", state="absent")
    assert result["deleted"] == 600
    deletes = [c for c in fake_ti.writes() if c[1] == "/api/indicators/BatchDelete"]
    assert [len(c[2]["IndicatorIds"]) for c in deletes] == [500, 100]
    assert len(fake_ti.store.items) == 600


def test_cap_is_checked_before_sending(fake_ti, monkeypatch):
    fake_ti.store.cap = 10**9  # the service would accept; the module's own check must refuse
    fake_ti.seed(*[body(value="%064x" % i) for i in range(14999)])
    fake_ti.calls.clear()
    result, failed = run(monkeypatch, indicators=[{"value": "f" * 64}, {"value": "e" * 64}], **BASE)
    assert failed and "at most 15000" in result["msg"] and "Nothing was sent" in result["msg"]
    assert fake_ti.writes() == []
    result, failed = run(monkeypatch, indicators=[{"value": "f" * 64}, {"value": "%064x" % 3, "state": None}],
                         **BASE)
    assert failed  # unknown key "state" in an entry


def test_import_item_failures_fail_the_task_with_results(fake_ti, monkeypatch):
    fake_ti.store.cap = 1  # the service refuses the second one
    result, failed = run(monkeypatch, indicators=[{"value": "a" * 64}, {"value": "b" * 64}], **BASE)
    assert failed and "refused 1 of 2" in result["msg"] and result["created"] == 1
    assert [e["result"] for e in result["indicators"]] == ["created", "failed"]
    assert result["failed_indicators"][0]["reason"]


def test_batch_delete_404_sends_the_rest_again(fake_ti, monkeypatch):
    fake_ti.seed(body(value="a" * 64), body(value="b" * 64))
    ids = sorted(fake_ti.store.items)

    def fail(method, path, data, n):
        if path.endswith("BatchDelete"):
            fake_ti.fail_on = None
            del fake_ti.store.items[ids[0]]  # someone else deleted one meanwhile
        return None
    fake_ti.fail_on = fail
    result, failed = run(monkeypatch, indicators=[{"value": "a" * 64}, {"value": "b" * 64}], type="file_sha256",
                         state="absent")
    assert not failed and fake_ti.store.items == {}
    sent = [c[2]["IndicatorIds"] for c in fake_ti.writes()]
    assert sent == [ids, ids[1:]]


def test_bulk_calls_are_paced_by_the_clients_own_limits():
    from ansible_collections.defender.endpoint.plugins.module_utils import rate
    assert rate.bucket_for(I.IMPORT_PATH) == "indicators_import"
    assert rate.bucket_for(I.BATCH_DELETE_PATH) == "indicators_batch_delete"
    assert rate.LIMITS["indicators_import"][0] == (30, 60.0)
    assert rate.LIMITS["indicators_batch_delete"][0] == (30, 60.0)


# --- indicator_info ----------------------------------------------------------------------------------


def test_info_filters(fake_ti, monkeypatch):
    fake_ti.seed(body(), body(value="203.0.113.7", itype="IpAddress"), body(value="bad.example", itype="DomainName",
                                                                            action="Warn"))
    result, failed = run(monkeypatch, main=info_module.main, type="ip")
    assert not failed and [i["indicatorValue"] for i in result["indicators"]] == ["203.0.113.7"]
    result, failed = run(monkeypatch, main=info_module.main, action="warn")
    assert [i["indicatorType"] for i in result["indicators"]] == ["DomainName"]
    result, failed = run(monkeypatch, main=info_module.main, filter="title eq 't' or action eq 'Warn'", type="ip")
    flt = fake_ti.calls[-1][2]["$filter"]
    assert flt.endswith("and (title eq 't' or action eq 'Warn')") and result["count"] == 1
    result, failed = run(monkeypatch, main=info_module.main, value="x'; drop", type="domain")
    assert failed and fake_ti.calls[-1][2].get("$filter", "").find("drop") < 0
    result, failed = run(monkeypatch, main=info_module.main, value="it's.example")
    assert "indicatorValue eq 'it''s.example'" in fake_ti.calls[-1][2]["$filter"]


def test_info_raw_filter_that_escapes_is_refused(fake_ti, monkeypatch):
    result, failed = run(monkeypatch, main=info_module.main, filter="title eq 'x') or (true")
    assert failed and fake_ti.calls == []


def test_error_without_status_is_clean(fake_ti, monkeypatch):
    fake_ti.fail_on = lambda *a: DefenderError("boom", status=403, code="Forbidden")
    result, failed = run(monkeypatch, main=info_module.main)
    assert failed and "boom" in result["msg"] and result["status"] == 403


# --- issue 22 item 10 ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["merge", "replace"])
def test_an_update_sends_the_complete_indicator(fake_ti, monkeypatch, mode):
    """Whether an update merges or replaces is not documented: what the task does not set is sent as it is, so a
    replacing service cannot widen a Block scoped to device groups to every device."""
    fake_ti.seed(body(title="INC-1", description="found in INC-1", rbacGroupNames=["Tier0"], severity="High",
                      externalID="TICKET-7"))
    fake_ti.store.update_mode = mode
    result, failed = run(monkeypatch, value=SHA, **{**BASE, "description": "found again"})
    assert not failed and result["updated"] == 1, result
    sent = fake_ti.writes()[-1][2]
    assert sent["rbacGroupNames"] == ["Tier0"] and sent["severity"] == "High" and sent["externalID"] == "TICKET-7"
    left = next(iter(fake_ti.store.items.values()))
    assert left["rbacGroupNames"] == ["Tier0"] and left["severity"] == "High" and left["description"] == "found again"
    assert "updated 1" in result["msg"]


def test_bulk_update_sends_the_complete_indicator(fake_ti, monkeypatch):
    fake_ti.seed(body(rbacGroupNames=["Tier0"]))
    fake_ti.store.update_mode = "replace"
    result, failed = run(monkeypatch, indicators=[{"value": SHA}], **{**BASE, "title": "INC-2"})
    assert not failed and result["updated"] == 1, result
    assert fake_ti.writes()[-1][2]["Indicators"][0]["rbacGroupNames"] == ["Tier0"]
    assert next(iter(fake_ti.store.items.values()))["rbacGroupNames"] == ["Tier0"]


@pytest.mark.parametrize("itype, value, sent", [
    ("ip", "203.0.113.7", "Block"),
    ("url", "https://bad.example/x", "Block"),
    ("domain", "bad.example", "Block"),
    ("file_sha256", SHA, "BlockAndRemediate"),
    ("certificate_thumbprint", "a" * 40, "BlockAndRemediate"),
])
def test_alert_and_block_is_mapped_per_type(fake_ti, monkeypatch, warnings, itype, value, sent):
    result, failed = run(monkeypatch, value=value, **{**BASE, "type": itype, "action": "alert_and_block"})
    assert not failed, result
    body_sent = fake_ti.writes()[0][2]
    assert body_sent["action"] == sent and body_sent["generateAlert"] is True
    assert any("retired" in w and sent in w for w in warnings)


def test_retired_alert_on_a_certificate_is_refused_clearly(fake_ti, monkeypatch):
    result, failed = run(monkeypatch, value="a" * 40, **{**BASE, "type": "certificate_thumbprint", "action": "alert"})
    assert failed and "alert" in result["msg"] and "certificate_thumbprint" in result["msg"], result
    assert fake_ti.calls == []


def test_educate_url_application_and_external_id(fake_ti, monkeypatch, warnings):
    result, failed = run(monkeypatch, value="https://bad.example/x",
                         **{**BASE, "type": "url", "action": "warn", "educate_url": "https://intranet.example/why",
                            "application": "SOC playbook", "external_id": "INC-1"})
    assert not failed, result
    sent = fake_ti.writes()[0][2]
    assert sent["educateUrl"] == "https://intranet.example/why" and sent["application"] == "SOC playbook"
    assert sent["externalID"] == "INC-1"
    # application is kept from creation: another one is not an update (the service ignores it), but it is said
    fake_ti.calls.clear()
    result, failed = run(monkeypatch, value="https://bad.example/x",
                         **{**BASE, "type": "url", "action": "warn", "educate_url": "https://intranet.example/why",
                            "application": "other", "external_id": "INC-1"})
    assert not failed and not result["changed"] and fake_ti.writes() == [], result
    assert any("application" in w for w in warnings)
    result, failed = run(monkeypatch, value=SHA, **{**BASE, "educate_url": "https://intranet.example/why"})
    assert failed and "educate_url" in result["msg"]


def test_every_result_has_a_msg(fake_ti, monkeypatch):
    result, failed = run(monkeypatch, value=SHA, **BASE)
    assert not failed and result["msg"] == "created 1, updated 0, deleted 0 indicator(s)", result
    result, failed = run(monkeypatch, value=SHA, **BASE)
    assert "unchanged" in result["msg"] or result["msg"].startswith("created 0"), result
