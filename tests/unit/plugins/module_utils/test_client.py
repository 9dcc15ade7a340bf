# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The retry policy against a real (plain HTTP, loopback) server: what is retried, what never is."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import client as http, rate, transport
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderError,
    DefenderOutcomeUnknownError,
)


class Script:
    """Answers requests from a list of planned responses; records what arrived."""

    def __init__(self):
        self.plan = []
        self.seen = []
        self.lock = threading.Lock()

    def next(self, method, path, headers, body):
        with self.lock:
            self.seen.append({"method": method, "path": path, "auth": headers.get("Authorization"),
                              "body": body, "time": time.monotonic(), "ua": headers.get("User-Agent")})
            return self.plan.pop(0) if self.plan else (200, {}, {"value": []})


@pytest.fixture
def server():
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, payload = script.next(self.command, self.path, self.headers, body)
            if status == "drop":
                # The request was read (and acted on); the response is lost.
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _handle

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    script.url = "http://127.0.0.1:%d" % httpd.server_address[1]
    yield script
    httpd.shutdown()
    httpd.server_close()


class Tokens:
    def __init__(self, can_refresh=True):
        self.can_refresh = can_refresh
        self.calls = []

    def token(self, force_refresh=False):
        self.calls.append(force_refresh)
        return "fresh-token" if force_refresh else "old-token"


def make_client(server, tokens=None, timeout=5, backoff=0.01):
    session = transport.build_session(retries=3, backoff=backoff)
    return http.DefenderClient(server.url, tokens or Tokens(), session, timeout=timeout)


def test_retry_after_is_honoured_for_get_and_post(server):
    server.plan = [(429, {"Retry-After": "1"}, {"error": {"code": "TooManyRequests", "message": "slow down"}}),
                   (201, {}, {"id": "a1"})]
    client = make_client(server)
    assert client.post("/api/machines/m/isolate", {"Comment": "c"}) == {"id": "a1"}
    assert [s["method"] for s in server.seen] == ["POST", "POST"]
    assert server.seen[1]["time"] - server.seen[0]["time"] >= 0.95


def test_5xx_is_retried_for_get(server):
    server.plan = [(503, {}, {}), (500, {}, {}), (200, {}, {"value": [1]})]
    assert make_client(server).get("/api/alerts") == {"value": [1]}
    assert len(server.seen) == 3


def test_5xx_is_not_retried_for_post(server):
    server.plan = [(500, {}, {"error": {"code": "InternalServerError", "message": "boom", "target": "r-1"}})]
    with pytest.raises(DefenderError) as info:
        make_client(server).post("/api/machines/m/isolate", {"Comment": "c"})
    assert len(server.seen) == 1
    assert info.value.status == 500 and info.value.target == "r-1"


def test_lost_post_response_is_never_resent(server):
    server.plan = [("drop", {}, None)]
    with pytest.raises(DefenderOutcomeUnknownError):
        make_client(server).post("/api/machines/m/isolate", {"Comment": "c"})
    assert [s["method"] for s in server.seen] == ["POST"]


def test_lost_get_response_is_retried(server):
    server.plan = [("drop", {}, None), (200, {}, {"value": []})]
    assert make_client(server).get("/api/alerts") == {"value": []}
    assert len(server.seen) == 2


def test_truncated_json_get_is_read_again_but_post_is_not(server):
    server.plan = [(200, {}, b'{"value": [1, 2'), (200, {}, {"value": [1, 2]})]
    assert make_client(server).get("/api/alerts") == {"value": [1, 2]}
    server.plan = [(201, {}, b'{"id": "a')]
    with pytest.raises(DefenderOutcomeUnknownError):
        make_client(server).post("/api/machines/m/isolate", {"Comment": "c"})


def test_collection_read_as_text_is_read_again_when_truncated_and_decoded_as_utf8(server):
    from ansible_collections.defender.endpoint.plugins.module_utils.odata import split_collection
    whole = '{"value": [{"id": "é1", "title": "Ünïcode"}]}'.encode("utf-8")
    server.plan = [(200, {}, whole[:-3]), (200, {}, b"\xef\xbb\xbf" + whole)]  # truncated, then with a BOM
    page = make_client(server).get("/api/alerts", parse=split_collection)
    assert list(page) == ['{"id": "é1", "title": "Ünïcode"}'] and page.ids == ["é1"]
    assert len(server.seen) == 2
    server.plan = [(200, {}, b'{"value": "not a list"}')] * 4
    with pytest.raises(DefenderError, match="not valid JSON"):
        make_client(server).get("/api/alerts", parse=split_collection)


def test_one_fresh_token_and_one_retry_after_401(server):
    server.plan = [(401, {}, {"error": {"code": "Unauthorized", "message": "expired"}}), (200, {}, {"value": []})]
    tokens = Tokens()
    make_client(server, tokens).get("/api/alerts")
    assert tokens.calls == [False, True]
    assert [s["auth"] for s in server.seen] == ["Bearer old-token", "Bearer fresh-token"]


def test_second_401_fails_without_a_third_request(server):
    server.plan = [(401, {}, {"error": {"code": "Unauthorized", "message": "bad"}})] * 2
    with pytest.raises(DefenderError) as info:
        make_client(server).post("/api/machines/m/isolate", {"Comment": "c"})
    assert info.value.status == 401 and len(server.seen) == 2


def test_no_refresh_without_credentials(server):
    server.plan = [(401, {}, {"error": {"code": "Unauthorized", "message": "expired"}})]
    with pytest.raises(DefenderError):
        make_client(server, Tokens(can_refresh=False)).get("/api/alerts")
    assert len(server.seen) == 1


def test_error_rendering_keeps_code_message_and_request_id_but_no_token(server):
    server.plan = [(403, {}, {"error": {"code": "Forbidden", "target": "7d1c",
                                        "message": "Missing application roles. API required roles: Machine.Isolate."}})]
    with pytest.raises(DefenderError) as info:
        make_client(server).post("/api/machines/m/isolate", {"Comment": "c"})
    text = str(info.value)
    assert "Machine.Isolate" in text and "HTTP 403" in text and "Forbidden" in text and "7d1c" in text
    assert "admin consent" in text
    assert "old-token" not in text and "Bearer" not in text


def test_user_agent_names_the_collection(server):
    make_client(server).get("/api/alerts")
    assert server.seen[0]["ua"].startswith("defender.endpoint/")


def test_connection_refused_before_sending_is_not_outcome_unknown():
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    address = port.getsockname()[1]
    port.close()
    session = transport.build_session(retries=1, backoff=0.01)
    client = http.DefenderClient("http://127.0.0.1:%d" % address, Tokens(), session, timeout=2)
    with pytest.raises(DefenderError) as info:
        client.post("/api/machines/m/isolate", {"Comment": "c"})
    assert not isinstance(info.value, DefenderOutcomeUnknownError)
    assert "cannot reach" in str(info.value)


def test_ca_path_wins_over_requests_ca_bundle(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    session = transport.build_session(ca_path=str(bundle))
    settings = session.merge_environment_settings("https://example.invalid/", {}, None, None, None)
    assert settings["verify"] == str(bundle)
    assert transport.build_session(validate_certs=False).merge_environment_settings(
        "https://example.invalid/", {}, None, None, None)["verify"] is False


def test_segment_encodes_and_rejects():
    assert http.segment("a/b c'") == "a%2Fb%20c%27"
    for bad in ("", "..", "x\ny"):
        with pytest.raises(DefenderError):
            http.segment(bad)


def test_rate_budget_spaces_requests():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    budget = rate.RateBudget(2, period=60, clock=lambda: now[0], sleep=sleep)
    stamps = []
    for _attempt in range(5):
        budget.acquire()
        stamps.append(now[0])
    # Never more than 2 in any 60 s window (the API's sliding window), plus the 2 % latency margin.
    assert stamps == pytest.approx([0, 0, 61.2, 61.2, 122.4])


def test_rate_budget_burst_is_not_twice_the_limit():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    budget = rate.RateBudget(100, period=60, clock=lambda: now[0], sleep=sleep)
    stamps = []
    for _attempt in range(300):
        budget.acquire()
        stamps.append(now[0])
    for i, t in enumerate(stamps):
        assert sum(1 for u in stamps[i:] if u < t + 60) <= 100


def test_retries_spend_the_budget(server):
    server.plan = [(429, {"Retry-After": "1"}, {}), (200, {}, {"value": []})]
    spent, told = [], []

    class Budget:
        def acquire(self):
            spent.append(1)
            return len(spent)

        def throttled(self, retry_after, sent_at=None):
            told.append((retry_after, sent_at))

    session = transport.build_session(retries=3, backoff=0.01)
    client = http.DefenderClient(server.url, Tokens(), session, timeout=5, rate_budget=Budget())
    client.get("/api/alerts")
    assert len(spent) == 2  # the first send and the retry after the 429
    assert told == [(1.0, 1)]  # the budget (not the thread) waits, and knows which send was throttled
