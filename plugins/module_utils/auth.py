# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""App-only sign-in through msal, with a token cache that outlives the task process.

Ansible runs every task in a new process, so msal's in-memory cache would cost one sign-in per task.
:class:`TokenCacheFile` keeps msal's ``SerializableTokenCache`` in a file of the user's cache
directory, one file per sign-in host, tenant and app, mode 0600 in a 0700 directory, read and
written under an exclusive ``flock`` so parallel forks wait for one sign-in instead of each making
their own. A file that is corrupt, not ours, too open or a symlink is never trusted: it is ignored
and replaced. msal is imported only when a token has to be acquired.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import time

from ansible_collections.defender.endpoint.plugins.module_utils.apis import GRAPH, api_named
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderAuthError, DefenderConfigError

try:
    import fcntl
except ImportError:  # not on Windows; Ansible controllers are POSIX
    fcntl = None

# Tries of one token request when the connection fails (reset, timeout): see TokenProvider._sign_in.
SIGN_IN_ATTEMPTS = 3


def _transient(exc):
    """A transport failure worth one more token request (not TLS: a bad certificate stays bad)."""
    try:
        import requests
    except ImportError:  # pragma: no cover
        return False
    return (isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))
            and not isinstance(exc, requests.exceptions.SSLError))


# Refresh this long before expiry (msal's own margin is 5 minutes as well).
REFRESH_MARGIN = 300
CACHE_FORMAT = 1

# Hints per AADSTS code: what to check when sign-in fails.
AADSTS_HINTS = {
    "7000215": "the client secret is wrong: use the secret's Value (not its ID), and check it has not expired",
    "7000222": "the client secret has expired: create a new one under Certificates & secrets",
    "700016": "the app was not found in this tenant: check client_id and tenant_id (and cloud); "
              "a multi-tenant app needs admin consent in the customer tenant",
    "90002": "the tenant was not found: check tenant_id and cloud",
    "900023": "the tenant id is not valid: check tenant_id",
    "65001": "the app has no admin consent in this tenant",
    "70011": "the requested scope is invalid: check cloud and resource",
    "500011": "the Defender API (WindowsDefenderATP) is not known in this tenant or cloud: check cloud and resource",
    "700027": "the client assertion signature is invalid: is this certificate registered on the app?",
    "700024": "the client assertion is expired or not yet valid: check the clock and the assertion file",
    "700023": "the client assertion audience is wrong: check login_url and cloud",
    "7000274": "the certificate is not registered on the app",
    "700213": "no federated credential on the app matches the assertion: check issuer, subject and audience",
}


def consent_url(login_url, tenant_id, client_id):
    """The admin-consent link of the seed's partner step, for one customer tenant."""
    return ("%s/%s/oauth2/authorize?prompt=consent&client_id=%s&response_type=code&sso_reload=true"
            % (login_url, tenant_id, client_id))


def sign_in_error(result, settings):
    """One clear message from msal's error dict, keeping the AADSTS code."""
    description = (result.get("error_description") or "").strip()
    first_line = description.splitlines()[0] if description else result.get("error") or "unknown error"
    codes = [str(c) for c in result.get("error_codes") or []]
    if not codes and first_line.startswith("AADSTS"):
        codes = [first_line[6:].split(":")[0]]
    hint = next((AADSTS_HINTS[c] for c in codes if c in AADSTS_HINTS), None)
    checks = hint or "check tenant_id, client_id, the secret or certificate and its expiry, admin consent, and cloud"
    message = "sign-in failed for app %s in tenant %s at %s: %s. %s." % (
        settings.client_id, settings.tenant_id, settings.endpoints.login_url, first_line.rstrip("."),
        checks[0].upper() + checks[1:])
    if any(c in ("65001", "700016") for c in codes):
        message += " Admin-consent link for this tenant: %s" % consent_url(
            settings.endpoints.login_url, settings.tenant_id, settings.client_id)
    return DefenderAuthError(message, code=("AADSTS" + codes[0]) if codes else result.get("error"))


def _age(seconds):
    seconds = int(seconds)
    if seconds < 120:
        return "%d s" % seconds
    if seconds < 7200:
        return "%d min" % (seconds // 60)
    return "%d h" % (seconds // 3600)


def jwt_claims(token):
    """Claims of a JWT without checking it (for display and expiry only)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
        return claims if isinstance(claims, dict) else {}
    except (IndexError, ValueError, UnicodeError, AttributeError):
        return {}


def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "defender.endpoint", "tokens")


class TokenCacheFile:
    """One msal cache file for a (sign-in host, tenant, app); see the module docstring."""

    def __init__(self, directory, login_url, tenant_id, client_id, warn=None):
        self.directory = directory
        key = "\n".join((login_url.lower(), tenant_id.lower(), client_id.lower()))
        self.path = os.path.join(directory, hashlib.sha256(key.encode("utf-8")).hexdigest()[:40] + ".json")
        self.warn = warn or (lambda msg: None)
        self._lock_fd = None

    def _ensure_dir(self):
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        st = os.lstat(self.directory)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            raise OSError("token cache directory %s is not a directory owned by this user" % self.directory)
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(self.directory, 0o700)

    def __enter__(self):
        self._ensure_dir()
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd
        return self

    def __exit__(self, *exc):
        if self._lock_fd is not None:
            if fcntl is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def load(self, fingerprint):
        """The serialized msal cache, or None when absent or untrustworthy."""
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError:
            self.warn("ignoring token cache %s: it cannot be opened safely (symlink?)" % self.path)
            return None
        with os.fdopen(fd, "r", encoding="utf-8") as handle:
            st = os.fstat(handle.fileno())
            if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
                self.warn("ignoring token cache %s: it is not owned by this user with mode 0600" % self.path)
                return None
            try:
                data = json.load(handle)
            except ValueError:
                self.warn("ignoring corrupt token cache %s; it will be rebuilt" % self.path)
                return None
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or not isinstance(data.get("msal"), str):
            return None
        # A cache filled with another credential must not vouch for this one (e.g. a rotated secret).
        if data.get("credential") != fingerprint:
            return None
        return data["msal"]

    def save(self, fingerprint, serialized):
        payload = json.dumps({"format": CACHE_FORMAT, "credential": fingerprint, "msal": serialized})
        # Imported here: a task given a token or finding one cached never writes (fewer imports on the read path).
        from ansible_collections.defender.endpoint.plugins.module_utils.files import write_atomically
        # A foreign or symlinked file in the cache folder was ignored on reading; the rename replaces it.
        write_atomically(self.path, payload, encoding="utf-8", replace_link=True)

    def clear(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


# Tokens acquired in this process (the lookup plugin runs many times in one controller process).
_PROCESS_TOKENS = {}


class TokenProvider:
    """Gives the client a bearer token: the one passed in, or one from msal (cached).

    ``api`` (an ``apis`` descriptor or its name) picks the resource: one credential signs in once per resource, and
    each resource's token is cached under its own scope (a client-credentials token holds one resource only).
    """

    def __init__(self, settings, session, warn=None, api=None):
        self.settings = settings
        self.api = api_named(api)
        self.scope = self.api.scope(settings.endpoints)
        self.session = session
        self.warn = warn or (lambda msg: None)
        self.token_requests = 0  # sign-ins this process made (for tests and benchmarks)
        self.last = None  # the last token dict handed out (token, expires_on, source)

    @property
    def can_refresh(self):
        return self.settings.credential_kind is not None

    def token(self, force_refresh=False):
        return self.acquire(force_refresh=force_refresh)["access_token"]

    def _given_token_fits(self):
        """A given token serves Defender unless it is a Graph token; Graph only when its audience is Graph's."""
        aud = jwt_claims(self.settings.access_token).get("aud")
        graph = tuple(a.lower() for a in GRAPH.audiences(self.settings.endpoints))
        is_graph = isinstance(aud, str) and aud.rstrip("/").lower() in graph
        return is_graph if self.api is GRAPH else not is_graph

    def _given_token_expired(self, refuse):
        """The given token's exp (read locally, no signature needed) is past: with no credential to get another,
        say so before any request is sent (the service would only answer 401)."""
        exp = jwt_claims(self.settings.access_token).get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp > time.time():
            return False
        if refuse:
            raise DefenderAuthError(
                "the access_token expired %s ago (at %s UTC): get a new token (the defender.endpoint.token lookup or "
                "module) and pass it, or set credentials so that one is acquired"
                % (_age(time.time() - exp), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))))
        return True

    def acquire(self, force_refresh=False, check_expiry=True):
        """``check_expiry=False`` hands a given token over even when expired (token_info validates and reports it)."""
        s = self.settings
        if s.access_token and not force_refresh and self.api is GRAPH and not self._given_token_fits():
            if s.credential_kind is None:
                raise DefenderAuthError("access_token is not a Microsoft Graph token (its audience is not %s): get one "
                                        "with the defender.endpoint.token lookup or module and api=graph, or set "
                                        "credentials" % GRAPH.resource(s.endpoints))
        elif s.access_token and not force_refresh and not (check_expiry and self._given_token_expired(s.credential_kind is None)):
            claims = jwt_claims(s.access_token)
            self.last = {"access_token": s.access_token, "expires_on": claims.get("exp"), "source": "given"}
            return self.last
        if s.credential_kind is None:
            raise DefenderAuthError("the access_token was rejected and no credentials are set to get a new one")
        # The credential's fingerprint is part of the key: a wrong or revoked secret must not reuse a token.
        key = (s.endpoints.login_url, s.tenant_id.lower(), s.client_id.lower(), self.scope, self._fingerprint())
        cached = _PROCESS_TOKENS.get(key)
        if cached and not force_refresh and cached["expires_on"] - REFRESH_MARGIN > time.time():
            self.last = dict(cached, source="cache")
            return self.last
        result = self._acquire_msal(force_refresh)
        _PROCESS_TOKENS[key] = {k: result[k] for k in ("access_token", "expires_on")}
        self.last = result
        return result

    def _credential(self):
        s = self.settings
        if s.credential_kind == "secret":
            return s.client_secret
        if s.credential_kind == "certificate":
            from ansible_collections.defender.endpoint.plugins.module_utils.certificates import load_certificate_credential
            return load_certificate_credential(s.client_certificate_path, s.client_certificate_password)
        if s.credential_kind == "assertion":
            path = s.client_assertion_file

            def read_assertion():  # re-read on each acquisition: workload identity rotates the file
                try:
                    with open(path, "r", encoding="utf-8") as handle:
                        value = handle.read().strip()
                except OSError as exc:
                    raise DefenderConfigError("cannot read client_assertion_file %s: %s" % (path, exc.strerror)) from None
                if not value:
                    raise DefenderConfigError("client_assertion_file %s is empty" % path)
                return value
            return {"client_assertion": read_assertion}
        raise DefenderConfigError("no credential is set")

    def _fingerprint(self):
        s = self.settings
        if s.credential_kind == "secret":
            material = s.client_secret
        elif s.credential_kind == "certificate":
            material = "cert:" + os.path.abspath(s.client_certificate_path)
        else:
            material = "assertion:" + os.path.abspath(s.client_assertion_file)
        return hashlib.sha256(("%s\n%s" % (s.client_id, material)).encode("utf-8")).hexdigest()

    def _acquire_msal(self, force_refresh):
        try:
            import msal
        except ImportError:
            raise DefenderConfigError("the Python library 'msal' is required to sign in "
                                      "(pip install -r requirements.txt in the Python that runs the modules)") from None
        s = self.settings
        cache = msal.SerializableTokenCache()
        store = None
        if s.token_cache:
            try:
                store = TokenCacheFile(s.token_cache_dir or default_cache_dir(), s.endpoints.login_url,
                                       s.tenant_id, s.client_id, warn=self.warn)
                store.__enter__()
            except OSError as exc:
                self.warn("token cache disabled for this task: %s" % exc)
                store = None
        try:
            fingerprint = self._fingerprint() if store else None
            if store:
                serialized = store.load(fingerprint)
                if serialized:
                    try:
                        cache.deserialize(serialized)
                        self._from_cache(cache, msal)  # proves the structure, not only the JSON
                    except Exception:  # pylint: disable=broad-except
                        # Valid JSON of the wrong shape is as untrustworthy as garbage: start afresh.
                        self.warn("ignoring corrupt token cache %s; it will be rebuilt" % store.path)
                        cache = msal.SerializableTokenCache()
            if not force_refresh:
                hit = self._from_cache(cache, msal)
                if hit:
                    return hit
            credential = self._credential()
            result = self._sign_in(msal, cache, credential, force_refresh)
            if store and cache.has_state_changed:
                try:
                    store.save(fingerprint, cache.serialize())
                except OSError as exc:
                    self.warn("could not write the token cache: %s" % exc)
            return result
        finally:
            if store:
                store.__exit__(None, None, None)

    def _from_cache(self, cache, msal):
        now = time.time()
        for entry in cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=[self.scope]):
            expires_on = int(entry.get("expires_on", 0))
            if expires_on - REFRESH_MARGIN > now:
                return {"access_token": entry["secret"], "expires_on": expires_on, "token_type": "Bearer",
                        "source": "cache"}
        return None

    def _sign_in(self, msal, cache, credential, force_refresh):
        s = self.settings
        kwargs = {
            "client_credential": credential,
            "authority": s.endpoints.authority(s.tenant_id),
            "http_client": self.session,
            "token_cache": cache,
            "timeout": s.timeout,
        }
        if s.endpoints.custom_login:
            kwargs["instance_discovery"] = False  # msal only knows Microsoft's sign-in hosts
        try:
            app = msal.ConfidentialClientApplication(s.client_id, **kwargs)
            if force_refresh:
                app.remove_tokens_for_client()
            for attempt in range(SIGN_IN_ATTEMPTS):
                self.token_requests += 1
                try:
                    result = app.acquire_token_for_client(scopes=[self.scope])
                    break
                except Exception as exc:  # pylint: disable=broad-except
                    # The token request is a POST, so the session's retry policy does not retry a reset or a
                    # timeout; asking for a token again changes nothing at the sign-in host, so it is safe here.
                    if attempt + 1 >= SIGN_IN_ATTEMPTS or not _transient(exc):
                        raise
                    time.sleep(0.5 * (attempt + 1))
        except DefenderAuthError:
            raise
        except DefenderConfigError:
            raise
        except ValueError as exc:
            # msal raises ValueError for a bad authority or credential shape; its text carries no secret.
            raise DefenderAuthError("sign-in could not start at %s: %s" % (s.endpoints.login_url, exc)) from None
        except Exception as exc:  # requests' transport errors, msal's discovery failures
            from ansible_collections.defender.endpoint.plugins.module_utils.transport import certificate_rejected
            if certificate_rejected(exc):
                raise DefenderAuthError("TLS verification failed for the sign-in host %s: set ca_path to the CA bundle "
                                        "that signs it (validate_certs: false only for tests)"
                                        % s.endpoints.login_url) from None
            raise DefenderAuthError("cannot reach the sign-in host %s (%s): check login_url/cloud, proxy settings "
                                    "and ca_path" % (s.endpoints.login_url, type(exc).__name__)) from None
        if "access_token" not in result:
            raise sign_in_error(result, s)
        expires_in = int(result.get("expires_in") or 3599)
        # the token's own exp is what the API enforces; now + expires_in drifts by the sign-in's duration, so the
        # same token read back later (access_token given) would report another expiry
        exp = jwt_claims(result["access_token"]).get("exp")
        expires_on = int(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else int(time.time()) + expires_in
        return {
            "access_token": result["access_token"],
            "token_type": result.get("token_type", "Bearer"),
            "expires_in": expires_in,
            "expires_on": expires_on,
            "source": result.get("token_source", "identity_provider"),
        }
