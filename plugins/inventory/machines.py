# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: machines
short_description: Microsoft Defender for Endpoint machines as an inventory
description:
  - Reads the machines (devices) of a Defender for Endpoint tenant and adds each one as a host.
  - The machine fields chosen by O(hostvar_fields) become host variables, by default one per field named
    C(defender_) plus the field in snake case (C(defender_id), C(defender_computer_dns_name),
    C(defender_health_status), C(defender_machine_tags), C(defender_last_ip_address), C(defender_os_platform)),
    or with O(hostvar_layout=dict) one variable C(defender) holding them (C(defender.os_platform)).
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
  hostvar_fields:
    description:
      - Which machine fields become host variables, in snake case as the API's field names give them
        (C(computerDnsName) is V(computer_dns_name)), or V([all]) for every field the API returns.
      - The default covers names and ids (V(id), V(computer_dns_name), V(aad_device_id)), the OS (V(os_platform),
        V(version)), health (V(health_status)), risk (V(risk_score)), exposure (V(exposure_level)), tags
        (V(machine_tags)) and IP addresses (V(last_ip_address), V(last_external_ip_address)).
      - Every variable is paid for on every host each time the inventory is read (AWX inventory syncs included),
        in time and memory; C(docs/performance.md) has the figures for 25,000 machines. Choose the fields that
        playbooks and groups use.
      - O(compose), O(groups) and O(keyed_groups) see the host variables chosen here (and nothing else); a field
        they name that is not chosen gets a warning. An entry that names no field of any machine gets a warning.
    type: list
    elements: str
    default: [id, computer_dns_name, aad_device_id, os_platform, version, health_status, risk_score, exposure_level,
              machine_tags, last_ip_address, last_external_ip_address]
    version_added: 0.3.0
  hostvar_layout:
    description:
      - V(flat) sets one host variable per field, named C(defender_) plus the field (C(defender_os_platform)).
      - V(dict) sets one host variable C(defender) holding the fields by name (C(defender.os_platform),
        C(defender.machine_tags)); O(compose), O(groups) and O(keyed_groups) then use that form.
    type: str
    choices: [flat, dict]
    default: flat
    version_added: 0.3.0
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
  exposure:
    description:
      - Vulnerability exposure of each host (off by default, it costs requests; needs C(Vulnerability.Read.All)).
      - Adds the host variables C(defender_cves) (CVE ids), C(defender_fixing_kbs) (KB numbers, digits only) and
        C(defender_exposure_severity) (the worst severity, or V(null)) (with O(hostvar_layout=dict), C(cves),
        C(fixing_kbs) and C(exposure_severity) under C(defender)), whatever O(hostvar_fields) chooses, and the groups
        C(cve_<id>) and C(kb_<id>) (non-alphanumerics become C(_), for example C(cve_CVE_2024_21412),
        C(kb_5034441)) and C(exposure_low), C(exposure_medium), C(exposure_high), C(exposure_critical) by the worst
        severity.
      - Read with as few requests as the API allows, never one per machine. With O(exposure.cves), one query per
        CVE (C(machinesVulnerabilities) filtered by C(cveId); more only past 10,000 exposed machines); otherwise
        one sweep of those rows filtered by severity, 10,000 a request. O(exposure.exploit_available) adds the CVE
        list (8,000 a request). See the collection's C(docs/vulnerabilities.md).
      - Unknown keys are an error.
    type: dict
    suboptions:
      cves:
        description: Only these CVEs (C(CVE-2024-21412)).
        type: list
        elements: str
      min_severity:
        description: Only CVEs of this severity or worse.
        type: str
        choices: [Low, Medium, High, Critical]
      exploit_available:
        description: V(true) only CVEs with a known exploit, V(false) only those without.
        type: bool
notes:
  - With O(cache=true), what rebuilds the hosts is cached (each host's name and chosen variables, nothing else),
    so changing O(compose), O(groups), O(keyed_groups) or O(hostvar_layout) applies at once; changing the tenant,
    the API, O(filters), O(exclude_potential_duplicates), O(hostnames) or O(hostvar_fields) reads again.
  - The inventory cache defaults to the fact cache's plugin, which is V(memory) unless configured. Set
    O(cache_plugin) (for example V(ansible.builtin.jsonfile)) and O(cache_connection) to reuse it across runs.
  - A file cache holds the hosts' names and chosen variables (by default names, IP addresses, device ids), so keep
    O(cache_connection) private (mode 0700, owned by the user running Ansible). A folder that others can read or
    enter gets a warning.
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
from ansible.utils.vars import validate_variable_name

from ansible_collections.defender.endpoint.plugins.module_utils import machine_query
from ansible_collections.defender.endpoint.plugins.module_utils.machines import MACHINES
from ansible_collections.defender.endpoint.plugins.module_utils import odata
from ansible_collections.defender.endpoint.plugins.module_utils import vulnerabilities as V
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError
from ansible_collections.defender.endpoint.plugins.plugin_utils._connection import (
    check_known_keys,
    display,
    plugin_client,
    plugin_settings,
)

FILE_SUFFIXES = ("defender_machines.yml", "defender_machines.yaml")
HOSTVAR_PREFIX = "defender_"
HOSTVAR_DICT = "defender"
ALL_FIELDS = "all"
LAYOUTS = ("flat", "dict")
CACHE_FORMAT = 2  # entries of another format (or none) are read again
ONBOARDING_STATES = ("Onboarded", "CanBeOnboarded", "Unsupported", "InsufficientInfo")
FILTER_KEYS = tuple(option for option, _field, _allowed in machine_query.LIST_FILTERS) + (
    "onboarding_status", "tags", "filter")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
# defender_<field> (flat layout), defender.<field> or defender['<field>'] (dict layout) inside an expression
_EXPRESSION_FIELD = re.compile(r"\bdefender(?:_([a-z0-9_]+)|\.([a-z0-9_]+)|\[\s*['\"]([a-z0-9_]+)['\"]\s*\])")


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


def chosen_fields(value):
    """The ``hostvar_fields`` option as a tuple of snake-case names, or None for every field."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise AnsibleParserError("hostvar_fields must be a non-empty list of machine fields in snake case, or [all]")
    names = []
    for item in value:
        if not isinstance(item, str) or not _FIELD_NAME.match(item.strip()):
            raise AnsibleParserError("hostvar_fields: %r is not a machine field in snake case (for example "
                                     "os_platform, last_ip_address, machine_tags), nor all" % (item,))
        if item.strip() not in names:
            names.append(item.strip())
    if ALL_FIELDS in names:
        if len(names) > 1:
            raise AnsibleParserError("hostvar_fields: all stands alone (every field); it cannot be combined with %s"
                                     % ", ".join(n for n in names if n != ALL_FIELDS))
        return None
    return tuple(names)


@functools.lru_cache(maxsize=None)
def _valid_name(name):
    try:
        validate_variable_name(name)
    except AnsibleError:
        return False
    return True


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


class HostRows:
    """Machines -> ``(host name, {field: value})`` for the chosen fields, with the names unique.

    The API sends every machine with the same keys in the same order, so which key becomes which variable (and which
    keys name the host) is worked out once per distinct key order, not once per machine.
    """

    def __init__(self, fields, hostnames):
        self.fields = fields            # snake-case names, or None for all
        self.hostnames = hostnames
        self.seen = set()               # every field (snake case) of any machine, for the warnings
        self.renamed = 0
        self._taken = {}
        self._plans = {}
        self.exposure = None            # {machine id: {cves, kbs, severity}} when the exposure option is on

    def _plan(self, machine):
        keys = tuple(machine)
        plan = self._plans.get(keys)
        if plan is None:
            by_name = {snake(key): key for key in keys if not key.startswith("@odata.")}
            self.seen.update(by_name)
            if self.fields is None:
                pairs = tuple((key, name) for name, key in by_name.items())
            else:
                pairs = tuple((by_name[name], name) for name in self.fields if name in by_name)
            plan = self._plans[keys] = (pairs, tuple(by_name[name] for name in self.hostnames if name in by_name))
        return plan

    def _name(self, machine, name_keys, machine_id):
        """The first usable name in ``hostnames`` order that no other machine holds and that does not point at the
        controller; the unique id at worst."""
        preferred = controller_like = None
        host = machine_id
        for key in name_keys:
            value = machine[key]
            if value is None or value == "" or isinstance(value, (list, dict, bool)):
                continue
            value = str(value)
            if points_at_controller(value):
                controller_like = controller_like or value
                continue
            if preferred is None:
                preferred = value
            if self._taken.get(value, machine_id) == machine_id:
                host = value
                break
        self.renamed += preferred is not None and preferred != host
        if controller_like:
            display.warning("defender.endpoint.machines: machine %s is named %s, which would be a host pointing at "
                            "the controller; it is the host %s instead" % (machine_id, controller_like, host))
        return host

    def rows(self, machines, exclude_duplicates, tags, onboarding):
        for machine in machines:
            if not keep(machine, exclude_duplicates, tags, onboarding):
                continue
            pairs, name_keys = self._plan(machine)
            machine_id = str(machine["id"])
            host = self._name(machine, name_keys, machine_id)
            self._taken[host] = machine_id
            variables = {name: machine[key] for key, name in pairs}
            if self.exposure is not None:
                variables.update(V.host_exposure(self.exposure, machine_id))
            yield host, variables


def pack(rows):
    """Rows for the cache: the field names once, then ``[host, value, ...]`` per host (a dict where they differ)."""
    columns = list(rows[0][1]) if rows else []
    packed = []
    for host, variables in rows:
        if len(variables) == len(columns) and all(a == b for a, b in zip(variables, columns)):
            packed.append([host] + list(variables.values()))
        else:
            packed.append([host, variables])
    return columns, packed


def unpack(columns, packed):
    for row in packed:
        if len(row) == 2 and isinstance(row[1], dict):
            yield row[0], row[1]
        else:
            yield row[0], dict(zip(columns, row[1:]))


def expression_fields(expressions):
    """``(flat names, dict names)`` of machine fields the expressions of compose, groups and keyed_groups use."""
    flat, nested = set(), set()
    for text in expressions:
        for match in _EXPRESSION_FIELD.finditer(str(text)):
            if match.group(1):
                flat.add(match.group(1))
            else:
                nested.add(match.group(2) or match.group(3))
    return flat, nested


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
        fields = chosen_fields(self.get_option("hostvar_fields"))
        layout = self.get_option("hostvar_layout")
        if layout not in LAYOUTS:
            raise AnsibleParserError("hostvar_layout must be flat or dict, got %r" % (layout,))
        flt, tags = build_query(self.get_option("filters"))
        exclude_duplicates = self.get_option("exclude_potential_duplicates")
        onboarding = onboarding_states(self.get_option("filters"))
        try:
            exposure = V.check_exposure_option(self.get_option("exposure"))
        except DefenderError as exc:
            raise AnsibleParserError(str(exc)) from None
        self._exposure_on = exposure is not None
        settings = plugin_settings(self)  # credential errors surface before the cache is consulted
        # everything that decides which hosts and variables exist; compose, groups and the layout do not
        fingerprint = hashlib.sha256(json.dumps(
            [CACHE_FORMAT, settings.endpoints.api_url, settings.tenant_id, flt, tags, bool(exclude_duplicates),
             sorted(onboarding), hostnames, fields] + ([exposure] if exposure else []),
            sort_keys=True).encode()).hexdigest()

        if self.get_option("cache"):
            self._check_cache_folder()
        cache_key = self.get_cache_key(path)
        entry = None
        if self.get_option("cache") and cache:
            try:
                entry = self._cache[cache_key]
            except KeyError:
                entry = None
            if not (isinstance(entry, dict) and entry.get("query") == fingerprint):
                entry = None
        stored = None
        if entry is not None:
            try:
                stored = json.loads(entry["hosts"])
            except (KeyError, TypeError, ValueError):
                stored = None
        if stored is not None:
            self._add_hosts(unpack(stored["columns"], stored["hosts"]), layout)
            seen, renamed = set(stored["seen"]), stored["renamed"]
        else:
            builder = HostRows(fields, hostnames)
            if exposure is not None:
                builder.exposure = self._exposure(exposure)
            rows = builder.rows(self._read(flt), exclude_duplicates, tags, onboarding)
            if self.get_option("cache"):
                rows = list(rows)
                columns, packed = pack(rows)
                # One JSON text: the cache plugin then copies, compares and encodes one string, not every value
                # of every host in Python (the largest part of writing the cache of a big tenant).
                self._cache[cache_key] = {"query": fingerprint, "hosts": json.dumps(
                    {"columns": columns, "hosts": packed, "seen": sorted(builder.seen), "renamed": builder.renamed},
                    separators=(",", ":"))}
            self._add_hosts(rows, layout)  # a generator without a cache: one page of machines held at a time
            seen, renamed = builder.seen, builder.renamed
        if seen:
            self._warn(seen, renamed, hostnames, fields, layout)

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

    def _exposure(self, options):
        """``{machine id: {cves, kbs, severity}}`` (vulnerabilities.exposure: per CVE or one severity sweep)."""
        try:
            client, _provider = plugin_client(self)
            return V.exposure(client, options["cves"], options["min_severity"], options["exploit_available"]).as_table()
        except DefenderError as exc:
            raise AnsibleError("defender.endpoint.machines: exposure: %s" % exc) from None

    def _read(self, flt):
        """The machines, as a generator."""
        try:
            client, _provider = plugin_client(self)
            params = {"$filter": flt} if flt else {}
            yield from client.pages(MACHINES, params=params, page_size=self.get_option("page_size"))
        except DefenderError as exc:
            raise AnsibleError("defender.endpoint.machines: %s" % exc) from None

    def _add_hosts(self, rows, layout):
        compose, groups, keyed = self.get_option("compose"), self.get_option("groups"), self.get_option("keyed_groups")
        constructed = bool(compose or groups or keyed)
        strict = self.get_option("strict")
        # ansible-core 2.19+ hands plugins a proxy whose set_variable walks and copies every value to tag it with the
        # inventory file as its origin, and checks the name: a third of the plugin's time and much of its memory on
        # 25,000 hosts. These values are API data (JSON types, plain strings: untrusted, never templated) under names
        # checked once here, so a new host gets them in its variables directly.
        data = getattr(self.inventory, "__wrapped__", self.inventory)
        flat = layout == "flat"
        names = {}
        for host, variables in rows:
            if flat:
                for name in variables:
                    if name not in names:
                        names[name] = HOSTVAR_PREFIX + name
                prefixed = {names[name]: value for name, value in variables.items()}
            else:
                prefixed = {HOSTVAR_DICT: variables}
            new = host not in data.hosts
            self.inventory.add_host(host)
            if new and all(_valid_name(name) for name in prefixed):
                data.hosts[host].vars.update(prefixed)
            else:  # another source has this host already: merge as ansible-core does
                for name, value in prefixed.items():
                    self.inventory.set_variable(host, name, value)
            if getattr(self, "_exposure_on", False):
                for group in V.exposure_groups(variables):
                    self.inventory.add_group(group)
                    self.inventory.add_host(host, group=group)
            if constructed:
                self._set_composite_vars(compose, prefixed, host, strict=strict)
                self._add_host_to_composed_groups(groups, prefixed, host, strict=strict)
                self._add_host_to_keyed_groups(keyed, prefixed, host, strict=strict)

    def _warn(self, seen, renamed, hostnames, fields, layout):
        name = "defender.endpoint.machines"
        unused = [h for h in hostnames if h not in seen]  # probably misspelt
        if unused:
            display.warning("%s: hostnames %s name no machine field (fields are in snake case, for example "
                            "computer_dns_name, last_ip_address, aad_device_id)" % (name, ", ".join(unused)))
        fields_given = self.get_option_and_origin("hostvar_fields")[1] != "default"
        if fields_given and fields is not None and [f for f in fields if f not in seen]:
            display.warning("%s: hostvar_fields %s name no machine field (fields are in snake case, for example "
                            "os_platform, last_ip_address)" % (name, ", ".join(f for f in fields if f not in seen)))
        if renamed:
            display.warning("%s: %d machine(s) share their preferred host name with another machine and were named "
                            "by a later entry of hostnames (or their id)" % (name, renamed))
        expressions = list((self.get_option("compose") or {}).values())
        expressions += list((self.get_option("groups") or {}).values())
        expressions += [k.get("key") for k in self.get_option("keyed_groups") or () if isinstance(k, dict)]
        flat, nested = expression_fields(e for e in expressions if e)
        chosen = seen if fields is None else set(fields) & seen
        other = nested if layout == "flat" else flat
        if other & seen:
            display.warning("%s: hostvar_layout is %s, so compose, groups and keyed_groups name the fields as %s, "
                            "not as they do here (%s)" % (
                                name, layout, "defender_<field>" if layout == "flat" else "defender.<field>",
                                ", ".join(sorted(other & seen))))
        missing = ((flat if layout == "flat" else nested) & seen) - chosen
        if missing:
            display.warning("%s: compose, groups or keyed_groups use %s, which hostvar_fields leaves out (add them "
                            "to use them)" % (name, ", ".join(sorted(missing))))
