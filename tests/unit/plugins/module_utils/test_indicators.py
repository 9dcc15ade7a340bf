# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""indicators: values checked for their type before any request, and the match key (the module's runs, plans and
imports are in tests/unit/plugins/modules/test_indicator.py)."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import indicators
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError


@pytest.mark.parametrize("api_type,value", [("FileSha1", "a" * 40), ("FileSha256", "A" * 64), ("FileMd5", "0" * 32),
                                            ("IpAddress", "203.0.113.7"), ("DomainName", "contoso.com"),
                                            ("Url", "https://contoso.com/path")])
def test_good_values(api_type, value):
    assert indicators.check_value(api_type, " %s " % value) == value


@pytest.mark.parametrize("api_type,value,word", [
    ("FileSha1", "abc", "hexadecimal"), ("IpAddress", "10.0.0.0/8", "CIDR"), ("IpAddress", "fe80::1", "8 IPv6"),
    ("IpAddress", "999.1.1.1", "IPv4"), ("DomainName", "*.contoso.com", "domain"),
    ("Url", "https://*.contoso.com/x", "URL"), ("DomainName", "contoso.com\n", "control"),
])
def test_bad_values_say_why(api_type, value, word):
    with pytest.raises(DefenderConfigError) as info:
        indicators.check_value(api_type, value)
    assert word in str(info.value)


def test_key_is_case_insensitive_except_for_urls():
    assert indicators.key_of("DomainName", "Contoso.COM") == ("DomainName", "contoso.com")
    assert indicators.key_of("Url", "https://c.com/A") == ("Url", "https://c.com/A")


# --- issue 22 item 4: block_indicators' CSV through a CSV reader ------------------------------------------------------

def test_csv_quoted_comma_bom_and_crlf():
    from ansible_collections.defender.endpoint.plugins.module_utils.indicators import entries_from_csv
    text = ("\ufeffValue, Type ,description,rbac_group_names,generate_alert\r\n"
            "203.0.113.7,ip,\"Seen in INC-7, stage 2\",Servers; Lab,yes\r\n"
            "\r\n"
            "bad.example,domain,,,\r\n")
    assert entries_from_csv(text) == [
        {"value": "203.0.113.7", "type": "ip", "description": "Seen in INC-7, stage 2",
         "rbac_group_names": ["Servers", "Lab"], "generate_alert": True},
        {"value": "bad.example", "type": "domain"},
    ]


@pytest.mark.parametrize("text, message", [
    ("type\nip\n", "no value column"),
    ("value,type\n203.0.113.7,ip,extra\n", "line 2 has 3 cells"),
    ("value,type,generate_alert\n203.0.113.7,ip,maybe\n", "generate_alert must be true or false"),
    ("value,type\n\"203.0.113.7,ip\n", "line"),
])
def test_csv_errors_name_the_line(text, message):
    from ansible_collections.defender.endpoint.plugins.module_utils.indicators import entries_from_csv
    with pytest.raises(DefenderConfigError, match=message):
        entries_from_csv(text)
