# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection's event sources share: their arguments (the modules' connection options with the same
environment variables, whole numbers, the state file) and the poll loop that hands each change over before the
position moves past it."""

from __future__ import annotations

import asyncio
import logging
import os

FATAL_STATUSES = (400, 401, 403, 404)  # a request the service refuses will be refused again: stop the source
MAX_BACKOFF = 900


def connection_options(args, connection_spec):
    """The connection options from ``args`` or, as in the modules, their environment variables."""
    options = {}
    for name, spec in connection_spec.items():
        value = args.get(name)
        if value is None and spec.get("fallback"):
            for env in spec["fallback"][1]:
                if os.environ.get(env):
                    value = os.environ[env]
                    break
        options[name] = value if value is not None else spec.get("default")
    if isinstance(options.get("timeout"), str):
        options["timeout"] = whole_number({"timeout": options["timeout"]}, "timeout", 30, 1, "")
    return options


def whole_number(args, name, default, minimum, source):
    value = args.get(name, default)
    if value is None:
        value = default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError("%s%s must be a whole number, got %r" % (source, name, value)) from None
    if isinstance(value, bool) or number < minimum or str(number) != str(value).strip():
        raise ValueError("%s%s must be a whole number of at least %d, got %r" % (source, name, minimum, value))
    return number


def check_args(args, own, connection_spec, source):
    """``args`` without ansible-rulebook's own (``eda_*``); ValueError naming any unknown argument."""
    args = {k: v for k, v in (args or {}).items() if not str(k).startswith("eda_")}
    known = set(own) | set(connection_spec)
    unknown = sorted(str(k) for k in args if k not in known)
    if unknown:
        raise ValueError("%sunknown argument(s) %s; valid arguments are %s"
                         % (source, ", ".join(unknown), ", ".join(sorted(known))))
    return args


def state_file_path(value, source):
    if value is None:
        return None
    path = os.path.abspath(os.path.expanduser(str(value)))
    if not os.path.isdir(os.path.dirname(path)):
        raise ValueError("%sthe directory of state_file %s does not exist" % (source, path))
    return path


async def poll_forever(queue, feed, interval, error_class, event, name, sleep=asyncio.sleep):
    """Poll ``feed`` forever; ``event(item, change)`` is put on ``queue`` and the position moves only after."""
    log = logging.getLogger(name)
    failures = 0
    try:
        while True:
            try:
                changes = await asyncio.to_thread(feed.poll)
            except error_class as exc:
                if exc.status in FATAL_STATUSES:
                    raise RuntimeError("%s: %s" % (name, exc)) from None
                failures += 1
                delay = min(interval * 2 ** min(failures - 1, 10), MAX_BACKOFF)
                log.warning("%s: %s; polling again in %d s", name, exc, delay)
                await sleep(delay)
                continue
            failures = 0
            for item, change in changes:
                await queue.put(event(item, change))
                feed.mark(item)
                feed.save()
            feed.save(durable=True)
            await sleep(interval)
    finally:
        feed.save(durable=True)  # a clean stop (cancellation) keeps the position of everything handed over
