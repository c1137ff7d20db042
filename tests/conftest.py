"""Shared test setup.

Triton kernels run in Triton's interpreter on the CPU: ``TRITON_INTERPRET=1`` must be set before
``triton`` is first imported, so it is set here, at collection start, unless the caller chose.
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
