"""HTTPS server, request routing, request log, fault injection and the
``Emulator`` object that ties identity, data and policies together."""

import base64
import copy
import datetime as _dt
import json
import math
import os
import socket
import ssl
import struct
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import api
import controlplane
import data
import graph
import identity
import indicators
import liveresponse
import policies
import tvm

DEFAULT_CONFIG = {
    "time_scale": 1.0,
    "token_lifetime": 3599,
    "lifecycle": {"pending": 0.5, "in_progress": 0.5},
    "duplicate_mode": "error",          # error | return_pending | alternate
    "out_of_order": False,
    "action_outcome": {},               # machine id -> Failed | TimeOut | Succeeded
    "token_expiry_after_calls": None,
    "retry_after_fractional": False,
    "package_url_lifetime": 60,         # seconds a getPackageUri link stays valid
    "retired": [],                      # retired Defender APIs: "alerts" (/api/alerts...), "hunting" (advanced queries)
    "retired_status": 410,              # what a retired endpoint answers: 410 Gone or 404 NotFound
    "graph_next_link": "skip",          # Graph nextLinks carry $skip=N (skip) or an opaque $skiptoken (skiptoken)
    "graph_skip_stall": 0,              # Graph: a $skip beyond N answers an empty last page (deep paging stall); 0 off
    "graph_alerts_max_top": 1000,       # Graph alerts_v2: the largest $top accepted
    "incidents_expand_fails": False,    # Graph incidents: $expand=alerts answers 500 (large tenants)
    "live_response": {},                # liveresponse.DEFAULTS keys: library size, session cap, tenant settings...
    "indicator_update": "merge",        # merge | replace: what an update POST/import does with omitted fields
    "tag_answer_stale": False,          # tag calls answer with the machines as they were (tags show up later)
    "vulnerabilities_per_machine": 4,   # machine x CVE rows per machine (TVM data, made on first use)
    "export_file_rows": 100000,         # rows per file of SoftwareVulnerabilitiesExport
    "export_url_lifetime": None,        # seconds its links stay valid (None: sasValidHours, as the service)
}
DUPLICATE_MODES = ("error", "return_pending", "alternate")
ACTION_OUTCOMES = ("Succeeded", "Failed", "TimeOut")


GRAPH_HOST = "localhost"  # Graph is served on its own host name (the certificate covers it), MDE on 127.0.0.1


def classify(path, host=None):
    if path.startswith("/_emulator"):
        return "control"
    if host and host.rsplit(":", 1)[0].strip("[]").lower() == GRAPH_HOST:
        return "graph"
    low = path.lower()
    if low.startswith("/api/") or low == "/api":
        return "api"
    if low.startswith(api.DOWNLOAD_PREFIX) or low.startswith(tvm.EXPORT_PREFIX):
        return "download"
    if "/oauth2/" in low and low.endswith("/token"):
        return "token"
    if low.endswith("/discovery/keys") or low.endswith("/discovery/v2.0/keys"):
        return "keys"
    if ".well-known/openid-configuration" in low or low.startswith("/common/discovery/instance"):
        return "discovery"
    return "other"


class Emulator:
    """A local Defender tenant. ``start()`` returns the settings dict."""

    def __init__(self, state_dir=None, port=0, seed=1, alerts=1000, machines=100, time_scale=1.0,
                 host="127.0.0.1", anchor=None, **config):
        self.state_dir = os.path.abspath(state_dir or tempfile.mkdtemp(prefix="mde-emulator-"))
        os.makedirs(self.state_dir, exist_ok=True)
        self.host, self.port = host, port
        self.lock = threading.RLock()
        self.log_lock = threading.Lock()
        self.identity = identity.Identity(self.state_dir)
        self.throttle = policies.Throttle()
        self.faults = policies.Faults(seed)
        self.httpd = None
        self.thread = None
        self.settings = None
        self.api_url = None
        self.download_key = os.urandom(32)  # signs the investigation package links
        self.graph_url = None
        # reset() returns to these unless told otherwise (so --time-scale etc. survive a reset)
        self.startup = {"seed": seed, "alerts": alerts, "machines": machines, "anchor": anchor,
                        "config": dict(config, time_scale=time_scale)}
        self._init_state(seed, alerts, machines, anchor, self.startup["config"])

    # --- state ----------------------------------------------------------------------------

    def _init_state(self, seed, alerts, machines, anchor, config):
        store = data.Store(seed=seed, alerts=alerts, machines=machines, anchor=anchor,
                           tenant_id=self.identity.main_tenant["id"])
        self.throttle.clear()  # before apply_config, which may set throttle limits
        with self.lock:
            self.seed = seed
            self.store = store
            self.config = copy.deepcopy(DEFAULT_CONFIG)
            self.dup_counter = 0
            self.indicators = indicators.IndicatorStore()
            self.tvm = None  # vulnerability data, made from the store on first use
            self.tvm_snapshot = None
            self.hunting_quota = {"calls": 0, "retry_after": 1}
            self.live = liveresponse.LiveState()
            self.apply_config(config)
        with self.log_lock:
            self.log = []
            self.seq = 0
        self.stats = {"token_requests": {}, "api_requests": 0, "api_requests_by_app": {}, "throttled": 0,
                      "faults_fired": 0}
        self.faults = policies.Faults(seed)
        with self.identity.lock:
            self.identity.token_calls.clear()

    def reset(self, seed=None, alerts=None, machines=None, anchor=None, **config):
        """Fresh data and state; unspecified values fall back to the start-up ones."""
        st = self.startup
        self._init_state(st["seed"] if seed is None else seed, st["alerts"] if alerts is None else alerts,
                         st["machines"] if machines is None else machines,
                         st["anchor"] if anchor is None else anchor, dict(st["config"], **config))

    def apply_config(self, cfg):
        cfg = dict(cfg)
        throttle = cfg.pop("throttle", None)
        with self.lock:
            for key, value in cfg.items():
                if key not in DEFAULT_CONFIG:
                    raise ValueError(f"unknown config key {key!r}")
                if key == "vulnerabilities_per_machine":
                    self.tvm = None  # made again, with the new density, on next use
                if key == "duplicate_mode" and value not in DUPLICATE_MODES:
                    raise ValueError(f"duplicate_mode must be one of {DUPLICATE_MODES}")
                if key == "lifecycle":
                    unknown = set(value) - {"pending", "in_progress"}
                    if unknown:
                        raise ValueError(f"unknown lifecycle keys {sorted(unknown)}")
                    self.config["lifecycle"].update(value)
                    continue
                if key == "action_outcome":
                    for mid, outcome in value.items():
                        if outcome not in ACTION_OUTCOMES:
                            raise ValueError(f"action_outcome values must be one of {ACTION_OUTCOMES}")
                    self.config["action_outcome"] = {k.lower(): v for k, v in value.items()}
                    continue
                if key == "retired":
                    unknown = set(value) - set(api.RETIRED_APIS)
                    if not isinstance(value, list) or unknown:
                        raise ValueError(f"retired must be a list of {sorted(api.RETIRED_APIS)}")
                if key == "retired_status" and value not in (404, 410):
                    raise ValueError("retired_status must be 404 or 410")
                if key == "graph_next_link" and value not in ("skip", "skiptoken"):
                    raise ValueError("graph_next_link must be skip or skiptoken")
                if key == "indicator_update":
                    if value not in indicators.UPDATE_MODES:
                        raise ValueError(f"indicator_update must be one of {indicators.UPDATE_MODES}")
                    self.indicators.update_mode = value
                if key == "live_response":
                    self.live.configure(value)
                    continue
                if key == "time_scale" and (math.isnan(float(value)) or float(value) <= 0):
                    raise ValueError("time_scale must be > 0")
                self.config[key] = value
            self.identity.token_lifetime = int(self.config["token_lifetime"])
            self.identity.token_expiry_after_calls = self.config["token_expiry_after_calls"]
        if throttle is not None:
            if isinstance(throttle, bool):
                self.throttle.configure(enabled=throttle)
            else:
                self.throttle.configure(**throttle)

    def public_config(self):
        with self.lock:
            out = copy.deepcopy(self.config)
        out["throttle"] = dict(self.throttle.settings)
        return out

    # --- lifecycle -------------------------------------------------------------------------

    def start(self):
        import trustme
        ca = trustme.CA(organization_name="Defender emulator test CA")
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        ca_path = os.path.join(self.state_dir, "ca.pem")
        ca.cert_pem.write_to_path(ca_path)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self.httpd = _Server((self.host, self.port), _Handler, self, ctx)
        self.port = self.httpd.server_address[1]
        origin = f"https://127.0.0.1:{self.port}"
        self.api_url = origin
        self.graph_url = f"https://{GRAPH_HOST}:{self.port}"
        self.identity.origin = origin
        self.identity.write_assertion_file()
        tenant = self.identity.main_tenant
        full = self.identity.apps["full"]
        self.settings = {
            "api_url": origin,
            "login_url": origin,
            "ca_path": ca_path,
            "tenant_id": tenant["id"],
            "tenant_domain": tenant["domain"],
            "client_id": full["client_id"],
            "client_secret": full["secret"],
            "control_url": f"{origin}/_emulator",
            "apps": self.identity.public_settings(),
            "tenants": [t["id"] for t in self.identity.tenants],
            "tenant_domains": {t["id"]: t["domain"] for t in self.identity.tenants},
            "resource": identity.DEFAULT_RESOURCE,
            "graph_url": self.graph_url,
            "graph_resource": identity.GRAPH_RESOURCES[0],
            "state_dir": self.state_dir,
        }
        self._write_settings()
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="mde-emulator", daemon=True)
        self.thread.start()
        return self.settings

    def _write_settings(self):
        s = self.settings
        path = os.path.join(self.state_dir, "settings.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(s, fh, indent=2)
        os.chmod(path, 0o600)
        env = {
            "AZURE_TENANT_ID": s["tenant_id"], "AZURE_CLIENT_ID": s["client_id"],
            "AZURE_CLIENT_SECRET": s["client_secret"], "AZURE_AUTHORITY_HOST": s["login_url"],
            "DEFENDER_API_URL": s["api_url"], "DEFENDER_CA_PATH": s["ca_path"],
            "DEFENDER_EMULATOR_CONTROL_URL": s["control_url"], "DEFENDER_GRAPH_URL": s["graph_url"],
        }
        path = os.path.join(self.state_dir, "env.sh")
        with open(path, "w", encoding="utf-8") as fh:
            for k, v in env.items():
                fh.write(f"export {k}='{v}'\n")
        os.chmod(path, 0o600)

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- request log ----------------------------------------------------------------------------

    def record(self, entry):
        with self.log_lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.log.append(entry)

    def requests_log(self, kind=None, method=None):
        with self.log_lock:
            return [dict(e) for e in self.log
                    if (kind is None or e["kind"] == kind) and (method is None or e["method"] == method.upper())]

    def clear_log(self):
        with self.log_lock:
            self.log = []

    def count(self, key, sub=None):
        with self.log_lock:
            if sub is None:
                self.stats[key] += 1
            else:
                self.stats[key][sub] = self.stats[key].get(sub, 0) + 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, addr, handler, core, ssl_ctx):
        self.core = core
        self.ssl_ctx = ssl_ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # No Nagle: a response written in pieces (headers, then body) after TLS 1.3 session tickets the client has
        # not acknowledged yet would wait for the client's delayed ACK (40 ms on Linux) on every new connection, a
        # delay of this emulator that the real service does not add (benchmarks compare per-task times).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Handshake in the worker thread (first read), not in the accept loop.
        return self.ssl_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        pass  # TLS failures and client disconnects are normal in tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    timeout = 120

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self._handle()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    # --- plumbing -----------------------------------------------------------------------------

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, body, headers=None, request_id=None, truncate=False):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False)
        if isinstance(body, str):
            body = body.encode("utf-8")
        body = body or b""
        if truncate:
            body = body[: max(1, len(body) // 2)]
            status = 200
        self.send_response(status)
        if (body or status != 204) and "Content-Type" not in (headers or {}):
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if request_id:
            self.send_header("request-id", request_id)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _abort(self, rst):
        """Close the connection without a response (RST for ``reset``, FIN for ``drop_after``)."""
        sock = self.connection
        try:
            if rst:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for f in (self.rfile, self.wfile):
            try:
                f.close()
            except OSError:
                pass
        try:
            sock.close()
        except OSError:
            pass
        self.close_connection = True

    # --- dispatch -------------------------------------------------------------------------------

    def _handle(self):
        core = self.server.core
        split = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(split.path)
        pairs = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        body = self._read_body()
        kind = classify(path, self.headers.get("Host"))
        request_id = str(uuid.uuid4())
        if kind == "control":
            if self.client_address[0] not in ("127.0.0.1", "::1"):
                return self._send(403, {"error": "control interface is loopback-only"})
            try:
                status, out = controlplane.handle(core, self.command, path, dict(pairs), body)
            except controlplane.ControlError as exc:
                status, out = exc.status, {"error": str(exc)}
            except Exception as exc:  # report, don't kill the connection
                status, out = 500, {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
            return self._send(status, out)

        entry = {
            "time": _dt.datetime.now(_dt.timezone.utc).isoformat(), "method": self.command, "path": path,
            # A download link's query is its signature, a credential: the log keeps only the names.
            "query": dict(pairs) if kind != "download" else dict.fromkeys(k for k, _v in pairs),
            "url_length": len(self.path), "status": None, "kind": kind, "app": None,
            "tenant": None,
            "body_keys": [], "body": None, "response_code": None, "request_id": request_id, "fault": None,
        }
        fault = core.faults.pick(self.command, path, kind)
        if fault:
            core.count("faults_fired")
            entry["fault"] = fault["action"]
            if fault["action"] == "delay":
                time.sleep(float(fault.get("seconds", fault.get("delay", 1.0))))
            elif fault["action"] == "reset":
                self._describe_body(entry, kind, body)
                core.record(entry)
                return self._abort(rst=True)
            elif fault["action"] == "status":
                status = int(fault.get("status", 503))
                code = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
                        429: "TooManyRequests", 504: "GatewayTimeout"}.get(status, "Error")
                headers = {}
                if fault.get("retry_after") is not None:
                    headers["Retry-After"] = fault["retry_after"]
                entry.update(status=status, response_code=code)
                self._describe_body(entry, kind, body)
                core.record(entry)
                if kind == "graph":
                    reply = graph.error_reply(status, code, f"Injected fault ({status}).", request_id, headers)
                    return self._send(status, reply.body, reply.headers, request_id)
                return self._send(status, {"error": {"code": code, "message": f"Injected fault ({status}).",
                                                     "target": request_id}}, headers, request_id)
            elif fault["action"] == "expire_token":
                entry.update(status=401, response_code="Unauthorized")
                self._describe_body(entry, kind, body)
                core.record(entry)
                return self._send(401, {"error": {"code": "Unauthorized", "message": "The access token has expired.",
                                                  "target": request_id}},
                                  {"WWW-Authenticate": 'Bearer error="invalid_token", '
                                                       'error_description="The access token has expired"'},
                                  request_id)

        try:
            reply = self._process(core, kind, path, pairs, body, request_id, entry)
        except Exception as exc:
            reply = api.error_reply(500, "InternalServerError", f"{type(exc).__name__}: {exc}", request_id)
            traceback.print_exc()
        entry["status"] = reply.status
        entry["response_code"] = entry["response_code"] or reply.code
        core.record(entry)
        if fault and fault["action"] == "drop_after":
            return self._abort(rst=False)
        truncate = bool(fault and fault["action"] == "truncate")
        self._send(reply.status, reply.body, reply.headers, request_id if kind in ("api", "graph") else None, truncate)

    def _describe_body(self, entry, kind, body):
        ctype = (self.headers.get("Content-Type") or "").lower()
        if not body:
            return
        if "application/x-www-form-urlencoded" in ctype:
            # Only keys: values can be secrets or assertions.
            entry["body_keys"] = list(dict.fromkeys(k for k, _value in urllib.parse.parse_qsl(
                body.decode("utf-8", "replace"), keep_blank_values=True)))
        elif "json" in ctype:
            try:
                parsed = json.loads(body)
            except ValueError:
                return
            if isinstance(parsed, dict):
                entry["body_keys"] = list(parsed)
            if kind in ("api", "graph"):
                entry["body"] = parsed

    def _process(self, core, kind, path, pairs, body, request_id, entry):
        self._describe_body(entry, kind, body)
        if kind == "token":
            return self._token(core, path, body, entry)
        if kind in ("discovery", "keys"):
            return self._discovery(core, kind, path, dict(pairs))
        if kind == "api":
            return self._api(core, path, pairs, body, request_id, entry)
        if kind == "download":
            entry["authorization"] = bool(self.headers.get("Authorization"))
            if self.command != "GET":
                return api.error_reply(405, "UnsupportedHttpVerb", "Use GET.", request_id)
            if path.lower().startswith(liveresponse.RESULT_PREFIX):
                return liveresponse.download_result(core, path, self.headers, dict(pairs))
            if path.lower().startswith(tvm.EXPORT_PREFIX):
                return tvm.download_export(core, self.headers, path, dict(pairs))
            return api.download_package(core, self.headers, dict(pairs))
        if kind == "graph":
            return graph.handle(core, self.command, path, self.headers, body, request_id, entry, pairs)
        return api.error_reply(404, "NotFound", f"No route for {self.command} {path}", request_id)

    def _token(self, core, path, body, entry):
        ident = core.identity
        segs = [s for s in path.split("/") if s]
        tenant_seg = segs[0] if segs else ""
        v2 = "/oauth2/v2.0/token" in path.lower()
        headers = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
        entry["tenant"] = tenant_seg
        if self.command != "POST":
            return api.Reply(405, {"error": "invalid_request", "error_description": "Use POST."}, headers)
        ctype = (self.headers.get("Content-Type") or "").lower()
        form = {}
        if "application/x-www-form-urlencoded" in ctype:
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        basic = None
        auth = self.headers.get("Authorization") or ""
        if auth[:6].lower() == "basic ":
            try:
                user, _sep, pw = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
                basic = (urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(pw))
            except (ValueError, UnicodeDecodeError):
                basic = None
        client_id = form.get("client_id") or (basic[0] if basic else None)
        entry["app"] = client_id
        core.count("token_requests", client_id or "unknown")
        try:
            out, app, tenant = ident.issue_token(tenant_seg, v2, form, basic)
            entry["tenant"] = tenant["id"]
            return api.Reply(200, out, headers)
        except identity.AADError as exc:
            entry["response_code"] = f"AADSTS{exc.code}"
            return api.Reply(exc.status, exc.body(), headers)

    def _discovery(self, core, kind, path, query):
        ident = core.identity
        segs = [s for s in path.split("/") if s]
        try:
            if kind == "keys":
                tenant = segs[0]
                if tenant.lower() not in ("common", "organizations"):
                    tenant = ident.resolve_tenant(tenant)["id"]
                return api.Reply(200, ident.jwks(None if tenant in ("common", "organizations") else tenant))
            if path.lower().startswith("/common/discovery/instance"):
                return api.Reply(200, ident.instance_discovery(query))
            v2 = "/v2.0/.well-known/" in path.lower()
            return api.Reply(200, ident.openid_configuration(segs[0], v2))
        except identity.AADError as exc:
            return api.Reply(exc.status, exc.body(), code=f"AADSTS{exc.code}")

    def _api(self, core, path, pairs, body, request_id, entry):
        req = api.Request(self.command, path, pairs, self.headers, body, request_id)
        retired = api.retired_reply(core, req)
        if retired is not None:
            return retired
        auth = self.headers.get("Authorization") or ""
        unauthorized = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if auth[:7].lower() != "bearer " or not auth[7:].strip():
            return api.error_reply(401, "Unauthorized", "Authorization header with a Bearer token is required.",
                                   request_id, unauthorized)
        try:
            req.claims = core.identity.verify_access_token(auth[7:].strip())
        except identity.AuthError as exc:
            return api.error_reply(401, "Unauthorized", str(exc), request_id, unauthorized)
        app_id, tid = req.claims["appid"], req.claims["tid"]
        entry["app"], entry["tenant"] = app_id, tid
        core.count("api_requests")
        core.count("api_requests_by_app", app_id)
        with core.lock:
            scale = float(core.config["time_scale"])
            fractional = bool(core.config["retry_after_fractional"])
        retry = core.throttle.check((app_id, tid), api.bucket_for(req), scale, fractional)
        if retry is not None:
            core.count("throttled")
            return api.error_reply(429, "TooManyRequests",
                                   f"API calls quota exceeded! Maximum admitted calls per time window exceeded. "
                                   f"Please try again in {retry} second(s).", request_id, {"Retry-After": retry})
        try:
            handler = api.route(core, req)
            return handler(core, req)
        except api.ApiError as exc:
            return api.error_reply(exc.status, exc.code, exc.message, request_id, exc.headers)
