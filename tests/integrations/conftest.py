"""Shared fixtures of the integration tests (the helpers live in ``_trl_setup.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
