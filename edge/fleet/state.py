"""The updater's durable state (``updater.json``): written before each step, read at every start.

The state names the step in progress, not the one done, so a station that starts and finds
``installing`` knows the install may be half-done and redoes it; the offer is kept with it so
the step can be redone without the bridge sending it again.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.contract import UpdateOffered, UpdateRefusal, UpdateReport, UpdateState
from edge.fleet.errors import FleetError
from edge.fleet.home import write_file_atomic

__all__ = ["MAX_REASON_CHARS", "UpdaterState", "clip_reason", "load_state", "save_state"]

MAX_REASON_CHARS = 500
"""The longest reason the fleet report carries."""


def clip_reason(reason: str | None) -> str | None:
    """A reason that fits the report (long error texts are cut, with a mark that they were)."""
    if reason is None or not reason.strip():
        return None
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    return reason[: MAX_REASON_CHARS - 3] + "..."


class UpdaterState(BaseModel):
    """Where the updater is; every field is what the report and a restarted process need."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: UpdateState = "idle"
    running_version: str
    """The version `current` points to (during a trial, the new one)."""
    previous_version: str | None = None
    """The version to go back to: the last one that passed its gate, kept installed."""
    target_version: str | None = None
    rollout_id: str | None = None
    offer: UpdateOffered | None = None
    """The offer being worked on, kept so a cut download or install can be redone."""
    refusal: UpdateRefusal | None = None
    reason: str | None = None
    trial_starts: int = Field(default=0, ge=0)
    """How many times the release on trial was started without committing."""
    trial_deadline: datetime | None = None
    """After this instant a start still on trial rolls back (wall clock: it spans restarts)."""
    at: datetime

    def to_report(self) -> UpdateReport:
        """The contract's view of this state, for the fleet report."""
        return UpdateReport(
            state=self.state,
            running_version=self.running_version,
            previous_version=self.previous_version,
            target_version=self.target_version,
            rollout_id=self.rollout_id,
            refusal=self.refusal,
            reason=clip_reason(self.reason),
            at=self.at,
        )


def save_state(path: Path, state: UpdaterState) -> None:
    """Write the state durably (temporary file, fsync, replace, directory fsync)."""
    write_file_atomic(path, state.model_dump_json(indent=2).encode() + b"\n")


def load_state(path: Path) -> UpdaterState | None:
    """The saved state, or None when there is none yet; `FleetError` when it is unreadable."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return UpdaterState.model_validate_json(text)
    except ValidationError as error:
        raise FleetError(f"{path} is not a valid updater state: {error}") from error
