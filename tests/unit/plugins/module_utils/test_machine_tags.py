# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_tags: the tag checks and the per-machine plan (the module's runs are in tests/unit/plugins/modules)."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import machine_tags
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError


def test_tags_are_deduplicated_in_order():
    assert machine_tags.check_tags(["b", "a", "b"]) == ["b", "a"]


@pytest.mark.parametrize("tags,word", [([], "tags"), ([""], "tags[0]"), (["ok", " padded"], "tags[1]"),
                                       (["a\nb"], "tags[0]"), ("INC-1", "tags")])
def test_bad_tags_name_the_entry(tags, word):
    with pytest.raises(DefenderConfigError) as info:
        machine_tags.check_tags(tags)
    assert word in str(info.value)


def test_wanted_tags_compare_exactly():
    assert machine_tags.wanted_tags(["a", "B"], ["b", "a"], "present") == (["a", "B", "b"], ["b"], [])
    assert machine_tags.wanted_tags(["a", "B"], ["B", "c"], "absent") == (["a"], [], ["B"])
    assert machine_tags.wanted_tags(None, ["a"], "absent") == ([], [], [])


def test_tag_path_is_one_segment():
    assert machine_tags.tag_path("a/b") == "/api/machines/a%2Fb/tags"
