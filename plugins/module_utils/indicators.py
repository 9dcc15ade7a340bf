# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Custom indicators (``/api/indicators``) as declarative state: validation, matching, planning, sending.

The API (https://learn.microsoft.com/en-us/defender-endpoint/api/ti-indicator and the post-ti-indicator,
import-ti-indicators and batch-delete-ti-indicators pages beside it): POST and import are "submit or update" with an
undocumented match key that probably includes the action, so an indicator is matched here on (type, value) only, and
when its action changes the old one is deleted once the new one exists. Import answers 200 even when items fail (``isFailed``);
BatchDelete answers 404 when any id is missing. Both take at most 500 items and 30 calls per minute (the client's
shared budgets count them apart, see client.LIMITS). A tenant
holds at most 15,000 active indicators. ``Ti.ReadWrite`` sees only the indicators its own app created.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re

from ansible_collections.defender.endpoint.plugins.module_utils import outcome, progress
from ansible_collections.defender.endpoint.plugins.module_utils.client import segment
from ansible_collections.defender.endpoint.plugins.module_utils.errors import (
    DefenderConfigError,
    DefenderError,
    DefenderOutcomeUnknownError,
)
from ansible_collections.defender.endpoint.plugins.module_utils.odata import and_all, any_of, eq, parse_time
from ansible_collections.defender.endpoint.plugins.module_utils.validation import has_control

PATH = "/api/indicators"
IMPORT_PATH = "/api/indicators/import"
BATCH_DELETE_PATH = "/api/indicators/BatchDelete"
CHUNK = 500  # items per import / BatchDelete call
MAX_ACTIVE = 15000

TYPES = {
    "file_sha1": "FileSha1",
    "file_sha256": "FileSha256",
    "file_md5": "FileMd5",
    "certificate_thumbprint": "CertificateThumbprint",
    "ip": "IpAddress",
    "url": "Url",
    "domain": "DomainName",
}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
ACTIONS = {
    "alert": "Alert",
    "alert_and_block": "AlertAndBlock",
    "allowed": "Allowed",
    "audit": "Audit",
    "block": "Block",
    "block_and_remediate": "BlockAndRemediate",
    "warn": "Warn",
}
# Retired in January 2022; the service's replacements (indicators-overview.md: alert-only became Audit with alerting,
# alert-and-block became BlockAndRemediate), per type: IP, URL and domain indicators do not take BlockAndRemediate,
# so their alert-and-block is Block with alerting. Never sent, accepted when read.
RETIRED_ACTIONS = {"Alert": "Audit", "AlertAndBlock": "BlockAndRemediate"}
NETWORK_TYPES = ("IpAddress", "DomainName", "Url")


def replacement(action, api_type):
    """Today's action for a retired one on this indicator type (the action itself when not retired)."""
    if action == "AlertAndBlock" and api_type in NETWORK_TYPES:
        return "Block"
    return RETIRED_ACTIONS.get(action, action)


SEVERITIES = ("Informational", "Low", "Medium", "High")
_FILE_ACTIONS = ("Allowed", "Audit", "Warn", "Block", "BlockAndRemediate")
_NETWORK_ACTIONS = ("Allowed", "Audit", "Warn", "Block")
ALLOWED_ACTIONS = {
    "FileSha1": _FILE_ACTIONS, "FileSha256": _FILE_ACTIONS, "FileMd5": _FILE_ACTIONS,
    "CertificateThumbprint": ("Allowed", "BlockAndRemediate"),
    "IpAddress": _NETWORK_ACTIONS, "DomainName": _NETWORK_ACTIONS, "Url": _NETWORK_ACTIONS,
}
_HASH_LENGTH = {"FileSha1": 40, "FileSha256": 64, "FileMd5": 32, "CertificateThumbprint": 40}
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:%s\.)+[A-Za-z]{2,63}$" % _LABEL)
_URL = re.compile(r"^(?:https?://)?(?P<host>[^/:?#\s]+)(?::\d{1,5})?(?:[/?#]\S*)?$", re.I)

# Option name -> API field, for the optional fields compared and sent.
OPTIONAL = (
    ("severity", "severity"),
    ("expiration", "expirationTime"),
    ("generate_alert", "generateAlert"),
    ("recommended_actions", "recommendedActions"),
    ("rbac_group_names", "rbacGroupNames"),
    ("educate_url", "educateUrl"),
    ("external_id", "externalID"),
    ("application", "application"),
)
# Fields an update carries over from the indicator as read when the task does not set them: whether the service
# merges or replaces on update is not documented, and a replace without rbacGroupNames would apply to every device.
# (application is set on create only; the service ignores it on update.)
CARRIED_OVER = ("severity", "expirationTime", "generateAlert", "recommendedActions", "rbacGroupNames", "educateUrl",
                "externalID")
ITEM_KEYS = ("value", "type", "action", "title", "description") + tuple(o for o, _f in OPTIONAL)


def check_value(api_type, value):
    """The value, validated for its type before any request; raises DefenderConfigError.

    The forms are those of https://learn.microsoft.com/en-us/defender-endpoint/indicators-overview."""
    if not isinstance(value, str) or not value.strip():
        raise DefenderConfigError("an indicator value must be a non-empty string")
    what = "%s indicator %r" % (TYPE_NAMES[api_type], value[:80])
    if has_control(value):
        raise DefenderConfigError("%s contains a control character" % what)
    value = value.strip()
    if api_type in _HASH_LENGTH:
        if len(value) != _HASH_LENGTH[api_type] or not _HEX.match(value):
            raise DefenderConfigError("%s must be %d hexadecimal characters" % (what, _HASH_LENGTH[api_type]))
    elif api_type == "IpAddress":
        if "/" in value or "-" in value or "*" in value:
            raise DefenderConfigError("%s: CIDR notation, ranges and wildcards are not supported; give one address"
                                      % what)
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            raise DefenderConfigError("%s is not an IPv4 or IPv6 address" % what) from None
        if ip.version == 6 and ("::" in value or value.count(":") != 7):
            raise DefenderConfigError("%s: write all 8 IPv6 groups (%s)" % (what, ip.exploded))
    elif api_type == "DomainName":
        if "*" in value or "://" in value or "/" in value or not _DOMAIN.match(value):
            raise DefenderConfigError("%s is not a domain name such as contoso.com (no scheme, path or wildcard; "
                                      "a domain covers its subdomains)" % what)
    elif api_type == "Url":
        match = _URL.match(value)
        if "*" in value or not match or not (_DOMAIN.match(match.group("host")) or _is_ip(match.group("host"))):
            raise DefenderConfigError("%s is not a URL such as https://contoso.com/path (no wildcards)" % what)
    return value


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def key_of(api_type, value):
    """What an indicator is matched on: its type and value (case-insensitive except for URLs)."""
    return (api_type, value if api_type == "Url" else value.lower())


_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def entries_from_csv(text):
    """``indicators`` entries from CSV text (header row first; see the indicators_csv filter's documentation)."""
    if not isinstance(text, str):
        raise DefenderConfigError("the CSV must be text, got %s" % type(text).__name__)
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=True)
    try:
        header = None
        out = []
        for row in rows:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in row]
                if "value" not in header:
                    raise DefenderConfigError("line %d: the header names no value column (columns: %s)"
                                              % (rows.line_num, ", ".join(header)))
                continue
            if len(row) > len(header):
                raise DefenderConfigError("line %d has %d cells, the header %d (a comma in a value needs quotes)"
                                          % (rows.line_num, len(row), len(header)))
            entry = {}
            for name, cell in zip(header, row):
                cell = cell.strip()
                if not cell or not name:
                    continue
                if name == "rbac_group_names":
                    entry[name] = [g.strip() for g in cell.split(";") if g.strip()]
                elif name == "generate_alert":
                    if cell.lower() not in _BOOLEANS:
                        raise DefenderConfigError("line %d: generate_alert must be true or false, got %r"
                                                  % (rows.line_num, cell))
                    entry[name] = _BOOLEANS[cell.lower()]
                else:
                    entry[name] = cell
            out.append(entry)
    except csv.Error as exc:
        raise DefenderConfigError("line %d: %s" % (rows.line_num, exc)) from None
    return out


def _expiration(value):
    dt = parse_time(value, "expiration")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if not dt.microsecond else ".%06dZ" % dt.microsecond)


def desired(item, defaults, state, warn):
    """One requested indicator (``item`` over the module-level ``defaults``), in API field names, validated."""
    if not isinstance(item, dict):
        raise DefenderConfigError("each entry of indicators must be a dict with value and type")
    unknown = sorted(set(item) - set(ITEM_KEYS))
    if unknown:
        raise DefenderConfigError("unknown key(s) in an indicators entry: %s (allowed: %s)"
                                  % (", ".join(unknown), ", ".join(ITEM_KEYS)))
    merged = dict(defaults)
    merged.update({k: v for k, v in item.items() if v is not None})
    if not merged.get("type"):
        raise DefenderConfigError("indicator %r: type is required (%s)" % (merged.get("value"), ", ".join(TYPES)))
    if merged["type"] not in TYPES:
        raise DefenderConfigError("indicator %r: type must be one of %s, got %r"
                                  % (merged.get("value"), ", ".join(TYPES), merged["type"]))
    api_type = TYPES[merged["type"]]
    want = {"indicatorType": api_type, "indicatorValue": check_value(api_type, merged.get("value"))}
    label = "%s %s" % (merged["type"], want["indicatorValue"])
    action = merged.get("action")
    if action is not None:
        if action not in ACTIONS:
            raise DefenderConfigError("%s: action must be one of %s, got %r" % (label, ", ".join(ACTIONS), action))
        action = ACTIONS[action]
        if action in RETIRED_ACTIONS:
            new = replacement(action, api_type)
            if state == "present" and new not in ALLOWED_ACTIONS[api_type]:
                raise DefenderConfigError(
                    "%s: action %s was retired in January 2022; its replacement %s is not available for %s "
                    "indicators (allowed: %s)" % (label, merged["action"], TYPE_ACTION_NAMES[new], merged["type"],
                                                  ", ".join(TYPE_ACTION_NAMES[a] for a in ALLOWED_ACTIONS[api_type])))
            warn("%s: action %s was retired in January 2022; sending %s with generate_alert true instead"
                 % (label, merged["action"], new))
            action = new
            if merged.get("generate_alert") is False:
                raise DefenderConfigError("%s: action %s means generate_alert true" % (label, merged["action"]))
            merged["generate_alert"] = True
        want["action"] = action
    if state == "absent":
        return want
    if action is None:
        raise DefenderConfigError("%s: action is required when state=present" % label)
    if action not in ALLOWED_ACTIONS[api_type]:
        raise DefenderConfigError("%s: action %s is not available for %s indicators (allowed: %s)"
                                  % (label, merged["action"], merged["type"],
                                     ", ".join(TYPE_ACTION_NAMES[a] for a in ALLOWED_ACTIONS[api_type])))
    if action == "Audit":
        if merged.get("generate_alert") is False:
            raise DefenderConfigError("%s: action audit requires generate_alert true" % label)
        merged["generate_alert"] = True
    for name in ("title", "description"):
        text = merged.get(name)
        if not isinstance(text, str) or not text.strip():
            raise DefenderConfigError("%s: %s is required when state=present (the API requires it)" % (label, name))
        want[name] = text
    if merged.get("severity") is not None and merged["severity"] not in SEVERITIES:
        raise DefenderConfigError("%s: severity must be one of %s" % (label, ", ".join(SEVERITIES)))
    for option, field in OPTIONAL:
        value = merged.get(option)
        if value is None:
            continue
        if option == "expiration":
            value = _expiration(value)
        elif option == "rbac_group_names":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise DefenderConfigError("%s: rbac_group_names must be a list of device group names" % label)
            value = list(value)
        elif option == "generate_alert" and not isinstance(value, bool):
            raise DefenderConfigError("%s: generate_alert must be a boolean" % label)
        elif option == "educate_url" and (api_type not in ("Url", "DomainName") or action not in ("Block", "Warn")):
            raise DefenderConfigError("%s: educate_url applies to block and warn indicators of type url or domain "
                                      "only (Microsoft documents it for Block/Warn URL indicators)" % label)
        elif option in ("educate_url", "external_id", "application") and not (isinstance(value, str) and value):
            raise DefenderConfigError("%s: %s must be a non-empty string" % (label, option))
        want[field] = value
    return want


TYPE_ACTION_NAMES = {v: k for k, v in ACTIONS.items()}


def unique(wanted):
    """The requested indicators without repeats; the same indicator asked for twice differently is an error."""
    seen, out = {}, []
    for want in wanted:
        key = key_of(want["indicatorType"], want["indicatorValue"])
        if key in seen:
            if seen[key] != want:
                raise DefenderConfigError("indicator %s %s is requested twice with different settings"
                                          % (TYPE_NAMES[key[0]], want["indicatorValue"]))
            continue
        seen[key] = want
        out.append(want)
    return out


def current_action(indicator):
    """The indicator's action in today's terms (retired actions read as their replacements for its type)."""
    return replacement(indicator.get("action"), indicator.get("indicatorType"))


def _same(field, have, want):
    if field == "expirationTime":
        if not have:
            return False
        try:
            return parse_time(have, field) == parse_time(want, field)
        except DefenderConfigError:
            return False
    if field == "rbacGroupNames":
        return sorted(have or []) == sorted(want)
    if field == "generateAlert":
        return bool(have) == want
    return have == want


def differences(indicator, want):
    """API fields of ``want`` that ``indicator`` does not have yet."""
    out = {}
    for field, value in want.items():
        if field in ("indicatorType", "indicatorValue", "application"):
            continue  # application is set on create only: another one cannot be an update
        have = current_action(indicator) if field == "action" else indicator.get(field)
        if field == "generateAlert" and indicator.get("action") in RETIRED_ACTIONS:
            have = True  # Alert and AlertAndBlock always alerted
        if not _same(field, have, value):
            out[field] = value
    return out


def predict(indicator, want):
    after = dict(indicator or {})
    after.update(want)
    return after


class Plan:
    """What to do for the requested indicators, given the visible ones."""

    def __init__(self):
        self.create = []   # (want)
        self.update = []   # (want, existing, changes)
        self.delete = []   # existing indicators (absent, or duplicates of a present one)
        self.results = []  # one per requested indicator: dict(type, value, result, id, indicator)
        self.visible = 0
        self.notes = []    # warnings for the task


def plan(wanted, existing, state):
    """``wanted``: desired dicts; ``existing``: visible indicators (any number per key). Returns a Plan."""
    groups = {}
    for ind in existing:
        if isinstance(ind, dict) and ind.get("indicatorType") and isinstance(ind.get("indicatorValue"), str):
            groups.setdefault(key_of(ind["indicatorType"], ind["indicatorValue"]), []).append(ind)
    todo = Plan()
    todo.visible = len(existing)
    for want in unique(wanted):
        key = key_of(want["indicatorType"], want["indicatorValue"])
        have = sorted(groups.get(key, []), key=id_order)
        entry = {"type": TYPE_NAMES[want["indicatorType"]], "value": want["indicatorValue"], "id": None,
                 "indicator": None}
        if state == "absent":
            gone = [i for i in have if "action" not in want or current_action(i) == want["action"]]
            todo.delete.extend(gone)
            entry.update(result="deleted" if gone else "absent", id=gone[0].get("id") if gone else None,
                         indicator=gone[0] if gone else None)
        elif not have:
            todo.create.append(want)
            entry.update(result="created", indicator=predict(None, want))
        else:
            keep = next((i for i in have if current_action(i) == want["action"]), have[0])
            todo.delete.extend(i for i in have if i is not keep)  # leftover duplicates
            changes = differences(keep, want)
            if want.get("application") is not None and keep.get("application") != want["application"]:
                todo.notes.append("%s %s: application stays %r (the service sets it on create only)"
                                  % (TYPE_NAMES[want["indicatorType"]], want["indicatorValue"], keep.get("application")))
            if changes:
                todo.update.append((complete(want, keep), keep, changes))
            entry.update(result="updated" if changes else "unchanged", id=keep.get("id"),
                         indicator=predict(keep, want) if changes else keep)
        todo.results.append(entry)
    return todo


def id_order(ind):
    ident = str(ind.get("id") or "")
    return (0, int(ident)) if ident.isdigit() else (1, ident)


def complete(want, existing):
    """The whole desired indicator for an update: ``want`` plus what the indicator as read holds for the optional
    fields the task does not set (see CARRIED_OVER)."""
    full = dict(want)
    action = want.get("action")
    for field in CARRIED_OVER:
        if field in full or existing.get(field) is None:
            continue
        if field == "educateUrl" and (want["indicatorType"] not in ("Url", "DomainName")
                                      or action not in ("Block", "Warn")):
            continue  # not valid for the new action: dropped with the old one
        if field == "generateAlert" and action == "Audit":
            continue  # desired() set it
        full[field] = existing[field]
    if existing.get("action") in RETIRED_ACTIONS and "generateAlert" not in want:
        full["generateAlert"] = True  # Alert and AlertAndBlock always alerted
    return full


def body_for(want):
    """The POST / import body: the desired indicator (for an update, complete: see :func:`complete`)."""
    return dict(want)


# --- reading --------------------------------------------------------------------------------------


def value_clause(api_type, value):
    """``indicatorValue eq ...``, also with the lower- and upper-case spellings where case does not matter (hashes,
    domains), since the service may have stored another spelling than the one asked for."""
    if api_type == "Url" or api_type is None:
        return eq("indicatorValue", value)
    spellings = list(dict.fromkeys((value, value.lower(), value.upper() if api_type in _HASH_LENGTH else value)))
    return any_of("indicatorValue", spellings)


def read(client, api_type=None, value=None, action=None, raw=None, limit=None, page_size=10000):
    flt = and_all(value_clause(api_type, value) if value is not None else None,
                  eq("indicatorType", api_type) if api_type else None,
                  eq("action", action) if action else None,
                  raw)
    params = {"$filter": flt} if flt else {}
    return list(client.pages(PATH, params=params, page_size=page_size, limit=limit))


# --- sending ----------------------------------------------------------------------------------------


class Sender:
    """Sends a Plan: single calls for one indicator, import / BatchDelete in chunks of 500 for many.

    Creations and updates go first and deletions last, so a failure half-way never leaves a value unblocked
    that was blocked before. A write whose response is lost is never re-sent: the indicators are read again and
    the run fails if the change is not visible.
    """

    def __init__(self, client, bulk):
        self.client = client
        self.bulk = bulk  # import and BatchDelete are paced by the client's shared budgets of their own limits
        self.failures = []  # (label, reason)
        self.ids = {}       # key -> id after the run
        self.calls = {"post": 0, "delete": 0, "import": 0, "batch_delete": 0}
        self.deleted = 0

    def send(self, todo):
        upserts = list(todo.create) + [u[0] for u in todo.update]
        replaced = {}  # key -> old indicator whose action changed (deleted once the new one exists)
        for want, keep, changes in todo.update:
            if "action" in changes:
                replaced[key_of(want["indicatorType"], want["indicatorValue"])] = keep
        if upserts:
            if self.bulk:
                self._import(upserts)
            else:
                for n, want in enumerate(upserts):
                    progress.report("sending indicator %d of %d" % (n + 1, len(upserts)), done=n, total=len(upserts))
                    self._post(want)
        deletions = list(todo.delete)
        for key, old in replaced.items():
            new_id = self.ids.get(key)
            if new_id is not None and str(new_id) != str(old.get("id")):
                deletions.append(old)
        ids = []
        for ind in deletions:
            if ind.get("id") is not None and str(ind["id"]) not in ids:
                ids.append(str(ind["id"]))
        if ids:
            if self.bulk:
                self._batch_delete(ids)
            else:
                for n, ident in enumerate(ids):
                    progress.report("deleting indicator %d of %d" % (n + 1, len(ids)), done=n, total=len(ids))
                    self._delete(ident)
        for entry in todo.results:
            new_id = self.ids.get(key_of(TYPES[entry["type"]], entry["value"]))
            if new_id is not None and entry["result"] in ("created", "updated"):
                entry["id"] = str(new_id)
                if isinstance(entry.get("indicator"), dict):
                    entry["indicator"] = dict(entry["indicator"], id=str(new_id))

    def _post(self, want):
        try:
            self.calls["post"] += 1
            got = self.client.post(PATH, body_for(want))
        except DefenderOutcomeUnknownError as exc:
            self._confirm(exc, [want])
            return
        except DefenderError as exc:
            if exc.status == 400:
                raise exc.reworded("the API refused %s indicator %s: %s" % (
                    TYPE_NAMES[want["indicatorType"]], want["indicatorValue"], exc.message)) from None
            raise
        if isinstance(got, dict) and got.get("id") is not None:
            self.ids[key_of(want["indicatorType"], want["indicatorValue"])] = str(got["id"])

    def _import(self, upserts):
        for start in range(0, len(upserts), CHUNK):
            chunk = upserts[start:start + CHUNK]
            # said before the call: the client may first wait for the import limit (30 calls a minute)
            progress.report("import: indicators %s-%s of %s" % ("{:,}".format(start + 1), "{:,}".format(start + len(chunk)),
                                                                "{:,}".format(len(upserts))),
                            done=start, total=len(upserts), force=True)
            try:
                self.calls["import"] += 1
                got = self.client.post(IMPORT_PATH, {"Indicators": [body_for(w) for w in chunk]})
            except DefenderOutcomeUnknownError as exc:
                self._confirm(exc, chunk)
                continue
            results = got.get("value") if isinstance(got, dict) else None
            if not isinstance(results, list) or len(results) != len(chunk):
                # Without one result per item the outcome of this chunk is not known: read it back.
                self._confirm(DefenderOutcomeUnknownError("the import answer did not list every indicator",
                                                          method="POST", path=IMPORT_PATH), chunk)
                continue
            for want, res in zip(chunk, results):
                label = "%s %s" % (TYPE_NAMES[want["indicatorType"]], want["indicatorValue"])
                if not isinstance(res, dict) or res.get("isFailed"):
                    reason = res.get("failureReason") if isinstance(res, dict) else None
                    self.failures.append((label, reason or "failed without a reason"))
                elif res.get("id") is not None:
                    self.ids[key_of(want["indicatorType"], want["indicatorValue"])] = str(res["id"])

    def _confirm(self, exc, wants):
        """After a lost response: read the indicators again; fail unless every change is visible."""
        by_key = dict((key_of(w["indicatorType"], w["indicatorValue"]), w) for w in wants)

        def read_matching(keys):
            index = {}
            for ind in read(self.client):
                index.setdefault(key_of(ind.get("indicatorType"), str(ind.get("indicatorValue"))), []).append(ind)
            return dict((k, next((i for i in index.get(k, []) if not differences(i, by_key[k])), None)) for k in keys)

        found = outcome.read_back(exc, list(by_key), read_matching, lambda _key, _indicator: True)
        for key, match in found.seen.items():
            self.ids[key] = str(match.get("id"))
        if not found.complete:
            raise found.error("indicator(s)")

    def _delete(self, ident):
        try:
            self.calls["delete"] += 1
            self.client.request("DELETE", "%s/%s" % (PATH, segment(ident, "indicator id")))
        except DefenderError as exc:
            if exc.status == 404:
                return  # already gone: the state we want
            if isinstance(exc, DefenderOutcomeUnknownError):
                self._confirm_deleted(exc, [ident])
                self.deleted += 1
                return
            raise
        self.deleted += 1

    def _batch_delete(self, ids):
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            progress.report("BatchDelete: indicators %s-%s of %s" % ("{:,}".format(start + 1),
                                                                     "{:,}".format(start + len(chunk)),
                                                                     "{:,}".format(len(ids))),
                            done=start, total=len(ids), force=True)
            for _attempt in range(3):
                try:
                    self.calls["batch_delete"] += 1
                    self.client.post(BATCH_DELETE_PATH, {"IndicatorIds": chunk})
                    self.deleted += len(chunk)
                    break
                except DefenderOutcomeUnknownError as exc:
                    self._confirm_deleted(exc, chunk)
                    self.deleted += len(chunk)
                    break
                except DefenderError as exc:
                    if exc.status != 404:
                        raise
                    # Some id is gone already (a definite answer, not a lost one): send the ones still there.
                    still = self._still_there(chunk)
                    if not still:
                        break
                    chunk = still
            else:
                raise DefenderError("BatchDelete kept answering 404 for indicators that are listed: %s"
                                    % ", ".join(chunk[:10]), status=404, method="POST", path=BATCH_DELETE_PATH)

    def _still_there(self, ids):
        present = {str(i.get("id")) for i in read(self.client)}
        return [i for i in ids if i in present]

    def _confirm_deleted(self, exc, ids):
        def listed(keys):
            still = set(self._still_there(keys))
            return dict((i, i in still) for i in keys)

        found = outcome.read_back(exc, ids, listed, lambda _id, still: not still)
        if not found.complete:
            raise found.error("indicator(s)")


def check_cap(todo, cap=MAX_ACTIVE):
    """Fail before sending when the run would pass the tenant's cap of active indicators."""
    deleting = len({str(i.get("id")) for i in todo.delete})
    after = todo.visible + len(todo.create) - deleting
    if len(todo.create) and after > cap:
        raise DefenderConfigError(
            "this would make %d active indicators (%d now visible to this app, %d to create, %d to delete); a tenant "
            "holds at most %d and Microsoft does not raise that limit. Nothing was sent: remove or let expire "
            "some indicators first" % (after, todo.visible, len(todo.create), deleting, cap))
