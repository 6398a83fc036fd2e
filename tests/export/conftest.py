"""The export tests build their books with the bridge tests' small warehouse and Sage world,
which live beside them."""

from __future__ import annotations

import sys
from pathlib import Path

_directory = str(Path(__file__).resolve().parents[1] / "bridge")
if _directory not in sys.path:
    sys.path.insert(0, _directory)
