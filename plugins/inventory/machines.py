# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: machines
short_description: Microsoft Defender for Endpoint machines as an inventory
description:
  - Reads the machines (devices) of a Defender for Endpoint tenant and adds each one as a host.
  - Every machine field becomes a host variable named C(defender_) plus the field in snake case, for example
    C(defender_id), C(defender_computer_dns_name), C(defender_health_status), C(defender_machine_tags),
    C(defender_last_ip_address), C(defender_os_platform).
  - The inventory file name must end with C(defender_machines.yml) or C(defender_machines.yaml), for example
    C(prod.defender_machines.yml).
  - Reads every page (the API returns at most 10,000 machines per request) with one token.
  - Takes the same credentials and environment variables as the collection's modules. In AWX / AAP, inject them
    as environment variables (a custom credential type's C(env) injector), since AWX does not pass C(extra_vars)
    injectors to inventory updates.
  - Unknown keys in the inventory file are an error, so a misspelt option cannot widen the inventory.
  - Only machines onboarded to Defender for Endpoint become hosts unless O(filters.onboarding_status) says
    otherwise, because the API also lists devices that device discovery found (printers, routers, unmanaged computers).
  - A machine whose host name would be C(localhost), C(localhost.localdomain) or a loopback address such as
    C(127.0.0.1) would be a host that points at the controller; it is named by the next entry of O(hostnames)
    that is not such a name (its id at worst), with a warning.
version_added: 0.1.0
author:
  - defender.endpoint contributors (!UNKNOWN)
extends_documentation_fragment:
  - defender.endpoint.connection.plugins
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin; it must always be set to V(defender.endpoint.machines).
    required: true
    type: str
    choices: [defender.endpoint.machines]
  hostnames:
    description:
      - Machine fields (snake case, as in the host variables without C(defender_)) tried in order for each host's
        name; the first one that is set wins.
      - When that name is already taken by another machine (two live machines can share a computer name), the
        next field is tried, and C(id), which is unique, is the last resort. A warning says how often that happened.
      - An entry that names no field of any machine (a misspelling) gets a warning.
    type: list
    elements: str
    default: [computer_dns_name, id]
  filters:
    description:
      - Which machines to read. Options combine with C(and); the values of one option with C(or).
      - Unknown keys are an error.
    type: dict
    default: {}
    suboptions:
      health_status:
        description: Only machines with one of these health states (C(healthStatus)).
        type: list
        elements: str
        choices: [Active, Inactive, ImpairedCommunication, NoSensorData, NoSensorDataImpairedCommunication, Unknown]
      os_platform:
        description:
          - Only machines with one of these OS platforms (C(osPlatform)), in the API's spelling, for example
            V(Windows11), V(WindowsServer2022), V(Linux), V(macOS).
        type: list
        elements: str
      risk_score:
        description: Only machines with one of these risk scores (C(riskScore)).
        type: list
        elements: str
        choices: [None, Informational, Low, Medium, High]
      exposure_level:
        description: Only machines with one of these exposure levels (C(exposureLevel)).
        type: list
        elements: str
        choices: [None, Low, Medium, High]
      onboarding_status:
        description:
          - Only devices with one of these onboarding states (C(onboardingStatus)), compared case-insensitively on
            this side (the API spells V(Onboarded) both ways). A record without the field counts as V(Onboarded).
          - When not set, V(Onboarded) only.
        type: list
        elements: str
        choices: [Onboarded, CanBeOnboarded, Unsupported, InsufficientInfo]
      tags:
        description:
          - Only machines carrying at least one of these tags (C(machineTags)), compared exactly.
          - The API documents no filter syntax for tags, so this one is applied on this side after reading.
        type: list
        elements: str
      filter:
        description:
          - A raw OData C($filter) expression, kept in parentheses and combined with the others with C(and).
        type: str
  exclude_potential_duplicates:
    description:
      - Leave out machines that Defender flags as potential duplicates (C(isPotentialDuplication)) or that were
        merged into another machine (C(mergedIntoMachineId)); they are stale records of a machine that has a
        newer one.
    type: bool
    default: true
  page_size:
    description: Machines per request (C($top)), 1 to 10000.
    type: int
    default: 10000
notes:
  - With O(cache=true), the machines read from the API are cached (not the hosts), so changing O(compose),
    O(groups) or O(keyed_groups) applies at once; changing the tenant, the API or O(filters) reads again.
  - The inventory cache defaults to the fact cache's plugin, which is V(memory) unless configured. Set
    O(cache_plugin) (for example V(ansible.builtin.jsonfile)) and O(cache_connection) to reuse it across runs.
  - A file cache holds the machine records (names, IP addresses, users' device ids), so keep O(cache_connection)
    private (mode 0700, owned by the user running Ansible). A folder that others can read or enter gets a warning.
seealso:
  - module: defender.endpoint.machine_info
"""

EXAMPLES = r"""
---
# prod.defender_machines.yml: credentials from AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET
plugin: defender.endpoint.machines
filters:
  health_status: [Active]
  os_platform: [Windows10, Windows11]
keyed_groups:
  - key: defender_os_platform
    prefix: os
  - key: defender_machine_tags
    prefix: tag
groups:
  high_risk: defender_risk_score == 'High'
compose:
  ansible_host: defender_last_ip_address

---
# linux.defender_machines.yml: a raw OData filter, machines named by id, cached for an hour on disk
plugin: defender.endpoint.machines
hostnames: [id]
filters:
  filter: "osPlatform eq 'Linux' and lastSeen gt 2026-01-01T00:00:00Z"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible-inventory
cache_timeout: 3600
"""

import functools
import hashlib
import ipaddress
import json
import os
import re
import stat

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.defender.endpoint.plugins.module_utils import machine_query
from ansible_collections.defender.endpoint.plugins.module_utils.machines import MACHINES
from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError
from ansible_collections.defender.endpoint.plugins.plugin_utils._connection import (
    check_known_keys,
    display,
    plugin_client,
    plugin_settings,
)

FILE_SUFFIXES = ("defender_machines.yml", "defender_machines.yaml")
HOSTVAR_PREFIX = "defender_"
ONBOARDING_STATES = ("Onboarded", "CanBeOnboarded", "Unsupported", "InsufficientInfo")
FILTER_KEYS = tuple(option for option, _field, _allowed in machine_query.LIST_FILTERS) + (
    "onboarding_status", "tags", "filter")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@functools.lru_cache(maxsize=1024)
def snake(name):
    """``computerDnsName`` -> ``computer_dns_name``, ``aadDeviceId`` -> ``aad_device_id``."""
    return _CAMEL.sub("_", name).lower()


def onboarding_states(filters):
    """The onboarding states kept (lower case): ``filters.onboarding_status``, by default onboarded only."""
    try:
        states = machine_query.string_list((filters or {}).get("onboarding_status"), "filters.onboarding_status",
                                           ONBOARDING_STATES)
    except DefenderError as exc:
        raise AnsibleParserError(str(exc)) from None
    return frozenset(s.lower() for s in (states or ["Onboarded"]))


def points_at_controller(name):
    """``localhost`` and loopback addresses: as a host name, Ansible would run that host's tasks on the controller."""
    text = str(name).strip().rstrip(".").lower()
    if text in ("localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6"):
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def build_query(filters):
    """``($filter or None, tags or None)`` from the ``filters`` option; bad input raises before any request."""
    if filters is None:
        filters = {}
    if not isinstance(filters, dict):
        raise AnsibleParserError("filters must be a dictionary")
    check_known_keys(filters, FILTER_KEYS, "filters")
    try:
        return (machine_query.build_filter(filters, prefix="filters."),
                machine_query.string_list(filters.get("tags"), "filters.tags"))
    except DefenderError as exc:
        raise AnsibleParserError(str(exc)) from None


def keep(machine, exclude_duplicates, tags, onboarding=frozenset(["onboarded"])):
    if not isinstance(machine, dict) or not machine.get("id"):
        return False
    status = machine.get("onboardingStatus")
    if (status.lower() if isinstance(status, str) else "onboarded") not in onboarding:
        return False
    if exclude_duplicates and (machine.get("isPotentialDuplication") or machine.get("mergedIntoMachineId")):
        return False
    if tags and not set(tags) & set(machine.get("machineTags") or ()):
        return False
    return True


def _names_this_plugin(path):
    """The file is YAML whose ``plugin`` key names this plugin (read only when its name does not fit)."""
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(65536)
    except (OSError, UnicodeError):
        return False
    return re.search(r"^plugin:\s*[\"']?defender\.endpoint\.machines[\"']?\s*(#.*)?$", head, re.M) is not None


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "defender.endpoint.machines"

    def verify_file(self, path):
        if not super().verify_file(path):
            return False
        if path.endswith(FILE_SUFFIXES):
            return True
        if _names_this_plugin(path):  # otherwise Ansible only says "could not be verified"
            display.warning("defender.endpoint.machines: the inventory file %s names this plugin, but its name must "
                            "end in %s (for example prod.%s)" % (path, " or ".join(FILE_SUFFIXES), FILE_SUFFIXES[0]))
        return False

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        config = self._read_config_data(path)
        check_known_keys(config, self._options, "the inventory file %s" % path)
        page_size = self.get_option("page_size")
        if not isinstance(page_size, int) or not 1 <= page_size <= odata.MAX_PAGE_SIZE:
            raise AnsibleParserError("page_size must be between 1 and %d" % odata.MAX_PAGE_SIZE)
        hostnames = self.get_option("hostnames") or ["computer_dns_name", "id"]
        if not all(isinstance(h, str) and h.strip() for h in hostnames):
            raise AnsibleParserError("hostnames must be a list of machine field names such as computer_dns_name")
        hostnames = [h.strip() for h in hostnames]
        flt, tags = build_query(self.get_option("filters"))
        onboarding = onboarding_states(self.get_option("filters"))
        settings = plugin_settings(self)  # credential errors surface before the cache is consulted
        fingerprint = hashlib.sha256(json.dumps(
            [settings.endpoints.api_url, settings.tenant_id, flt], sort_keys=True).encode()).hexdigest()

        use_cache = self.get_option("cache") and cache
        if self.get_option("cache"):
            self._check_cache_folder()
        cache_key = self.get_cache_key(path)
        machines = None
        if use_cache:
            try:
                cached = self._cache[cache_key]
            except KeyError:
                cached = None
            if isinstance(cached, dict) and cached.get("query") == fingerprint:
                machines = cached.get("machines")
        fetched = machines is None
        if fetched:
            machines = self._read(flt)
            if self.get_option("cache"):
                machines = list(machines)
                self._cache[cache_key] = {"query": fingerprint, "machines": machines}
        self._populate(machines, hostnames, self.get_option("exclude_potential_duplicates"), tags, onboarding)

    def _check_cache_folder(self):
        folder = self.get_option("cache_connection")
        if not folder:
            return
        folder = os.path.expanduser(str(folder))
        try:
            mode = stat.S_IMODE(os.stat(folder).st_mode)
        except OSError:
            display.warning("defender.endpoint.machines: the inventory cache folder %s will be created with your umask; "
                            "it holds machine records: create it with mode 0700 first" % folder)
            return
        if mode & 0o077:
            display.warning("defender.endpoint.machines: the inventory cache folder %s (mode %04o) is readable by "
                            "others and holds machine records: chmod 700 it" % (folder, mode))

    def _read(self, flt):
        """The machines, as a generator: without a cache only one page is held at a time."""
        try:
            client, _provider = plugin_client(self)
            params = {"$filter": flt} if flt else {}
            yield from client.pages(MACHINES, params=params, page_size=self.get_option("page_size"))
        except DefenderError as exc:
            raise AnsibleError("defender.endpoint.machines: %s" % exc) from None

    @staticmethod
    def _hostname(fields, hostnames, machine_id, taken):
        """The first usable name in ``hostnames`` order that no other machine holds and that does not point at the
        controller; the unique id at worst."""
        for name in hostnames:
            value = fields.get(HOSTVAR_PREFIX + name)
            if value in (None, "") or isinstance(value, (list, dict, bool)):
                continue
            value = str(value)
            if points_at_controller(value):
                continue
            if taken.get(value, machine_id) == machine_id:
                return value
        return machine_id

    def _populate(self, machines, hostnames, exclude_duplicates, tags, onboarding=frozenset(["onboarded"])):
        strict = self.get_option("strict")
        taken = {}
        renamed = 0
        unused = set(hostnames)  # entries that name no field of any machine: probably misspelt
        for machine in machines:
            if not keep(machine, exclude_duplicates, tags, onboarding):
                continue
            hostvars = {HOSTVAR_PREFIX + snake(key): value for key, value in machine.items()
                        if not key.startswith("@odata.")}
            if unused:
                unused = {name for name in unused if HOSTVAR_PREFIX + name not in hostvars}
            machine_id = str(machine["id"])
            host = self._hostname(hostvars, hostnames, machine_id, taken)
            renamed += host != self._hostname(hostvars, hostnames, machine_id, {})
            controller_like = [str(hostvars[HOSTVAR_PREFIX + n]) for n in hostnames
                               if points_at_controller(hostvars.get(HOSTVAR_PREFIX + n, ""))]
            if controller_like:
                display.warning("defender.endpoint.machines: machine %s is named %s, which would be a host pointing at "
                                "the controller; it is the host %s instead" % (machine_id, controller_like[0], host))
            taken[host] = machine_id
            self.inventory.add_host(host)
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)
        if unused and taken:
            display.warning("defender.endpoint.machines: hostnames %s name no machine field (fields are in snake case, "
                            "for example computer_dns_name, last_ip_address, aad_device_id)" % ", ".join(sorted(unused)))
        if renamed:
            display.warning("defender.endpoint.machines: %d machine(s) share their preferred host name with another "
                            "machine and were named by a later entry of hostnames (or their id)" % renamed)
