# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side glue: plugin options (which already resolved their env: entries) -> the shared client."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.utils.display import Display

from ansible_collections.defender.endpoint.plugins.module_utils.settings import CONNECTION_ARGUMENT_SPEC, Settings, connect
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.validation import unknown_options

display = Display()


def plugin_settings(plugin):
    """Settings from a plugin's options (same names as the modules' shared options)."""
    options = {}
    for name in CONNECTION_ARGUMENT_SPEC:
        try:
            value, origin = plugin.get_option_and_origin(name)
        except KeyError:
            value, origin = None, None
        # An environment variable set to "" means unset, as for the modules. AWX injects every variable of a
        # credential type, empty when its input is; Ansible would turn an empty path into the current directory.
        if isinstance(origin, str) and origin.startswith("env:") and not os.environ.get(origin[4:].strip()):
            value = None
        options[name] = value
    try:
        return Settings(options)
    except DefenderError as exc:
        raise AnsibleError(str(exc)) from None


def plugin_client(plugin, api=None):
    """The client and token provider of ``api`` (an ``apis`` descriptor or its name; the Defender API by default)."""
    settings = plugin_settings(plugin)
    if not settings.validate_certs:
        display.warning("validate_certs is false: TLS certificates are not checked; prefer ca_path")
    return connect(settings, warn=display.warning, api=api)


def check_known_keys(given, known, where, error=AnsibleError):
    """Fail on keys that are not options: Ansible ignores them, so a typo (``filter:`` for ``filters:``,
    ``tenant=`` for ``tenant_id=``) would silently widen what a plugin reads, or sign in to the tenant of the
    environment. Every plugin of the collection (lookup, inventory, event source) calls this."""
    msg = unknown_options(given, known, where)
    if msg:
        raise error(msg)
