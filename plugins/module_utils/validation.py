# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The input rules every module, plugin and helper shares: one GUID pattern, one control-character rule,
one check for unknown plugin options.

What the argument spec can say (types, choices, mutual exclusion, required together) stays in the argument
spec and is checked once, by Ansible; this file holds only what a spec cannot express. It imports nothing
of the collection but its errors, so every other module_utils file can use it.
"""

from __future__ import annotations

import difflib
import re

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError

# A GUID in its usual 8-4-4-4-12 form (tenant ids, application ids, machine action ids); GUID_TEXT without anchors
# finds one inside a longer text (an issuer URL). \Z, not $: "$" also matches before a final newline.
GUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
GUID = re.compile(r"^%s\Z" % GUID_TEXT)

# A DNS domain such as contoso.onmicrosoft.com (a tenant given by name).
DOMAIN = re.compile(r"^(?=.{3,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                    r"[A-Za-z0-9])?)+\Z")

# Control characters: C0 (NUL to US, which includes tab, CR and LF) and DEL. None of them belongs in an id, a
# name, an OData literal or a URL segment; in a header or a query they are an injection.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_guid(value, name, what="a GUID"):
    """``value`` stripped, when it is a GUID; otherwise a DefenderConfigError naming ``name``."""
    if not isinstance(value, str) or not GUID.match(value.strip()):
        raise DefenderConfigError("%s must be %s, got %r" % (name, what, value[:80] if isinstance(value, str) else value))
    return value.strip()


def has_control(value):
    """True when ``value`` (a string) holds a control character."""
    return isinstance(value, str) and bool(_CONTROL.search(value))


def check_no_control(value, name, what="value"):
    """``value`` unchanged, or a DefenderConfigError when it holds a control character."""
    if has_control(value):
        raise DefenderConfigError("%s: %s %r contains a control character (newline, tab, escape...), which is not "
                                  "allowed" % (name, what, value[:60]))
    return value


def check_text(value, name, max_length=None):
    """A non-empty string without control characters, surrounding white space removed."""
    if not isinstance(value, str) or not value.strip():
        raise DefenderConfigError("%s must be a non-empty string, got %r" % (name, value))
    value = value.strip()
    check_no_control(value, name)
    if max_length is not None and len(value) > max_length:
        raise DefenderConfigError("%s is longer than %d characters" % (name, max_length))
    return value


def unknown_options(given, valid, what):
    """A message for option names in ``given`` that are not in ``valid`` (None when all are known).

    For plugins (lookups, inventory, event sources): a misspelled option name (``tenant=`` for
    ``tenant_id=``) must fail rather than fall back to an environment variable that points elsewhere.
    """
    valid = sorted(set(str(v) for v in valid))
    unknown = sorted(set(str(k) for k in given or ()) - set(valid))
    if not unknown:
        return None
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        parts.append("%s (did you mean %s?)" % (name, close[0]) if close else name)
    return "%s: unknown option(s) %s; valid options are %s" % (what, ", ".join(parts), ", ".join(valid))


def normalize(value, allowed, name, aliases=None):
    """``value`` in the API's spelling, matched case-insensitively against ``allowed`` (``aliases``: other
    spellings, lower case, to the one the API uses)."""
    if not isinstance(value, str) or not value.strip():
        raise DefenderConfigError("%s must be one of %s, got %r" % (name, ", ".join(allowed), value))
    folded = value.strip().lower()
    if aliases:
        folded = aliases.get(folded, folded).lower()
    for candidate in allowed:
        if candidate.lower() == folded:
            return candidate
    raise DefenderConfigError("%s must be one of %s, got %r" % (name, ", ".join(allowed), value))


def normalize_list(values, allowed, name, aliases=None):
    """A list option normalised with :func:`normalize`, duplicates dropped, order kept."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    if not values:
        raise DefenderConfigError("%s must not be an empty list (omit it to match every value)" % name)
    out = []
    for value in values:
        canon = normalize(value, allowed, name, aliases)
        if canon not in out:
            out.append(canon)
    return out


def text_list(values, name):
    """A list option of free texts (one string is a list of one), kept as given (a value is matched exactly),
    none blank or with a control character, duplicates dropped, order kept; None when unset."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    out = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise DefenderConfigError("%s must be a non-empty string or a list of them, got %r" % (name, value))
        check_no_control(value, name)
        if value not in out:
            out.append(value)
    if not out:
        raise DefenderConfigError("%s must not be an empty list (omit it to match every value)" % name)
    return out
