# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the ``defender.endpoint.incidents`` event source reads: Microsoft Graph's ``/security/incidents`` by
``lastUpdateDateTime``, oldest first, through the same feed (position, overlap, state file) as the alerts source
(:mod:`_alert_feed`)."""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.module_utils import incidents as I
from ansible_collections.defender.endpoint.plugins.module_utils import odata


class IncidentSource:
    """Incidents changed at or after the window's start, oldest change first (``$orderby=lastUpdateDateTime asc``,
    observed to work though not documented), pages of at most 50 following ``@odata.nextLink``."""

    api = "graph"
    kind = "incident"
    updated_field, created_field = "lastUpdateDateTime", "createdDateTime"

    @staticmethod
    def build_filter(criteria):
        return I.build_filter(criteria)

    @staticmethod
    def check_page_size(page_size):
        return I.check_page_size(I.MAX_PAGE_SIZE if page_size in (None, odata.MAX_PAGE_SIZE) else page_size)

    @staticmethod
    def read(client, criteria, start, page_size):
        flt = I.build_filter(dict(criteria, updated_after=odata.datetime_literal(start)))
        return client.pages(I.INCIDENTS_PATH, params={"$filter": flt, "$orderby": "lastUpdateDateTime asc"},
                            page_size=page_size)
