# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""auth: the cross-process token cache (reuse, modes, untrusted files, fingerprints, tenants, refresh margin), and
sign-in failures as one clear message (the AADSTS code, a hint, and the consent link for partners)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import auth
from ansible_collections.defender.endpoint.plugins.module_utils.auth import (
    REFRESH_MARGIN,
    TokenCacheFile,
    TokenProvider,
    consent_url,
    default_cache_dir,
    sign_in_error,
)
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderAuthError
from ansible_collections.defender.endpoint.plugins.module_utils.settings import Settings

from .fake_idp import FakeIdP
from .token_helpers import CLIENT, LOGIN, OTHER_TENANT, TENANT

SECRET = "abc8Q~not-a-real-secret-value-0123456789"


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch, tmp_path):
    """Each provider below stands for a new task process: no in-process tokens, cache under tmp_path."""
    monkeypatch.setattr(auth, "_PROCESS_TOKENS", {})
    monkeypatch.delenv("DEFENDER_TOKEN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def new_task(idp, warnings=None, **opts):
    """A provider as one task process makes it (the process cache is dropped)."""
    auth._PROCESS_TOKENS.clear()
    options = dict(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, login_url=LOGIN)
    options.update(opts)
    return TokenProvider(Settings(options), idp, warn=(warnings.append if warnings is not None else None))


def cache_files(directory):
    return sorted(p for p in os.listdir(directory) if p.endswith(".json"))


def test_default_dir_follows_xdg(tmp_path):
    assert default_cache_dir() == str(tmp_path / "xdg" / "defender.endpoint" / "tokens")


def test_default_dir_without_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == str(tmp_path / "home" / ".cache" / "defender.endpoint" / "tokens")


def test_one_sign_in_for_many_task_processes(tmp_path):
    idp = FakeIdP()
    tokens = set()
    sources = []
    for dummy in range(30):
        got = new_task(idp).acquire()
        tokens.add(got["access_token"])
        sources.append(got["source"])
    assert len(idp.token_posts) == 1
    assert len(tokens) == 1
    assert sources[0] == "identity_provider" and set(sources[1:]) == {"cache"}


def test_modes_0600_in_0700(tmp_path):
    new_task(FakeIdP()).acquire()
    directory = tmp_path / "xdg" / "defender.endpoint" / "tokens"
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    files = cache_files(directory)
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(directory / files[0]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(directory / files[0]) + ".lock").st_mode) == 0o600


def test_file_holds_no_secret_and_a_fingerprint(tmp_path):
    new_task(FakeIdP()).acquire()
    directory = tmp_path / "xdg" / "defender.endpoint" / "tokens"
    text = (directory / cache_files(directory)[0]).read_text()
    assert SECRET not in text
    data = json.loads(text)
    assert set(data) == {"format", "credential", "msal"}
    assert len(data["credential"]) == 64  # SHA-256 hex of client id + credential
    assert "AccessToken" in json.loads(data["msal"])


def test_env_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("DEFENDER_TOKEN_CACHE_DIR", str(tmp_path / "override"))
    new_task(FakeIdP()).acquire()
    assert len(cache_files(tmp_path / "override")) == 1
    assert not (tmp_path / "xdg").exists()


def test_loose_dir_mode_is_tightened(monkeypatch, tmp_path):
    d = tmp_path / "loose"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    monkeypatch.setenv("DEFENDER_TOKEN_CACHE_DIR", str(d))
    new_task(FakeIdP()).acquire()
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700


def test_token_cache_false_writes_nothing(tmp_path):
    idp = FakeIdP()
    new_task(idp, token_cache=False).acquire()
    new_task(idp, token_cache=False).acquire()
    assert len(idp.token_posts) == 2
    assert not (tmp_path / "xdg").exists()


def test_token_cache_env_string_false(tmp_path):
    idp = FakeIdP()
    new_task(idp, token_cache="false").acquire()
    assert not (tmp_path / "xdg").exists()


def _only_file(tmp_path):
    directory = tmp_path / "xdg" / "defender.endpoint" / "tokens"
    return directory / cache_files(directory)[0]


def test_corrupt_cache_is_ignored_and_rebuilt(tmp_path):
    idp = FakeIdP()
    new_task(idp).acquire()
    path = _only_file(tmp_path)
    path.write_text("{not json")
    warnings = []
    got = new_task(idp, warnings).acquire()
    assert got["source"] == "identity_provider" and len(idp.token_posts) == 2
    assert any("corrupt" in w for w in warnings)
    json.loads(path.read_text())  # rebuilt
    assert new_task(idp).acquire()["source"] == "cache"


def test_valid_json_of_wrong_shape_is_ignored(tmp_path):
    idp = FakeIdP()
    new_task(idp).acquire()
    path = _only_file(tmp_path)
    for junk in ("[]", '{"format": 1, "credential": "x", "msal": {}}', '{"format": 99}'):
        path.write_text(junk)
        os.chmod(path, 0o600)
        assert new_task(idp).acquire()["source"] == "identity_provider"


def test_msal_payload_garbage_is_ignored(tmp_path):
    idp = FakeIdP()
    prov = new_task(idp)
    prov.acquire()
    path = _only_file(tmp_path)
    data = json.loads(path.read_text())
    data["msal"] = "{{{"
    path.write_text(json.dumps(data))
    assert new_task(idp).acquire()["source"] == "identity_provider"


def test_foreign_mode_is_ignored_with_warning(tmp_path):
    idp = FakeIdP()
    new_task(idp).acquire()
    path = _only_file(tmp_path)
    os.chmod(path, 0o644)
    warnings = []
    assert new_task(idp, warnings).acquire()["source"] == "identity_provider"
    assert any("mode 0600" in w for w in warnings)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # replaced by a fresh 0600 file


def test_symlinked_cache_is_ignored_and_not_written_through(tmp_path):
    idp = FakeIdP()
    new_task(idp).acquire()
    path = _only_file(tmp_path)
    target = tmp_path / "elsewhere.json"
    target.write_text(path.read_text())
    os.chmod(target, 0o600)
    path.unlink()
    path.symlink_to(target)
    warnings = []
    assert new_task(idp, warnings).acquire()["source"] == "identity_provider"
    assert any("symlink" in w for w in warnings)
    assert not path.is_symlink()
    assert target.read_text() != path.read_text()  # the link target was left alone


def test_symlinked_lock_disables_cache_but_never_crashes(tmp_path):
    idp = FakeIdP()
    new_task(idp).acquire()
    path = _only_file(tmp_path)
    lock = str(path) + ".lock"
    os.unlink(lock)
    os.symlink(str(tmp_path / "victim"), lock)
    warnings = []
    got = new_task(idp, warnings).acquire()
    assert got["access_token"]
    assert any("token cache disabled" in w for w in warnings)
    assert not (tmp_path / "victim").exists()


def test_cache_dir_not_a_directory(monkeypatch, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    monkeypatch.setenv("DEFENDER_TOKEN_CACHE_DIR", str(f))
    warnings = []
    assert new_task(FakeIdP(), warnings).acquire()["access_token"]
    assert any("token cache disabled" in w for w in warnings)


def test_fingerprint_change_signs_in_again(tmp_path):
    idp = FakeIdP()
    new_task(idp).acquire()
    got = new_task(idp, client_secret=SECRET + "-rotated").acquire()
    assert got["source"] == "identity_provider" and len(idp.token_posts) == 2
    # the file now vouches for the new secret only
    assert new_task(idp, client_secret=SECRET + "-rotated").acquire()["source"] == "cache"
    assert new_task(idp).acquire()["source"] == "identity_provider"


def test_each_tenant_has_its_own_cache(tmp_path):
    idp = FakeIdP()
    a = new_task(idp).acquire()
    b = new_task(idp, tenant_id=OTHER_TENANT).acquire()
    assert a["access_token"] != b["access_token"]
    assert [p["tenant"] for p in idp.token_posts] == [TENANT, OTHER_TENANT]
    assert len(cache_files(tmp_path / "xdg" / "defender.endpoint" / "tokens")) == 2
    assert new_task(idp).acquire()["access_token"] == a["access_token"]
    assert new_task(idp, tenant_id=OTHER_TENANT).acquire()["access_token"] == b["access_token"]
    assert len(idp.token_posts) == 2


def test_cache_key_includes_login_host_tenant_app(tmp_path):
    a = TokenCacheFile(str(tmp_path), LOGIN, TENANT, CLIENT)
    assert a.path == TokenCacheFile(str(tmp_path), LOGIN.upper(), TENANT.upper(), CLIENT).path
    assert a.path != TokenCacheFile(str(tmp_path), "https://login.microsoftonline.us", TENANT, CLIENT).path
    assert a.path != TokenCacheFile(str(tmp_path), LOGIN, OTHER_TENANT, CLIENT).path
    assert a.path != TokenCacheFile(str(tmp_path), LOGIN, TENANT, CLIENT[:-1] + "0").path


def test_refresh_before_expiry(tmp_path):
    idp = FakeIdP(expires_in=REFRESH_MARGIN - 10)  # already inside the refresh margin
    new_task(idp).acquire()
    assert new_task(idp).acquire()["source"] == "identity_provider"
    assert len(idp.token_posts) == 2


def test_in_process_reuse_and_margin(tmp_path):
    idp = FakeIdP()
    prov = new_task(idp)
    first = prov.acquire()
    os.environ["DEFENDER_TOKEN_CACHE_DIR"] = str(tmp_path / "unused")  # the process cache answers first
    try:
        second = TokenProvider(prov.settings, idp).acquire()
    finally:
        del os.environ["DEFENDER_TOKEN_CACHE_DIR"]
    assert second["access_token"] == first["access_token"] and second["source"] == "cache"
    assert len(idp.token_posts) == 1


def test_force_refresh_after_401(tmp_path):
    idp = FakeIdP()
    prov = new_task(idp)
    first = prov.acquire()
    fresh = prov.acquire(force_refresh=True)
    assert len(idp.token_posts) == 2 and fresh["source"] == "identity_provider"
    assert fresh["access_token"] != first["access_token"]
    # the refreshed token replaced the rejected one in the file too
    assert new_task(idp).acquire()["access_token"] == fresh["access_token"]


def test_given_token_without_credentials_cannot_refresh():
    from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderAuthError
    from .token_helpers import Key, make_token
    tok = make_token(Key("kid-one"))
    prov = TokenProvider(Settings(dict(access_token=tok)), FakeIdP())
    assert prov.acquire()["source"] == "given" and not prov.can_refresh
    with pytest.raises(DefenderAuthError):
        prov.acquire(force_refresh=True)


def test_parallel_processes_sign_in_once(tmp_path):
    """Forks racing for the same app wait on the flock; only the first signs in."""
    import multiprocessing

    counter = tmp_path / "posts"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "xdg"), str(counter))) for dummy in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert counter.read_text().count("x") == 1


def _worker(xdg, counter):
    import time as _time
    os.environ["XDG_CACHE_HOME"] = xdg

    class SlowIdP(FakeIdP):
        def post(self, *a, **kw):
            _time.sleep(0.3)  # a slow sign-in widens the race
            with open(counter, "a") as fh:
                fh.write("x")
            return super().post(*a, **kw)

    new_task(SlowIdP()).acquire()


def test_expires_on_is_the_tokens_own_exp(tmp_path):
    # the IdP answers expires_in 3599 but the token it issues says exp = now + 1800: the token's exp wins, so a
    # token read back later (given as access_token) reports the same expiry as when it was acquired
    idp = FakeIdP(expires_in=1800)
    idp.expires_in_answered = 3599
    got = new_task(idp).acquire()
    assert got["expires_on"] == auth.jwt_claims(got["access_token"])["exp"]


def test_expired_given_token_refused_before_any_request():
    """Issue 22 item 13: an expired access_token is refused locally (its exp), saying to get a new token."""
    import time as _time
    from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderAuthError
    from .token_helpers import Key, make_token
    tok = make_token(Key("kid-one"), exp=int(_time.time()) - 600)
    idp = FakeIdP()
    prov = TokenProvider(Settings(dict(access_token=tok)), idp)
    with pytest.raises(DefenderAuthError) as err:
        prov.acquire()
    assert "expired" in str(err.value) and "new token" in str(err.value)
    assert tok not in str(err.value)
    # with credentials as well, the expired token is not used: a new one is acquired instead
    prov = new_task(idp, access_token=tok)
    got = prov.acquire()
    assert got["access_token"] != tok and got["source"] != "given"


# --- sign-in errors ---------------------------------------------------------------------------

CUSTOMER = "8b3e4d1a-6fac-4e3a-9d9c-5a7f4e3b2c33"


def entra_body(error, code, description):
    """The shape Entra (and the emulator) answer with."""
    return {
        "error": error,
        "error_description": "AADSTS%d: %s\r\nTrace ID: 1f0e\r\nCorrelation ID: 2a1b\r\nTimestamp: 2026-01-01 10:00:00Z"
                             % (code, description),
        "error_codes": [code],
        "timestamp": "2026-01-01 10:00:00Z",
        "trace_id": "1f0e",
        "correlation_id": "2a1b",
        "error_uri": "https://login.microsoftonline.com/error?code=%d" % code,
    }


def settings(tenant=TENANT, **kw):
    opts = dict(tenant_id=tenant, client_id=CLIENT, client_secret=SECRET, login_url=LOGIN, token_cache=False)
    opts.update(kw)
    return Settings(opts)


@pytest.fixture(autouse=True)
def no_process_cache(monkeypatch):
    monkeypatch.setattr(auth, "_PROCESS_TOKENS", {})


def test_consent_missing_gives_that_tenants_link():
    body = entra_body("invalid_grant", 65001, "The user or administrator has not consented to use the application "
                                              "with ID '%s'." % CLIENT)
    body["suberror"] = "consent_required"
    err = sign_in_error(body, settings(CUSTOMER))
    msg = str(err)
    assert err.code == "AADSTS65001"
    assert "AADSTS65001" in msg and "Trace ID" not in msg
    assert "no admin consent in this tenant" in msg
    link = "%s/%s/oauth2/authorize?prompt=consent&client_id=%s&response_type=code&sso_reload=true" % (
        LOGIN, CUSTOMER, CLIENT)
    assert link in msg
    assert consent_url(LOGIN, CUSTOMER, CLIENT) == link


def test_app_not_in_tenant_gives_link_too():
    body = entra_body("unauthorized_client", 700016, "Application with identifier '%s' was not found in the "
                                                     "directory 'Northwind'." % CLIENT)
    msg = str(sign_in_error(body, settings(CUSTOMER)))
    assert "AADSTS700016" in msg and "admin consent" in msg and "/%s/oauth2/authorize?prompt=consent" % CUSTOMER in msg


def test_bad_secret_hint_without_link_or_secret():
    body = entra_body("invalid_client", 7000215, "Invalid client secret provided.")
    msg = str(sign_in_error(body, settings()))
    assert "AADSTS7000215" in msg and "Value (not its ID)" in msg
    assert "oauth2/authorize" not in msg and SECRET not in msg
    assert "app %s in tenant %s at %s" % (CLIENT, TENANT, LOGIN) in msg


def test_unknown_code_gets_generic_checks():
    msg = str(sign_in_error(entra_body("invalid_request", 12345, "Something new."), settings()))
    assert "AADSTS12345" in msg and "check tenant_id, client_id" in msg.lower()


def test_no_codes_at_all():
    err = sign_in_error({"error": "temporarily_unavailable"}, settings())
    assert "temporarily_unavailable" in str(err)


def test_provider_raises_rendered_error_through_msal():
    body = entra_body("invalid_grant", 65001, "The user or administrator has not consented.")
    idp = FakeIdP(error=body)
    with pytest.raises(DefenderAuthError) as info:
        TokenProvider(settings(CUSTOMER), idp).acquire()
    assert "AADSTS65001" in str(info.value) and "prompt=consent" in str(info.value)
    assert SECRET not in str(info.value)
    assert len(idp.token_posts) == 1


def test_unreachable_host_message():
    class Down(FakeIdP):
        def get(self, *a, **kw):
            raise ConnectionError("refused")
    with pytest.raises(DefenderAuthError) as info:
        TokenProvider(settings(), Down()).acquire()
    assert "cannot reach the sign-in host %s" % LOGIN in str(info.value)


# --- the in-process token cache ---------------------------------------------------------------

def test_process_token_cache_is_keyed_by_the_credential(monkeypatch):
    conf = Settings({"tenant_id": "contoso.onmicrosoft.com", "client_id": "00000000-0000-0000-0000-0000000000aa",
                     "client_secret": "right-secret", "token_cache": False})
    calls = []

    def fake_msal(self, force_refresh):
        calls.append(self.settings.client_secret)
        return {"access_token": "tok-%d" % len(calls), "expires_on": 4102444800, "source": "identity_provider"}

    monkeypatch.setattr(auth.TokenProvider, "_acquire_msal", fake_msal)
    monkeypatch.setattr(auth, "_PROCESS_TOKENS", {})
    auth.TokenProvider(conf, None).token()
    auth.TokenProvider(conf, None).token()
    wrong = Settings({"tenant_id": "contoso.onmicrosoft.com", "client_id": "00000000-0000-0000-0000-0000000000aa",
                      "client_secret": "wrong-secret", "token_cache": False})
    auth.TokenProvider(wrong, None).token()
    assert calls == ["right-secret", "wrong-secret"]


@pytest.mark.parametrize("content", ["[1]", '{"AccessToken": [1]}', '{"AccessToken": {"k": {"expires_on": "soon"}}}'])
def test_cache_of_the_wrong_shape_is_ignored_not_a_crash(tmp_path, monkeypatch, content):
    import msal
    conf = Settings({"tenant_id": "contoso.onmicrosoft.com", "client_id": "00000000-0000-0000-0000-0000000000aa",
                     "client_secret": "s3cret"})
    conf.token_cache_dir = str(tmp_path / "tokens")
    warnings = []
    provider = auth.TokenProvider(conf, None, warn=warnings.append)
    store = auth.TokenCacheFile(conf.token_cache_dir, conf.endpoints.login_url, conf.tenant_id, conf.client_id)
    with store:
        store.save(provider._fingerprint(), content)
    signed_in = []
    monkeypatch.setattr(auth.TokenProvider, "_sign_in", lambda self, *a: signed_in.append(1) or {
        "access_token": "t", "expires_on": 4102444800, "expires_in": 3599, "token_type": "Bearer", "source": "x"})
    monkeypatch.setattr(auth, "_PROCESS_TOKENS", {})
    assert provider.token() == "t" and signed_in == [1]
    assert any("corrupt" in w for w in warnings)
    assert msal  # imported for real: the cache parsing is msal's
