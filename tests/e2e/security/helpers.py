# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared bits of the reliability and security suites (issue 7): plays, emulator look-ups, invariants."""
from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.parse
import urllib.request

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
%s
"""


def play(*tasks):
    return PLAY % "\n".join(tasks)


def task(name, module, args=None, register=True, ignore_errors=True, extra=""):
    """One task calling ``defender.endpoint.<module>`` with ``args`` (JSON is valid YAML, so any value survives)."""
    text = "    - name: %s\n      defender.endpoint.%s: %s\n" % (name, module, json.dumps(args or {}))
    if register:
        text += "      register: out_%s\n" % abs(hash(name))
    if ignore_errors:
        text += "      ignore_errors: true\n"
    return text + extra


def api_log(emulator, method=None, path_regex=None):
    import re
    entries = emulator.control.requests(kind="api", method=method) or []
    if path_regex:
        entries = [e for e in entries if re.search(path_regex, e["path"])]
    return entries


def all_requests(emulator):
    return emulator.control.requests() or []


def actions(emulator, machine_id, type_=None):
    return [a for a in emulator.control.machine_actions(machine_id) if type_ is None or a["type"] == type_]


def fresh_machine(emulator, name=None):
    """A new healthy machine that no other test touches: (machine_id, computer_dns_name)."""
    inc = emulator.control.incident(**({"computerDnsName": name} if name else {}))
    return inc["machine_id"], inc["machine_name"], inc["alert_id"]


def mint(emulator, app="full", **kw):
    token = emulator.control.mint_token(app=app, **kw)
    return token["access_token"] if isinstance(token, dict) else token


def api_call(emulator, method, path, body=None, token=None):
    """Call the emulator's API directly (as another analyst would, between the collection's requests)."""
    token = token or mint(emulator)
    ctx = ssl.create_default_context(cafile=emulator.ca_path)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(emulator.api_url + path, data=data, method=method, headers={
        "Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def quote(value):
    return urllib.parse.quote(value, safe="")


class Background(threading.Thread):
    """Runs ``fn`` in a thread; ``join_checked`` re-raises what it raised."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.error = None
        self.value = None

    def run(self):
        try:
            self.value = self.fn()
        except BaseException as exc:  # pylint: disable=broad-except
            self.error = exc

    def join_checked(self, timeout=120):
        self.join(timeout)
        if self.error is not None:
            raise self.error
        return self.value


def wait_for(predicate, timeout=60, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met within %s s" % timeout)


def assert_clear_failure(record, *words):
    """A failed task whose message is one readable sentence (no traceback) and says what went wrong."""
    assert record is not None, "task did not run"
    result = record["result"]
    assert record["status"] == "failed", "expected a failure, got %s: %r" % (record["status"], result)
    msg = result.get("msg") or ""
    assert msg, result
    # ansible-core 2.19+ adds ``exception: (traceback unavailable)`` to every failure below -vvv; a real
    # traceback there (or in the message) would mean the module crashed instead of failing cleanly.
    assert "Traceback" not in msg and "Traceback" not in str(result.get("exception") or ""), result
    assert "module_stderr" not in result and "MODULE FAILURE" not in msg, result
    if words:
        assert any(w.lower() in msg.lower() for w in words), "none of %r in %r" % (words, msg)
    return msg


def assert_no_false_success(record, happened):
    """A task that reports success must have done the work (``happened`` is what the emulator shows)."""
    if record["status"] in ("ok", "changed") and record["result"].get("changed"):
        assert happened, "task reported a change the emulator does not show: %r" % record["result"]
