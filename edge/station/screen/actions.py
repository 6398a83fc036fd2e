"""What a packer can do from the screen, each carried out by the station's own workflow.

An action is turned into the same workflow input a button or a command barcode produces and goes
through `Station.handle`, so the screen can do nothing the workflow would not let a packer do at
the bench. The workflow refuses by raising an alert (that is how a packer at the lights learns
it), so a refusal is read back from the resulting alert and reported to the caller in its words.
Every action leaves one audit row, written in the storage transaction that holds its effect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.contract import ShortageReason
from edge.errors import EdgeError
from edge.station.screen.audit import AuditRow, Outcome
from edge.station.screen.snapshot import REFUSAL_KINDS
from edge.station.workflow import (
    Abort,
    Effect,
    Finalise,
    Input,
    ReprintLabelJob,
    RequestReprint,
    ShortageCommand,
    Step,
    Void,
    WorkflowState,
)

if TYPE_CHECKING:
    from edge.station.runtime import Station

__all__ = [
    "AbortRequest",
    "ActionNotRecorded",
    "ActionRefused",
    "FinaliseRequest",
    "ReprintRequest",
    "ScreenActionError",
    "ShortageRequest",
    "VoidRequest",
    "perform",
]

log = logging.getLogger("packline.station.screen")


class ScreenActionError(EdgeError):
    """An action from the screen that did not take effect; the message says why."""


class ActionRefused(ScreenActionError, RuntimeError):
    """The workflow refused the action or it changed nothing (answered with 409)."""

    def __init__(self, row: AuditRow) -> None:
        self.row = row
        super().__init__(row["detail"])


class ActionNotRecorded(ScreenActionError, OSError):
    """The station could not record the action (the outbox is full); nothing was done."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ReprintRequest(_Body):
    reason: str = Field(min_length=1, max_length=200)


class VoidRequest(_Body):
    reason: str = Field(min_length=1, max_length=200)


class ShortageRequest(_Body):
    reason: ShortageReason


class FinaliseRequest(_Body):
    """Finalise the open order as a partial shipment; it takes no fields."""


class AbortRequest(_Body):
    reason: Literal["packer_cancelled", "damaged", "other"] = "packer_cancelled"
    note: str | None = Field(default=None, max_length=200)


ActionRequest = ReprintRequest | VoidRequest | ShortageRequest | FinaliseRequest | AbortRequest


@dataclass(frozen=True)
class _Action:
    name: str
    item: Input
    reason: str | None


def _action(request: ActionRequest) -> _Action:
    match request:
        case ReprintRequest(reason=reason):
            return _Action("reprint", RequestReprint(reason=f"screen: {reason}"), reason)
        case VoidRequest(reason=reason):
            return _Action("void", Void(reason=f"screen: {reason}"), reason)
        case ShortageRequest(reason=reason):
            return _Action("shortage", ShortageCommand(reason), reason)
        case FinaliseRequest():
            return _Action("finalise", Finalise(), None)
        case AbortRequest(reason=reason, note=note):
            text = reason if note is None else f"{reason}: {note}"
            return _Action("abort", Abort(reason=reason, note=note), text)
    raise TypeError(f"unknown screen action {request!r}")  # pragma: no cover - exhaustive


async def perform(station: Station, request: ActionRequest) -> AuditRow:
    """Carry out one screen action through the workflow and audit it; return its audit row.

    Raises `ActionRefused` when the workflow refused it or it changed nothing, and
    `ActionNotRecorded` when the station could not write it.
    """
    action = _action(request)
    rows: list[AuditRow] = []

    def record(result: Step) -> None:
        before = station.state  # still the state the action was applied to
        outcome, detail = _judge(action.name, before, result)
        rows.append(
            station.screen_audit.append(
                at=datetime.now(UTC),
                action=action.name,
                reason=action.reason,
                order_id=_order_of(action.name, before, result),
                outcome=outcome,
                detail=detail,
            )
        )

    result = await station.handle(action.item, record=record)
    station_id = station.config.station.station_id.client_id
    if result is None or not rows:
        log.error("station %s: screen %s not recorded: %s", station_id, action.name, "outbox full")
        raise ActionNotRecorded(
            f"{action.name} not recorded: {station.storage_alert or 'the station could not write'}"
        )
    row = rows[0]
    log.info(
        "station %s: screen %s %s (order %s, reason %s): %s",
        station_id,
        action.name,
        row["outcome"],
        row["order_id"],
        row["reason"],
        row["detail"],
    )
    if row["outcome"] != "done":
        raise ActionRefused(row)
    return row


def _judge(action: str, before: WorkflowState, result: Step) -> tuple[Outcome, str]:
    after = result.state
    if after.alert is not None and after.alert.kind in REFUSAL_KINDS:
        return "refused", after.alert.message
    if not result.effects and _without_alert(after) == _without_alert(before):
        return "unchanged", f"{action}: nothing to do now (the station is {before.phase})"
    return "done", _done_detail(action, before, result)


def _without_alert(state: WorkflowState) -> WorkflowState:
    return state.model_copy(update={"alert": None})


def _done_detail(action: str, before: WorkflowState, result: Step) -> str:
    after = result.state
    if after.alert is not None:
        return after.alert.message  # the workflow's next instruction, e.g. "press the slot"
    order = before.order
    label = before.last_label
    job = _reprint_job(result.effects)
    if action == "reprint" and job is not None:
        return f"label {job.label_id} of order {job.order_id} sent to the printer again"
    if action == "void" and label is not None:
        return f"label {label.label_id} of order {label.order_id} voided"
    if action == "finalise" and order is not None:
        if after.order is not None and after.order.shortage_armed is None and order.shortage_armed:
            return "shortage cancelled"
        return f"order {order.order_id} finalised as a partial shipment"
    if action == "abort" and order is not None:
        return f"order {order.order_id} aborted"
    if action == "shortage" and order is not None:
        return f"shortage recorded on order {order.order_id}"
    return f"{action} done"


def _order_of(action: str, before: WorkflowState, result: Step) -> str | None:
    """The order the action acted on, which for void and reprint need not be the open one.

    Void always acts on the last printed label, an earlier order's once the next one is open;
    a reprint prints whichever label the workflow chose (the open order's, else the last one).
    """
    if action == "void":
        return before.last_label.order_id if before.last_label is not None else None
    if action == "reprint":
        job = _reprint_job(result.effects)
        return job.order_id if job is not None else None
    return before.order.order_id if before.order is not None else None


def _reprint_job(effects: tuple[Effect, ...]) -> ReprintLabelJob | None:
    return next((effect for effect in effects if isinstance(effect, ReprintLabelJob)), None)
