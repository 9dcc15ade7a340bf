# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""alert, run in-process against an in-memory Defender."""

from __future__ import annotations

import pytest

from ansible.module_utils import basic

from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.modules import alert as alert_module
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.fake_defender import (  # noqa: F401 pylint: disable=unused-import
    CONNECTION,
    fake,
    load,
    make_alert,
)
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module

A1 = make_alert(1, status="New")
AID = A1["id"]


@pytest.fixture
def warnings(monkeypatch):
    """The warnings this test's module run emitted (Ansible's own list is global and spans tests)."""
    seen = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning: seen.append(warning))
    return seen


def run(monkeypatch, **args):
    merged = dict(CONNECTION)
    merged.update(args)
    return run_module(alert_module.main, merged, monkeypatch)


def test_update_once_then_idempotent(fake, monkeypatch):
    load(fake, [A1])
    args = dict(id=AID, status="resolved", classification="FalsePositive", determination="Clean",
                comment="benign build job", assigned_to="soc@contoso.com")
    result, failed = run(monkeypatch, **args)
    assert not failed, result
    assert result["changed"] is True
    patches = fake.writes()
    assert patches == [("PATCH", "/api/alerts/" + AID, {"status": "Resolved", "assignedTo": "soc@contoso.com",
                                                        "classification": "FalsePositive", "determination": "Clean",
                                                        "comment": "benign build job"})]
    assert result["alerts"][0]["status"] == "Resolved"
    assert result["results"] == [{"id": AID, "changed": True, "changes": patches[0][2]}]

    fake.calls.clear()
    result, failed = run(monkeypatch, **args)
    assert not failed and result["changed"] is False
    assert fake.writes() == []
    assert result["results"][0]["changes"] == {}
    assert len(fake.alerts[AID]["comments"]) == 1, "the comment is not added twice"


def test_only_changed_fields_are_sent(fake, monkeypatch):
    load(fake, [dict(A1, status="Resolved", assignedTo="SOC@contoso.com")])
    result, failed = run(monkeypatch, id=AID, status="Resolved", assigned_to="soc@contoso.com",
                         classification="TruePositive")
    assert not failed
    assert fake.writes() == [("PATCH", "/api/alerts/" + AID, {"classification": "TruePositive"})]


def test_existing_comment_alone_changes_nothing(fake, monkeypatch):
    load(fake, [dict(A1, comments=[{"comment": "seen", "createdBy": "x", "createdTime": "t"}])])
    result, failed = run(monkeypatch, id=AID, comment="seen")
    assert not failed and result["changed"] is False and fake.writes() == []


def test_determination_alias_is_already_satisfied(fake, monkeypatch):
    load(fake, [dict(A1, determination="Clean")])
    result, failed = run(monkeypatch, id=AID, determination="notmalicious")
    assert not failed and result["changed"] is False and fake.writes() == []


def test_check_mode_predicts_without_writing(fake, monkeypatch):
    load(fake, [A1])
    result, failed = run(monkeypatch, id=AID, status="InProgress", comment="looking", _ansible_check_mode=True,
                         _ansible_diff=True)
    assert not failed and result["changed"] is True
    assert fake.writes() == []
    assert result["alerts"][0]["status"] == "InProgress"
    assert result["diff"]["before"]["status"] == "New"
    assert result["diff"]["after"] == {"status": "InProgress", "assignedTo": None, "classification": None,
                                       "determination": None, "comments": ["looking"]}
    assert fake.alerts[AID]["status"] == "New"


def test_diff_when_nothing_changes(fake, monkeypatch):
    load(fake, [A1])
    result, failed = run(monkeypatch, id=AID, status="New", _ansible_diff=True)
    assert not failed and result["diff"]["before"] == result["diff"]["after"]


def test_missing_alert_fails_before_writing(fake, monkeypatch):
    load(fake, [A1])
    result, failed = run(monkeypatch, ids=[AID, "ghost"], status="Resolved")
    assert failed and "ghost" in result["msg"] and fake.writes() == []


@pytest.mark.parametrize("args,word", [
    (dict(id=AID, status="Unknown"), "status must be one of New, InProgress, Resolved"),
    (dict(id=AID, status="Closed"), "status"),
    (dict(id=AID, classification="Benign"), "classification must be one of"),
    (dict(id=AID, determination="Apt"), "determination must be one of"),
    (dict(id=AID, comment=" "), "comment"),
    (dict(id=AID, ids=[AID], status="New"), "mutually exclusive"),
    (dict(ids=[], status="New"), "ids must not be empty"),
    (dict(ids=["a", ""], status="New"), "ids"),
    (dict(status="New"), "one of the following is required"),
    (dict(id=AID), "one of the following is required"),
])
def test_bad_input_fails_before_any_request(fake, monkeypatch, args, word):
    result, failed = run(monkeypatch, **args)
    assert failed and word in result["msg"], result
    assert fake.calls == [] and not fake.client_created


def test_many_uses_batch_update_grouped(fake, monkeypatch):
    alerts = [make_alert(i, status="New") for i in range(10)]
    alerts[3]["status"] = "Resolved"                                   # already done
    alerts[4]["comments"] = [{"comment": "bulk close", "createdBy": "x", "createdTime": "t"}]  # has the comment
    alerts[5]["status"] = "Resolved"
    alerts[5]["comments"] = [{"comment": "bulk close", "createdBy": "x", "createdTime": "t"}]  # nothing to do
    load(fake, alerts)
    ids = [a["id"] for a in alerts]
    result, failed = run(monkeypatch, ids=ids + [ids[0]], status="Resolved", comment="bulk close",
                         _ansible_diff=True)
    assert not failed, result
    reads = [c for c in fake.calls if c[0] == "GET"]
    assert reads[0][2]["$filter"].startswith("id in (")
    writes = fake.writes()
    posts = [w for w in writes if w[0] == "POST"]
    patches = [w for w in writes if w[0] == "PATCH"]
    assert len(posts) == 1
    assert posts[0][2]["alertIds"] == [ids[i] for i in (0, 1, 2, 6, 7, 8, 9)]
    assert {k: v for k, v in posts[0][2].items() if k != "alertIds"} == {"status": "Resolved",
                                                                         "comment": "bulk close"}
    # alert 3 needs only the comment, alert 4 only the status: one PATCH each (groups of one)
    assert sorted((p[1].rsplit("/", 1)[1], tuple(sorted(p[2]))) for p in patches) == sorted(
        [(ids[3], ("comment",)), (ids[4], ("status",))])
    assert [r["id"] for r in result["results"]] == ids
    assert [r["changed"] for r in result["results"]] == [i != 5 for i in range(10)]
    assert all(a["status"] == "Resolved" for a in result["alerts"])
    assert all(a["comments"][-1]["comment"] == "bulk close" for a in result["alerts"])
    assert len(result["diff"]) == 9 and all("before_header" in d for d in result["diff"])

    fake.calls.clear()
    result, failed = run(monkeypatch, ids=ids, status="Resolved", comment="bulk close")
    assert not failed and result["changed"] is False and fake.writes() == []


def test_many_check_mode(fake, monkeypatch):
    load(fake, [make_alert(i, status="New") for i in range(5)])
    ids = list(fake.alerts)
    result, failed = run(monkeypatch, ids=ids, status="InProgress", _ansible_check_mode=True)
    assert not failed and result["changed"] is True and fake.writes() == []
    assert all(a["status"] == "InProgress" for a in result["alerts"])


def test_batch_chunks(fake, monkeypatch):
    load(fake, [make_alert(i, status="New") for i in range(1200)])
    ids = list(fake.alerts)
    result, failed = run(monkeypatch, ids=ids, status="InProgress")
    assert not failed
    posts = [w for w in fake.writes() if w[0] == "POST"]
    assert [len(p[2]["alertIds"]) for p in posts] == [500, 500, 200]
    assert all(a["status"] == "InProgress" for a in fake.alerts.values())


def test_batch_size_exceeded_halves(fake, monkeypatch):
    load(fake, [make_alert(i, status="New") for i in range(600)])
    ids = list(fake.alerts)

    def fail(method, path, body, call_no):
        if method == "POST" and len(body["alertIds"]) > 250:
            return DefenderError("too many", status=400, code="MaximumBatchSizeExceeded")
        return None

    fake.fail_on = fail
    result, failed = run(monkeypatch, ids=ids, status="InProgress")
    assert not failed, result
    ok = [w for w in fake.calls if w[0] == "POST" and len(w[2]["alertIds"]) <= 250]
    assert sum(len(w[2]["alertIds"]) for w in ok) == 600


def test_invalid_request_body_is_clear(fake, monkeypatch):
    load(fake, [A1])

    def fail(method, path, body, call_no):
        if method == "PATCH":
            return DefenderError("Invalid value 'NotMalicious' for property 'determination'", status=400,
                                 code="InvalidRequestBody")
        return None

    fake.fail_on = fail
    result, failed = run(monkeypatch, id=AID, classification="FalsePositive", determination="NotMalicious",
                         comment="x")
    assert failed
    assert "determination='NotMalicious'" in result["msg"] and "classification='FalsePositive'" in result["msg"]
    assert "Clean/NotMalicious" in result["msg"]
    assert result["error_code"] == "InvalidRequestBody"


def test_lost_patch_response_applied(fake, monkeypatch, warnings):
    load(fake, [A1])
    original_patch = fake.patch

    def patch(path, body):
        original_patch(path, body)
        raise DefenderOutcomeUnknownError("no response", method="PATCH", path=path)

    fake.patch = patch
    result, failed = run(monkeypatch, id=AID, status="Resolved", comment="done")
    assert not failed, result
    assert result["changed"] is True and result["alerts"][0]["status"] == "Resolved"
    assert len([c for c in fake.calls if c[0] == "PATCH"]) == 1, "never re-sent"
    assert any("lost" in w for w in warnings), warnings


def test_lost_patch_response_not_applied(fake, monkeypatch):
    load(fake, [A1])

    def fail(method, path, body, call_no):
        if method == "PATCH":
            return DefenderOutcomeUnknownError("no response", method="PATCH", path=path)
        return None

    fake.fail_on = fail
    result, failed = run(monkeypatch, id=AID, status="Resolved")
    assert failed and "not re-sent" in result["msg"]
    assert len([c for c in fake.calls if c[0] == "PATCH"]) == 1
    assert result["changed"] is False and result["results"][0]["changed"] is False


@pytest.mark.parametrize("applied", [True, False])
def test_patch_answered_502_is_read_again_never_resent(fake, monkeypatch, warnings, applied):
    # The shared client raises DefenderOutcomeUnknownError (status set) for a 5xx answer to a write.
    load(fake, [A1])
    original_patch = fake.patch

    def patch(path, body):
        if applied:
            original_patch(path, body)
        else:
            fake._check("PATCH", path, body)
        raise DefenderOutcomeUnknownError("Bad gateway; the service may or may not have applied the change",
                                          status=502, code="BadGateway", method="PATCH", path=path)

    fake.patch = patch
    result, failed = run(monkeypatch, id=AID, status="Resolved")
    assert len([c for c in fake.calls if c[0] == "PATCH"]) == 1, "never re-sent"
    assert fake.calls[-1] == ("GET", "/api/alerts/" + AID, {}), "read again after the 502"
    if applied:
        assert not failed and result["changed"] is True and result["alerts"][0]["status"] == "Resolved"
        assert any("HTTP 502" in w and "not re-sent" in w for w in warnings), warnings
    else:
        assert failed and result["changed"] is False and result["status"] == 502
        assert "do not show the change" in result["msg"] and "not re-sent" in result["msg"]


def test_lost_patch_response_and_failed_reread(fake, monkeypatch):
    load(fake, [A1])

    def fail(method, path, body, call_no):
        if method == "PATCH":
            return DefenderOutcomeUnknownError("no response", status=504, method="PATCH", path=path)
        if method == "GET" and call_no > 1:
            return DefenderError("service unavailable", status=503)
        return None

    fake.fail_on = fail
    result, failed = run(monkeypatch, id=AID, status="Resolved")
    assert failed and result["changed"] is False
    assert "could not be read again" in result["msg"] and "not re-sent" in result["msg"] and AID in result["msg"]
    assert len([c for c in fake.calls if c[0] == "PATCH"]) == 1


def test_lost_batch_response_applied(fake, monkeypatch):
    load(fake, [make_alert(i, status="New") for i in range(4)])
    ids = list(fake.alerts)
    original_post = fake.post

    def post(path, body):
        original_post(path, body)
        raise DefenderOutcomeUnknownError("no response", method="POST", path=path)

    fake.post = post
    result, failed = run(monkeypatch, ids=ids, status="Resolved")
    assert not failed, result
    assert result["changed"] is True and all(r["changed"] for r in result["results"])
    assert len([c for c in fake.calls if c[0] == "POST"]) == 1


def test_partial_failure_reports_what_changed(fake, monkeypatch):
    alerts = [make_alert(i, status="New") for i in range(3)]
    alerts[2]["assignedTo"] = "x@y.z"
    load(fake, alerts)
    ids = list(fake.alerts)

    def fail(method, path, body, call_no):
        if method == "PATCH":
            return DefenderError("boom", status=500, code="InternalServerError")
        return None

    fake.fail_on = fail
    # 0 and 1 need {status, assignedTo} (batch), 2 needs only status (PATCH, fails)
    result, failed = run(monkeypatch, ids=ids, status="Resolved", assigned_to="x@y.z")
    assert failed and result["changed"] is True
    assert [r["changed"] for r in result["results"]] == [True, True, False]
