"""Entra ID (Azure AD) imitation: tenants, app registrations, signing keys,
OpenID discovery, the v1/v2 client-credentials token endpoints and access-token
validation for the API side.

Error bodies and AADSTS codes follow what Entra returns, so clients can be
tested against realistic failures.
"""

import base64
import datetime as _dt
import hashlib
import os
import secrets
import threading
import time
import uuid

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

RESOURCES = (
    "https://api.securitycenter.microsoft.com",
    "https://securitycenter.onmicrosoft.com/windowsatpservice",
    "https://api.securitycenter.windows.com",
    "https://api-gcc.securitycenter.microsoft.us",
    "https://api-gov.securitycenter.microsoft.us",
)
DEFAULT_RESOURCE = RESOURCES[0]
# Microsoft Graph per cloud (global/GCC, GCC High, DoD): a second resource, with its own application permissions.
GRAPH_RESOURCES = ("https://graph.microsoft.com", "https://graph.microsoft.us", "https://dod-graph.microsoft.us")
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# Microsoft Graph application permissions per app (WindowsDefenderATP roles are in APP_SPECS).
_GRAPH_FULL = ["ThreatHunting.Read.All", "SecurityIncident.ReadWrite.All", "SecurityAlert.ReadWrite.All"]
GRAPH_ROLES = {"full": _GRAPH_FULL, "cert": _GRAPH_FULL, "federated": _GRAPH_FULL, "partner": _GRAPH_FULL,
               "readonly": ["SecurityIncident.Read.All", "SecurityAlert.Read.All"],
               "no_isolate": ["SecurityIncident.Read.All", "SecurityAlert.ReadWrite.All"]}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
FEDERATED_SUBJECT = "repo:defender/endpoint:ref:refs/heads/main"

# Fixed GUIDs so settings are stable across runs (secrets are not).
TENANTS = [
    {"id": "6f1c2b9e-4d8a-4c1e-9b7a-3e5d2c1f0a11", "domain": "contoso.onmicrosoft.com", "name": "Contoso"},
    {"id": "7a2d3c0f-5e9b-4d2f-8c8b-4f6e3d2a1b22", "domain": "fabrikam.onmicrosoft.com", "name": "Fabrikam"},
    {"id": "8b3e4d1a-6fac-4e3a-9d9c-5a7f4e3b2c33", "domain": "northwind.onmicrosoft.com", "name": "Northwind"},
]
FULL_ROLES = ["Alert.Read.All", "Alert.ReadWrite.All", "Machine.Read.All", "Machine.ReadWrite.All", "Machine.Isolate",
              "Machine.Scan", "Machine.RestrictExecution", "Machine.CollectForensics", "Machine.Offboard",
              "Machine.StopAndQuarantine", "Machine.LiveResponse", "Library.Manage",
              "Ti.ReadWrite.All", "Vulnerability.Read.All", "Software.Read.All", "SecurityRecommendation.Read.All"]
APP_SPECS = [
    # name, client_id, roles, credential kind, consented tenants (indexes into TENANTS)
    ("full", "0a1b2c3d-0001-4000-8000-00000000f011", FULL_ROLES, "secret", (0,)),
    ("readonly", "0a1b2c3d-0002-4000-8000-00000000f012", ["Alert.Read.All", "Machine.Read.All"], "secret", (0,)),
    ("no_isolate", "0a1b2c3d-0003-4000-8000-00000000f013",
     ["Alert.ReadWrite.All", "Machine.Read.All", "Machine.ReadWrite.All"], "secret", (0,)),
    ("cert", "0a1b2c3d-0004-4000-8000-00000000f014", FULL_ROLES, "cert", (0,)),
    ("cert_encrypted", "0a1b2c3d-0005-4000-8000-00000000f015", FULL_ROLES, "cert_encrypted", (0,)),
    ("federated", "0a1b2c3d-0006-4000-8000-00000000f016", FULL_ROLES, "federated", (0,)),
    ("partner", "0a1b2c3d-0007-4000-8000-00000000f017", FULL_ROLES, "secret", (0, 1)),
    # isolates and updates alerts, but cannot write machine information (tags)
    ("no_machine_write", "0a1b2c3d-0008-4000-8000-00000000f018",
     ["Alert.ReadWrite.All", "Machine.Read.All", "Machine.Isolate"], "secret", (0,)),
    # Ti.ReadWrite (not .All): sees and manages only the indicators it created itself.
    ("ti_own", "0a1b2c3d-0009-4000-8000-00000000f019", ["Ti.ReadWrite"], "secret", (0,)),
]
# Tenant C knows the partner app (it is multi-tenant) but nobody consented there.
PARTNER_KNOWN_TENANTS = (0, 1, 2)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_int(n):
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def new_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed_cert(key, common_name, days=365):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _dt.datetime.now(_dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )


def thumbprints(cert):
    der = cert.public_bytes(serialization.Encoding.DER)
    return b64url(hashlib.sha1(der).digest()), b64url(hashlib.sha256(der).digest())


def _norm_b64(value):
    return (value or "").rstrip("=").replace("+", "-").replace("/", "_")


class SigningKey:
    def __init__(self, published=True):
        self.key = new_rsa_key()
        self.cert = self_signed_cert(self.key, "emulator-token-signing")
        self.kid = thumbprints(self.cert)[0]
        self.published = published
        self.pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def jwk(self, issuer=None):
        pub = self.key.public_key().public_numbers()
        der = self.cert.public_bytes(serialization.Encoding.DER)
        jwk = {
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
            "n": _b64url_int(pub.n), "e": _b64url_int(pub.e),
            "x5c": [base64.b64encode(der).decode("ascii")],
        }
        if issuer:
            jwk["issuer"] = issuer
        return jwk


class AADError(Exception):
    """A token-endpoint failure rendered as an Entra error body."""

    def __init__(self, status, error, code, description, suberror=None):
        super().__init__(description)
        self.status, self.error, self.code, self.description, self.suberror = (
            status, error, code, description, suberror)

    def body(self):
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        now = _dt.datetime.now(_dt.timezone.utc)
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        body = {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description}\r\nTrace ID: {trace}\r\n"
                                 f"Correlation ID: {corr}\r\nTimestamp: {stamp}",
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }
        if self.suberror:
            body["suberror"] = self.suberror
        return body


class AuthError(Exception):
    """An API-side token rejection (401)."""


class Identity:
    """All sign-in state. Thread-safe through one lock."""

    def __init__(self, state_dir, seed=1, token_lifetime=3599):
        self.state_dir = state_dir
        self.lock = threading.RLock()
        self.origin = None  # set by the server once the port is known
        self.token_lifetime = token_lifetime
        self.token_expiry_after_calls = None
        self.token_calls = {}  # uti -> API calls made with it
        self.tenants = [dict(t) for t in TENANTS]
        self.tenant_by_key = {}
        for t in self.tenants:
            self.tenant_by_key[t["id"].lower()] = t
            self.tenant_by_key[t["domain"].lower()] = t
        self.keys = [SigningKey()]
        self.signer = self.keys[0]
        self.issuer_key = SigningKey()  # the "external identity provider" for federated credentials
        self.apps = {}
        self.apps_by_id = {}
        self._make_apps()

    # --- setup ---------------------------------------------------------------------

    def _make_apps(self):
        apps_dir = os.path.join(self.state_dir, "apps")
        os.makedirs(apps_dir, exist_ok=True)
        for name, client_id, roles, kind, consented in APP_SPECS:
            app = {
                "name": name, "client_id": client_id, "roles": list(roles), "kind": kind,
                "graph_roles": list(GRAPH_ROLES.get(name, [])),
                "display_name": f"Defender emulator {name}",
                "object_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "sp:" + client_id)),
                "consented": {self.tenants[i]["id"] for i in consented},
                "known": {self.tenants[i]["id"] for i in (PARTNER_KNOWN_TENANTS if name == "partner" else consented)},
                "secret": None, "certs": [],
            }
            if kind == "secret":
                # Entra-style secret: 40 characters, with a "~" at position 3.
                app["secret"] = secrets.token_urlsafe(3)[:3] + "8Q~" + secrets.token_urlsafe(30)[:34]
            elif kind in ("cert", "cert_encrypted"):
                key = new_rsa_key()
                cert = self_signed_cert(key, f"defender-emulator-{name}")
                app["certs"].append(cert)
                if kind == "cert_encrypted":
                    app["certificate_password"] = secrets.token_urlsafe(18)
                    enc = serialization.BestAvailableEncryption(app["certificate_password"].encode())
                else:
                    enc = serialization.NoEncryption()
                pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
                pem += cert.public_bytes(serialization.Encoding.PEM)
                path = os.path.join(apps_dir, f"{name}.pem")
                with open(path, "wb") as fh:
                    fh.write(pem)
                os.chmod(path, 0o600)
                app["certificate_path"] = path
                app["thumbprint"] = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
            elif kind == "federated":
                app["assertion_path"] = os.path.join(apps_dir, f"{name}.assertion.jwt")
            self.apps[name] = app
            self.apps_by_id[client_id.lower()] = app

    @property
    def main_tenant(self):
        return self.tenants[0]

    def write_assertion_file(self):
        app = self.apps["federated"]
        with open(app["assertion_path"], "w", encoding="ascii") as fh:
            fh.write(self.federated_assertion())

    def federated_assertion(self, lifetime=3600):
        """A JWT as an external IdP (e.g. a CI OIDC provider) would issue it."""
        now = int(time.time())
        claims = {
            "iss": self.federation_issuer, "sub": FEDERATED_SUBJECT, "aud": FEDERATED_AUDIENCE,
            "iat": now, "nbf": now, "exp": now + lifetime, "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.issuer_key.pem, algorithm="RS256", headers={"kid": self.issuer_key.kid})

    @property
    def federation_issuer(self):
        return f"{self.origin}/_emulator/federation"

    def public_settings(self):
        apps = {}
        for name, app in self.apps.items():
            entry = {"client_id": app["client_id"], "client_secret": app["secret"], "roles": list(app["roles"]),
                     "graph_roles": list(app["graph_roles"])}
            for k in ("certificate_path", "certificate_password", "thumbprint", "assertion_path"):
                if k in app:
                    entry[k] = app[k]
            if name == "partner":
                entry["consented_tenants"] = sorted(app["consented"])
            apps[name] = entry
        return apps

    # --- keys ------------------------------------------------------------------------

    def rotate(self, publish=True, drop_old=False):
        with self.lock:
            key = SigningKey(published=publish)
            if drop_old:
                self.keys = []  # tokens signed with the dropped keys stop validating, too
            self.keys.append(key)
            self.signer = key
            return key.kid

    def publish_all(self):
        with self.lock:
            for k in self.keys:
                k.published = True
            return [k.kid for k in self.keys]

    def jwks(self, tenant_id=None):
        with self.lock:
            issuer = f"{self.origin}/{tenant_id or '{tenantid}'}/v2.0"
            return {"keys": [k.jwk(issuer) for k in self.keys if k.published]}

    # --- discovery ------------------------------------------------------------------------

    def resolve_tenant(self, segment):
        tenant = self.tenant_by_key.get(segment.lower())
        if tenant is None:
            raise AADError(
                400, "invalid_request", 90002,
                f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing "
                "into the correct cloud. Check with your subscription administrator, this may happen if there are "
                "no active subscriptions for the tenant.")
        return tenant

    def openid_configuration(self, segment, v2):
        o = self.origin
        if segment.lower() in ("common", "organizations"):
            tid, tpath = "{tenantid}", segment
        else:
            tid = self.resolve_tenant(segment)["id"]
            tpath = segment
        if v2:
            return {
                "token_endpoint": f"{o}/{tpath}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                "jwks_uri": f"{o}/{tpath}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{o}/{tid}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{o}/oidc/userinfo",
                "authorization_endpoint": f"{o}/{tpath}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{o}/{tpath}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{o}/{tpath}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "ver", "roles", "appid"],
                "kerberos_endpoint": f"{o}/{tpath}/kerberos",
                "tenant_region_scope": "NA",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net",
            }
        return {
            "token_endpoint": f"{o}/{tpath}/oauth2/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{o}/{tpath}/discovery/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid"],
            "issuer": f"https://sts.windows.net/{tid}/",
            "microsoft_multi_refresh_token": True,
            "authorization_endpoint": f"{o}/{tpath}/oauth2/authorize",
            "device_authorization_endpoint": f"{o}/{tpath}/oauth2/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{o}/{tpath}/oauth2/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "ver", "roles", "appid"],
            "check_session_iframe": f"{o}/{tpath}/oauth2/checksession",
            "userinfo_endpoint": f"{o}/{tpath}/openid/userinfo",
            "kerberos_endpoint": f"{o}/{tpath}/kerberos",
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def instance_discovery(self, query):
        host = self.origin.split("://", 1)[1]
        auth = query.get("authorization_endpoint") or f"{self.origin}/common/oauth2/v2.0/authorize"
        tenant = auth.split("://", 1)[-1].split("/")[1] if "/" in auth.split("://", 1)[-1] else "common"
        return {
            "tenant_discovery_endpoint": f"{self.origin}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    # --- token endpoint ------------------------------------------------------------------------

    def token_endpoints(self, tenant_segment, tenant_id):
        o = self.origin
        ends = set()
        for seg in (tenant_segment, tenant_id, self.tenant_by_key[tenant_id.lower()]["domain"]):
            ends.add(f"{o}/{seg}/oauth2/v2.0/token".lower())
            ends.add(f"{o}/{seg}/oauth2/token".lower())
        return ends

    def issue_token(self, tenant_segment, v2, form, basic):
        """Handle a token request. Returns (body, app, tenant) or raises AADError."""
        if tenant_segment.lower() in ("common", "organizations", "consumers"):
            raise AADError(400, "invalid_request", 50059,
                           "No tenant-identifying information found in either the request or implied by any "
                           "provided credentials.")
        tenant = self.resolve_tenant(tenant_segment)
        grant = form.get("grant_type")
        if not grant:
            raise AADError(400, "invalid_request", 900144,
                           "The request body must contain the following parameter: 'grant_type'.")
        if grant != "client_credentials":
            raise AADError(400, "unsupported_grant_type", 70003,
                           f"The app requested an unsupported grant type '{grant}'.")
        client_id = form.get("client_id") or (basic[0] if basic else None)
        if not client_id:
            raise AADError(400, "invalid_request", 900144,
                           "The request body must contain the following parameter: 'client_id'.")
        if basic and form.get("client_id") and form["client_id"] != basic[0]:
            raise AADError(401, "invalid_client", 50148,
                           "The client_id in the Authorization header does not match the client_id in the body.")

        resource = self._requested_resource(v2, form, tenant)
        app = self.apps_by_id.get(client_id.lower())
        if app is None or tenant["id"] not in app["known"]:
            raise AADError(400, "unauthorized_client", 700016,
                           f"Application with identifier '{client_id}' was not found in the directory "
                           f"'{tenant['name']}'. This can happen if the application has not been installed by the "
                           "administrator of the tenant or consented to by any user in the tenant. You may have sent "
                           "your authentication request to the wrong tenant.")
        acr = self._authenticate(app, tenant_segment, tenant, form, basic)
        if tenant["id"] not in app["consented"]:
            raise AADError(400, "invalid_grant", 65001,
                           f"The user or administrator has not consented to use the application with ID "
                           f"'{app['client_id']}' named '{app['display_name']}'. Send an interactive authorization "
                           f"request for this user and resource. An administrator of tenant '{tenant['name']}' must "
                           "grant admin consent for the application's WindowsDefenderATP permissions.",
                           suberror="consent_required")
        token, claims = self._mint(app, tenant, resource, acr)
        life = claims["exp"] - claims["iat"]
        if v2:
            body = {"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": token}
        else:
            # The v1 endpoint answers with strings, as Entra does.
            body = {"token_type": "Bearer", "expires_in": str(life), "ext_expires_in": str(life),
                    "expires_on": str(claims["exp"]), "not_before": str(claims["nbf"]),
                    "resource": resource, "access_token": token}
        return body, app, tenant

    def _requested_resource(self, v2, form, tenant):
        if v2:
            if "resource" in form:
                raise AADError(400, "invalid_request", 901002, "The 'resource' request parameter is not supported.")
            scope = form.get("scope")
            if not scope:
                raise AADError(400, "invalid_request", 900144,
                               "The request body must contain the following parameter: 'scope'.")
            scopes = scope.split()
            if len(scopes) != 1:
                raise AADError(400, "invalid_scope", 70011,
                               f"The provided request must include a 'scope' input parameter. The provided value for "
                               f"the input parameter 'scope' is not valid. The scope {scope} is not valid. Client "
                               "credential flows must have exactly one scope value of the form <resource>/.default.")
            scope = scopes[0]
            if not scope.endswith("/.default"):
                raise AADError(400, "invalid_scope", 1002012,
                               f"The provided value for scope {scope} is not valid. Client credential flows must have "
                               "a scope value with /.default suffixed to the resource identifier (application ID URI).")
            resource = scope[: -len("/.default")]
        else:
            if "scope" in form and "resource" not in form:
                raise AADError(400, "invalid_request", 900144,
                               "The request body must contain the following parameter: 'resource'. (The v1 endpoint "
                               "takes 'resource'; 'scope' belongs to the v2.0 endpoint.)")
            resource = form.get("resource")
            if not resource:
                raise AADError(400, "invalid_request", 900144,
                               "The request body must contain the following parameter: 'resource'.")
        if resource.rstrip("/") not in RESOURCES + GRAPH_RESOURCES:
            raise AADError(400, "invalid_resource", 500011,
                           f"The resource principal named {resource} was not found in the tenant named "
                           f"{tenant['name']}. This can happen if the application has not been installed by the "
                           "administrator of the tenant or consented to by any user in the tenant. You might have "
                           "sent your authentication request to the wrong tenant.")
        return resource.rstrip("/")

    def _authenticate(self, app, tenant_segment, tenant, form, basic):
        """Check the client credential; returns appidacr ("1" secret, "2" certificate/assertion)."""
        secret = form.get("client_secret") or (basic[1] if basic else None)
        assertion = form.get("client_assertion")
        if assertion:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise AADError(400, "invalid_request", 700023,
                               f"Client assertion type is not supported; expected '{ASSERTION_TYPE}'.")
            self._check_assertion(app, tenant_segment, tenant, assertion)
            return "2"
        if secret is None:
            raise AADError(401, "invalid_client", 7000218,
                           "The request body must contain the following parameter: 'client_assertion' or "
                           "'client_secret'.")
        if app["secret"] is None or not secrets.compare_digest(secret.encode(), app["secret"].encode()):
            raise AADError(401, "invalid_client", 7000215,
                           f"Invalid client secret provided. Ensure the secret being sent in the request is the "
                           f"client secret value, not the client secret ID, for a secret added to app "
                           f"'{app['client_id']}'.")
        return "1"

    def _check_assertion(self, app, tenant_segment, tenant, assertion):
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            raise AADError(401, "invalid_client", 50027, f"JWT token is invalid or malformed. ({exc})")
        alg = header.get("alg")
        if alg not in ("RS256", "PS256"):
            raise AADError(401, "invalid_client", 700027,
                           f"Client assertion failed signature validation. Unsupported algorithm '{alg}'.")
        if app["kind"] == "federated":
            key, audiences = self.issuer_key.key.public_key(), [FEDERATED_AUDIENCE]
        else:
            x5t = _norm_b64(header.get("x5t"))
            x5t256 = _norm_b64(header.get("x5t#S256"))
            key = None
            for cert in app["certs"]:
                s1, s256 = thumbprints(cert)
                if (x5t and x5t == s1) or (x5t256 and x5t256 == s256):
                    key = cert.public_key()
            if key is None:
                raise AADError(401, "invalid_client", 700027,
                               "Client assertion contains an invalid signature. [Reason - The key was not found., "
                               f"Thumbprint of key used by client: '{header.get('x5t') or header.get('x5t#S256')}', "
                               f"Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see "
                               f"configured keys for app Id '{app['client_id']}'.]")
            audiences = sorted(self.token_endpoints(tenant_segment, tenant["id"]))
        try:
            claims = jwt.decode(assertion, key, algorithms=["RS256", "PS256"],
                                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                         "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise AADError(401, "invalid_client", 700027,
                           f"Client assertion failed signature validation. ({type(exc).__name__})")
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
        if not isinstance(exp, (int, float)) or exp <= now or (isinstance(nbf, (int, float)) and nbf > now + 300):
            raise AADError(401, "invalid_client", 700024,
                           f"Client assertion is not within its valid time range. Current time: "
                           f"{_dt.datetime.now(_dt.timezone.utc).isoformat()}, assertion valid until: {exp}.")
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else list(aud or [])
        if not any(str(a).rstrip("/").lower() in [x.lower() for x in audiences] for a in auds):
            raise AADError(401, "invalid_client", 700212 if app["kind"] == "federated" else 700030,
                           f"Client assertion audience claim does not match: got '{aud}', expected one of "
                           f"{audiences}.")
        if app["kind"] == "federated":
            if claims.get("iss") != self.federation_issuer:
                raise AADError(400, "invalid_request", 700211,
                               f"No matching federated identity record found for presented assertion issuer "
                               f"'{claims.get('iss')}'.")
            if claims.get("sub") != FEDERATED_SUBJECT:
                raise AADError(400, "invalid_request", 700213,
                               f"No matching federated identity record found for presented assertion subject "
                               f"'{claims.get('sub')}'.")
        elif claims.get("iss") != app["client_id"] or claims.get("sub") != app["client_id"]:
            raise AADError(401, "invalid_client", 700021,
                           "Client assertion application identifier doesn't match 'client_id' parameter.")

    def _mint(self, app, tenant, resource, acr):
        now = int(time.time())
        tid = tenant["id"]
        claims = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{tid}/",
            "iat": now, "nbf": now, "exp": now + int(self.token_lifetime),
            "aio": b64url(os.urandom(48)),
            "appid": app["client_id"],
            "appidacr": acr,
            "idp": f"https://sts.windows.net/{tid}/",
            "oid": app["object_id"],
            "rh": "0." + b64url(os.urandom(36)) + ".",
            "roles": list(app["graph_roles"] if resource in GRAPH_RESOURCES else app["roles"]),
            "sub": app["object_id"],
            "tid": tid,
            "uti": b64url(os.urandom(16)),
            "ver": "1.0",
        }
        with self.lock:
            signer = self.signer
        token = jwt.encode(claims, signer.pem, algorithm="RS256",
                           headers={"typ": "JWT", "kid": signer.kid, "x5t": signer.kid})
        return token, claims

    # --- API-side validation ------------------------------------------------------------

    def verify_access_token(self, token, audiences=RESOURCES):
        """Return the claims of a valid token (for one of ``audiences``) or raise AuthError."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("The access token is malformed.")
        with self.lock:
            key = next((k for k in self.keys if k.kid == header.get("kid")), None)
        if key is None:
            raise AuthError("The access token was signed with an unknown key.")
        try:
            claims = jwt.decode(token, key.key.public_key(), algorithms=["RS256"], audience=list(audiences),
                                options={"require": ["exp", "iat", "aud", "iss", "tid"]})
        except jwt.ExpiredSignatureError:
            raise AuthError("The access token has expired.")
        except jwt.InvalidAudienceError:
            raise AuthError("The access token audience is not valid for this API.")
        except jwt.PyJWTError as exc:
            raise AuthError(f"The access token is invalid ({type(exc).__name__}).")
        tenant = self.tenant_by_key.get(str(claims.get("tid")).lower())
        if tenant is None or claims.get("iss") != f"https://sts.windows.net/{tenant['id']}/":
            raise AuthError("The access token issuer or tenant is not valid.")
        limit = self.token_expiry_after_calls
        if limit is not None:
            with self.lock:
                used = self.token_calls.get(claims["uti"], 0) + 1
                self.token_calls[claims["uti"]] = used
            if used > limit:
                raise AuthError("The access token has expired.")
        return claims
