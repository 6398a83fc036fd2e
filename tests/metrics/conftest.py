"""The metrics tests reuse the station tests' rig harness and the bridge tests' small warehouse,
which live beside them."""

from __future__ import annotations

import sys
from pathlib import Path

for _helpers in ("station", "bridge"):
    _directory = str(Path(__file__).resolve().parents[1] / _helpers)
    if _directory not in sys.path:
        sys.path.insert(0, _directory)
