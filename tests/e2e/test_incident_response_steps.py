# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident_response role's optional steps (restrict apps, antivirus scan, investigation package) through the
`respond` playbook against the emulator: each acts once, the package lands in the report folder, the report lists
them, a second run and check mode send no write request, and a missing permission stops the run before any write."""
from __future__ import annotations

import json
import os
import stat

import pytest

RESPOND = [{"ansible.builtin.import_playbook": "defender.endpoint.respond"}]
STEPS = {"incident_response_restrict_apps": True, "incident_response_av_scan": True,
         "incident_response_collect_package": True, "incident_response_wait_sleep": 1}


def _writes(emulator):
    return [r for r in emulator.requests()
            if r.get("method") not in ("GET", "HEAD", "OPTIONS") and r.get("path", "").lower().startswith("/api/")]


@pytest.fixture
def incident(emulator):
    emulator.reset()
    inc = emulator.incident()
    emulator.clear_requests()
    return inc


def _reports(report_dir):
    # the check-mode run's report (-check) is left out: the real run's is the one with the results
    names = sorted(n for n in os.listdir(report_dir) if n.endswith(".json") and not n.endswith("-check.json"))
    assert len(names) == 1, names
    with open(os.path.join(report_dir, names[0]), encoding="utf-8") as fh:
        data = json.load(fh)
    with open(os.path.join(report_dir, names[0][:-5] + ".md"), encoding="utf-8") as fh:
        return data, fh.read()


def test_steps_act_once_download_into_the_report_folder_and_rerun_changes_nothing(emulator, ansible, incident,
                                                                                  tmp_path):
    report_dir = str(tmp_path / "reports")
    extra = dict(STEPS, incident_response_alert_ids=[incident["alert_id"]], incident_response_report_dir=report_dir)
    mid = incident["machine_id"]
    check = ansible.playbook(RESPOND, extra_vars=extra, check=True)
    assert check.rc == 0, check.explain()
    assert not _writes(emulator) and not os.path.exists(os.path.join(report_dir, "packages"))

    first = ansible.playbook(RESPOND, extra_vars=extra)
    assert first.rc == 0, first.explain()
    paths = sorted((w["path"].rsplit("/", 1)[1], w["body"]["Comment"]) for w in _writes(emulator)
                   if w["path"].startswith("/api/machines/%s/" % mid))
    comment = "Response by Ansible (defender.endpoint.incident_response) for alert %s" % incident["alert_id"]
    assert [p for p, _c in paths] == ["collectInvestigationPackage", "isolate", "restrictCodeExecution",
                                      "runAntiVirusScan"]
    assert all(c == comment for p, c in paths if p != "isolate")
    scan = [w for w in _writes(emulator) if w["path"].endswith("/runAntiVirusScan")][0]
    assert scan["body"]["ScanType"] == "Quick"
    # the package and the record of its SHA-256 written beside it (what counts as "already downloaded")
    [package] = [n for n in os.listdir(os.path.join(report_dir, "packages")) if not n.startswith(".")]
    assert os.path.exists(os.path.join(report_dir, "packages", ".%s.sha256" % package))
    path = os.path.join(report_dir, "packages", package)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data, markdown = _reports(report_dir)
    steps = {s["step"]: s for s in data["steps"]}
    assert set(steps) == {"restrict_apps", "av_scan", "collect_package"}
    assert all(s["changed"] and not s["failed"] for s in steps.values())
    assert steps["restrict_apps"]["state"] == "restricted" and steps["collect_package"]["package_path"] == path
    assert steps["collect_package"]["status"] == "Succeeded" and steps["collect_package"]["package_sha256"]
    assert "## Response steps" in markdown and steps["collect_package"]["package_sha256"] in markdown
    assert "optional steps: 3 changed now" in data["summary"]
    for text in (first.stdout, first.stderr, markdown, json.dumps(data)):
        assert "safedownload" not in text and "token=" not in text

    emulator.clear_requests()
    second = ansible.playbook(RESPOND, extra_vars=extra)
    assert second.rc == 0, second.explain()
    assert second.changed == 0, [r["task"] for r in second.results if r["status"] == "changed"]
    assert not _writes(emulator) and not emulator.requests(kind="download")
    assert sorted(os.listdir(os.path.join(report_dir, "packages"))) == [".%s.sha256" % package, package]


def test_a_missing_step_permission_stops_before_any_write(emulator, ansible, incident, tmp_path):
    # the readonly app holds neither Machine.Isolate nor Machine.Scan: the check names both, nothing is sent
    extra = dict(incident_response_alert_ids=[incident["alert_id"]], incident_response_av_scan=True,
                 incident_response_report_dir=str(tmp_path / "r"))
    run = ansible.playbook(RESPOND, extra_vars=extra, env=emulator.env("readonly"))
    assert run.rc != 0
    assert "Machine.Scan" in run.stdout and not _writes(emulator)
