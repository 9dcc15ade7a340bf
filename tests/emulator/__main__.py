# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m defender_emulator`` (installed) or ``python tests/emulator`` (from a checkout): start the emulator."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emulator import main  # noqa: E402  pylint: disable=wrong-import-position

sys.exit(main())
