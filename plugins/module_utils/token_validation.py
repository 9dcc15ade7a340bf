# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate an access token the way the Defender API would, and explain what is wrong with it.

Checks: the RS256 signature against the keys the tenant publishes (OpenID discovery ``jwks_uri``,
fetched once more when the token names an unknown ``kid``, since keys rotate), ``aud`` among the
cloud's accepted audiences, ``iss`` in its v1 (``https://sts.windows.net/{tid}/``) or v2
(``{login}/{tid}/v2.0``) form for the token's own ``tid``, ``tid`` against ``tenant_id`` (a domain
``tenant_id`` is first resolved to its GUID through the issuer of its OpenID configuration),
``exp``/``nbf`` with a leeway, and the application roles a playbook needs.

Every failed check adds one sentence to ``reasons``, so a user sees all problems at once. PyJWT is
imported only when a signature is checked.
"""

from __future__ import annotations

import re
import time

from ansible_collections.defender.endpoint.plugins.module_utils.apis import api_named
from ansible_collections.defender.endpoint.plugins.module_utils.auth import jwt_claims
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError, DefenderError
# The permission names and their portal names live with the permission table (one source).
from ansible_collections.defender.endpoint.plugins.module_utils.permissions import GRAPH, ROLES, ROLE_DISPLAY_NAMES
from ansible_collections.defender.endpoint.plugins.module_utils.validation import DOMAIN, GUID, GUID_TEXT

ROLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)+$")
_ISSUER_TENANT = re.compile(r"^https://[^/]+/(%s)(/|/v2\.0)?$" % GUID_TEXT)
ALGORITHMS = ("RS256",)  # what Entra ID signs access tokens with
DEFAULT_LEEWAY = 60
MAX_LEEWAY = 600

CONSENT_REMINDER = ("Add %s in the Entra portal under App registrations > your app > API permissions > Add a permission "
                    "> APIs my organization uses > WindowsDefenderATP > Application permissions, then select "
                    "'Grant admin consent' (needed again after every permission you add) and get a new token")
GRAPH_CONSENT_REMINDER = ("Add %s in the Entra portal under App registrations > your app > API permissions > Add a "
                          "permission > Microsoft Graph > Application permissions, then select 'Grant admin consent' "
                          "(needed again after every permission you add) and get a new token")


def role_label(role):
    """``Machine.Isolate ("Isolate machine")`` - the name in the token and the name in the portal."""
    display = ROLE_DISPLAY_NAMES.get(role)
    return '%s ("%s")' % (role, display) if display else role


def check_required_roles(roles):
    """Validate the ``required_roles`` option before anything is sent."""
    roles = list(roles or [])
    for role in roles:
        if not isinstance(role, str) or not ROLE_NAME.match(role):
            raise DefenderConfigError("required_roles entries must be permission names such as Machine.Isolate, "
                                      "got %r" % (role,))
    unknown = [r for r in roles if r not in ROLE_DISPLAY_NAMES and r.lower() in {k.lower() for k in ROLE_DISPLAY_NAMES}]
    if unknown:
        raise DefenderConfigError("role names are case-sensitive: %s" % ", ".join(
            "%s (did you mean %s?)" % (r, next(k for k in ROLE_DISPLAY_NAMES if k.lower() == r.lower()))
            for r in unknown))
    return roles


def missing_roles_message(missing, client_id=None, tenant_id=None):
    who = "the app"
    if client_id:
        who = "app %s" % client_id
    if tenant_id:
        who += " in tenant %s" % tenant_id
    return "%s lacks the application permission%s %s. %s." % (
        who[0].upper() + who[1:], "s" if len(missing) > 1 else "", ", ".join(role_label(r) for r in missing),
        (GRAPH_CONSENT_REMINDER if all(ROLES.get(r, ("",))[0] == GRAPH for r in missing) else CONSENT_REMINDER)
        % ("them" if len(missing) > 1 else "it"))


def accepted_issuers(tid, login_url):
    """The v1 and v2 issuer forms for a tenant."""
    issuers = ["https://sts.windows.net/%s/" % tid, "%s/%s/v2.0" % (login_url.rstrip("/"), tid),
               "https://login.microsoftonline.com/%s/v2.0" % tid]
    out = []
    for i in issuers:
        if i not in out:
            out.append(i)
    return out


def _norm_aud(value):
    return str(value).rstrip("/").lower()


class SigningKeys:
    """The tenant's published signing keys, fetched through the shared session (ca_path, proxies).

    ``fetches`` counts JWKS downloads: a token naming an unknown ``kid`` causes exactly one refresh.
    """

    def __init__(self, session, login_url, timeout=30):
        self.session = session
        self.login_url = login_url.rstrip("/")
        self.timeout = timeout
        self.fetches = 0
        self._jwks_uri = {}
        self._keys = {}
        self._tenant_guid = {}

    def _get_json(self, url, what):
        try:
            response = self.session.get(url, timeout=self.timeout)
        except Exception as exc:  # requests' transport errors; the URL carries no secret
            raise DefenderError("cannot fetch the %s from %s (%s): check login_url/cloud, proxy settings and ca_path"
                                % (what, url, type(exc).__name__)) from None
        if response.status_code != 200:
            raise DefenderError("cannot fetch the %s from %s: HTTP %s" % (what, url, response.status_code),
                                status=response.status_code)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise DefenderError("the %s at %s is not a JSON object" % (what, url))
        return data

    def discovery_url(self, tid):
        return "%s/%s/v2.0/.well-known/openid-configuration" % (self.login_url, tid)

    def tenant_guid(self, domain):
        """The tenant GUID behind a domain tenant_id (``contoso.onmicrosoft.com``), from the issuer in the
        domain's OpenID configuration (``https://login.microsoftonline.com/{guid}/v2.0``)."""
        key = domain.lower()
        if key not in self._tenant_guid:
            doc = self._get_json(self.discovery_url(key), "OpenID configuration")
            issuer = doc.get("issuer")
            found = _ISSUER_TENANT.search(issuer) if isinstance(issuer, str) else None
            if not found:
                raise DefenderError("the OpenID configuration of %s names no tenant GUID in its issuer (%r), so the "
                                    "token's tenant cannot be compared with tenant_id" % (domain, issuer))
            self._tenant_guid[key] = found.group(1).lower()
        return self._tenant_guid[key]

    def jwks_uri(self, tid):
        if tid not in self._jwks_uri:
            doc = self._get_json(self.discovery_url(tid), "OpenID configuration")
            uri = doc.get("jwks_uri")
            if not isinstance(uri, str) or not uri.lower().startswith("https://"):
                raise DefenderError("the OpenID configuration of tenant %s has no https jwks_uri" % tid)
            self._jwks_uri[tid] = uri
        return self._jwks_uri[tid]

    def _load(self, tid):
        import jwt  # checked by the caller

        data = self._get_json(self.jwks_uri(tid), "signing keys")
        self.fetches += 1
        keys = {}
        if data.get("keys"):
            try:
                for key in jwt.PyJWKSet.from_dict(data):
                    if key.key_id:
                        keys[key.key_id] = key
            except jwt.PyJWTError as exc:
                raise DefenderError("the signing keys of tenant %s cannot be used: %s" % (tid, exc)) from None
        self._keys[tid] = keys
        return keys

    def key(self, tid, kid):
        """The PyJWK for ``kid``, or None when the tenant does not publish it even after one refresh."""
        keys = self._keys.get(tid)
        if keys is None:
            keys = self._load(tid)
        if kid in keys:
            return keys[kid]
        keys = self._load(tid)  # keys rotate: one fresh download before calling the kid unknown
        return keys.get(kid)


def _header(token):
    try:
        import jwt
        return jwt.get_unverified_header(token)
    except ImportError:
        import base64
        import json
        part = token.split(".")[0]
        part += "=" * (-len(part) % 4)
        try:
            value = json.loads(base64.urlsafe_b64decode(part.encode("ascii")))
        except (ValueError, UnicodeError):
            return None
        return value if isinstance(value, dict) else None
    except Exception:  # jwt.DecodeError and friends
        return None


def _expected_tenant(tenant_id, keys):
    """The GUID the token's ``tid`` must equal: ``tenant_id`` itself, or the GUID its domain resolves to."""
    if not tenant_id:
        return None
    if GUID.match(tenant_id):
        return tenant_id.lower()
    if not DOMAIN.match(tenant_id):
        raise DefenderConfigError("tenant_id must be a GUID or a domain such as contoso.onmicrosoft.com, got %r"
                                  % tenant_id[:80])
    if keys is None:
        raise DefenderConfigError("checking the token's tenant against the domain tenant_id %s needs the tenant's "
                                  "OpenID configuration (signing keys object)" % tenant_id)
    return keys.tenant_guid(tenant_id)


def validate_token(token, settings, keys=None, required_roles=None, leeway=DEFAULT_LEEWAY, verify_signature=True,
                   now=None, api=None):
    """Check ``token``; returns a dict with ``valid``, ``reasons``, ``claims``, ``roles``, ``missing_roles``,
    ``expires_on``, ``header`` and ``signature_verified``.

    ``keys`` is a :class:`SigningKeys` (needed when ``verify_signature``). Problems with the token are
    reasons; problems reaching the key endpoints raise :class:`DefenderError`.
    """
    now = time.time() if now is None else now
    required_roles = check_required_roles(required_roles)
    reasons = []
    claims = jwt_claims(token) if isinstance(token, str) else {}
    header = _header(token) if isinstance(token, str) else None
    if not claims or header is None:
        reasons.append("the token is not a JWT: its header or claims cannot be decoded")
    tid = claims.get("tid")
    signature_verified = False

    if claims and header is not None and verify_signature:
        try:
            import jwt
        except ImportError:
            raise DefenderConfigError("the Python library 'PyJWT' (with cryptography) is required to verify "
                                      "signatures: pip install 'PyJWT[crypto]'") from None
        alg = header.get("alg")
        kid = header.get("kid")
        if alg not in ALGORITHMS:
            reasons.append("the token is signed with %r; Entra ID signs access tokens with RS256" % (alg,))
        elif not kid:
            reasons.append("the token header names no signing key (kid)")
        elif not isinstance(tid, str) or not GUID.match(tid):
            reasons.append("the token has no tenant (tid) claim, so its signing keys cannot be found")
        else:
            if keys is None:
                raise DefenderConfigError("signature checks need the tenant's signing keys")
            key = keys.key(tid.lower(), kid)
            if key is None:
                reasons.append("the token is signed with key %s, which tenant %s does not publish (checked twice): "
                               "forged, from another tenant or cloud, or the key was retired" % (kid, tid))
            else:
                try:
                    jwt.decode(token, key.key, algorithms=list(ALGORITHMS),
                               options={"verify_signature": True, "verify_exp": False, "verify_nbf": False,
                                        "verify_iat": False, "verify_aud": False, "verify_iss": False})
                    signature_verified = True
                except jwt.InvalidSignatureError:
                    reasons.append("the signature does not match the token (tampered with, or not issued by this "
                                   "tenant)")
                except jwt.PyJWTError as exc:
                    reasons.append("the signature cannot be checked: %s" % exc)

    if claims:
        # Tenant and issuer
        if not isinstance(tid, str) or not GUID.match(tid):
            if not any("no tenant (tid)" in r for r in reasons):
                reasons.append("the token has no valid tenant (tid) claim")
        else:
            expected = _expected_tenant(settings.tenant_id, keys)
            if expected and tid.lower() != expected:
                named = settings.tenant_id if expected == settings.tenant_id.lower() else "%s (%s)" % (
                    settings.tenant_id, expected)
                reasons.append("the token belongs to tenant %s, not to tenant_id %s" % (tid, named))
            issuers = accepted_issuers(tid, settings.endpoints.login_url)
            iss = claims.get("iss")
            if iss not in issuers:
                reasons.append("the issuer (iss) %r is not one of %s" % (iss, ", ".join(issuers)))
        # Audience
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else [a for a in aud or [] if isinstance(a, str)]
        api = api_named(api)
        audiences = api.audiences(settings.endpoints)
        accepted = [_norm_aud(a) for a in audiences]
        if not any(_norm_aud(a) in accepted for a in auds):
            reasons.append("the audience (aud) %r is not the %s of this cloud (accepted: %s); request the token for %s"
                           % (aud, api.title, ", ".join(audiences), api.scope(settings.endpoints)))
        # Time
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            reasons.append("the token has no expiry (exp) claim")
        elif exp + leeway < now:
            reasons.append("the token expired %d seconds ago (at %s UTC)" % (
                int(now - exp), time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(exp))))
        if isinstance(nbf, (int, float)) and not isinstance(nbf, bool) and nbf - leeway > now:
            reasons.append("the token is not valid before %s UTC (check this host's clock)"
                           % time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(nbf)))

    roles = claims.get("roles") if isinstance(claims.get("roles"), list) else []
    missing = [r for r in required_roles if r not in roles]
    exp = claims.get("exp")
    return {
        "valid": not reasons,
        "reasons": reasons,
        "claims": claims,
        "header": header or {},
        "roles": roles,
        "missing_roles": missing,
        "expires_on": int(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None,
        "signature_verified": signature_verified,
    }


def roles_only(token, required_roles=None):
    """The roles check alone, on the decoded claims (no signature, audience, issuer or time check): what a playbook
    gate needs before it acts, since the API remains the authority on the token itself."""
    required_roles = check_required_roles(required_roles)
    claims = jwt_claims(token) if isinstance(token, str) else {}
    roles = claims.get("roles") if isinstance(claims.get("roles"), list) else []
    exp = claims.get("exp")
    return {
        "valid": bool(claims),
        "reasons": [] if claims else ["the token is not a JWT: its claims cannot be decoded"],
        "claims": claims,
        "header": {},
        "roles": roles,
        "missing_roles": [r for r in required_roles if r not in roles],
        "expires_on": int(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None,
        "signature_verified": False,
    }


def failure_message(result, settings):
    """One message for an invalid token and/or missing roles."""
    parts = []
    if result["reasons"]:
        parts.append("The token is not valid: %s." % "; ".join(result["reasons"]))
    if result["missing_roles"]:
        claims = result["claims"]
        parts.append(missing_roles_message(result["missing_roles"], claims.get("appid") or claims.get("azp")
                                           or settings.client_id, claims.get("tid") or settings.tenant_id))
    return " ".join(parts)
