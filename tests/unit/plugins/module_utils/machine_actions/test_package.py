# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""machine_actions/package.py: file names from untrusted computer names, the signed link read and checked
without ever showing it (the download itself: tests/unit/plugins/modules/test_machine_action.py)."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderError
from ansible_collections.defender.endpoint.plugins.module_utils.machine_actions import package

AID = "5382f7ea-7557-4ab7-9782-d50480024a4e"


@pytest.mark.parametrize("name, expected", [
    ("web-01.contoso.com", "web-01.contoso.com_%s.zip" % AID),
    ("../../etc/passwd", "_.._etc_passwd_%s.zip" % AID),
    ("..", "%s_%s.zip" % ("a" * 40, AID)),
    (None, "%s_%s.zip" % ("a" * 40, AID)),
])
def test_package_name_stays_in_its_folder(name, expected):
    got = package.package_name({"computer_dns_name": name, "machine_id": "a" * 40, "action": {"id": AID}})
    assert got == expected and "/" not in got


class Answers:
    def __init__(self, answer):
        self.answer = answer

    def get(self, path):
        return self.answer


@pytest.mark.parametrize("answer", [{"value": '"https://dl.example.test/p.zip?sig=SECRET"'},
                                    "https://dl.example.test/p.zip?sig=SECRET"])
def test_link_unquoted(answer):
    downloader = package.PackageDownloader(Answers(answer), session=object.__new__(type("S", (), {})))
    assert downloader.link(AID, 0, 1) == "https://dl.example.test/p.zip?sig=SECRET"


def test_a_link_that_is_not_https_is_refused_without_showing_it():
    downloader = package.PackageDownloader(Answers({"value": "http://dl.example.test/p.zip?sig=SECRET"}),
                                           session=object.__new__(type("S", (), {})))
    with pytest.raises(DefenderError) as info:
        downloader.link(AID, 0, 1)
    assert "SECRET" not in str(info.value) and "HTTPS" in str(info.value)
