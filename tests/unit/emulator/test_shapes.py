"""Response shapes against an independent OpenAPI description (tests/emulator/reference/mde-openapi.json).

Every property the third-party schema names must be present. Known, deliberate differences (Microsoft's
pages win; see tests/emulator/README.md) are listed in OVERRIDES and checked explicitly.
"""

import json
import os

import pytest

EMULATOR_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "emulator"))
SPEC_PATH = os.path.join(EMULATOR_DIR, "reference", "mde-openapi.json")
# schema -> {property in the OpenAPI: what the emulator sends instead (None = deliberately absent)}
OVERRIDES = {"MachineAction": {"lastUpdateTimeUtc": "lastUpdateDateTimeUtc"}}


@pytest.fixture(scope="module")
def schemas():
    assert os.path.exists(SPEC_PATH), "the reference OpenAPI file %s is missing" % SPEC_PATH
    with open(SPEC_PATH) as fh:
        return json.load(fh)["components"]["schemas"]


def _check(obj, schema, name):
    overrides = OVERRIDES.get(name, {})
    for prop, spec in schema["properties"].items():
        key = overrides.get(prop, prop)
        assert key in obj, f"{name}.{prop} missing"
        value = obj[key]
        if value is None:
            continue
        t = spec.get("type")
        expected = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}.get(t)
        if expected:
            assert isinstance(value, expected), f"{name}.{prop}: {value!r} is not {t}"
        if "enum" in spec and name != "Alert":  # Alert enums: Microsoft's pages list more values (see README)
            assert value in spec["enum"], f"{name}.{prop}: {value!r} not in {spec['enum']}"
    for prop in schema.get("required", []):
        assert obj.get(overrides.get(prop, prop)) is not None, f"{name}.{prop} required"


def test_alert_and_evidence_shape(client, schemas):
    alerts = client.api("GET", "/api/alerts?$top=50").json()["value"]
    for a in alerts:
        _check(a, schemas["Alert"], "Alert")
        assert a["severity"] in schemas["Alert"]["properties"]["severity"]["enum"] + ["UnSpecified"]
    full = client.api("GET", f"/api/alerts/{alerts[0]['id']}").json()
    for ev in full["evidence"]:
        _check(ev, schemas["Evidence"], "Evidence")


def test_machine_shape(client, schemas):
    for m in client.api("GET", "/api/machines?$top=50").json()["value"]:
        _check(m, schemas["Machine"], "Machine")
        for field in ("isPotentialDuplication", "mergedIntoMachineId", "osArchitecture", "onboardingStatus"):
            assert field in m  # fields the service returns that the OpenAPI lacks


def test_machine_action_shape(client, ctl, schemas):
    mid = ctl.specials()["quote"]
    act = client.api("POST", f"/api/machines/{mid}/isolate", json={"Comment": "shape"}).json()
    _check(act, schemas["MachineAction"], "MachineAction")
    assert "lastUpdateTimeUtc" not in act
    for a in client.api("GET", "/api/machineactions").json()["value"]:
        _check(a, schemas["MachineAction"], "MachineAction")
