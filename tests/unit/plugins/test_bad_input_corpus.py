# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad-input corpus: every module and the token lookup, fed wrong input, must fail

* with a message that names the offending option,
* before anything leaves the process (no DNS lookup, no socket, no HTTP request),
* without a Python traceback (no ``exception`` key, no "Traceback" text) and without echoing a huge value.

The corpus is a table (shared connection options x every module and the lookup, plus each module's own
options) and a few hypothesis properties over the validators the modules share. A network guard replaces
``socket.getaddrinfo``, ``socket.create_connection``, ``socket.socket.connect`` and ``requests.Session.send``:
any attempt is recorded and the test fails, even when the code under test swallowed the guard's exception.
"""

from __future__ import annotations

import importlib
import os
import socket
import string
import sys

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.settings import CONNECTION_ARGUMENT_SPEC, Settings
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError
from ansible_collections.defender.endpoint.plugins.module_utils.client import segment

from .modules.utils import run_module

try:
    from hypothesis import HealthCheck, assume, given, settings as hsettings, strategies as st
except ImportError:  # pragma: no cover - hypothesis is in tests/unit/requirements.txt
    given = None

TENANT = "6f1c2b9e-4d8a-4c1e-9b7a-3e5d2c1f0a11"
CLIENT = "0a1b2c3d-0001-4000-8000-00000000f011"
SECRET = "corpus-secret-Zq8~never-printed"
MACHINE_ID = "7b1f4967d9728e5aa3c06a9e617a22a4a5a17378"
ACTION_ID = "5382f7ea-7557-4ab7-9782-d50480024a4e"
ALERT_ID = "da637472900382838869_1364969609"
JWT = "eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.c2ln"
HUGE = "x" * 100000
REMOVE = object()  # an override that removes the option

ENV_VARS = sorted({name for spec in CONNECTION_ARGUMENT_SPEC.values() if spec.get("fallback")
                   for name in spec["fallback"][1]} | {"DEFENDER_TOKEN_CACHE_DIR"})


# --- network guard -----------------------------------------------------------------------------------------------

class NetworkAttempt(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Record (and refuse) every attempt to resolve a name, open a socket or send an HTTP request."""
    attempts = []

    def refuse(what):
        def guard(*args, **kwargs):
            attempts.append((what, repr(args[:2])[:200]))
            raise NetworkAttempt("bad-input corpus: %s attempted: %r" % (what, args[:2]))
        return guard

    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    try:
        import requests
        monkeypatch.setattr(requests.Session, "send", refuse("requests.Session.send"))
    except ImportError:  # pragma: no cover
        pass
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return attempts


# --- what every failure must look like ------------------------------------------------------------------------------

def check_failure(msg, result, names, attempts, where):
    assert not attempts, "%s: a request was attempted before the input was rejected: %r" % (where, attempts)
    assert msg, "%s: failed without a message" % where
    for name in names:
        # The option, or the API property it fills (machine_id -> machineId) when the filter builder names it.
        camel = name.split("_")[0] + "".join(w.title() for w in name.split("_")[1:])
        assert name in msg or camel in msg, "%s: the message does not name %r: %s" % (where, name, msg)
    # the traceback header, not the bare word: hypothesis feeds the module's own string constants back as input
    assert "Traceback (most recent call last)" not in msg, "%s: traceback in the message: %s" % (where, msg)
    assert len(msg) < 2000, "%s: the message echoes the oversized value (%d characters)" % (where, len(msg))
    if result is not None:
        assert "exception" not in result, "%s: fail_json carried a traceback: %r" % (where, result.get("exception"))
    assert SECRET not in msg and SECRET not in repr(result), "%s: the client secret is in the failure" % where


# --- the corpus ---------------------------------------------------------------------------------------------------

# Valid connection options: nothing is wrong with these, so a failure is the fault of the override.
CONN_OK = dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, api_url="https://api.emulator.invalid",
               login_url="https://login.emulator.invalid", token_cache=False)


def _missing(tmp, name="missing.pem"):
    return os.path.join(tmp, "does-not-exist", name)


# (case id, overrides, option names the message must contain). ``{tmp}`` in a string becomes a temporary dir.
CONNECTION_CASES = [
    ("no-credentials", dict(client_secret=REMOVE), ("client_secret",)),
    ("empty-secret", dict(client_secret=""), ("client_secret",)),
    ("secret-and-certificate", dict(client_certificate_path="{tmp}/cert.pem"),
     ("client_secret", "client_certificate_path")),
    ("secret-and-assertion", dict(client_assertion_file="{tmp}/assertion.jwt"),
     ("client_secret", "client_assertion_file")),
    ("three-credentials", dict(client_certificate_path="{tmp}/cert.pem", client_assertion_file="{tmp}/assertion.jwt"),
     ("client_secret", "client_certificate_path", "client_assertion_file")),
    ("password-without-certificate", dict(client_certificate_password="pw"), ("client_certificate_password",)),
    ("missing-certificate-file", dict(client_secret=REMOVE, client_certificate_path="{missing}"),
     ("client_certificate_path",)),
    ("certificate-is-a-directory", dict(client_secret=REMOVE, client_certificate_path="{tmp}"),
     ("client_certificate_path",)),
    ("missing-assertion-file", dict(client_secret=REMOVE, client_assertion_file="{missing}"),
     ("client_assertion_file",)),
    ("missing-tenant", dict(tenant_id=REMOVE), ("tenant_id",)),
    ("empty-tenant", dict(tenant_id="   "), ("tenant_id",)),
    ("bad-tenant", dict(tenant_id="not a tenant!"), ("tenant_id",)),
    ("tenant-path", dict(tenant_id="../../common"), ("tenant_id",)),
    ("tenant-newline", dict(tenant_id="contoso.com\nHost: evil"), ("tenant_id",)),
    ("tenant-oversized", dict(tenant_id=HUGE), ("tenant_id",)),
    ("missing-client", dict(client_id=REMOVE), ("client_id",)),
    ("bad-client-guid", dict(client_id="0a1b2c3d-0001-4000-8000-00000000f01"), ("client_id",)),
    ("client-not-guid", dict(client_id="my-app"), ("client_id",)),
    ("client-int", dict(client_id=12345), ("client_id",)),
    ("client-oversized", dict(client_id=HUGE), ("client_id",)),
    ("client-unicode", dict(client_id="0a1b2c3d-0001-4000-8000-00000000f0１１"), ("client_id",)),
    ("access-token-not-jwt", dict(client_secret=REMOVE, access_token="not-a-token"), ("access_token",)),
    ("access-token-bearer", dict(client_secret=REMOVE, access_token="Bearer " + JWT), ("access_token",)),
    ("access-token-newline", dict(client_secret=REMOVE, access_token=JWT + "\nX-Injected: 1"), ("access_token",)),
    ("bad-cloud", dict(cloud="azure"), ("cloud",)),
    ("bad-region", dict(region="mars"), ("region",)),
    ("region-outside-global", dict(cloud="gcc", region="eu"), ("region",)),
    ("http-api-url", dict(api_url="http://api.emulator.invalid"), ("api_url",)),
    ("ftp-api-url", dict(api_url="ftp://api.emulator.invalid"), ("api_url",)),
    ("bare-scheme-api-url", dict(api_url="https://"), ("api_url",)),
    ("api-url-query", dict(api_url="https://api.emulator.invalid/?x=1"), ("api_url",)),
    ("api-url-space", dict(api_url="https://api.emulator.invalid/a b"), ("api_url",)),
    ("http-login-url", dict(login_url="http://login.emulator.invalid"), ("login_url",)),
    # A bare host is accepted for login_url (AZURE_AUTHORITY_HOST convention) and becomes https://; a bare host
    # with a path or space is still refused.
    ("login-url-bare-with-space", dict(login_url="login.emulator.invalid/a b"), ("login_url",)),
    ("api-url-no-scheme", dict(api_url="api.emulator.invalid"), ("api_url",)),
    ("http-resource", dict(resource="http://api.securitycenter.microsoft.com"), ("resource",)),
    ("timeout-text", dict(timeout="soon"), ("timeout",)),
    ("timeout-zero", dict(timeout=0), ("timeout",)),
    ("timeout-negative", dict(timeout=-5), ("timeout",)),
    ("timeout-huge", dict(timeout=10 ** 9), ("timeout",)),
    ("timeout-list", dict(timeout=[30]), ("timeout",)),
    ("validate-certs-maybe", dict(validate_certs="maybe"), ("validate_certs",)),
    ("token-cache-maybe", dict(token_cache="perhaps"), ("token_cache",)),
    ("missing-ca-path", dict(ca_path="{missing}"), ("ca_path",)),
    ("ca-path-directory", dict(ca_path="{tmp}"), ("ca_path",)),
]

# Each module: the valid module options it needs, and its own bad inputs.
MODULES = {
    "token": dict(base={}, cases=[]),
    "token_info": dict(base={}, cases=[
        ("required-roles-dict", dict(required_roles={"a": 1}), ("required_roles",)),
        ("leeway-text", dict(leeway="a minute"), ("leeway",)),
        ("leeway-negative", dict(leeway=-1), ("leeway",)),
        ("verify-signature-maybe", dict(verify_signature="maybe"), ("verify_signature",)),
    ]),
    "alert_info": dict(base={}, cases=[
        ("empty-id", dict(id="  "), ("id",)),
        ("id-dotdot", dict(id=".."), ("id",)),
        ("id-newline", dict(id="da63\nX: y"), ("id",)),
        ("id-and-severity", dict(id=ALERT_ID, severity=["High"]), ("id", "severity")),
        ("bad-severity", dict(severity=["Critical"]), ("severity",)),
        ("empty-severity", dict(severity=[]), ("severity",)),
        ("severity-dict", dict(severity={"High": 1}), ("severity",)),
        ("bad-status", dict(status=["Open"]), ("status",)),
        ("empty-category", dict(category=[""]), ("category",)),
        ("category-newline", dict(category=["Malware\n"]), ("category",)),
        ("machine-id-newline", dict(machine_id=["abc\r\nX: y"]), ("machine_id",)),
        ("created-after-garbage", dict(created_after="yesterday"), ("created_after",)),
        ("created-after-bad-date", dict(created_after="2026-02-30T00:00:00Z"), ("created_after",)),
        ("created-after-bad-month", dict(created_after="2026-13-01"), ("created_after",)),
        ("created-after-overflow", dict(created_after="999999999999d"), ("created_after",)),
        ("created-after-year-zero", dict(created_after="0001-01-01T00:00:00+01:00"), ("created_after",)),
        ("created-before-year-10000", dict(created_before="9999-12-31T23:59:59-01:00"), ("created_before",)),
        ("created-before-oversized", dict(created_before=HUGE), ("created_before",)),
        ("updated-after-garbage", dict(updated_after="now-ish"), ("updated_after",)),
        ("window-reversed", dict(created_after="2026-01-02T00:00:00Z", created_before="2026-01-01T00:00:00Z"),
         ("created_after", "created_before")),
        ("empty-filter", dict(filter="  "), ("filter",)),
        # Not NUL: ansible-core 2.21 refuses that while logging the invocation, before the module runs.
        ("filter-control", dict(filter="severity eq 'High'\x1b"), ("filter",)),
        ("limit-zero", dict(limit=0), ("limit",)),
        ("limit-text", dict(limit="all"), ("limit",)),
        ("page-size-zero", dict(page_size=0), ("page_size",)),
        ("page-size-over-cap", dict(page_size=10001), ("page_size",)),
        ("expand-evidence-maybe", dict(expand_evidence="maybe"), ("expand_evidence",)),
    ]),
    "alert_export": dict(base=dict(dest="{tmp}/alerts.jsonl"), cases=[
        ("dest-missing-dir", dict(dest="{missing}"), ("dest",)),
        ("dest-is-dir", dict(dest="{tmp}"), ("dest",)),
        ("bad-format", dict(format="xml"), ("format",)),
        ("columns-with-jsonl", dict(columns=["id"]), ("columns",)),
        ("empty-column", dict(format="csv", columns=["id", ""]), ("columns",)),
        ("bad-severity", dict(severity=["Critical"]), ("severity",)),
        ("window-reversed", dict(created_after="2026-01-02T00:00:00Z", created_before="2026-01-01T00:00:00Z"),
         ("created_after", "created_before")),
        ("filter-control", dict(filter="severity eq 'High'\x1b"), ("filter",)),
        ("limit-zero", dict(limit=0), ("limit",)),
        ("page-size-over-cap", dict(page_size=10001), ("page_size",)),
    ]),
    "alert": dict(base=dict(id=ALERT_ID, status="Resolved"), cases=[
        ("missing-id", dict(id=REMOVE), ("id",)),
        ("empty-id", dict(id=""), ("id",)),
        ("id-dotdot", dict(id=".."), ("id",)),
        ("id-newline", dict(id="da63\nX: y"), ("id",)),
        ("bad-status", dict(status="Closed"), ("status",)),
        ("status-unknown", dict(status="Unknown"), ("status",)),
        ("bad-classification", dict(classification="Maybe"), ("classification",)),
        ("bad-determination", dict(determination="Aliens"), ("determination",)),
        ("status-list", dict(status=["Resolved"]), ("status",)),
    ]),
    "machine_info": dict(base={}, cases=[
        ("empty-id", dict(id=""), ("id",)),
        ("id-dotdot", dict(id=".."), ("id",)),
        ("id-newline", dict(id="abc\nX: y"), ("id",)),
        ("empty-name", dict(name=""), ("name",)),
        ("name-newline", dict(name="host\nX-Injected: 1"), ("name",)),
        ("name-oversized", dict(name=HUGE), ("name",)),
        ("bad-ip", dict(ip="999.1.1.1"), ("ip",)),
        ("ip-text", dict(ip="localhost"), ("ip",)),
        ("bad-timestamp", dict(ip="10.0.0.1", timestamp="tomorrow"), ("timestamp",)),
        ("bad-health-status", dict(health_status="Sick"), ("health_status",)),
        ("bad-risk-score", dict(risk_score="Extreme"), ("risk_score",)),
        ("bad-os-platform", dict(os_platform="TempleOS\n"), ("os_platform",)),
        ("empty-tag", dict(tag=""), ("tag",)),
        ("limit-zero", dict(limit=0), ("limit",)),
        ("limit-text", dict(limit="many"), ("limit",)),
        ("empty-filter", dict(filter=" "), ("filter",)),
    ]),
    "indicator": dict(base=dict(value="203.0.113.7", type="ip", action="block", title="corpus",
                                description="corpus"), cases=[
        ("value-and-indicators", dict(indicators=[dict(value="bad.example", type="domain")]),
         ("value", "indicators")),
        ("value-newline", dict(value="203.0.113.7\nX: y"), ("indicator",)),
        ("bad-ip", dict(value="999.1.1.1"), ("indicator",)),
        ("bad-type", dict(type="registry"), ("type",)),
        ("bad-action", dict(action="quarantine"), ("action",)),
        ("bad-severity", dict(severity="Critical"), ("severity",)),
        ("bad-expiration", dict(expiration="someday"), ("expiration",)),
    ]),
    "indicator_info": dict(base={}, cases=[
        ("bad-type", dict(type="registry"), ("type",)),
        ("bad-action", dict(action="quarantine"), ("action",)),
        ("limit-zero", dict(limit=0), ("limit",)),
        ("empty-filter", dict(filter=" "), ("filter",)),
        ("filter-control", dict(filter="action eq 'Block'\x1b"), ("filter",)),
    ]),
    "vulnerability_info": dict(base={}, cases=[
        ("bad-cve", dict(cve_id=["CVE-24-1"]), ("cve_id",)),
        ("cve-injection", dict(cve_id=["CVE-2024-21412' or 1 eq 1"]), ("cve_id",)),
        ("cve-and-machine", dict(cve_id=["CVE-2024-21412"], machine="desktop-1"), ("cve_id", "machine")),
        ("machine-newline", dict(machine="desktop-1\nX: y"), ("machine",)),
        ("bad-min-severity", dict(min_severity="Severe"), ("min_severity",)),
        ("bad-severity", dict(severity=["Urgent"]), ("severity",)),
        ("min-cvss-11", dict(min_cvss=11), ("min_cvss",)),
        ("bad-published-after", dict(published_after="someday"), ("published_after",)),
        ("limit-zero", dict(limit=0), ("limit",)),
        ("filter-control", dict(filter="severity eq 'High'\x1b"), ("filter",)),
        ("list-filter-with-cve", dict(cve_id=["CVE-2024-21412"], min_cvss=5), ("min_cvss",)),
    ]),
    "software_info": dict(base={}, cases=[
        ("bad-software-id", dict(software_id="edge"), ("software_id",)),
        ("software-id-slash", dict(software_id="microsoft-_-edge/../x"), ("software_id",)),
        ("include-without-id", dict(include_machines=True), ("include_machines",)),
        ("limit-zero", dict(limit=0), ("limit",)),
        ("name-control", dict(name="edge\x1b"), ("name",)),
        ("id-and-machine", dict(software_id="microsoft-_-edge", machine="desktop-1"), ("software_id", "machine")),
    ]),
    "recommendation_info": dict(base={}, cases=[
        ("machine-and-vendor", dict(machine="desktop-1", vendor="microsoft"), ("vendor",)),
        ("bad-remediation-type", dict(remediation_type="Reboot"), ("remediation_type",)),
        ("score-11", dict(min_severity_score=11), ("min_severity_score",)),
        ("bad-software-id", dict(software_id="edge"), ("software_id",)),
        ("limit-zero", dict(limit=0), ("limit",)),
    ]),
    "vulnerability_export": dict(base=dict(dest="{tmp}/vulnerabilities.jsonl"), cases=[
        ("bad-kind", dict(kind="daily"), ("kind",)),
        ("page-size-big", dict(page_size=200001), ("page_size",)),
        ("link-hours-7", dict(link_valid_hours=7), ("link_valid_hours",)),
        ("changes-without-since", dict(kind="changes"), ("since",)),
        ("since-too-old", dict(kind="changes", since="30d"), ("since",)),
        ("since-with-pages", dict(since="1d"), ("since",)),
        ("dest-missing-dir", dict(dest="{missing}"), ("dest",)),
        ("columns-with-jsonl", dict(columns=["cveId"]), ("columns",)),
        ("limit-zero", dict(limit=0), ("limit",)),
    ]),
    "advanced_hunting": dict(base=dict(query="DeviceInfo | take 1"), cases=[
        ("query-and-file", dict(query_file="{tmp}/cert.pem"), ("query", "query_file")),
        ("no-query", dict(query=REMOVE), ("query", "query_file")),
        ("empty-query", dict(query="  "), ("query",)),
        ("missing-query-file", dict(query=REMOVE, query_file="{missing}"), ("query_file",)),
        ("bad-timespan", dict(timespan="forever"), ("timespan",)),
        ("dest-missing-dir", dict(dest="{missing}"), ("dest",)),
    ]),
    "incident": dict(base=dict(id="2972395", status="resolved"), cases=[
        ("missing-id", dict(id=REMOVE), ("id",)),
        ("empty-id", dict(id=" "), ("id",)),
        ("id-dotdot", dict(id=".."), ("id",)),
        ("id-newline", dict(id="29\nX: y"), ("id",)),
        ("bad-status", dict(status="closed"), ("status",)),
        ("bad-classification", dict(classification="maybe"), ("classification",)),
        ("bad-severity", dict(severity="critical"), ("severity",)),
        ("empty-custom-tag", dict(custom_tags=[""]), ("custom_tags",)),
        ("bad-custom-tags-state", dict(custom_tags=["a"], custom_tags_state="some"), ("custom_tags_state",)),
        ("empty-comment", dict(comment=" "), ("comment",)),
    ]),
    "incident_info": dict(base={}, cases=[
        ("id-and-status", dict(id="1", status=["active"]), ("id", "status")),
        ("id-dotdot", dict(id=".."), ("id",)),
        ("bad-status", dict(status=["closed"]), ("status",)),
        ("bad-severity", dict(severity=["critical"]), ("severity",)),
        ("created-after-garbage", dict(created_after="yesterday"), ("created_after",)),
        ("window-reversed", dict(created_after="2026-01-02T00:00:00Z", created_before="2026-01-01T00:00:00Z"),
         ("created_after", "created_before")),
        ("filter-control", dict(filter="status eq 'active'\x1b"), ("filter",)),
        ("limit-zero", dict(limit=0), ("limit",)),
        ("page-size-over-cap", dict(page_size=10001), ("page_size",)),
    ]),
    "live_response": dict(base=dict(machine="desktop-1", comment="corpus",
                                    commands=[dict(type="RunScript", script="triage.sh")]), cases=[
        ("machine-and-machines", dict(machines=["a"]), ("machine", "machines")),
        ("machine-newline", dict(machine="desktop-1\nX: y"), ("machine",)),
        ("missing-commands", dict(commands=REMOVE), ("commands",)),
        ("bad-command-type", dict(commands=[dict(type="Exec")]), ("type",)),
        ("empty-comment", dict(comment=" "), ("comment",)),
        ("skip-garbage", dict(skip_if_done_within="a while"), ("skip_if_done_within",)),
        ("wait-timeout-negative", dict(wait_timeout=-1), ("wait_timeout",)),
    ]),
    "live_response_library": dict(base=dict(name="triage.sh", src="{tmp}/cert.pem"), cases=[
        ("src-missing-file", dict(src="{missing}"), ("src",)),
        ("bad-state", dict(state="gone"), ("state",)),
        ("name-newline", dict(name="triage\n.sh"), ("name",)),
    ]),
    "machine_isolation": dict(base=dict(machine="desktop-1", state="isolated", comment="corpus"), cases=[
        ("machine-and-machines", dict(machines=["a"]), ("machine", "machines")),
        ("no-machine", dict(machine=REMOVE), ("machine",)),
        ("empty-machine", dict(machine=""), ("machine",)),
        ("machine-newline", dict(machine="desktop-1\nX: y"), ("machine",)),
        ("empty-machines", dict(machine=REMOVE, machines=[]), ("machines",)),
        ("machines-empty-item", dict(machine=REMOVE, machines=["a", ""]), ("machines",)),
        ("bad-state", dict(state="quarantined"), ("state",)),
        ("bad-isolation-type", dict(isolation_type="partial"), ("isolation_type",)),
        ("missing-comment", dict(comment=REMOVE), ("comment",)),
        ("empty-comment", dict(comment="  "), ("comment",)),
        ("wait-maybe", dict(wait="maybe"), ("wait",)),
        ("wait-timeout-negative", dict(wait_timeout=-1), ("wait_timeout",)),
        ("wait-timeout-text", dict(wait_timeout="long"), ("wait_timeout",)),
        ("wait-sleep-zero", dict(wait_sleep=0), ("wait_sleep",)),
    ]),
    "machine_app_restriction": dict(base=dict(machine="desktop-1", state="restricted", comment="corpus"), cases=[
        ("machine-and-machines", dict(machines=["a"]), ("machine", "machines")),
        ("machine-newline", dict(machine="desktop-1\nX: y"), ("machine",)),
        ("bad-state", dict(state="isolated"), ("state",)),
        ("empty-comment", dict(comment="  "), ("comment",)),
        ("wait-sleep-zero", dict(wait_sleep=0), ("wait_sleep",)),
    ]),
    "machine_action": dict(base=dict(machine="desktop-1", action="av_scan", comment="corpus"), cases=[
        ("machine-and-machines", dict(machines=["a"]), ("machine", "machines")),
        ("machine-newline", dict(machine="desktop-1\nX: y"), ("machine",)),
        ("missing-action", dict(action=REMOVE), ("action",)),
        ("bad-action", dict(action="reboot"), ("action",)),
        ("bad-scan-type", dict(scan_type="deep"), ("scan_type",)),
        ("scan-type-with-offboard", dict(action="offboard", confirm_offboard=True, scan_type="full"), ("scan_type",)),
        ("offboard-unconfirmed", dict(action="offboard"), ("confirm_offboard",)),
        ("quarantine-without-sha1", dict(action="stop_and_quarantine_file"), ("sha1",)),
        ("sha1-short", dict(action="stop_and_quarantine_file", sha1="abc"), ("sha1",)),
        ("sha1-newline", dict(action="stop_and_quarantine_file", sha1="a" * 39 + "\n"), ("sha1",)),
        ("sha1-oversized", dict(action="stop_and_quarantine_file", sha1=HUGE), ("sha1",)),
        ("dest-with-scan", dict(dest="{tmp}"), ("dest",)),
        ("dest-under-a-file", dict(action="collect_investigation_package", dest="{tmp}/cert.pem/a"), ("dest",)),
        ("skip-garbage", dict(skip_if_done_within="a while"), ("skip_if_done_within",)),
        ("skip-overflow", dict(skip_if_done_within="999999999999d"), ("skip_if_done_within",)),
        ("empty-comment", dict(comment=""), ("comment",)),
        ("wait-timeout-negative", dict(wait_timeout=-1), ("wait_timeout",)),
    ]),
    "machine_tag": dict(base=dict(machine="desktop-1", tags=["INC-1"]), cases=[
        ("machine-and-machines", dict(machines=["a"]), ("machine", "machines")),
        ("no-machine", dict(machine=REMOVE), ("machine",)),
        ("machine-newline", dict(machine="desktop-1\nX: y"), ("machine",)),
        ("empty-machines", dict(machine=REMOVE, machines=[]), ("machines",)),
        ("machines-empty-item", dict(machine=REMOVE, machines=["a", ""]), ("machines",)),
        ("missing-tags", dict(tags=REMOVE), ("tags",)),
        ("empty-tags", dict(tags=[]), ("tags",)),
        ("empty-tag", dict(tags=[""]), ("tags",)),
        ("tag-newline", dict(tags=["INC-1\nX: y"]), ("tags",)),
        ("tag-padded", dict(tags=[" INC-1"]), ("tags",)),
        ("tag-oversized-newline", dict(tags=[HUGE + "\n"]), ("tags",)),
        ("bad-state", dict(state="gone"), ("state",)),
        ("rpm-zero", dict(requests_per_minute=0), ("requests_per_minute",)),
    ]),
    "machine_action_info": dict(base={}, cases=[
        ("bad-id", dict(id="not-a-guid"), ("id",)),
        ("id-dotdot", dict(id=".."), ("id",)),
        ("id-newline", dict(id=ACTION_ID[:8] + "\n" + ACTION_ID[8:]), ("id",)),
        ("empty-machine-id", dict(machine_id=""), ("machine_id",)),
        ("machine-id-quote", dict(machine_id="x' or 1 eq 1"), ("machine_id",)),
        ("bad-type", dict(type="Reboot"), ("type",)),
        ("bad-status", dict(status="Done"), ("status",)),
        ("limit-zero", dict(limit=0), ("limit",)),
        ("limit-text", dict(limit="many"), ("limit",)),
    ]),
}

COUNTS = {"inputs": 0}


def _materialize(value, tmp):
    if isinstance(value, str):
        return value.replace("{missing}", _missing(tmp)).replace("{tmp}", tmp)
    if isinstance(value, list):
        return [_materialize(v, tmp) for v in value]
    return value


def _args(base, overrides, tmp):
    args = {key: _materialize(value, tmp) for key, value in base.items()}
    for key, value in overrides.items():
        if value is REMOVE:
            args.pop(key, None)
        else:
            args[key] = _materialize(value, tmp)
    return args


def _prepare_files(tmp):
    # Existing files for the "conflict" cases: the conflict must be found whatever the files hold.
    with open(os.path.join(tmp, "cert.pem"), "w", encoding="utf-8") as handle:
        handle.write("-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n")
    with open(os.path.join(tmp, "assertion.jwt"), "w", encoding="utf-8") as handle:
        handle.write(JWT)


def _module(name):
    try:
        return importlib.import_module("ansible_collections.defender.endpoint.plugins.modules.%s" % name)
    except ImportError as exc:  # a module listed here must exist: a missing import is a failure, never a skip
        pytest.fail("module %s cannot be imported: %s" % (name, exc))


def _module_cases():
    for name, spec in sorted(MODULES.items()):
        for case_id, overrides, names in CONNECTION_CASES:
            yield pytest.param(name, spec["base"], overrides, names, id="%s-conn-%s" % (name, case_id))
        for case_id, overrides, names in spec["cases"]:
            yield pytest.param(name, spec["base"], overrides, names, id="%s-%s" % (name, case_id))


@pytest.mark.parametrize("name, base, overrides, names", list(_module_cases()))
def test_module_rejects_bad_input_before_any_request(name, base, overrides, names, no_network, monkeypatch, tmp_path):
    mod = _module(name)
    tmp = str(tmp_path)
    _prepare_files(tmp)
    args = _args(dict(CONN_OK, **base), overrides, tmp)
    result, failed = run_module(mod.main, args, monkeypatch)
    assert failed, "%s accepted %r: %r" % (name, overrides, result)
    # An option the module does not have fails in Ansible's own check, naming it, whatever the module's code does:
    # such a case tested nothing (alert_info once carried alert_export's dest cases)
    assert "Unsupported parameters" not in result.get("msg", ""), "%s has no option among %r" % (name, overrides)
    check_failure(result.get("msg", ""), result, names, no_network, name)


def test_every_module_is_in_the_corpus():
    folder = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir, "plugins", "modules")
    modules = sorted(n[:-3] for n in os.listdir(folder) if n.endswith(".py") and not n.startswith("_"))
    assert modules == sorted(MODULES), "modules without bad-input cases: %s" % sorted(set(modules) - set(MODULES))


def test_every_module_case_reaches_the_module(no_network, monkeypatch, tmp_path):
    """The base input of each module is accepted by its argument spec: a module run with it alone gets past
    Ansible's checks (it then fails for want of a network, which the guard records, or succeeds)."""
    tmp = str(tmp_path)
    _prepare_files(tmp)
    for name, spec in sorted(MODULES.items()):
        result, _failed = run_module(_module(name).main, _args(dict(CONN_OK, **spec["base"]), {}, tmp), monkeypatch)
        msg = result.get("msg", "")
        assert "Unsupported parameters" not in msg and "missing required" not in msg, (name, msg)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_check_mode_rejects_too(name, no_network, monkeypatch, tmp_path):
    """Check mode validates the same way (a dry run must not be the one path that sends bad input)."""
    mod = _module(name)
    args = _args(dict(CONN_OK, **MODULES[name]["base"]), dict(api_url="http://api.emulator.invalid"), str(tmp_path))
    args["_ansible_check_mode"] = True
    result, failed = run_module(mod.main, args, monkeypatch)
    assert failed
    check_failure(result["msg"], result, ("api_url",), no_network, name)


# --- the lookup ----------------------------------------------------------------------------------------------------

def _lookup():
    # The same loading as tests/unit/plugins/lookup/test_token_lookup.py: ansible-test installs the collection
    # finder itself; under plain pytest it is installed here, and a package pytest imported before it gets the
    # (empty) metadata the finder would have loaded. A lookup that still cannot be loaded fails the test.
    from ansible.plugins.loader import init_plugin_loader, lookup_loader
    from ansible.utils.collection_loader import AnsibleCollectionConfig
    try:
        finder = AnsibleCollectionConfig.collection_finder
    except NotImplementedError:  # pragma: no cover
        finder = None
    if finder is None:
        import ansible_collections
        init_plugin_loader([os.path.dirname(list(ansible_collections.__path__)[0])])
    package = sys.modules.get("ansible_collections.defender.endpoint")
    if package is not None and not hasattr(package, "_collection_meta"):
        package._collection_meta = {}
    plugin = lookup_loader.get("defender.endpoint.token")
    if plugin is None:
        pytest.fail("the defender.endpoint.token lookup cannot be loaded")
    return plugin


LOOKUP_CASES = [pytest.param(overrides, names, id="lookup-conn-%s" % case_id)
                for case_id, overrides, names in CONNECTION_CASES
                # Ansible's option layer converts these types itself, with its own message (checked below).
                if case_id not in ("client-int",)]


@pytest.mark.parametrize("overrides, names", LOOKUP_CASES)
def test_lookup_rejects_bad_input_before_any_request(overrides, names, no_network, tmp_path):
    from ansible.errors import AnsibleError
    plugin = _lookup()
    tmp = str(tmp_path)
    _prepare_files(tmp)
    kwargs = _args(CONN_OK, overrides, tmp)
    with pytest.raises(AnsibleError) as info:
        plugin.run([], variables={}, **kwargs)
    msg = str(info.value)
    check_failure(msg, None, names, no_network, "lookup")
    assert info.value.__cause__ is None or not isinstance(info.value.__cause__, NetworkAttempt)


def test_lookup_rejects_terms(no_network):
    from ansible.errors import AnsibleError
    plugin = _lookup()
    with pytest.raises(AnsibleError) as info:
        plugin.run(["https://evil.example"], variables={}, **CONN_OK)
    assert "terms" in str(info.value) and not no_network


# --- hypothesis: the shared validators raise DefenderConfigError (never anything else) ------------------------------

_GUID_CHARS = string.hexdigits + "-"
_GUID_RE = __import__("re").compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

if given is not None:
    HSET = hsettings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

    @HSET
    @given(st.one_of(st.text(max_size=60), st.text(alphabet=_GUID_CHARS, min_size=30, max_size=40)))
    def test_settings_client_id_only_guid(no_network, value):
        assume(not _GUID_RE.match(value.strip()))
        COUNTS["inputs"] += 1
        with pytest.raises(DefenderConfigError) as info:
            Settings(dict(CONN_OK, client_id=value))
        check_failure(str(info.value), None, ("client_id",), no_network, "Settings")

    @HSET
    @given(st.text(max_size=80))
    def test_settings_urls_only_https(no_network, value):
        """Whatever the text, api_url/login_url are accepted only as https:// URLs without spaces or a query."""
        COUNTS["inputs"] += 1
        for name in ("api_url", "login_url"):
            try:
                s = Settings(dict(CONN_OK, **{name: value}))
            except DefenderConfigError as exc:
                check_failure(str(exc), None, (name,), no_network, "Settings")
                continue
            got = s.endpoints.api_url if name == "api_url" else s.endpoints.login_url
            if value:
                assert got.lower().startswith("https://") and not any(c in got for c in " \t\r\n?#"), got

    @HSET
    @given(st.text(max_size=40))
    def test_parse_time_only_config_errors(value):
        COUNTS["inputs"] += 1
        try:
            parsed = odata.datetime_literal(value, "created_after")
        except DefenderConfigError as exc:
            assert "created_after" in str(exc)
        else:
            assert parsed.endswith("Z") and "'" not in parsed and " " not in parsed

    @HSET
    @given(st.integers(min_value=0, max_value=10 ** 30), st.sampled_from("smhdw"))
    def test_parse_time_relative_never_overflows(number, unit):
        COUNTS["inputs"] += 1
        try:
            odata.parse_time("%d%s" % (number, unit), "updated_after")
        except DefenderConfigError as exc:
            assert "updated_after" in str(exc)

    @HSET
    @given(st.text(max_size=40))
    def test_segment_is_one_segment(value):
        COUNTS["inputs"] += 1
        try:
            seg = segment(value, "machine")
        except DefenderConfigError as exc:
            assert "machine" in str(exc)
            return
        assert "/" not in seg and "?" not in seg and "#" not in seg and seg not in (".", "..")
        assert all(33 <= ord(c) < 127 for c in seg)

    @HSET
    @given(st.text(max_size=40))
    def test_literal_is_one_literal(value):
        COUNTS["inputs"] += 1
        try:
            lit = odata.literal(value)
        except DefenderConfigError:
            assert any(ord(c) < 32 or ord(c) == 127 for c in value)
            return
        inner = lit[1:-1]
        assert lit[0] == lit[-1] == "'"
        # Every quote inside is doubled, so the literal cannot end before its last character.
        assert inner.replace("''", "") .count("'") == 0

    @HSET
    @given(st.fixed_dictionaries({}, optional={
        "client_secret": st.text(max_size=10),
        "client_certificate_path": st.sampled_from(["", "/nonexistent/c.pem", "/etc/hostname"]),
        "client_assertion_file": st.sampled_from(["", "/nonexistent/a.jwt", "/etc/hostname"]),
        "client_certificate_password": st.text(max_size=5),
        "access_token": st.sampled_from(["", "a.b.c", "abc", JWT]),
        "tenant_id": st.sampled_from(["", TENANT, "contoso.onmicrosoft.com", "x"]),
        "client_id": st.sampled_from(["", CLIENT, "app"]),
    }))
    def test_settings_credentials_resolve_or_explain(no_network, options):
        """Any mix of credential options gives exactly one credential kind (or a token), or a config error."""
        COUNTS["inputs"] += 1
        base = dict(api_url="https://api.emulator.invalid", login_url="https://login.emulator.invalid")
        try:
            s = Settings(dict(base, **options))
        except DefenderConfigError as exc:
            msg = str(exc)
            assert any(name in msg for name in ("client_secret", "client_certificate", "client_assertion",
                                                "access_token", "tenant_id", "client_id")), msg
            assert not options.get("client_secret") or options["client_secret"] not in msg or \
                len(options["client_secret"]) < 4 or options["client_secret"] in "client_secretcertificate"
            return
        set_kinds = [k for k in ("client_secret", "client_certificate_path", "client_assertion_file") if options.get(k)]
        assert len(set_kinds) <= 1
        assert s.credential_kind is not None or s.access_token


def test_corpus_is_complete(capsys):
    """The corpus holds what it says: its hypothesis properties ran (a missing hypothesis used to drop them
    silently) and every module but token has cases of its own. Prints the figures the issue asks for."""
    assert given is not None, "hypothesis is not installed: the corpus's properties did not run"
    properties = sorted(name for name, value in globals().items()
                        if name.startswith("test_") and hasattr(value, "hypothesis"))
    assert len(properties) == 7, properties
    assert [name for name, spec in sorted(MODULES.items()) if not spec["cases"]] == ["token"]
    modules = sum(len(CONNECTION_CASES) + len(spec["cases"]) for spec in MODULES.values())
    lookup = len(LOOKUP_CASES) + 1
    with capsys.disabled():
        print("\nbad-input corpus: %d module cases, %d lookup cases, %d hypothesis properties"
              % (modules, lookup, len(properties)))
