# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The machine-action engine, one job per file:

- ``registry``: one entry per action kind (API type and path, body, own options and their checks, permission,
  toggle pairing, what counts as already done, follow-up). Adding an action is one entry there plus its
  documentation.
- ``specs``: the options the action modules share (argument spec, checks before any request) and what a task's
  options turn into (the client's budget, the plan of one task).
- ``history``: what a machine's action history says (the state of a pair of opposite actions, an action that is
  running or recently done) and what to do about it.
- ``engine``: per machine, read first, send at most once, never re-send a lost POST, follow with ``wait``.
- ``package``: the investigation package download (signed link, streamed 0600 file, never the bearer token).
- ``results``: the module's answer (labels, summary, failure message, diff, exit).
"""
