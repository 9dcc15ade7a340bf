# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_action and machine_app_restriction through ansible-playbook against the emulator: exact bodies, one POST
per machine, reruns and check mode send nothing, lost responses, permissions, the investigation package download
(signed link never shown, no bearer token to the download host), and a bulk within the rate limits."""
from __future__ import annotations

import hashlib
import json
import os
import stat
import time
import zipfile

import pytest

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
%s
"""
SHA1 = "87662BC3D60E4200CEAF7AAE249D1C343F4B83C9"


def play(*tasks):
    return PLAY % "\n".join(tasks)


def task(module, name="act", **args):
    args.setdefault("comment", "e2e")
    return """    - name: %s
      defender.endpoint.%s: %s
      register: out
      ignore_errors: true""" % (name, module, json.dumps(args))


def action_task(name="act", **args):
    return task("machine_action", name, **args)


def restrict_task(name="restrict", **args):
    return task("machine_app_restriction", name, **args)


def failed(run, name):
    return run.task(name)["status"] == "failed"


def posts(emulator, verb=None):
    out = []
    for e in emulator.control.requests(kind="api", method="POST"):
        parts = e["path"].strip("/").split("/")
        if len(parts) == 4 and parts[1] == "machines" and (verb is None or parts[3] == verb):
            out.append(e)
    return out


def actions(emulator, machine_id, type_=None):
    return [a for a in emulator.control.machine_actions(machine_id) if type_ is None or a["type"] == type_]


@pytest.fixture
def emu(emulator):
    emulator.reset(machines=300)
    emulator.control.clear_faults()
    return emulator


def plain_ids(emu, n):
    ids = emu.control.query("machines", "isPotentialDuplication eq false")
    ids = ids["ids"] if isinstance(ids, dict) else ids
    specials = set(emu.control.specials().values())
    return [i for i in ids if i not in specials][:n]


def test_av_scan_bodies_once_rerun_and_check_mode(emu, ansible):
    emu.control.config(lifecycle={"pending": 3600, "in_progress": 3600})
    a, b = plain_ids(emu, 2)
    name = emu.control.machine(a)["computerDnsName"]
    run = ansible.playbook(play(action_task("check", machines=[name, b], action="av_scan", scan_type="full")),
                           check=True)
    assert run.result("check")["changed"] and not posts(emu)
    run = ansible.playbook(play(action_task(machines=[name, b], action="av_scan", scan_type="full")))
    r = run.result("act")
    assert r["changed"] and not failed(run, "act")
    assert sorted((p["path"], json.dumps(p["body"])) for p in posts(emu)) == sorted(
        ("/api/machines/%s/runAntiVirusScan" % i, json.dumps({"Comment": "e2e", "ScanType": "Full"})) for i in (a, b))
    assert {x["status"] for x in r["results"]} == {"Pending"} and all(x["action_id"] for x in r["results"])
    emu.control.clear_requests()
    run = ansible.playbook(play(action_task(machines=[name, b], action="av_scan", scan_type="full")))
    again = run.result("act")
    assert not again["changed"] and not posts(emu)
    assert [x["action_id"] for x in again["results"]] == [x["action_id"] for x in r["results"]]
    assert len(actions(emu, a, "RunAntiVirusScan")) == 1


def test_skip_if_done_within_and_wait(emu, ansible):
    [a] = plain_ids(emu, 1)
    run = ansible.playbook(play(action_task(machine=a, action="av_scan", wait=True, wait_sleep=1)))
    r = run.result("act")
    assert r["changed"] and r["status"] == "Succeeded", r
    emu.control.clear_requests()
    run = ansible.playbook(play(action_task(machine=a, action="av_scan", skip_if_done_within="1h"),
                                action_task("default", machine=a, action="av_scan"),
                                action_task("zero", machine=a, action="av_scan", skip_if_done_within="0m")))
    assert not run.result("act")["changed"] and run.result("act")["action_id"] == r["action_id"]
    # the default window (24h) makes a rerun of the same play change nothing
    assert not run.result("default")["changed"] and run.result("default")["action_id"] == r["action_id"]
    assert run.result("zero")["changed"] and len(posts(emu)) == 1


def test_stop_and_quarantine_file(emu, ansible):
    [a] = plain_ids(emu, 1)
    run = ansible.playbook(play(action_task("bad", machine=a, action="stop_and_quarantine_file", sha1="123"),
                                action_task(machine=a, action="stop_and_quarantine_file", sha1=SHA1)))
    assert failed(run, "bad") and "sha1" in run.result("bad")["msg"]
    [p] = posts(emu)
    assert p["path"] == "/api/machines/%s/StopAndQuarantineFile" % a
    assert p["body"] == {"Comment": "e2e", "Sha1": SHA1.lower()}
    [act] = actions(emu, a, "StopAndQuarantineFile")
    assert act["relatedFileInfo"] == {"fileIdentifier": SHA1.lower(), "fileIdentifierType": "Sha1"}


def test_offboard_needs_confirmation(emu, ansible):
    [a] = plain_ids(emu, 1)
    run = ansible.playbook(play(action_task("refused", machine=a, action="offboard")))
    assert failed(run, "refused") and "confirm_offboard" in run.result("refused")["msg"]
    assert not emu.control.requests(kind="api")
    run = ansible.playbook(play(action_task(machine=a, action="offboard", confirm_offboard=True)))
    assert run.result("act")["changed"]
    assert [(p["path"], p["body"]) for p in posts(emu)] == [("/api/machines/%s/offboard" % a, {"Comment": "e2e"})]


def test_an_offboarded_machine_that_reports_again_is_offboarded_again(emu, ansible):
    [a] = plain_ids(emu, 1)
    name = emu.control.machine(a)["computerDnsName"]
    task_args = dict(machine=a, action="offboard", confirm_offboard=True, wait=True, wait_sleep=1)
    run = ansible.playbook(play(action_task(**task_args), action_task("rerun", **task_args)))
    first = run.result("act")
    assert first["changed"] and first["status"] == "Succeeded" and not run.result("rerun")["changed"]
    emu.control.clear_requests()
    emu.control.report(a)  # the sensor runs again: the machine is back under the same id
    run = ansible.playbook(play(action_task(machine=a, action="offboard", confirm_offboard=True)))
    back = run.result("act")
    assert back["changed"] and back["action_id"] != first["action_id"], back
    assert "%s was seen at" % name in back["results"][0]["msg"] and "it is back" in back["results"][0]["msg"]
    assert [p["path"] for p in posts(emu)] == ["/api/machines/%s/offboard" % a]


def test_missing_action_permission_names_it(emu, ansible):
    [a] = plain_ids(emu, 1)
    run = ansible.playbook(play(action_task(machine=a, action="av_scan")), env=emu.env("no_isolate"))
    r = run.result("act")
    assert failed(run, "act") and "Machine.Scan" in r["results"][0]["msg"] and not r["changed"]
    assert not actions(emu, a)


def test_lost_scan_response_gives_one_action(emu, ansible):
    [a] = plain_ids(emu, 1)
    emu.control.set_faults({"action": "drop_after", "count": 1,
                            "match": {"method": "POST", "path_regex": "/runAntiVirusScan$"}})
    run = ansible.playbook(play(action_task(machine=a, action="av_scan")))
    r = run.result("act")
    assert r["changed"] and "lost" in r["results"][0]["msg"] and len(posts(emu)) == 1
    assert len(actions(emu, a, "RunAntiVirusScan")) == 1


def test_collect_package_download(emu, ansible, tmp_path):
    [a] = plain_ids(emu, 1)
    name = emu.control.machine(a)["computerDnsName"]
    dest = tmp_path / "case"
    args = dict(machine=name, action="collect_investigation_package", dest=str(dest), wait_sleep=1,
                skip_if_done_within="1h")
    run = ansible.playbook(play(action_task(**args)), verbosity=4, log=True)
    r = run.result("act")
    assert r["changed"] and not failed(run, "act"), r
    [res] = r["results"]
    path = res["package_path"]
    assert path == str(dest / ("%s_%s.zip" % (name, res["action_id"]))) and res["status"] == "Succeeded"
    with open(path, "rb") as fh:
        data = fh.read()
    assert hashlib.sha256(data).hexdigest() == res["package_sha256"] and len(data) == res["package_size"]
    # the package, and beside it the record of its SHA-256 (what counts as "already downloaded")
    name = os.path.basename(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and sorted(os.listdir(dest)) == [".%s.sha256" % name, name]
    assert "SystemInformation.txt" in zipfile.ZipFile(path).namelist()
    # one collection, one link, one download; the download carried no Authorization header
    assert [p["path"] for p in posts(emu)] == ["/api/machines/%s/collectInvestigationPackage" % a]
    links = [e for e in emu.control.requests(kind="api") if e["path"].endswith("/getPackageUri")]
    assert [e["status"] for e in links] == [200]
    [dl] = emu.control.requests(kind="download")
    assert dl["status"] == 200 and dl["authorization"] is False and dl["method"] == "GET"
    # the signed link is nowhere: not in stdout, stderr (at -vvvv) or the log
    for text in (run.stdout, run.stderr, run.log_text()):
        assert "safedownload" not in text and "token=" not in text
    # a rerun: the collection succeeded within the hour and the package is there: nothing sent, nothing fetched
    emu.control.clear_requests()
    run = ansible.playbook(play(action_task(**args)))
    again = run.result("act")
    assert not again["changed"] and again["results"][0]["package_sha256"] == res["package_sha256"]
    assert not posts(emu) and not emu.control.requests(kind="download")


def test_collect_running_is_not_sent_again(emu, ansible):
    [a] = plain_ids(emu, 1)
    emu.control.config(lifecycle={"pending": 3600, "in_progress": 3600})
    run = ansible.playbook(play(action_task(machine=a, action="collect_investigation_package"),
                                action_task("again", machine=a, action="collect_investigation_package")))
    assert run.result("act")["changed"] and not run.result("again")["changed"]
    assert run.result("again")["action_id"] == run.result("act")["action_id"] and len(posts(emu)) == 1


def test_app_restriction_declarative(emu, ansible):
    [a] = plain_ids(emu, 1)
    run = ansible.playbook(play(restrict_task(machine=a, wait=True, wait_sleep=1),
                                restrict_task("again", machine=a),
                                restrict_task("lift", machine=a, state="unrestricted", wait=True, wait_sleep=1)))
    r, again, lift = run.result("restrict"), run.result("again"), run.result("lift")
    assert r["changed"] and r["state"] == "restricted" and r["previous_state"] == "unrestricted", r
    assert not again["changed"] and again["state"] == "restricted"
    assert lift["changed"] and lift["state"] == "unrestricted"
    assert [(p["path"].rsplit("/", 1)[1], p["body"]) for p in posts(emu)] == [
        ("restrictCodeExecution", {"Comment": "e2e"}), ("unrestrictCodeExecution", {"Comment": "e2e"})]


def test_bulk_scan_of_120_machines_within_the_limits(emu, ansible):
    emu.reset(machines=300, time_scale=0.05, lifecycle={"pending": 0.2, "in_progress": 0.2})
    ids = plain_ids(emu, 120)
    start = time.monotonic()
    run = ansible.playbook(play(action_task(machines=ids, action="av_scan", max_parallel=16,
                                            requests_per_minute=6000)))
    elapsed = time.monotonic() - start
    r = run.result("act")
    assert not failed(run, "act"), r.get("msg")
    assert len(r["results"]) == 120 and all(x["changed"] for x in r["results"])
    # one accepted POST per machine (a 429 was not processed: the client waits Retry-After and sends it again)
    accepted = [p for p in posts(emu) if p["status"] != 429]
    assert sorted(p["path"].split("/")[3] for p in accepted) == sorted(ids), "one POST per machine"
    assert all(len(actions(emu, i, "RunAntiVirusScan")) == 1 for i in ids)
    print("120 scans: %.1fs, %d API requests, %d throttled"
          % (elapsed, len(emu.control.requests(kind="api")), emu.control.stats()["throttled"]))
    emu.control.clear_requests()
    run = ansible.playbook(play(action_task(machines=ids, action="av_scan", skip_if_done_within="1h",
                                            requests_per_minute=6000)))
    assert not run.result("act")["changed"] and not posts(emu)


def test_collect_evidence_playbook(emu, ansible, tmp_path):
    a, b = plain_ids(emu, 2)
    names = [emu.control.machine(i)["computerDnsName"] for i in (a, b)]
    dest = tmp_path / "INC-1234"
    extra = {"machines": ",".join(names), "dest": str(dest), "comment": "INC-1234 evidence"}
    pb = [{"ansible.builtin.import_playbook": "defender.endpoint.collect_evidence"}]
    run = ansible.playbook(pb, extra_vars=dict(extra, wait_timeout=120))
    assert run.rc == 0, run.explain()
    files = sorted(f for f in os.listdir(dest) if not f.startswith("."))  # without the SHA-256 records
    assert len(files) == 2 and all(f.startswith(tuple(names)) and f.endswith(".zip") for f in files)
    assert all(stat.S_IMODE(os.stat(dest / f).st_mode) == 0o600 for f in files)
    assert sorted(p["body"]["Comment"] for p in posts(emu)) == ["INC-1234 evidence"] * 2
    emu.control.clear_requests()
    run = ansible.playbook(pb, extra_vars=extra)
    assert run.rc == 0 and run.changed == 0 and not posts(emu)
    assert sorted(f for f in os.listdir(dest) if not f.startswith(".")) == files
