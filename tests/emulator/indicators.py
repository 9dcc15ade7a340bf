"""Custom indicators (``/api/indicators``): list, submit-or-update, delete, import, BatchDelete.

Behaviour follows Microsoft's pages (api/ti-indicator, post-ti-indicator, import-ti-indicators,
batch-delete-ti-indicators) and MicrosoftDocs/microsoft-365-docs#4927 and #5890:
- POST and import are "submit or update"; the match key is undocumented and probably includes ``action``,
  so this emulator matches on (type, value, action): changing an indicator's action creates a second one.
- POST answers 200 for both create and update; import answers 200 even when items fail (``isFailed``).
- BatchDelete: 204 only when every id existed; 400 for an empty list, more than 500 ids or a bad id; 404 when
  any id is missing (nothing is deleted then).
- ``Ti.ReadWrite`` sees (and deletes) only the indicators its own app created; ``Ti.ReadWrite.All`` sees all.
- At most ``MAX_ACTIVE`` active indicators per tenant (configurable through the control interface).
- Body keys are case-sensitive and undocumented keys are refused. ``educateUrl`` only on Block/Warn URL and domain
  indicators (ti-indicator.md: "Block/Warn URL indicators").
- Whether an update merges the fields it omits or resets them is not documented: config ``indicator_update`` picks
  ``merge`` (default) or ``replace`` (omitted fields go back to their defaults: ``rbacGroupNames`` [] = every device).
"""

import ipaddress
import re
import time

import data as D
from emulator_odata import datetime_key

TI_ROLES = ["Ti.ReadWrite", "Ti.ReadWrite.All"]
MAX_ACTIVE = 15000
MAX_BATCH = 500
TYPES = ("FileSha1", "FileSha256", "FileMd5", "CertificateThumbprint", "IpAddress", "DomainName", "Url")
ACTIONS = ("Warn", "Block", "Audit", "Alert", "AlertAndBlock", "BlockAndRemediate", "Allowed")
SEVERITIES = ("Informational", "Low", "Medium", "High")
REQUIRED = ("indicatorValue", "indicatorType", "action", "title", "description")
OPTIONAL = ("application", "expirationTime", "severity", "recommendedActions", "rbacGroupNames", "educateUrl",
            "generateAlert", "externalID")
# Documented $filter properties of GET /api/indicators.
FILTER_FIELDS = ["application", "createdByDisplayName", "expirationTime", "generateAlert", "title", "rbacGroupNames",
                 "rbacGroupIds", "indicatorValue", "indicatorType", "creationTimeDateTimeUtc", "createdBy", "action",
                 "severity"]
FIELDS = ["id", "indicatorValue", "indicatorType", "action", "application", "source", "sourceType", "title",
          "creationTimeDateTimeUtc", "createdBy", "createdByDisplayName", "createdBySource", "expirationTime",
          "lastUpdateTime", "lastUpdatedBy", "severity", "description", "recommendedActions", "rbacGroupNames",
          "rbacGroupIds", "generateAlert", "educateUrl", "externalID"]
_HASH_LEN = {"FileSha1": 40, "FileSha256": 64, "FileMd5": 32, "CertificateThumbprint": 40}
_NETWORK_ACTIONS = ("Allowed", "Audit", "Warn", "Block")
_ALLOWED_ACTIONS = {
    "FileSha1": ("Allowed", "Audit", "Warn", "Block", "BlockAndRemediate"),
    "FileSha256": ("Allowed", "Audit", "Warn", "Block", "BlockAndRemediate"),
    "FileMd5": ("Allowed", "Audit", "Warn", "Block", "BlockAndRemediate"),
    "CertificateThumbprint": ("Allowed", "BlockAndRemediate"),
    "IpAddress": _NETWORK_ACTIONS, "DomainName": _NETWORK_ACTIONS, "Url": _NETWORK_ACTIONS,
}
UPDATE_MODES = ("merge", "replace")
_RESET_ON_REPLACE = {"expirationTime": None, "severity": None, "recommendedActions": None, "rbacGroupNames": [],
                     "rbacGroupIds": [], "educateUrl": None, "generateAlert": False, "externalID": None}
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


class IndicatorError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def check_value(itype, value):
    """Raise IndicatorError (the documented 400 codes) for a value the service would refuse."""
    if itype in _HASH_LEN:
        if len(value) != _HASH_LEN[itype] or not re.fullmatch(r"[0-9A-Fa-f]+", value):
            raise IndicatorError(400, "InvalidHashValue", f"Invalid hash value '{value}' for type {itype}.")
    elif itype == "IpAddress":
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            raise IndicatorError(400, "InvalidIpAddress",
                                 f"Invalid IP address '{value}': CIDR notation and ranges are not supported.")
        if ip.version == 6 and ("::" in value or value.count(":") != 7):
            raise IndicatorError(400, "InvalidIpAddress", f"Invalid IP address '{value}': write all 8 IPv6 groups.")
    elif itype == "DomainName":
        if not _DOMAIN.match(value):
            raise IndicatorError(400, "InvalidDomainName", f"Invalid domain name '{value}'.")
    elif itype == "Url":
        if not re.fullmatch(r"(https?://)?[A-Za-z0-9.-]+(:\d+)?(/\S*)?", value) or "*" in value:
            raise IndicatorError(400, "InvalidUrl", f"Invalid URL '{value}'.")


def validate(body):
    """One indicator body as POST and import take it; returns the cleaned dict."""
    if not isinstance(body, dict):
        raise IndicatorError(400, "InvalidRequestBody", "An indicator must be a JSON object.")
    unknown = [k for k in body if k not in REQUIRED + OPTIONAL]
    if unknown:
        raise IndicatorError(400, "InvalidRequestBody", f"Unknown properties: {', '.join(sorted(unknown))}.")
    for k in REQUIRED:
        if not isinstance(body.get(k), str) or not body[k].strip():
            raise IndicatorError(400, "MissingRequiredParameter", f"The '{k}' parameter is required.")
    itype, action = body["indicatorType"], body["action"]
    if itype not in TYPES:
        raise IndicatorError(400, "InvalidInput", f"Invalid indicatorType '{itype}'.")
    if action not in ACTIONS:
        raise IndicatorError(400, "InvalidInput", f"Invalid action '{action}'.")
    if action in ("Alert", "AlertAndBlock"):
        raise IndicatorError(400, "InvalidInput", f"The action '{action}' is no longer supported; use Audit or "
                                                  "BlockAndRemediate with generateAlert.")
    if action not in _ALLOWED_ACTIONS[itype]:
        raise IndicatorError(400, "InvalidInput", f"The action '{action}' is not supported for {itype} indicators.")
    if "generateAlert" in body and not isinstance(body["generateAlert"], bool):
        raise IndicatorError(400, "InvalidRequestBody", "generateAlert must be a boolean.")
    if action == "Audit" and body.get("generateAlert") is not True:
        raise IndicatorError(400, "InvalidInput", "Audit indicators require generateAlert to be true.")
    if body.get("severity") is not None and body["severity"] not in SEVERITIES:
        raise IndicatorError(400, "InvalidInput", f"Invalid severity '{body['severity']}'.")
    names = body.get("rbacGroupNames")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise IndicatorError(400, "InvalidRequestBody", "rbacGroupNames must be an array of strings.")
    if body.get("educateUrl") is not None and (itype not in ("Url", "DomainName") or action not in ("Block", "Warn")):
        raise IndicatorError(400, "InvalidInput", "educateUrl applies to Block and Warn URL/domain indicators only.")
    if body.get("expirationTime") is not None and datetime_key(body["expirationTime"]) is None:
        raise IndicatorError(400, "InvalidRequestBody", f"Invalid expirationTime '{body['expirationTime']}'.")
    check_value(itype, body["indicatorValue"])
    return body


class IndicatorStore:
    """Every indicator of the tenant; callers hold the core lock."""

    def __init__(self, cap=MAX_ACTIVE):
        self.items = {}  # id -> entity
        self.next_id = 1000
        self.cap = cap
        self.expiring = set()  # ids with an expirationTime
        self.update_mode = "merge"

    def purge(self):
        """Expired indicators are deleted by the service."""
        now = time.time()
        for key in [k for k in self.expiring if k in self.items and _expired(self.items[k], now)]:
            del self.items[key]
            self.expiring.discard(key)

    def _index(self):
        """(type, lower value, action) -> entity, rebuilt when the items changed (seeding 15,000 stays fast)."""
        sig = (len(self.items), self.next_id)
        if getattr(self, "_sig", None) != sig:
            self._by_key = {}
            for i in self.items.values():
                self._by_key.setdefault((i["indicatorType"], i["indicatorValue"].lower(), i["action"]), []).append(i)
            self._sig = sig
        return self._by_key

    def active_count(self):
        self.purge()
        return len(self.items)

    def visible(self, claims):
        self.purge()
        roles = claims.get("roles") or []
        if "Ti.ReadWrite.All" in roles:
            return list(self.items.values())
        return [i for i in self.items.values() if i["createdBy"] == claims.get("appid")]

    def find(self, claims, itype, value, action):
        all_roles = "Ti.ReadWrite.All" in (claims.get("roles") or [])
        for item in self._index().get((itype, value.lower(), action), []):
            if all_roles or item["createdBy"] == claims.get("appid"):
                return item
        return None

    def upsert(self, claims, body, app_name):
        """Submit or update one validated body; returns the entity."""
        now = time.time()
        item = self.find(claims, body["indicatorType"], body["indicatorValue"], body["action"])
        if item is None:
            if self.active_count() >= self.cap:
                raise IndicatorError(400, "InvalidRequestBody",
                                     f"The maximum number of active indicators ({self.cap}) for this tenant was reached.")
            index = self._index()
            self.next_id += 1
            item = {k: None for k in FIELDS}
            item.update(id=str(self.next_id), createdBy=claims.get("appid"), createdByDisplayName=app_name,
                        source=app_name, sourceType="AadApp", createdBySource="PublicApi",
                        creationTimeDateTimeUtc=D.iso(now), rbacGroupNames=[], rbacGroupIds=[], generateAlert=False,
                        application=body.get("application"))
            self.items[item["id"]] = item
            index.setdefault((body["indicatorType"], body["indicatorValue"].lower(), body["action"]), []).append(item)
            self._sig = (len(self.items), self.next_id)
        elif self.update_mode == "replace":
            item.update(_RESET_ON_REPLACE)
        for k, v in body.items():
            if k == "application":
                continue  # set on create only, ignored on update (post-ti-indicator.md)
            item[k] = v
        if item.get("expirationTime"):
            self.expiring.add(item["id"])
        item["lastUpdateTime"] = D.iso(now)
        item["lastUpdatedBy"] = claims.get("appid")
        return item

    def delete(self, claims, ids):
        """Delete every id or none: returns the ids that are missing (or not visible)."""
        visible = {i["id"] for i in self.visible(claims)}
        missing = [i for i in ids if i not in visible]
        if not missing:
            for i in ids:
                self.items.pop(i, None)
        return missing


def _expired(item, now):
    key = datetime_key(item.get("expirationTime"))
    return key is not None and key <= datetime_key(D.iso(now))
