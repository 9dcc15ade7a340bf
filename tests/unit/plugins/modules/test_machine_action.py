# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_action: bodies per action, once per machine, reruns, skip_if_done_within, lost responses, busy 400s,
check mode, bulk within the budget, bad input before any request, and the investigation package download."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import package, specs
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.results import one_shot_result
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions.engine import Engine
from ansible_collections.defender.endpoint.plugins.module_utils.rate import RateBudget
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.modules import machine_action as mod
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.fake_machines import (
    label,
    CONNECTION,
    PACKAGE_URL,
    FakeMachines,
    action,
    install,
    machine,
    mid,
    needs_parser,
    refuse_client,
)
from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module

pytestmark = needs_parser

SHA1 = "87662BC3D60E4200CEAF7AAE249D1C343F4B83C9"
RECENT = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
OLD = "2026-01-20T10:00:00Z"
PACKAGE = b"PK\x03\x04 investigation package " * 1000


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.now += s


def params(**over):
    p = dict(action="av_scan", scan_type=None, sha1=None, dest=None, confirm_offboard=False, skip_if_done_within=None,
             comment="INC-1", wait=False, wait_timeout=300, wait_sleep=5, max_parallel=4, requests_per_minute=100)
    p.update(over)
    return p


def run(fake, refs, check_mode=False, **over):
    p = params(**over)
    entry, spec = specs.one_shot(p)
    clock = Clock()
    engine = Engine.for_task(fake, spec, p, check_mode, wait=p["wait"] or entry.waits(p), sleeper=clock.sleep,
                             clock=clock)
    return engine.execute(refs, max_parallel=4)


def posts(fake):
    return [(c[1], c[2]) for c in fake.posts()]


@pytest.mark.parametrize("over, path, body", [
    (dict(action="av_scan"), "runAntiVirusScan", {"Comment": "INC-1", "ScanType": "Quick"}),
    (dict(action="av_scan", scan_type="full"), "runAntiVirusScan", {"Comment": "INC-1", "ScanType": "Full"}),
    (dict(action="collect_investigation_package"), "collectInvestigationPackage", {"Comment": "INC-1"}),
    (dict(action="stop_and_quarantine_file", sha1=SHA1), "StopAndQuarantineFile",
     {"Comment": "INC-1", "Sha1": SHA1.lower()}),
    (dict(action="offboard", confirm_offboard=True), "offboard", {"Comment": "INC-1"}),
])
def test_exact_body_once_then_rerun_sends_nothing(over, path, body):
    fake = FakeMachines([machine(1, "web"), machine(2)])
    results = run(fake, ["web", mid(2)], **over)
    assert sorted(posts(fake)) == sorted([("/api/machines/%s/%s" % (mid(i), path), body) for i in (1, 2)])
    assert all(r["changed"] and not r["failed"] and r["action"]["status"] == "Pending" for r in results)
    # the same actions are still Pending: a rerun reports them and sends nothing
    again = run(fake, ["web", mid(2)], **over)
    assert len(fake.posts()) == 2
    assert [r["action"]["id"] for r in again] == [r["action"]["id"] for r in results]
    assert not any(r["changed"] or r["failed"] for r in again) and "already running" in again[0]["msg"]


def test_check_mode_predicts_and_sends_nothing():
    fake = FakeMachines([machine(1), machine(2)], [action(mid(2), "RunAntiVirusScan", "InProgress", OLD,
                                                          scope="Quick")])
    r1, r2 = run(fake, [mid(1), mid(2)], check_mode=True)
    assert not fake.posts()
    assert r1["changed"] and r1["msg"] == "would send RunAntiVirusScan" and r1["action"] is None
    assert not r2["changed"] and r2["action"]["status"] == "InProgress"


@pytest.mark.parametrize("history, sent", [
    ([("Succeeded", RECENT, "Quick")], False),
    ([("Succeeded", RECENT, "Full")], False),   # a full scan covers a quick one
    ([("Succeeded", OLD, "Quick")], True),      # outside the window
    ([("Failed", RECENT, "Quick")], True),      # did not succeed
])
def test_skip_if_done_within(history, sent):
    fake = FakeMachines([machine(1)], [action(mid(1), "RunAntiVirusScan", s, t, scope=sc) for s, t, sc in history])
    [r] = run(fake, [mid(1)], skip_if_done_within="24h")
    assert bool(fake.posts()) is sent and r["changed"] is sent
    if not sent:
        assert "skip_if_done_within" in r["msg"] and r["action"]["status"] == "Succeeded"


def test_a_quick_scan_does_not_satisfy_a_full_one():
    fake = FakeMachines([machine(1)], [action(mid(1), "RunAntiVirusScan", "Succeeded", RECENT, scope="Quick")])
    run(fake, [mid(1)], scan_type="full", skip_if_done_within="24h")
    assert posts(fake)[0][1]["ScanType"] == "Full"


@pytest.mark.parametrize("kind, over", [
    ("RunAntiVirusScan", dict(action="av_scan")),
    ("CollectInvestigationPackage", dict(action="collect_investigation_package")),
])
def test_by_default_a_rerun_within_24h_sends_nothing(kind, over):
    """Without skip_if_done_within, a scan or collection that succeeded in the last 24 hours counts (a rerun of the
    same play used to send them again)."""
    recent = action(mid(1), kind, "Succeeded", RECENT, scope="Quick" if kind == "RunAntiVirusScan" else None)
    fake = FakeMachines([machine(1)], [recent, action(mid(2), kind, "Succeeded", OLD, scope=recent["scope"])])
    fake.machines.append(machine(2))
    r1, r2 = run(fake, [mid(1), mid(2)], **over)
    assert not r1["changed"] and r1["action"]["id"] == recent["id"] and "skip_if_done_within" in r1["msg"]
    assert r2["changed"] and [p[0] for p in posts(fake)] == ["/api/machines/%s/%s" % (mid(2), p) for p in
                                                             [{"av_scan": "runAntiVirusScan"}.get(
                                                                 over["action"], "collectInvestigationPackage")]]


def test_a_zero_window_sends_whenever_none_runs():
    fake = FakeMachines([machine(1)], [action(mid(1), "RunAntiVirusScan", "Succeeded", RECENT, scope="Quick")])
    [r] = run(fake, [mid(1)], skip_if_done_within="0m")
    assert len(fake.posts()) == 1 and r["changed"]


def test_quarantine_has_no_default_window():
    sha1 = SHA1.lower()
    done = action(mid(1), "StopAndQuarantineFile", "Succeeded", RECENT,
                  relatedFileInfo={"fileIdentifier": sha1, "fileIdentifierType": "Sha1"})
    fake = FakeMachines([machine(1)], [done])
    [r] = run(fake, [mid(1)], action="stop_and_quarantine_file", sha1=SHA1)
    assert len(fake.posts()) == 1 and r["changed"]


def test_quarantine_of_another_file_is_another_action():
    other = action(mid(1), "StopAndQuarantineFile", "Pending", OLD,
                   relatedFileInfo={"fileIdentifier": "a" * 40, "fileIdentifierType": "Sha1"})
    same = action(mid(2), "StopAndQuarantineFile", "Pending", OLD,
                  relatedFileInfo={"fileIdentifier": SHA1.lower(), "fileIdentifierType": "Sha1"})
    fake = FakeMachines([machine(1), machine(2)], [other, same])
    r1, r2 = run(fake, [mid(1), mid(2)], action="stop_and_quarantine_file", sha1=SHA1)
    assert [p[0] for p in posts(fake)] == ["/api/machines/%s/StopAndQuarantineFile" % mid(1)]
    assert r1["changed"] and not r2["changed"] and r2["action"]["id"] == same["id"]


@pytest.mark.parametrize("code, action_name", [
    ("ActiveRequestAlreadyExists", "av_scan"),
    ("BadRequest", "collect_investigation_package"),  # the collection endpoint's 400 while one runs
])
def test_busy_400_is_read_back_and_unchanged(code, action_name):
    fake = FakeMachines([machine(1)])

    def busy(f, machine_id, kind, body):
        f.new_action(machine_id, kind, body)  # someone else's request landed just before ours
        raise DefenderError("already running", status=400, code=code)

    fake.on_post = busy
    [r] = run(fake, [mid(1)], action=action_name)
    assert len(fake.posts()) == 1
    assert not r["changed"] and not r["failed"] and r["action"]["status"] == "Pending"


def test_a_plain_400_is_not_taken_for_busy():
    fake = FakeMachines([machine(1)])

    def bad(f, machine_id, kind, body):
        raise DefenderError("Comment is required", status=400, code="MissingRequiredParameter")

    fake.on_post = bad
    [r] = run(fake, [mid(1)], action="collect_investigation_package")
    assert r["failed"] and not r["changed"] and "Comment is required" in r["msg"]


@pytest.mark.parametrize("applied", [True, False])
def test_lost_response_is_read_back_never_resent(applied):
    fake = FakeMachines([machine(1)])

    def lost(f, machine_id, kind, body):
        if applied:
            f.new_action(machine_id, kind, body)
        raise DefenderOutcomeUnknownError("bad gateway", status=502, method="POST")

    fake.on_post = lost
    [r] = run(fake, [mid(1)], wait=not applied)
    assert len(fake.posts()) == 1
    # the history was read again right after the lost POST
    post_index = max(i for i, c in enumerate(fake.calls) if c[0] == "POST")
    assert fake.calls[post_index + 1][1] == "/api/machineactions"
    if applied:
        assert r["changed"] and r["action"]["type"] == "RunAntiVirusScan" and "lost" in r["msg"]
    else:
        assert r["failed"] and not r["changed"] and "outcome unknown" in r["msg"]


def test_forbidden_names_the_permission():
    fake = FakeMachines([machine(1)])

    def forbidden(f, machine_id, kind, body):
        raise DefenderError("Missing application roles", status=403, code="Forbidden")

    fake.on_post = forbidden
    [r] = run(fake, [mid(1)], action="offboard", confirm_offboard=True)
    assert r["failed"] and "Offboard needs Machine.Offboard" in r["msg"]


@pytest.mark.parametrize("final, failed", [("Succeeded", False), ("Failed", True), ("TimeOut", True)])
def test_wait_reports_the_final_status(final, failed):
    fake = FakeMachines([machine(1)])
    fake.on_get_action = lambda f, a: a.update(status=final)
    [r] = run(fake, [mid(1)], wait=True)
    assert r["changed"] and r["failed"] is failed and r["action"]["status"] == final


def test_wait_follows_an_action_that_was_already_running():
    running = action(mid(1), "RunAntiVirusScan", "InProgress", OLD, scope="Quick")
    fake = FakeMachines([machine(1)], [running])
    fake.on_get_action = lambda f, a: a.update(status="Succeeded")
    [r] = run(fake, [mid(1)], wait=True)
    assert not fake.posts() and not r["changed"] and not r["failed"] and r["action"]["status"] == "Succeeded"


def test_bulk_of_many_machines_one_post_each_within_the_budget():
    n = 150
    fake = FakeMachines([machine(i) for i in range(n)])
    clock = Clock()
    budget = RateBudget(100, clock=clock, sleep=clock.sleep)
    sent_at = []
    original = fake.post

    def paced_post(path, body):
        budget.acquire()
        sent_at.append(clock())
        return original(path, body)

    fake.post = paced_post
    results = run(fake, [mid(i) for i in range(n)])
    assert len(fake.posts()) == n and all(r["changed"] for r in results)
    assert len(set(p[0] for p in posts(fake))) == n, "one POST per machine"
    # never more than 100 in any sliding minute
    assert all(sum(1 for t in sent_at if s <= t < s + 60) <= 100 for s in sent_at)
    reads = [c for c in fake.calls if c[0] == "GET"]
    assert len(reads) <= 2 * (n // 20 + 1), "machines and history are read in batches of 20"


def test_module_result_shape_and_single_keys(monkeypatch):
    fake = FakeMachines([machine(1, "web")])
    install(monkeypatch, fake)
    result, failed = run_module(mod.main, dict(CONNECTION, machine="web", action="av_scan", comment="x"), monkeypatch)
    assert not failed and result["changed"]
    [r] = result["results"]
    assert set(r) == {"machine", "machine_id", "computer_dns_name", "changed", "failed", "msg", "action", "action_id",
                      "status"}
    assert result["action_id"] == r["action_id"] == r["action"]["id"] and result["status"] == "Pending"


def test_module_bulk_failure_fails_at_the_end(monkeypatch):
    fake = FakeMachines([machine(1), machine(2)])
    install(monkeypatch, fake)
    result, failed = run_module(mod.main, dict(CONNECTION, machines=[mid(1), "nope", mid(2)], action="av_scan",
                                               comment="x"), monkeypatch)
    assert failed and result["changed"] and "1 of 3 machines failed" in result["msg"] and len(fake.posts()) == 2


@pytest.mark.parametrize("args, message", [
    (dict(action="offboard"), "confirm_offboard: true"),
    (dict(action="offboard", confirm_offboard=False), "cannot be undone"),
    (dict(action="av_scan", confirm_offboard=True), "confirm_offboard is only used"),
    (dict(action="stop_and_quarantine_file"), "sha1 must be"),
    (dict(action="stop_and_quarantine_file", sha1="1234"), "sha1 must be"),
    (dict(action="stop_and_quarantine_file", sha1="g" * 40), "sha1 must be"),
    (dict(action="av_scan", sha1=SHA1), "sha1 is only used"),
    (dict(action="offboard", confirm_offboard=True, scan_type="full"), "scan_type is only used"),
    (dict(action="av_scan", dest="/tmp"), "dest is only used"),
    (dict(action="collect_investigation_package", dest="/dev/null/a/b"), "cannot be written"),
    (dict(action="av_scan", skip_if_done_within="yesterday"), "skip_if_done_within"),
    (dict(action="scan"), "action"),
    (dict(action="av_scan", comment=" "), "comment must not be empty"),
    (dict(action="av_scan", machine="bad\nname"), "not a valid"),
])
def test_bad_input_fails_before_any_request(monkeypatch, args, message):
    refuse_client(monkeypatch)
    full = dict(dict(CONNECTION, machine="web", comment="x"), **args)
    result, failed = run_module(mod.main, full, monkeypatch)
    assert failed and message in result["msg"], result["msg"]


def test_dest_that_is_a_file_is_refused(monkeypatch, tmp_path):
    refuse_client(monkeypatch)
    f = tmp_path / "file"
    f.write_text("x")
    result, failed = run_module(mod.main, dict(CONNECTION, machine="web", comment="x",
                                               action="collect_investigation_package", dest=str(f)), monkeypatch)
    assert failed and "not a directory" in result["msg"]


# --- investigation package ---------------------------------------------------------------------------------------

class Response:
    def __init__(self, status, body=b""):
        self.status_code = status
        self.body = body

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def iter_content(self, size):
        for i in range(0, len(self.body), 7000):
            yield self.body[i:i + 7000]


class Raise:
    def __init__(self, error):
        self.error = error


class Session:
    """Records downloads; ``answers`` is a list of Response or Raise objects, used in turn."""

    def __init__(self, answers=None):
        self.answers = list(answers or [])
        self.gets = []
        self.auth = None

    def get(self, url, stream=False, timeout=None, headers=None):
        self.gets.append((url, dict(headers or {})))
        answer = self.answers.pop(0) if self.answers else Response(200, PACKAGE)
        if isinstance(answer, Raise):
            raise answer.error
        return answer


def collect(fake, tmp_path, session, refs=None, check_mode=False, **over):
    dest = str(tmp_path / "case")
    over.setdefault("action", "collect_investigation_package")
    fake.on_get_action = lambda f, a: a.update(status="Succeeded")
    results = run(fake, refs or [mid(1)], check_mode=check_mode, dest=dest, **over)
    clock = Clock()
    downloader = package.PackageDownloader(fake, session=session, sleeper=clock.sleep, clock=clock)
    package.collect_packages(results, dest, downloader, check_mode, 60, 5)
    return [one_shot_result(r) for r in results], dest, clock


def _no_secret(obj):
    text = json.dumps(obj, default=str)
    assert "SIGNED-SECRET" not in text and "token=" not in text


def test_collect_downloads_the_package_atomically_0600(tmp_path):
    fake = FakeMachines([machine(1, "Web-01.contoso.com")])
    session = Session()
    [r], dest, _clock = collect(fake, tmp_path, session)
    assert not r["failed"] and r["changed"] and r["status"] == "Succeeded"
    path = r["package_path"]
    assert path == os.path.join(dest, "Web-01.contoso.com_%s.zip" % r["action_id"])
    with open(path, "rb") as fh:
        assert fh.read() == PACKAGE
    assert r["package_sha256"] == hashlib.sha256(PACKAGE).hexdigest() and r["package_size"] == len(PACKAGE)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o700
    name = os.path.basename(path)
    assert sorted(os.listdir(dest)) == sorted([name, ".%s.sha256" % name]), "no temporary file left"
    # the link, quotes stripped, was fetched once; the engine's POST and link read went to the API
    assert [g[0] for g in session.gets] == [PACKAGE_URL]
    assert [c[1] for c in fake.calls if c[1].endswith("/getPackageUri")] == [
        "/api/machineactions/%s/getPackageUri" % r["action_id"]]
    _no_secret(r)


def test_download_never_carries_an_authorization_header():
    import requests

    request = requests.Request("GET", PACKAGE_URL, headers={"Authorization": "Bearer aaa.bbb.ccc"}).prepare()
    assert "Authorization" not in package._no_auth(request).headers
    downloader = package.PackageDownloader(FakeMachines(), validate_certs=True)
    assert downloader.session.auth is package._no_auth and "Authorization" not in downloader.session.headers


def test_rerun_with_the_package_there_downloads_nothing(tmp_path):
    done = action(mid(1), "CollectInvestigationPackage", "Succeeded", RECENT, scope=None)
    fake = FakeMachines([machine(1, "web")], [done])
    session = Session()
    [r1], _dest, _c = collect(fake, tmp_path, session, skip_if_done_within="24h")
    assert not fake.posts() and r1["changed"] and r1["action_id"] == done["id"]
    [r2], _dest, _c = collect(fake, tmp_path, session, skip_if_done_within="24h")
    assert not fake.posts() and not r2["changed"] and len(session.gets) == 1
    assert r2["package_sha256"] == r1["package_sha256"] and "already downloaded" in r2["msg"]


@pytest.mark.parametrize("planted", ["symlink", "other_file", "fifo", "no_record"])
def test_only_a_package_this_module_wrote_counts_as_downloaded(tmp_path, planted):
    """Issue 22 item 5: a file or link planted at the package's name was taken as downloaded, and its hash reported
    as evidence (a FIFO hung the task)."""
    done = action(mid(1), "CollectInvestigationPackage", "Succeeded", RECENT, scope=None)
    fake = FakeMachines([machine(1, "web")], [done])
    dest = tmp_path / "case"
    dest.mkdir(mode=0o700)
    path = dest / ("web_%s.zip" % done["id"])
    elsewhere = tmp_path / "elsewhere.zip"
    elsewhere.write_bytes(b"not the package")
    if planted == "symlink":
        path.symlink_to(elsewhere)
    elif planted == "fifo":
        os.mkfifo(path)
    else:
        path.write_bytes(b"not the package" if planted == "other_file" else PACKAGE)
    if planted == "other_file":  # a record that does not match the file either
        (dest / (".%s.sha256" % path.name)).write_text(hashlib.sha256(PACKAGE).hexdigest() + "\n")
    session = Session()
    [r], _dest, _c = collect(fake, tmp_path, session, skip_if_done_within="24h")
    assert not r["failed"] and r["changed"] and len(session.gets) == 1, r
    assert r["package_sha256"] == hashlib.sha256(PACKAGE).hexdigest() and "already downloaded" not in r["msg"]
    assert not path.is_symlink() and path.read_bytes() == PACKAGE
    assert elsewhere.read_bytes() == b"not the package"  # never written through the link


def test_check_mode_downloads_nothing(tmp_path):
    fake = FakeMachines([machine(1)])
    session = Session()
    [r], dest, _c = collect(fake, tmp_path, session, check_mode=True)
    assert not fake.posts() and not session.gets and r["changed"] and not os.path.exists(dest)
    assert "would download" in r["msg"]


def test_package_uri_404_is_asked_again_until_ready(tmp_path):
    fake = FakeMachines([machine(1)])
    asked = []

    def not_yet(f, a):
        asked.append(1)
        if len(asked) < 3:
            raise DefenderError("not found", status=404, code="NotFound")
        return {"value": PACKAGE_URL}  # also without the quotes

    fake.on_package_uri = not_yet
    [r], _dest, clock = collect(fake, tmp_path, Session())
    assert len(asked) == 3 and not r["failed"] and r["package_size"] == len(PACKAGE)
    assert clock() == 10, "asked again every wait_sleep (5 s); the client paces the calls in its own budget"


def test_expired_link_gets_one_fresh_link(tmp_path):
    fake = FakeMachines([machine(1)])
    session = Session([Response(403), Response(200, PACKAGE)])
    [r], _dest, _c = collect(fake, tmp_path, session)
    assert not r["failed"] and len(session.gets) == 2
    assert len([c for c in fake.calls if c[1].endswith("/getPackageUri")]) == 2


@pytest.mark.parametrize("answers, text", [
    ([Response(403), Response(403)], "answered HTTP 403"),
    ([Response(500)], "answered HTTP 500"),
    ([Raise(ConnectionError("HTTPSConnectionPool(host='x', port=443): Max retries exceeded with url: " + PACKAGE_URL))],
     "failed (ConnectionError)"),
])
def test_download_errors_never_show_the_link_and_leave_no_file(tmp_path, answers, text):
    fake = FakeMachines([machine(1)])
    [r], dest, _c = collect(fake, tmp_path, Session(answers))
    assert r["failed"] and r["changed"] and text in r["msg"] and "download.example.test" in r["msg"]
    assert "package_path" not in r and os.listdir(dest) == []
    _no_secret(r)


def test_a_link_that_is_not_https_is_refused(tmp_path):
    fake = FakeMachines([machine(1)])
    fake.on_package_uri = lambda f, a: {"value": '"http://download.example.test/p.zip?token=SIGNED-SECRET"'}
    session = Session()
    [r], _dest, _c = collect(fake, tmp_path, session)
    assert r["failed"] and "not return an HTTPS link" in r["msg"] and not session.gets
    _no_secret(r)


def test_failed_collection_downloads_nothing(tmp_path):
    fake = FakeMachines([machine(1)])
    session = Session()
    dest = str(tmp_path / "case")
    fake.on_get_action = lambda f, a: a.update(status="Failed")
    results = run(fake, [mid(1)], action="collect_investigation_package", dest=dest)
    package.collect_packages(results, dest, package.PackageDownloader(fake, session=session), False, 60, 5)
    assert results[0]["failed"] and not session.gets and "package_path" not in results[0]


def test_progress_counts_machines_and_names_no_link(monkeypatch, tmp_path):
    from ansible_collections.defender.endpoint.plugins.module_utils import progress

    record = tmp_path / "progress.json"
    monkeypatch.setattr(progress, "_REPORTER", progress.Progress(path=str(record), min_interval=0))
    fake = FakeMachines([machine(1), machine(2), machine(3)])
    run(fake, [mid(1), mid(2), mid(3)])
    assert json.loads(record.read_text())["message"] == "3 of 3 machines handled, 3 got RunAntiVirusScan"
    collect(FakeMachines([machine(1, "web")]), tmp_path, Session())
    last = json.loads(record.read_text())
    assert last["message"] == "downloading package 1 of 1 (web)" and "token" not in record.read_text()


def test_module_diff_and_check_mode(monkeypatch):
    fake = FakeMachines([machine(1, "web"), machine(2)], [action(mid(2), "RunAntiVirusScan", "Pending", OLD,
                                                                 scope="Quick")])
    install(monkeypatch, fake)
    result, failed = run_module(mod.main, dict(CONNECTION, machines=["web", mid(2)], action="av_scan", comment="x",
                                               _ansible_diff=True, _ansible_check_mode=True), monkeypatch)
    assert not failed and result["changed"] and not fake.posts()
    assert result["diff"] == {"before": {label(1, "web"): "none", label(2): "pending"},
                              "after": {label(1, "web"): "pending", label(2): "pending"}}


@pytest.mark.parametrize("over", [
    dict(action="av_scan", scan_type="full"),
    dict(action="collect_investigation_package"),
    dict(action="stop_and_quarantine_file", sha1=SHA1),
    dict(action="offboard", confirm_offboard=True),
])
def test_every_kind_reads_a_lost_response_back_and_check_mode_and_reruns_send_nothing(over):
    fake = FakeMachines([machine(1), machine(2)])

    def lost(f, machine_id, kind, body):
        f.new_action(machine_id, kind, body)
        raise DefenderOutcomeUnknownError("no response", method="POST")

    fake.on_post = lost
    assert all(r["changed"] for r in run(fake, [mid(1), mid(2)], check_mode=True, **over)) and not fake.posts()
    results = run(fake, [mid(1), mid(2)], **over)
    assert len(fake.posts()) == 2 and all(r["changed"] and "lost" in r["msg"] for r in results)
    again = run(fake, [mid(1), mid(2)], **over)
    assert len(fake.posts()) == 2 and not any(r["changed"] for r in again)


BEFORE_OLD = "2026-01-20T09:00:00Z"  # a last full report before the offboard of OLD


def test_a_succeeded_offboard_is_not_sent_again_while_the_machine_stays_away():
    fake = FakeMachines([machine(1, lastSeen=BEFORE_OLD), machine(2, lastSeen=BEFORE_OLD)],
                        [action(mid(1), "Offboard", "Succeeded", OLD, scope=None),
                         action(mid(2), "Offboard", "Failed", OLD, scope=None)])
    r1, r2 = run(fake, [mid(1), mid(2)], action="offboard", confirm_offboard=True)
    assert not r1["changed"] and r1["action"]["status"] == "Succeeded" and "succeeded already" in r1["msg"]
    assert r2["changed"] and [p[0] for p in posts(fake)] == ["/api/machines/%s/offboard" % mid(2)]


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_machine_seen_after_its_offboard_is_back_and_offboarded_again(check_mode):
    """Offboarding only stops the sensor: a machine that reports again (lastSeen after the offboard completed)
    comes back under the same id. It used to be reported 'not sent: ... succeeded already' forever."""
    done = action(mid(1), "Offboard", "Succeeded", OLD, scope=None)
    fake = FakeMachines([machine(1, "kiosk", lastSeen="2026-01-25T10:00:00Z")], [done])
    [r] = run(fake, [mid(1)], check_mode=check_mode, action="offboard", confirm_offboard=True)
    assert r["changed"] and not r["failed"]
    assert "kiosk was seen at 2026-01-25T10:00:00Z, after Offboard action %s is Succeeded" % done["id"] in r["msg"]
    assert "it is back" in r["msg"]
    assert len(posts(fake)) == (0 if check_mode else 1)


def test_the_reason_an_offboard_is_sent_again_stays_after_wait():
    done = action(mid(1), "Offboard", "Succeeded", OLD, scope=None)
    fake = FakeMachines([machine(1, "kiosk", lastSeen="2026-01-25T10:00:00Z")], [done])
    fake.on_get_action = lambda f, a: a.update(status="Succeeded")
    [r] = run(fake, [mid(1)], action="offboard", confirm_offboard=True, wait=True)
    assert r["changed"] and r["action"]["status"] == "Succeeded" and "it is back" in r["msg"]
