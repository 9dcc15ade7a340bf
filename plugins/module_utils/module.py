# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module base: :class:`DefenderModule`, an AnsibleModule with the shared options, settings and clients, and
one way to fail (never a traceback, never a secret). Modules use its surface only (like amazon.aws's
AnsibleAWSModule)."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.defender.endpoint.plugins.module_utils.apis import api_named
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.settings import CONNECTION_ARGUMENT_SPEC, Settings, connect

try:
    import requests  # noqa: F401  pylint: disable=unused-import
    REQUESTS_IMPORT_ERROR = None
except ImportError:
    REQUESTS_IMPORT_ERROR = traceback.format_exc()


def defender_argument_spec(**module_options):
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(module_options)
    return spec


class DefenderModule:
    """AnsibleModule plus the shared options, settings and client; errors become clean fail_json.

    Modules use this surface only (``params``, ``check_mode``, ``diff``, ``warn``, ``client``, ``fail``,
    ``exit``), never ``self.module``: what the argument spec declares (choices, ``mutually_exclusive``,
    ``required_together``, ``required_if``, ``required_by``) is checked once, by Ansible, before ``run``.
    """

    def __init__(self, argument_spec=None, **kwargs):
        self.module = AnsibleModule(argument_spec=defender_argument_spec(**(argument_spec or {})), **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self._clients = {}
        if REQUESTS_IMPORT_ERROR:
            from ansible.module_utils.basic import missing_required_lib
            self.module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
        try:
            self.settings = Settings(self.params)
        except DefenderError as exc:
            self.fail(exc)
        if not self.settings.validate_certs:
            self.warn("validate_certs is false: TLS certificates are not checked, so a man in the middle can "
                      "read tokens and answers; use ca_path instead")

    @property
    def diff(self):
        """True when the task runs in diff mode (``--diff`` or ``diff: true``)."""
        return bool(self.module._diff)

    def warn(self, message):
        self.module.warn(message)

    def client(self, pool_size=10, rate_budget=None, api=None):
        """The client of ``api`` (``apis.DEFENDER``, the default, or ``apis.GRAPH``; or their names), created once
        per module run: one token per API audience, the process's shared budgets per API host."""
        api = api_named(api)
        if api.name not in self._clients:
            self._clients[api.name] = connect(self.settings, warn=self.warn, pool_size=pool_size,
                                              rate_budget=rate_budget, api=api)
        return self._clients[api.name][0]

    def provider(self, api=None):
        """The token provider of ``api``'s client."""
        self.client(api=api)
        return self._clients[api_named(api).name][1]

    @property
    def token_provider(self):
        return self.provider()

    def fail(self, error, **result):
        """fail_json from a DefenderError (or any message), never with a traceback or a secret.

        ``result`` is returned next to ``msg`` (``changed``, ``results``...), so a task that failed half-way
        still reports what it did; the error's ``status``, ``error_code`` and ``request_id`` are added when
        known, without overriding a key the caller set.
        """
        if isinstance(error, DefenderError):
            for key, value in error.to_result().items():
                if value is not None:
                    result.setdefault(key, value)
        result.setdefault("changed", False)
        self.module.fail_json(msg=str(error), **result)

    def exit(self, **result):
        self.module.exit_json(**result)

    def run(self, func):
        """Run ``func(self)``; every failure becomes one clean fail_json, never a raw traceback."""
        try:
            func(self)
        except DefenderError as exc:
            self.fail(exc)
        except OSError as exc:  # a report or export file that cannot be written, a full disk...
            self.module.fail_json(msg="%s%s" % (exc.strerror or type(exc).__name__,
                                                ": %s" % exc.filename if exc.filename else ""))
        except Exception as exc:  # pylint: disable=broad-except
            # The exception text may quote data (even a token), so only its type and the frames are shown;
            # Ansible prints the frames at -vvv for a bug report.
            self.module.fail_json(msg="unexpected %s; please report this with the -vvv output" % type(exc).__name__,
                                  exception="".join(traceback.format_tb(exc.__traceback__)))
