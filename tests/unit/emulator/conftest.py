"""Fixtures: one in-process emulator per test session, reset before each test."""

import os
import sys

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "emulator"))
sys.path.insert(0, EMULATOR_DIR)

from control import EmulatorControl  # noqa: E402
from emulator import Emulator  # noqa: E402

DEFAULT_RESET = {"seed": 1, "alerts": 300, "machines": 60}


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    emu = Emulator(state_dir=str(tmp_path_factory.mktemp("emulator")), **DEFAULT_RESET)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def settings(emulator):
    return emulator.settings


@pytest.fixture
def ctl(emulator, settings):
    c = EmulatorControl(settings)
    c.reset()  # back to the start-up data and config
    return c


class Client:
    """requests with the emulator CA per request (REQUESTS_CA_BUNDLE would override Session.verify)."""

    def __init__(self, settings):
        self.s = settings
        self.session = requests.Session()
        self.session.trust_env = False
        self.tokens = {}

    def raw(self, method, url, **kw):
        kw.setdefault("verify", self.s["ca_path"])
        kw.setdefault("timeout", 30)
        return self.session.request(method, url, **kw)

    def token_response(self, app="full", tenant=None, resource=None, v1=False, form=None, **extra):
        a = self.s["apps"][app]
        tenant = tenant or self.s["tenant_id"]
        resource = resource or self.s["resource"]
        extra = dict(extra, **(form or {}))
        form = {"grant_type": "client_credentials", "client_id": a["client_id"]}
        if a.get("client_secret"):
            form["client_secret"] = a["client_secret"]
        if v1:
            form["resource"] = resource
            url = f"{self.s['login_url']}/{tenant}/oauth2/token"
        else:
            form["scope"] = resource + "/.default"
            url = f"{self.s['login_url']}/{tenant}/oauth2/v2.0/token"
        form.update(extra)
        form = {k: v for k, v in form.items() if v is not None}
        return self.raw("POST", url, data=form)

    def token(self, app="full", **kw):
        key = (app, tuple(sorted(kw.items())))
        if key not in self.tokens:
            r = self.token_response(app, **kw)
            assert r.status_code == 200, r.text
            self.tokens[key] = r.json()["access_token"]
        return self.tokens[key]

    def api(self, method, path, app="full", token=None, **kw):
        headers = kw.pop("headers", {})
        headers.setdefault("Authorization", "Bearer " + (token or self.token(app)))
        return self.raw(method, self.s["api_url"] + path, headers=headers, **kw)


@pytest.fixture
def client(settings, ctl):
    return Client(settings)
