"""Power cuts at an exact updater step, for the simulated fleet's tests and drill.

``PACKLINE_POWER_CUT_FILE`` names a file holding one updater state (``downloading``,
``installing``, ``switching``, ``trial``, ``rolling_back``, ...). When the station's updater has
durably written that state, the station deletes the file (so the cut happens once) and SIGKILLs
itself: exactly what pulling the plug right after that write would do. The supervisor then starts
it again, and the updater must finish or redo the step.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

from edge.contract import UpdateState

__all__ = ["POWER_CUT_FILE_VARIABLE", "arm_power_cut", "checkpoint_from_environment"]

POWER_CUT_FILE_VARIABLE = "PACKLINE_POWER_CUT_FILE"


def arm_power_cut(path: Path, state: UpdateState) -> None:
    """Ask for one power cut right after the updater writes `state`."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(state, encoding="ascii")
    partial.replace(path)


def checkpoint_from_environment() -> Callable[[UpdateState], None] | None:
    """The updater checkpoint that cuts the power when armed, or None when not configured."""
    raw = os.environ.get(POWER_CUT_FILE_VARIABLE)
    if not raw:
        return None
    path = Path(raw)

    def checkpoint(state: UpdateState) -> None:
        try:
            armed = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return
        if armed != state:
            return
        path.unlink()
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint
