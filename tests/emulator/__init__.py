# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Defender for Endpoint emulator as a package (``pip install ./tests/emulator``; see README.md).

Its modules import each other by their plain names (they also run straight from this folder), so the package puts
its own folder on ``sys.path`` first.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
