# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Regression tests for the shared client: each case was a real defect found in review."""

from __future__ import annotations

import json
import os
import ssl

import pytest
import requests

from ansible_collections.defender.endpoint.plugins.module_utils import auth, module as module_base, odata, transport
from ansible_collections.defender.endpoint.plugins.module_utils import settings as connection_settings
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.test_client import (  # noqa: F401  pylint: disable=unused-import
    make_client,
    server,
)


class ShrinkingClient:
    """A collection from which items leave (e.g. get resolved) after the first page was read."""

    def __init__(self, total, remove_after_first):
        self.items = [{"id": "a%05d" % i} for i in range(total)]
        self.remove = remove_after_first
        self.calls = 0

    def get(self, path, params=None):
        self.calls += 1
        skip, top = params.get("$skip", 0), params["$top"]
        page = self.items[skip:skip + top]
        if self.calls == 1:
            del self.items[:self.remove]  # these were already read; the rest slides back
        return {"value": page}


def test_pager_does_not_lose_items_when_the_set_shrinks():
    client = ShrinkingClient(1030, 100)
    expected = {i["id"] for i in client.items}
    got = [i["id"] for i in odata.Pager(client, "/api/alerts", page_size=1000)]
    assert len(got) == len(set(got)) and set(got) == expected


def test_pager_treats_404_on_the_first_page_of_machines_as_empty():
    class NoRecentMachines:
        def get(self, path, params=None):
            if path == "/api/machines":
                raise DefenderError("no recent machines", status=404)
            return {"value": []}  # the API is there: the sibling collection answers
    assert list(odata.Pager(NoRecentMachines(), "/api/machines")) == []


def test_raw_clause_is_wrapped_and_unbalanced_text_refused():
    assert odata.raw_clause("a eq 'x' or b eq 'y'") == "(a eq 'x' or b eq 'y')"
    assert odata.raw_clause("name eq 'it''s (fine)'") == "(name eq 'it''s (fine)')"
    for bad in ("a eq 'x') or (1 eq 1", "a eq 'x", "(a eq 1", ""):
        with pytest.raises(DefenderConfigError):
            odata.raw_clause(bad)


def test_5xx_on_a_write_is_outcome_unknown_and_not_resent(server):  # noqa: F811
    server.plan = [(502, {}, {"error": {"code": "BadGateway", "message": "upstream", "target": "r-9"}})]
    with pytest.raises(DefenderOutcomeUnknownError) as info:
        make_client(server).patch("/api/alerts/a1", {"status": "Resolved"})
    assert info.value.status == 502 and info.value.target == "r-9"
    assert [s["method"] for s in server.seen] == ["PATCH"]


def test_cut_get_body_is_read_again():
    exc = requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
    assert transport.body_lost(exc)
    assert not transport.body_lost(requests.exceptions.ConnectTimeout("x"))


def test_only_certificate_failures_are_called_tls_verification_failures():
    verify = requests.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed"))
    record = requests.exceptions.SSLError(ssl.SSLError(1, "decryption failed or bad record mac"))
    assert transport.certificate_rejected(verify) and not transport.was_sent(verify)
    assert not transport.certificate_rejected(record) and transport.was_sent(record)
    assert transport.body_lost(record) and not transport.body_lost(verify)


def test_validate_certs_typo_is_an_error_not_false():
    for name in ("validate_certs", "token_cache"):
        with pytest.raises(DefenderConfigError) as info:
            connection_settings.Settings({"access_token": "a.b.c", name: "ture"})
        assert name in str(info.value)
    assert connection_settings.Settings({"access_token": "a.b.c", "validate_certs": "no"}).validate_certs is False


def test_process_token_cache_is_keyed_by_the_credential(monkeypatch):
    settings = connection_settings.Settings({"tenant_id": "contoso.onmicrosoft.com",
                                             "client_id": "00000000-0000-0000-0000-0000000000aa",
                                             "client_secret": "right-secret", "token_cache": False})
    calls = []

    def fake_msal(self, force_refresh):
        calls.append(self.settings.client_secret)
        return {"access_token": "tok-%d" % len(calls), "expires_on": 4102444800, "source": "identity_provider"}

    monkeypatch.setattr(auth.TokenProvider, "_acquire_msal", fake_msal)
    monkeypatch.setattr(auth, "_PROCESS_TOKENS", {})
    auth.TokenProvider(settings, None).token()
    auth.TokenProvider(settings, None).token()
    wrong = connection_settings.Settings({"tenant_id": "contoso.onmicrosoft.com",
                                          "client_id": "00000000-0000-0000-0000-0000000000aa",
                                          "client_secret": "wrong-secret", "token_cache": False})
    auth.TokenProvider(wrong, None).token()
    assert calls == ["right-secret", "wrong-secret"]


@pytest.mark.parametrize("content", ["[1]", '{"AccessToken": [1]}', '{"AccessToken": {"k": {"expires_on": "soon"}}}'])
def test_cache_of_the_wrong_shape_is_ignored_not_a_crash(tmp_path, monkeypatch, content):
    import msal
    settings = connection_settings.Settings({"tenant_id": "contoso.onmicrosoft.com",
                                             "client_id": "00000000-0000-0000-0000-0000000000aa",
                                             "client_secret": "s3cret"})
    settings.token_cache_dir = str(tmp_path / "tokens")
    warnings = []
    provider = auth.TokenProvider(settings, None, warn=warnings.append)
    store = auth.TokenCacheFile(settings.token_cache_dir, settings.endpoints.login_url, settings.tenant_id,
                                settings.client_id)
    with store:
        store.save(provider._fingerprint(), content)
    signed_in = []
    monkeypatch.setattr(auth.TokenProvider, "_sign_in", lambda self, *a: signed_in.append(1) or {
        "access_token": "t", "expires_on": 4102444800, "expires_in": 3599, "token_type": "Bearer", "source": "x"})
    monkeypatch.setattr(auth, "_PROCESS_TOKENS", {})
    assert provider.token() == "t" and signed_in == [1]
    assert any("corrupt" in w for w in warnings)
    assert msal  # imported for real: the cache parsing is msal's


def test_unexpected_exceptions_become_a_clean_failure(monkeypatch):
    from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module

    def main():
        m = module_base.DefenderModule(argument_spec={}, supports_check_mode=True)

        def boom(_module):
            raise KeyError("-".join(("secret", "looking", "text")))  # not in the source line
        m.run(boom)

    result, failed = run_module(main, {"access_token": "a.b.c"}, monkeypatch)
    assert failed and "unexpected KeyError" in result["msg"] and "secret-looking-text" not in json.dumps(result)
    assert "Traceback" not in result["msg"]


def test_os_errors_are_reported_with_the_file(monkeypatch, tmp_path):
    from ansible_collections.defender.endpoint.tests.unit.plugins.modules.utils import run_module
    target = os.path.join(str(tmp_path), "missing", "x.jsonl")

    def main():
        m = module_base.DefenderModule(argument_spec={}, supports_check_mode=True)
        m.run(lambda _m: open(target, "w", encoding="utf-8"))

    result, failed = run_module(main, {"access_token": "a.b.c"}, monkeypatch)
    assert failed and "No such file" in result["msg"] and target in result["msg"]
