# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection version, for the User-Agent. galaxy.yml is the source; a unit test keeps this in step."""

COLLECTION_VERSION = "0.1.0"
