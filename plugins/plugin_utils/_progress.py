# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of progress: an action plugin that runs a module and prints its progress while it runs.

A module runs as a separate process and returns one JSON result at the end; nothing it prints while it works
reaches the screen. For long work (exports,
waiting for machine actions, hunting queries, bulk indicators) this action runs the module as usual, in a worker
thread of the task's own process, and meanwhile reads the record the module writes through
``module_utils/progress.py`` (a file whose path it passes in the module's environment as ``DEFENDER_PROGRESS_FILE``)
and prints it in the normal output, without ``-v``:

    defender.endpoint.alert_export [localhost]: 30,000 alerts written, 3 requests (12s)

A line is printed when the task has run a few seconds and the message changed, and at least every 10 seconds
while it runs (the same message with the elapsed time, so a quiet wait is visibly alive). The module's result is
the one a plain run returns: the module is started exactly as without this action (no ``async_wrapper``, no
``async_status`` run, no job file), so progress costs one thread and a local file read every half second.

Plain module execution (no progress, no asynchronous start) is used when the task sets ``async:`` itself, when
the connection is not local (the progress file is read on the controller; the collection's modules run there),
with ``become``, or when the variable ``defender_progress`` is false.

Lines never carry secrets: modules report counts, names and states only, and this side also masks the task's
secret option values and anything shaped like a token before printing (``display`` does not honour ``no_log``).

To give a module progress display, add ``plugins/action/<module>.py`` with::

    from ansible_collections.defender.endpoint.plugins.plugin_utils._progress import ProgressAction as ActionModule
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

ENV_VAR = "DEFENDER_PROGRESS_FILE"
POLL = 0.5               # seconds between two looks at the progress file (a local read)...
POLL_EARLY = 0.05        # ...and during the first FIRST_AFTER seconds, so a short task is not held up by polling
FIRST_AFTER = 3.0        # a task shorter than this prints nothing
CHANGED_EVERY = 5.0      # a changed message is printed at most this often
HEARTBEAT = 10.0         # something is printed at least this often
MAX_LINE = 300
SECRET_OPTIONS = ("client_secret", "client_certificate_password", "access_token")
_TOKENISH = re.compile(r"eyJ[A-Za-z0-9_-]{4,}(\.[A-Za-z0-9_-]*){1,2}")
_SIGNED_QUERY = re.compile(r"(?i)\b(sig|signature|se|sv|skoid|sktid|code|token|access_token|client_secret)=[^&\s]+")


def mask(text, secrets=()):
    """``text`` without any of ``secrets``, token-shaped strings or signed query parameters."""
    for secret in sorted((s for s in secrets if isinstance(s, str) and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "********")
    text = _TOKENISH.sub("********", text)
    return _SIGNED_QUERY.sub(lambda match: match.group(1) + "=********", text)


def progress_line(module, host, record, elapsed, secrets=()):
    """The printed line for one progress record (already masked and bounded)."""
    message = str(record.get("message") or "working")
    message = "".join(c for c in " ".join(message.split()) if c.isprintable())
    line = "%s [%s]: %s (%ds)" % (module, host, message, int(elapsed))
    line = mask(line, secrets)
    return line if len(line) <= MAX_LINE else line[:MAX_LINE - 3] + "..."


def read_record(path):
    """The latest progress record, or None (absent, being replaced, not JSON)."""
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


class Printer:
    """Decides when a progress record is worth a line: the pacing rules above, kept testable."""

    def __init__(self, first_after=FIRST_AFTER, changed_every=CHANGED_EVERY, heartbeat=HEARTBEAT):
        self.first_after = first_after
        self.changed_every = changed_every
        self.heartbeat = heartbeat
        self.last_printed = None   # elapsed time of the last line
        self.last_message = None

    def due(self, message, elapsed):
        if elapsed < self.first_after:
            return False
        if self.last_printed is None:
            return True
        since = elapsed - self.last_printed
        return since >= self.heartbeat or (message != self.last_message and since >= self.changed_every)

    def printed(self, message, elapsed):
        self.last_printed = elapsed
        self.last_message = message


class ProgressAction(ActionBase):
    """Runs the task's module in a worker thread and prints its progress records while it runs."""

    _supports_check_mode = True
    _supports_async = True

    def _progress_wanted(self, task_vars):
        try:
            wanted = boolean((task_vars or {}).get("defender_progress", True), strict=False)
        except TypeError:
            wanted = True
        become = bool(getattr(self._play_context, "become", False))
        return wanted and self._local() and not become

    def _secrets(self, task_vars):
        values = [self._task.args.get(name) for name in SECRET_OPTIONS]
        values += [os.environ.get(name) for name in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
                                                     "DEFENDER_ACCESS_TOKEN")]
        return [v for v in values if isinstance(v, str)]

    # Path options of the module: a relative one is made absolute here, on the controller, against the directory
    # ansible-playbook was run from (a module on a local connection runs in the playbook's folder, which for the
    # collection's playbooks is inside the installed collection); on another connection a relative one is refused.
    PATH_OPTIONS = ()

    def _local(self):
        name = getattr(self._connection, "_load_name", "") or ""
        return getattr(self._connection, "transport", "") == "local" or name.split(".")[-1] == "local"

    def _user_paths(self):
        """The task's arguments with relative path options resolved, or an error message."""
        args = dict(self._task.args)
        for option in self.PATH_OPTIONS:
            value = args.get(option)
            if not isinstance(value, str) or not value or os.path.isabs(os.path.expanduser(value)):
                continue
            if not self._local():
                return None, ("%s is a relative path (%s): give an absolute one (on a connection other than local "
                              "it would be relative to wherever the module runs)" % (option, value))
            args[option] = os.path.normpath(os.path.join(os.getcwd(), os.path.expanduser(value)))
        return args, None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        module = self._task.resolved_action or self._task.action
        args, error = self._user_paths()
        if error:
            result.update(failed=True, msg=error)
            return result
        self._task.args = args
        if self._task.async_val or not self._progress_wanted(task_vars):
            # the user's own async: (the executor polls) or progress not possible: a plain module run
            result.update(self._execute_module(module_name=module, module_args=self._task.args, task_vars=task_vars,
                                               wrap_async=bool(self._task.async_val)))
            if not self._task.async_val:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        result.update(self._run_with_progress(module, task_vars))
        return result

    def _run_with_progress(self, module, task_vars):
        folder = tempfile.mkdtemp(prefix="defender-progress-")  # 0700: only this user reads or writes it
        path = os.path.join(folder, "progress.json")
        environment = self._task.environment
        self._task.environment = list(environment or []) + [{ENV_VAR: path}]
        outcome = {}

        def execute():
            # the module runs exactly as without this action; only this thread waits for it
            try:
                outcome["result"] = self._execute_module(module_name=module, module_args=self._task.args,
                                                         task_vars=task_vars)
            except BaseException as exc:  # pylint: disable=broad-exception-caught
                outcome["error"] = exc   # raised again in the task's own thread, as a plain run would

        worker = threading.Thread(target=execute, name="defender-progress-module", daemon=True)
        try:
            worker.start()
            self._follow(module, worker, path, task_vars)
            worker.join()
        finally:
            self._task.environment = environment
            shutil.rmtree(folder, ignore_errors=True)
        if "error" in outcome:
            raise outcome["error"]
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return outcome["result"]

    def _follow(self, module, worker, progress_path, task_vars):
        host = (task_vars or {}).get("inventory_hostname") or "localhost"
        secrets = self._secrets(task_vars)
        printer = Printer()
        began = time.monotonic()
        while worker.is_alive():
            elapsed = time.monotonic() - began
            record = read_record(progress_path) or {}
            message = record.get("message") or "running"
            if printer.due(message, elapsed):
                display.display(progress_line(module, host, record, elapsed, secrets))
                printer.printed(message, elapsed)
            worker.join(POLL_EARLY if elapsed < FIRST_AFTER else POLL)
