# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS and files (issue 7): certificates are verified by default for sign-in, key discovery and the API (the
emulator's private CA is rejected without ``ca_path``, with a clear message for each); ``validate_certs: false``
warns once; the token cache is 0600 in a 0700 directory, and a cache that is group-readable or a symlink is
ignored and replaced."""
from __future__ import annotations

import glob
import os
import stat

import pytest

from security.helpers import assert_clear_failure, play, task

NO_CA = {"DEFENDER_CA_PATH": None, "REQUESTS_CA_BUNDLE": None, "CURL_CA_BUNDLE": None, "SSL_CERT_FILE": None}
TLS_WORDS = ("TLS", "SSLError", "certificate")


@pytest.fixture
def emu(emulator):
    emulator.reset(alerts=50, machines=20)
    emulator.control.clear_faults()
    return emulator


def _lookup_task(name, extra=""):
    return ("    - name: %s\n      ansible.builtin.debug:\n        msg: \"{{ lookup('defender.endpoint.token'%s) | length }}\"\n"
            "      ignore_errors: true\n" % (name, extra))


def test_private_ca_is_rejected_without_ca_path(emu, ansible):
    token = emu.control.mint_token(app="full")["access_token"]
    run = ansible.playbook(play(
        task("sign-in", "token", {}),
        task("api", "alert_info", {"access_token": token, "limit": 1, "client_secret": ""}),
        task("key discovery", "token_info", {"access_token": token, "client_secret": ""}),
        _lookup_task("lookup sign-in"),
    ), env=NO_CA)
    for name, words in (("sign-in", ("sign-in",)), ("api", ("ca_path",)), ("key discovery", ("keys", "discovery", "OpenID")),
                        ("lookup sign-in", ("sign-in",))):
        msg = assert_clear_failure(run.task(name))
        assert any(w in msg for w in TLS_WORDS), "%s: %s" % (name, msg)
        assert "ca_path" in msg, "%s: %s" % (name, msg)
        assert any(w in msg for w in words), "%s: %s" % (name, msg)
    # Nothing got through: TLS failed before any request was read by the emulator.
    assert emu.control.requests() == []
    assert token not in run.stdout + run.stderr


def test_ca_path_makes_it_work(emu, ansible):
    run = ansible.playbook(play(task("sign-in", "token", {}), task("api", "alert_info", {"limit": 1}),
                                _lookup_task("lookup")))
    for name in ("sign-in", "api", "lookup"):
        assert run.task(name)["status"] == "ok", run.task(name)


def test_validate_certs_false_warns_once(emu, ansible):
    run = ansible.playbook(play(task("insecure", "alert_info", {"limit": 1, "validate_certs": False}),
                                task("insecure token_info", "token_info", {"validate_certs": False})),
                           env=NO_CA)
    for name in ("insecure", "insecure token_info"):
        record = run.task(name)
        assert record["status"] == "ok", record
        warnings = [w for w in record["result"].get("warnings") or [] if "validate_certs" in w]
        assert len(warnings) == 1, record["result"].get("warnings")
    out = run.stdout + run.stderr
    assert "InsecureRequestWarning" not in out, "urllib3's own warning leaks next to ours"
    run = ansible.playbook(play(_lookup_task("lookup insecure", ", validate_certs=false")), env=NO_CA)
    assert run.task("lookup insecure")["status"] == "ok", run.task("lookup insecure")
    out = run.stdout + run.stderr
    assert out.count("validate_certs is false") == 1, out
    assert "InsecureRequestWarning" not in out


def _cache_files(ansible):
    return sorted(p for p in glob.glob(os.path.join(ansible.cache_dir, "defender.endpoint", "tokens", "*.json")))


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def _token_requests(emu):
    return sum(emu.control.stats()["token_requests"].values())


def test_token_cache_permissions(emu, ansible):
    run = ansible.playbook(play(task("first", "token", {})))
    assert run.task("first")["status"] == "ok"
    files = _cache_files(ansible)
    assert len(files) == 1
    cache_dir = os.path.dirname(files[0])
    assert _mode(cache_dir) == 0o700 and _mode(files[0]) == 0o600
    for leftover in os.listdir(cache_dir):
        assert _mode(os.path.join(cache_dir, leftover)) & 0o077 == 0, leftover
    # a second run uses the cache: no new sign-in
    before = _token_requests(emu)
    run = ansible.playbook(play(task("cached", "token", {})))
    assert run.task("cached")["status"] == "ok" and _token_requests(emu) == before

    # A group-readable cache is ignored (with a warning), signed in again, and replaced by a 0600 file.
    os.chmod(files[0], 0o640)
    run = ansible.playbook(play(task("group readable", "token", {})))
    record = run.task("group readable")
    assert record["status"] == "ok" and _token_requests(emu) == before + 1
    assert any("ignoring token cache" in w for w in record["result"].get("warnings") or []), record["result"]
    assert _mode(files[0]) == 0o600

    # A directory opened up to others is closed again.
    os.chmod(cache_dir, 0o755)
    run = ansible.playbook(play(task("open dir", "token", {})))
    assert run.task("open dir")["status"] == "ok" and _mode(cache_dir) == 0o700

    # A symlink planted in place of the cache is not followed, not trusted, and replaced by a regular file.
    target = os.path.join(ansible.cache_dir, "planted.json")
    with open(target, "w", encoding="utf-8") as handle:
        handle.write("{}")
    os.unlink(files[0])
    os.symlink(target, files[0])
    before = _token_requests(emu)
    run = ansible.playbook(play(task("symlink", "token", {})))
    assert run.task("symlink")["status"] == "ok" and _token_requests(emu) == before + 1
    assert not os.path.islink(files[0]) and _mode(files[0]) == 0o600
    with open(target, encoding="utf-8") as handle:
        assert handle.read() == "{}", "the cache was written through a symlink"


def test_export_file_mode(emu, ansible, tmp_path):
    dest = tmp_path / "alerts.jsonl"
    run = ansible.playbook(play(task("export", "alert_export", {"limit": 5, "dest": str(dest)})))
    assert run.task("export")["status"] in ("ok", "changed"), run.task("export")
    assert dest.exists() and _mode(str(dest)) == 0o600
