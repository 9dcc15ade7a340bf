# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each shared argument spec and its one doc fragment name the same options with the same type, elements, default,
required and choices (sanity checks each module's docs against its spec; this checks the pair itself)."""

from __future__ import annotations

import ast
import os

import pytest
import yaml

from ansible_collections.defender.endpoint.plugins.module_utils import alerts
from ansible_collections.defender.endpoint.plugins.module_utils import graph_alerts
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import specs
from ansible_collections.defender.endpoint.plugins.module_utils.settings import CONNECTION_ARGUMENT_SPEC

ROOT = os.path.join(os.path.dirname(__file__), *[os.pardir] * 4)


def documentation(path, fragment=False):
    """A DOCUMENTATION string read from the source (importing a doc fragment here would put it in sys.modules
    outside Ansible's fragment loader, which later tests use)."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    body = tree.body
    if fragment:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == "ModuleDocFragment").body
    for node in body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets):
            return node.value.value
    raise AssertionError("no DOCUMENTATION in %s" % path)


def fragment_options(name):
    return yaml.safe_load(documentation("plugins/doc_fragments/%s.py" % name, fragment=True))["options"]


PAIRS = [
    ("connection", CONNECTION_ARGUMENT_SPEC),
    ("alert_filters", alerts.FILTER_ARGUMENT_SPEC),
    ("alerts_api", graph_alerts.API_ARGUMENT_SPEC),
    ("machine_selection", specs.MACHINE_SELECTION_SPEC),
    ("machine_actions", specs.ACTION_SPEC),
    ("machine_wait", specs.wait_argument_spec()),
]


def test_the_action_spec_is_the_machines_and_the_action_options():
    assert specs.action_argument_spec() == dict(specs.MACHINE_SELECTION_SPEC, **specs.ACTION_SPEC)


def spec_view(spec):
    return {name: (opt.get("type", "str"), opt.get("elements"), opt.get("default"), bool(opt.get("required")),
                   list(opt["choices"]) if "choices" in opt else None)
            for name, opt in spec.items()}


def doc_view(options):
    return {name: (opt.get("type", "str"), opt.get("elements"), opt.get("default"), bool(opt.get("required")),
                   list(opt["choices"]) if "choices" in opt else None)
            for name, opt in options.items()}


@pytest.mark.parametrize("name,spec", PAIRS, ids=[p[0] for p in PAIRS])
def test_fragment_matches_spec(name, spec):
    assert doc_view(fragment_options(name)) == spec_view(spec), name


def test_view_notices_a_difference():
    spec = dict(alerts.FILTER_ARGUMENT_SPEC, page_size=dict(type="int", default=100))
    assert doc_view(fragment_options("alert_filters")) != spec_view(spec)


def eda_alerts_options():
    return yaml.safe_load(documentation("extensions/eda/plugins/event_source/alerts.py"))["options"]


@pytest.mark.parametrize("option", ["severity", "status", "filter", "page_size"])
def test_eda_source_documents_the_shared_filters_as_the_fragment(option):
    # an EDA source cannot extend a doc fragment, so it repeats these texts: they must not drift
    assert eda_alerts_options()[option] == fragment_options("alert_filters")[option]
