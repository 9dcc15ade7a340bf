# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The machines inventory plugin: options, filters, host names, host variables, groups and the cache.

The client is replaced by a fake pager; the real paging, sign-in and HTTP are covered by tests/e2e/test_fleet.py.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
import yaml

from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, inventory_loader

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError

ID = "%040x"
DEFAULT_FIELDS = ("id", "computer_dns_name", "aad_device_id", "os_platform", "version", "health_status", "risk_score",
                  "exposure_level", "machine_tags", "last_ip_address", "last_external_ip_address")
DEFAULT_CAMEL = ("id", "computerDnsName", "aadDeviceId", "osPlatform", "version", "healthStatus", "riskScore",
                 "exposureLevel", "machineTags", "lastIpAddress", "lastExternalIpAddress")


def snake(name):
    from ansible_collections.defender.endpoint.plugins.inventory.machines import snake as convert
    return convert(name)


def collections_root():
    import ansible_collections
    return os.path.dirname(list(ansible_collections.__path__)[0])


def machine(n, **kw):
    m = {"id": ID % n, "computerDnsName": "host-%03d.contoso.com" % n, "osPlatform": "Windows11",
         "version": "22H2", "healthStatus": "Active", "riskScore": "Low", "exposureLevel": "Medium",
         "machineTags": [], "lastIpAddress": "10.0.0.%d" % n, "lastExternalIpAddress": "203.0.113.%d" % n,
         "aadDeviceId": None, "isPotentialDuplication": False, "mergedIntoMachineId": None, "rbacGroupId": 7,
         "ipAddresses": [{"ipAddress": "10.0.0.%d" % n, "type": "Ethernet"}]}
    m.update(kw)
    return m


class FakeClient:
    def __init__(self, machines, error=None):
        self.machines = machines
        self.error = error
        self.calls = []

    def pages(self, path, params=None, page_size=None, limit=None):
        self.calls.append((path, dict(params or {}), page_size))
        if self.error:
            raise self.error
        return iter(list(self.machines))


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                 "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST", "DEFENDER_CLOUD", "DEFENDER_API_URL",
                 "ANSIBLE_INVENTORY_CACHE", "ANSIBLE_CACHE_PLUGIN", "ANSIBLE_CACHE_PLUGIN_CONNECTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEFENDER_ACCESS_TOKEN", "aaa.bbb.ccc")
    monkeypatch.setenv("DEFENDER_API_URL", "https://api.example.test")
    from ansible.utils.collection_loader import AnsibleCollectionConfig
    try:
        finder = AnsibleCollectionConfig.collection_finder
    except NotImplementedError:
        finder = None
    if finder is None:
        init_plugin_loader([collections_root()])
    package = sys.modules.get("ansible_collections.defender.endpoint")
    if package is not None and not hasattr(package, "_collection_meta"):
        package._collection_meta = {}
    return tmp_path


class Run:
    def __init__(self, tmp_path, monkeypatch):
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.client = None
        self.plugin = None

    def __call__(self, config, machines=(), name="test.defender_machines.yml", error=None, cache=True,
                 plugin=None):
        path = self.tmp_path / name
        path.write_text(yaml.safe_dump(dict({"plugin": "defender.endpoint.machines"}, **config)))
        self.client = FakeClient(machines, error)
        mod = sys.modules[inventory_loader.get("defender.endpoint.machines").__module__]
        self.monkeypatch.setattr(mod, "plugin_client", lambda _plugin: (self.client, None))
        self.plugin = plugin or inventory_loader.get("defender.endpoint.machines")
        inventory = InventoryData()
        self.plugin.parse(inventory, DataLoader(), str(path), cache=cache)
        try:
            self.plugin.update_cache_if_changed()  # what InventoryManager does after parse
        except AttributeError:  # no cache configured (InventoryManager ignores this too)
            pass
        return inventory


@pytest.fixture
def run(env, monkeypatch):
    return Run(env, monkeypatch)


def hostvars(inventory, host):
    return inventory.get_host(host).get_vars()


def test_verify_file_needs_the_suffix(env):
    plugin = inventory_loader.get("defender.endpoint.machines")
    for name, ok in (("prod.defender_machines.yml", True), ("defender_machines.yaml", True),
                     ("prod.machines.yml", False), ("defender_machines.yml.bak", False)):
        path = env / name
        path.write_text("plugin: defender.endpoint.machines\n")
        assert plugin.verify_file(str(path)) is ok, name


def test_hosts_and_host_variables(run):
    inv = run({}, [machine(1), machine(2, computerDnsName=None)])
    assert set(inv.hosts) == {"host-001.contoso.com", ID % 2}
    v = hostvars(inv, "host-001.contoso.com")
    assert v["defender_id"] == ID % 1
    assert v["defender_computer_dns_name"] == "host-001.contoso.com"
    assert v["defender_last_ip_address"] == "10.0.0.1"
    assert v["defender_aad_device_id"] is None
    assert v["defender_machine_tags"] == []
    assert {k for k in v if k.startswith("defender")} == {"defender_" + f for f in DEFAULT_FIELDS}
    assert run.client.calls == [("/api/machines", {}, 10000)]


def test_all_fields_as_host_variables(run):
    v = hostvars(run({"hostvar_fields": ["all"]}, [machine(1)]), "host-001.contoso.com")
    assert {k for k in v if k.startswith("defender")} == {"defender_" + snake(k) for k in machine(1)}
    assert v["defender_is_potential_duplication"] is False
    assert v["defender_rbac_group_id"] == 7
    assert v["defender_ip_addresses"] == [{"ipAddress": "10.0.0.1", "type": "Ethernet"}]


def test_chosen_fields_only_and_names_still_from_any_field(run):
    inv = run({"hostvar_fields": ["risk_score", "rbac_group_id"], "hostnames": ["last_ip_address"]},
              [machine(1), machine(2)])
    assert set(inv.hosts) == {"10.0.0.1", "10.0.0.2"}
    v = hostvars(inv, "10.0.0.2")
    assert {k for k in v if k.startswith("defender")} == {"defender_risk_score", "defender_rbac_group_id"}


def test_dict_layout_puts_the_fields_under_one_variable(run):
    machines = [machine(1, machineTags=["prod"], riskScore="High"), machine(2, osPlatform="Linux")]
    inv = run({"hostvar_layout": "dict",
               "keyed_groups": [{"key": "defender.os_platform", "prefix": "os"},
                                {"key": "defender['machine_tags']", "prefix": "tag"}],
               "groups": {"high_risk": "defender.risk_score == 'High'"},
               "compose": {"ansible_host": "defender.last_ip_address"}}, machines)
    v = hostvars(inv, "host-002.contoso.com")
    assert not [k for k in v if k.startswith("defender_")]
    assert v["defender"] == {snake(k): machine(2, osPlatform="Linux")[k] for k in DEFAULT_CAMEL}
    assert v["ansible_host"] == "10.0.0.2"
    assert [h.name for h in inv.groups["os_Linux"].get_hosts()] == ["host-002.contoso.com"]
    assert [h.name for h in inv.groups["tag_prod"].get_hosts()] == ["host-001.contoso.com"]
    assert [h.name for h in inv.groups["high_risk"].get_hosts()] == ["host-001.contoso.com"]
    inv = run({"hostvar_layout": "dict", "hostvar_fields": ["all"]}, machines)
    assert hostvars(inv, "host-001.contoso.com")["defender"]["rbac_group_id"] == 7


@pytest.mark.parametrize("config, expected", [
    # a field hostvar_fields leaves out
    ({"keyed_groups": [{"key": "defender_rbac_group_id", "prefix": "rbac"}]},
     "use rbac_group_id, which hostvar_fields leaves out"),
    # the other layout's spelling
    ({"compose": {"ansible_host": "defender.last_ip_address"}}, "hostvar_layout is flat"),
    ({"hostvar_layout": "dict", "groups": {"x": "defender_risk_score == 'Low'"}}, "hostvar_layout is dict"),
    # a field no machine has
    ({"hostvar_fields": ["id", "os_platfrom"]}, "hostvar_fields os_platfrom name no machine field"),
])
def test_warnings_name_fields_the_hosts_will_not_have(run, monkeypatch, config, expected):
    mod = sys.modules[inventory_loader.get("defender.endpoint.machines").__module__]
    warnings = []
    monkeypatch.setattr(mod.display, "warning", warnings.append)
    run(config, [machine(1)])
    assert len(warnings) == 1 and expected in warnings[0], warnings


def test_no_warning_when_expressions_use_chosen_fields(run, monkeypatch):
    mod = sys.modules[inventory_loader.get("defender.endpoint.machines").__module__]
    warnings = []
    monkeypatch.setattr(mod.display, "warning", warnings.append)
    run({"keyed_groups": [{"key": "defender_os_platform"}], "compose": {"x": "defender_id ~ defender_unknown"}},
        [machine(1)])
    run({"hostvar_fields": ["all"], "groups": {"g": "defender_rbac_group_id == 7"}}, [machine(1)])
    assert warnings == []


def test_potential_duplicates_and_merged_machines_are_left_out_by_default(run):
    machines = [machine(1), machine(2, isPotentialDuplication=True), machine(3, mergedIntoMachineId=ID % 1)]
    assert set(run({}, machines).hosts) == {"host-001.contoso.com"}
    assert len(run({"exclude_potential_duplicates": False}, machines).hosts) == 3


def test_shared_names_fall_back_to_the_next_hostname_then_the_id(run):
    machines = [machine(1, computerDnsName="same"), machine(2, computerDnsName="same"),
                machine(3, computerDnsName="same", lastIpAddress="10.0.0.1")]
    inv = run({"hostnames": ["computer_dns_name", "last_ip_address"]}, machines)
    # machine 3's IP is machine 1's too, but machine 1 is named "same": the IP is free
    assert set(inv.hosts) == {"same", "10.0.0.2", "10.0.0.1"}
    assert hostvars(inv, "10.0.0.2")["defender_id"] == ID % 2
    inv = run({}, machines)
    assert set(inv.hosts) == {"same", ID % 2, ID % 3}


def test_hostnames_precedence(run):
    inv = run({"hostnames": ["last_ip_address", "id"]}, [machine(1), machine(2, lastIpAddress=None)])
    assert set(inv.hosts) == {"10.0.0.1", ID % 2}


def test_a_hostname_that_names_no_field_warns(run, monkeypatch):
    mod = sys.modules[inventory_loader.get("defender.endpoint.machines").__module__]
    warnings = []
    monkeypatch.setattr(mod.display, "warning", warnings.append)
    inv = run({"hostnames": ["computer_name", "computer_dns_name"]}, [machine(1)])
    assert set(inv.hosts) == {"host-001.contoso.com"}
    assert len(warnings) == 1 and "hostnames computer_name name no machine field" in warnings[0]


def test_filters_reach_the_api_escaped_and_combined(run):
    run({"filters": {"health_status": ["Active", "Inactive"], "os_platform": ["o'brien"],
                     "risk_score": ["High"], "exposure_level": ["High", "Medium"],
                     "filter": "lastSeen gt 2026-01-01Z or riskScore eq 'None'"}}, [])
    flt = run.client.calls[0][1]["$filter"]
    assert flt == ("(healthStatus eq 'Active' or healthStatus eq 'Inactive') and osPlatform eq 'o''brien' and "
                   "riskScore eq 'High' and (exposureLevel eq 'High' or exposureLevel eq 'Medium') and "
                   "(lastSeen gt 2026-01-01Z or riskScore eq 'None')")


def test_tags_are_matched_on_this_side(run):
    machines = [machine(1, machineTags=["prod", "web"]), machine(2, machineTags=["dev"]), machine(3)]
    inv = run({"filters": {"tags": ["web", "db"]}}, machines)
    assert set(inv.hosts) == {"host-001.contoso.com"}
    assert "$filter" not in run.client.calls[0][1]


@pytest.mark.parametrize("config, message", [
    ({"filter": {"health_status": ["Active"]}}, "unknown option(s) filter"),
    ({"filters": {"healthstatus": ["Active"]}}, "filters: unknown option(s) healthstatus"),
    ({"filters": {"health_status": ["active"]}}, "health_status must be among"),
    ({"filters": {"risk_score": "High", "exposure_level": ["Huge"]}}, "exposure_level must be among"),
    ({"filters": {"os_platform": [""]}}, "non-empty strings"),
    ({"filters": {"filter": "id eq 'a') or (id ne 'b'"}}, "unbalanced"),
    ({"filters": {"filter": "id eq 'a'\nor true"}}, "control character"),
    ({"filters": {"tags": []}}, "non-empty list"),
    ({"hostnames": ["id", 3]}, "hostnames must be"),
    ({"hostvar_fields": []}, "hostvar_fields must be a non-empty list"),
    ({"hostvar_fields": ["osPlatform"]}, "'osPlatform' is not a machine field in snake case"),
    ({"hostvar_fields": ["all", "id"]}, "all stands alone"),
    ({"hostvar_fields": ["id", None]}, "None is not a machine field"),
    ({"hostvar_layout": "nested"}, "hostvar_layout"),
    ({"page_size": 10001}, "page_size must be between"),
])
def test_bad_configuration_fails_before_any_request(run, config, message):
    with pytest.raises(AnsibleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(config, [machine(1)])
    assert run.client is None or run.client.calls == []


def test_no_credentials_is_a_clean_error(run, monkeypatch):
    monkeypatch.delenv("DEFENDER_ACCESS_TOKEN")
    with pytest.raises(AnsibleError, match="no credentials"):
        run({}, [machine(1)])


def test_api_errors_become_ansible_errors(run):
    with pytest.raises(AnsibleError, match="defender.endpoint.machines: .*denied"):
        run({}, error=DefenderError("denied", status=403))


def test_constructed_groups_keyed_groups_and_compose(run):
    machines = [machine(1, machineTags=["prod"], riskScore="High"), machine(2, osPlatform="Linux")]
    inv = run({"keyed_groups": [{"key": "defender_os_platform", "prefix": "os"},
                                {"key": "defender_machine_tags", "prefix": "tag"}],
               "groups": {"high_risk": "defender_risk_score == 'High'"},
               "compose": {"ansible_host": "defender_last_ip_address"}}, machines)
    assert [h.name for h in inv.groups["os_Windows11"].get_hosts()] == ["host-001.contoso.com"]
    assert [h.name for h in inv.groups["os_Linux"].get_hosts()] == ["host-002.contoso.com"]
    assert [h.name for h in inv.groups["tag_prod"].get_hosts()] == ["host-001.contoso.com"]
    assert [h.name for h in inv.groups["high_risk"].get_hosts()] == ["host-001.contoso.com"]
    assert hostvars(inv, "host-002.contoso.com")["ansible_host"] == "10.0.0.2"


def test_strict_fails_on_a_bad_expression(run):
    with pytest.raises(AnsibleError):
        run({"strict": True, "compose": {"x": "defender_no_such_field.attr"}}, [machine(1)])
    run({"strict": False, "compose": {"x": "defender_no_such_field.attr"}}, [machine(1)])


def test_cache_reuses_machines_and_reads_again_when_the_query_changes(run, env):
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(env / "cache")}
    run(cache, [machine(1)])
    assert len(run.client.calls) == 1
    plugin = run.plugin
    # same file, cached: no request, hosts rebuilt from the cached machines with the new compose
    inv = run(dict(cache, compose={"x": "defender_id"}), [machine(9)], plugin=plugin)
    assert run.client.calls == []
    assert set(inv.hosts) == {"host-001.contoso.com"}
    assert hostvars(inv, "host-001.contoso.com")["x"] == ID % 1
    # a different filter in the same file: the cached entry is for another query
    inv = run(dict(cache, filters={"risk_score": ["Low"]}), [machine(9)], plugin=plugin)
    assert len(run.client.calls) == 1
    assert set(inv.hosts) == {"host-009.contoso.com"}
    # a refresh (--flush-cache, meta: refresh_inventory) reads again
    inv = run(dict(cache, filters={"risk_score": ["Low"]}), [machine(8)], plugin=plugin, cache=False)
    assert len(run.client.calls) == 1
    assert set(inv.hosts) == {"host-008.contoso.com"}


def test_cache_holds_only_host_names_and_chosen_variables(run, env):
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(env / "cache"),
             "hostvar_fields": ["os_platform", "machine_tags"]}
    machines = [machine(1, machineTags=["a"]), machine(2, computerDnsName="host-001.contoso.com"),
                machine(3, isPotentialDuplication=True)]
    run(cache, machines)
    plugin = run.plugin
    files = list((env / "cache").iterdir())
    assert len(files) == 1
    on_disk = files[0].read_text()
    assert ID % 3 not in on_disk and "rbacGroupId" not in on_disk and "10.0.0.1" not in on_disk
    # what rebuilds the hosts, nothing else: no duplicate, no unchosen field, no field name per host
    entry = plugin._cache[plugin.get_cache_key(str(env / "test.defender_machines.yml"))]
    stored = json.loads(entry["hosts"])
    assert stored["columns"] == ["os_platform", "machine_tags"]
    assert stored["hosts"] == [["host-001.contoso.com", "Windows11", ["a"]], [ID % 2, "Windows11", []]]
    # the layout and compose apply from the cache, without a request
    inv = run(dict(cache, hostvar_layout="dict", compose={"x": "defender.machine_tags"}), [], plugin=plugin)
    assert run.client.calls == []
    assert set(inv.hosts) == {"host-001.contoso.com", ID % 2}
    assert hostvars(inv, "host-001.contoso.com")["defender"] == {"os_platform": "Windows11", "machine_tags": ["a"]}
    assert hostvars(inv, "host-001.contoso.com")["x"] == ["a"]
    # other fields, other names or other duplicates: read again
    for change in ({"hostvar_fields": ["all"]}, {"hostnames": ["id"]}, {"exclude_potential_duplicates": False}):
        inv = run(dict(cache, **change), machines, plugin=plugin)
        assert len(run.client.calls) == 1, change
    assert "host-003.contoso.com" in inv.hosts


def test_cached_rows_keep_fields_a_machine_lacks_absent(run, env):
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(env / "cache"),
             "hostvar_fields": ["all"]}
    lean = machine(2)
    del lean["version"]
    run(cache, [machine(1), lean])
    inv = run(cache, [], plugin=run.plugin)
    assert run.client.calls == []
    assert "defender_version" not in hostvars(inv, "host-002.contoso.com")
    assert hostvars(inv, "host-001.contoso.com")["defender_version"] == "22H2"


def test_snake_case_names():
    from ansible_collections.defender.endpoint.plugins.inventory.machines import snake
    assert snake("computerDnsName") == "computer_dns_name"
    assert snake("aadDeviceId") == "aad_device_id"
    assert snake("lastExternalIpAddress") == "last_external_ip_address"
    assert snake("id") == "id"
    assert snake("osBuild") == "os_build"
    assert snake("rbacGroupID") == "rbac_group_id"


def test_empty_environment_variables_count_as_unset(run, monkeypatch):
    # AWX injects every variable of a credential type, empty when its input is empty; Ansible would make an empty
    # path the current directory, which then looks like a second credential.
    for name in ("AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
                 "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST", "DEFENDER_CA_PATH"):
        monkeypatch.setenv(name, "")
    assert set(run({}, [machine(1)]).hosts) == {"host-001.contoso.com"}


# --- issue 22 item 7: unmanaged devices, names of the controller, the file name, the cache's folder ----------------

def test_devices_that_are_not_onboarded_are_left_out_by_default(run):
    machines = [machine(1, onboardingStatus="Onboarded"), machine(2, onboardingStatus="CanBeOnboarded"),
                machine(3, onboardingStatus="Unsupported"), machine(4, onboardingStatus="onboarded"),
                machine(5, onboardingStatus="InsufficientInfo")]
    assert set(run({}, machines).hosts) == {"host-001.contoso.com", "host-004.contoso.com"}
    inv = run({"filters": {"onboarding_status": ["CanBeOnboarded", "Unsupported"]}}, machines)
    assert set(inv.hosts) == {"host-002.contoso.com", "host-003.contoso.com"}
    # applied on this side (the API spells the value two ways): nothing of it reaches $filter
    assert "onboarding" not in run.client.calls[0][1].get("$filter", "").lower()
    with pytest.raises(AnsibleError, match="onboarding_status"):
        run({"filters": {"onboarding_status": ["Managed"]}}, machines)


@pytest.mark.parametrize("name", ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "localhost.localdomain"])
def test_a_machine_named_like_the_controller_is_named_by_its_id(run, monkeypatch, name):
    mod = sys.modules[inventory_loader.get("defender.endpoint.machines").__module__]
    warnings = []
    monkeypatch.setattr(mod.display, "warning", warnings.append)
    inv = run({"hostnames": ["computer_dns_name", "last_ip_address", "id"]},
              [machine(1, computerDnsName=name, lastIpAddress="127.0.0.1"), machine(2)])
    assert set(inv.hosts) == {ID % 1, "host-002.contoso.com"}
    assert len(warnings) == 1 and "controller" in warnings[0] and name in warnings[0]


def test_a_file_with_another_name_says_what_the_name_must_be(env, monkeypatch):
    plugin = inventory_loader.get("defender.endpoint.machines")
    mod = sys.modules[plugin.__module__]
    warnings = []
    monkeypatch.setattr(mod.display, "warning", warnings.append)
    path = env / "prod.machines.yml"
    path.write_text("plugin: defender.endpoint.machines\n")
    assert plugin.verify_file(str(path)) is False
    assert len(warnings) == 1 and "defender_machines.yml" in warnings[0] and "prod.machines.yml" in warnings[0]
    other = env / "hosts.yml"
    other.write_text("all:\n  hosts:\n    a:\n")
    assert plugin.verify_file(str(other)) is False and len(warnings) == 1  # not ours: no word


def test_a_cache_folder_readable_by_others_is_warned_about(run, env, monkeypatch):
    mod = sys.modules[inventory_loader.get("defender.endpoint.machines").__module__]
    warnings = []
    monkeypatch.setattr(mod.display, "warning", warnings.append)
    folder = env / "cache"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(folder)}
    run(cache, [machine(1)])
    assert any("readable by others" in w and str(folder) in w for w in warnings)
    os.chmod(folder, 0o700)
    warnings.clear()
    run(cache, [machine(1)], cache=False)
    assert not any("readable by others" in w for w in warnings)
