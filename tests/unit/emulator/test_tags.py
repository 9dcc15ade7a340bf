"""Machine tags in the emulator: the single-machine and the multi-machine endpoint, as documented
(Microsoft's add-or-remove-machine-tags and add-or-remove-multiple-machine-tags pages)."""

BULK = "/api/machines/AddOrRemoveTagForMultipleMachines"


def _err(r, status, code):
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code and body["message"] and body["target"]
    return body


def _ids(ctl, n):
    out = ctl.query("machines", "isPotentialDuplication eq false")
    out = out["ids"] if isinstance(out, dict) else out
    return out[:n]


def test_single_add_remove_and_repeat(client, ctl):
    mid = _ids(ctl, 1)[0]
    before = ctl.machine(mid)["machineTags"]
    r = client.api("POST", f"/api/machines/{mid}/tags", json={"Value": "INC-1", "Action": "Add"})
    assert r.status_code == 200 and r.json()["machineTags"] == before + ["INC-1"]
    # adding it again keeps one copy, in place
    r = client.api("POST", f"/api/machines/{mid}/tags", json={"Value": "INC-1", "Action": "Add"})
    assert r.json()["machineTags"] == before + ["INC-1"]
    assert ctl.machine(mid)["machineTags"] == before + ["INC-1"]
    r = client.api("POST", f"/api/machines/{mid}/tags", json={"Value": "INC-1", "Action": "Remove"})
    assert r.status_code == 200 and r.json()["machineTags"] == before


def test_single_validation_and_permission(client, ctl):
    mid = _ids(ctl, 1)[0]
    path = f"/api/machines/{mid}/tags"
    _err(client.api("POST", path, json={"value": "x", "action": "Add"}), 400, "InvalidRequestBody")
    _err(client.api("POST", path, json={"Value": "", "Action": "Add"}), 400, "MissingRequiredParameter")
    _err(client.api("POST", path, json={"Value": "x", "Action": "add"}), 400, "InvalidRequestBody")
    _err(client.api("POST", f"/api/machines/{'0' * 40}/tags", json={"Value": "x", "Action": "Add"}), 404,
         "ResourceNotFound")
    _err(client.api("POST", path, app="readonly", json={"Value": "x", "Action": "Add"}), 403, "Forbidden")
    assert "x" not in ctl.machine(mid)["machineTags"]


def test_bulk_adds_and_removes_one_tag_on_many(client, ctl):
    ids = _ids(ctl, 30)
    r = client.api("POST", BULK, json={"Value": "INC-2", "Action": "Add", "MachineIds": ids})
    assert r.status_code == 200, r.text
    assert sorted(m["id"] for m in r.json()["value"]) == sorted(ids)
    assert all("INC-2" in ctl.machine(i)["machineTags"] for i in ids)
    r = client.api("POST", BULK, json={"Value": "INC-2", "Action": "Remove", "MachineIds": ids[:10]})
    assert r.status_code == 200
    assert [("INC-2" in ctl.machine(i)["machineTags"]) for i in ids] == [False] * 10 + [True] * 20


def test_bulk_limits_and_validation(client, ctl):
    ids = _ids(ctl, 2)
    too_many = ["%040x" % i for i in range(501)]
    _err(client.api("POST", BULK, json={"Value": "t", "Action": "Add", "MachineIds": too_many}), 400,
         "MaximumBatchSizeExceeded")
    _err(client.api("POST", BULK, json={"Value": "t", "Action": "Add", "MachineIds": []}), 400, "InvalidRequestBody")
    _err(client.api("POST", BULK, json={"Value": "t", "Action": "Add"}), 400, "InvalidRequestBody")
    _err(client.api("POST", BULK, json={"Value": ["t"], "Action": "Add", "MachineIds": ids}), 400,
         "MissingRequiredParameter")
    _err(client.api("POST", BULK, json={"Value": "t", "Action": "Add", "MachineIds": ids, "Tags": ["x"]}), 400,
         "InvalidRequestBody")
    _err(client.api("POST", BULK, app="readonly", json={"Value": "t", "Action": "Add", "MachineIds": ids}), 403,
         "Forbidden")
    # one unknown id: the whole call is refused and nothing changes (the strict reading of an undocumented case)
    _err(client.api("POST", BULK, json={"Value": "t", "Action": "Add", "MachineIds": ids + ["f" * 40]}), 404,
         "ResourceNotFound")
    assert not any("t" in ctl.machine(i)["machineTags"] for i in ids)


def test_stale_answers_apply_the_change_but_do_not_show_it_yet(client, ctl):
    a, b = _ids(ctl, 2)
    ctl.config(tag_answer_stale=True)
    try:
        before = ctl.machine(a)["machineTags"]
        r = client.api("POST", f"/api/machines/{a}/tags", json={"Value": "INC-7", "Action": "Add"})
        assert r.status_code == 200 and r.json()["machineTags"] == before
        r = client.api("POST", BULK, json={"Value": "INC-8", "Action": "Add", "MachineIds": [a, b]})
        assert r.status_code == 200 and all("INC-8" not in m["machineTags"] for m in r.json()["value"])
        assert ctl.machine(a)["machineTags"] == before + ["INC-7", "INC-8"] and "INC-8" in ctl.machine(b)["machineTags"]
    finally:
        ctl.config(tag_answer_stale=False)
