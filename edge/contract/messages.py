"""Message models for every topic in the tree, grouped by the topic kind that carries them.

Each topic kind carries a discriminated union on ``type``, so adding a message to a topic is
additive and a reader can dispatch without guessing. Models are strict (no coercion: ``"3"`` is not
a quantity, ``true`` is not an int), refuse unknown fields, and are immutable. Every message
carries ``schema_version``; see docs/protocol.md for what may change within a version.

Station identity is never in a payload: it comes from the topic, which the broker's ACL checks.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from edge.contract.fields import (
    BdSeq,
    Gtin,
    Label,
    Name,
    PositiveQuantity,
    Quantity,
    Sequence,
    Sha256Hex,
    Text,
    UtcDatetime,
    Version,
)

__all__ = [
    "FETCH_PATH_PATTERN",
    "MAX_CHUNK_BYTES",
    "MAX_FETCH_WINDOW",
    "SCHEMA_VERSION",
    "Ack",
    "AllocationMessage",
    "BlobMessage",
    "BridgeCommand",
    "CommandMessage",
    "ConfigDesired",
    "ConfigReport",
    "Delivery",
    "DeviceInfo",
    "DeviceKind",
    "DeviceStatus",
    "FetchChunk",
    "FetchRefused",
    "FetchRequest",
    "FleetReport",
    "IdentifyStation",
    "LabelPrinted",
    "LabelReprinted",
    "LabelVoided",
    "LinePicked",
    "LineReturned",
    "OrderAborted",
    "OrderAllocated",
    "OrderCancelled",
    "OrderCompleted",
    "OrderLine",
    "OrderScanned",
    "ReleaseTarget",
    "RepositoryPath",
    "ReprintLabel",
    "RequestRebirth",
    "ShipTo",
    "ShortageReason",
    "ShortageRecorded",
    "StationBirth",
    "StationCounters",
    "StationDeath",
    "StationEvent",
    "StationEventMessage",
    "StationInventory",
    "StationStateMessage",
    "StationStatus",
    "UpdateMessage",
    "UpdateOffered",
    "UpdateRefusal",
    "UpdateReport",
    "UpdateRevert",
    "UpdateState",
    "UpdateWithdrawn",
    "WireMessage",
]

SCHEMA_VERSION: Final = 1
"""The one schema version this build writes and reads."""

DeviceKind = Literal["scanner", "printer", "lights"]


class WireMessage(BaseModel):
    """Base of every message: strict, closed to unknown fields, immutable, versioned."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION


class _Part(BaseModel):
    """A nested part of a message, with the same strictness as a message."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- station -> bridge: fulfilment events (topic kind "event") -------------------------------


class StationEvent(WireMessage):
    """Fields every fulfilment event has: an idempotency key, its place in order, and when."""

    event_id: UUID
    seq: Sequence
    at: UtcDatetime
    order_id: Name


class OrderScanned(StationEvent):
    """The packer scanned an order's tote or pick list and started packing this version of it."""

    type: Literal["order_scanned"] = "order_scanned"
    order_version: Annotated[int, Field(ge=1)]


class LinePicked(StationEvent):
    """Units of one order line were picked from their slot and confirmed."""

    type: Literal["line_picked"] = "line_picked"
    line_id: Name
    sku: Name
    gtin: Gtin
    slot: Name
    quantity: PositiveQuantity


ShortageReason = Literal["missing", "damaged", "wrong_item_in_slot", "other"]
"""Why a slot could not supply a line in full, as the packer reported it."""


class ShortageRecorded(StationEvent):
    """The slot held fewer units than the line needs; the shortfall is recorded, not guessed.

    ``found_quantity`` units of the line were picked; the balance stays open at the bridge.
    """

    type: Literal["shortage_recorded"] = "shortage_recorded"
    line_id: Name
    sku: Name
    slot: Name
    expected_quantity: PositiveQuantity
    found_quantity: Quantity
    reason: ShortageReason = "missing"

    @model_validator(mode="after")
    def _found_less_than_expected(self) -> Self:
        if self.found_quantity >= self.expected_quantity:
            raise ValueError(
                f"found_quantity {self.found_quantity} must be < expected_quantity "
                f"{self.expected_quantity} for a shortage"
            )
        return self


class LineReturned(StationEvent):
    """Units already picked for a line went back to their slot (the allocation was reduced).

    The line's picked quantity is its ``line_picked`` quantities minus its ``line_returned`` ones.
    """

    type: Literal["line_returned"] = "line_returned"
    line_id: Name
    sku: Name
    slot: Name
    quantity: PositiveQuantity


class OrderCompleted(StationEvent):
    """The order is packed and labelled; the bridge may ship and post it."""

    type: Literal["order_completed"] = "order_completed"
    order_version: Annotated[int, Field(ge=1)]
    label_id: Name
    carrier: Name
    tracking_number: Label


class LabelPrinted(StationEvent):
    """A shipping label was printed for the order (the first time)."""

    type: Literal["label_printed"] = "label_printed"
    label_id: Name
    carrier: Name
    tracking_number: Label


class LabelReprinted(StationEvent):
    """The same label was printed again; the tracking number does not change."""

    type: Literal["label_reprinted"] = "label_reprinted"
    label_id: Name
    reason: Text


class LabelVoided(StationEvent):
    """A label must not be used; the carrier booking behind it is to be cancelled."""

    type: Literal["label_voided"] = "label_voided"
    label_id: Name
    reason: Text


class OrderAborted(StationEvent):
    """Packing stopped without shipping; the allocation goes back to the bridge."""

    type: Literal["order_aborted"] = "order_aborted"
    reason: Literal["packer_cancelled", "shortage", "damaged", "cancelled_by_bridge", "other"]
    note: Text | None = None


StationEventMessage = Annotated[
    OrderScanned
    | LinePicked
    | ShortageRecorded
    | LineReturned
    | OrderCompleted
    | LabelPrinted
    | LabelReprinted
    | LabelVoided
    | OrderAborted,
    Field(discriminator="type"),
]


# --- station -> everyone: presence and inventory (kinds "state", "inventory") -----------------


class DeviceStatus(_Part):
    """How one piece of station hardware is doing at birth."""

    kind: DeviceKind
    name: Name
    status: Literal["ok", "missing", "fault"]
    detail: Text | None = None


class StationBirth(WireMessage):
    """The station is online; retained, with the bd_seq its Will (death) carries too."""

    type: Literal["station_birth"] = "station_birth"
    bd_seq: BdSeq
    at: UtcDatetime
    software_version: Version
    config_version: Annotated[int, Field(ge=0)]
    hardware: Annotated[tuple[DeviceStatus, ...], Field(max_length=32)] = ()
    config_hash: Sha256Hex | None = None
    """SHA-256 of the station.toml the station runs, so drift is visible without reading it."""
    outbox_depth: Annotated[int, Field(ge=0)] = 0
    """Events written but not yet acknowledged; the bridge expects that many to be replayed."""
    update_state: UpdateState | None = None
    """Where the updater is at this birth (``trial`` while a new version proves itself)."""

    @property
    def online(self) -> bool:
        return True


class StationDeath(WireMessage):
    """The station is offline. Usually its MQTT Will, so ``at`` is when that connection began."""

    type: Literal["station_death"] = "station_death"
    bd_seq: BdSeq
    at: UtcDatetime

    @property
    def online(self) -> bool:
        return False


StationStateMessage = Annotated[StationBirth | StationDeath, Field(discriminator="type")]


class StationCounters(_Part):
    """What the station has done since its state directory was created (they only go up)."""

    orders_completed: Annotated[int, Field(ge=0)] = 0
    picks: Annotated[int, Field(ge=0)] = 0
    shorts: Annotated[int, Field(ge=0)] = 0
    wrong_scans: Annotated[int, Field(ge=0)] = 0
    wrong_slots: Annotated[int, Field(ge=0)] = 0
    reprints: Annotated[int, Field(ge=0)] = 0
    voids: Annotated[int, Field(ge=0)] = 0
    aborts: Annotated[int, Field(ge=0)] = 0
    reconnects: Annotated[int, Field(ge=0)] = 0
    rejected_messages: Annotated[int, Field(ge=0)] = 0


class StationStatus(WireMessage):
    """The station's live status for the floor view: workflow, printer, outbox and counters.

    Retained and republished when it changes (at most a few times a second), so a dashboard that
    connects later sees the latest at once. Presence stays on the ``state`` topic.
    """

    type: Literal["station_status"] = "station_status"
    at: UtcDatetime
    phase: Literal["idle", "picking", "finalising", "labelling", "fault"]
    order_id: Name | None = None
    printer: Literal["ok", "fault", "offline", "unknown"]
    printer_detail: Text | None = None
    outbox_depth: Annotated[int, Field(ge=0)]
    outbox_bytes: Annotated[int, Field(ge=0)]
    outbox_oldest_age_s: Annotated[float, Field(ge=0)] | None = None
    outbox_alarm: StrictBool
    acknowledged_seq: Annotated[int, Field(ge=0)]
    counters: StationCounters


class DeviceInfo(_Part):
    """One piece of hardware as the fleet inventory lists it."""

    kind: DeviceKind
    name: Name
    model: Label
    serial: Label | None = None
    firmware: Label | None = None


class StationInventory(WireMessage):
    """What the station runs and holds, for the fleet view; retained, replaced when it changes."""

    type: Literal["station_inventory"] = "station_inventory"
    at: UtcDatetime
    software_version: Version
    config_version: Annotated[int, Field(ge=0)]
    devices: Annotated[tuple[DeviceInfo, ...], Field(max_length=32)] = ()
    disk_free_bytes: Annotated[int, Field(ge=0)]
    outbox_depth: Annotated[int, Field(ge=0)]


# --- bridge -> station: acknowledgements (kind "ack") -----------------------------------------


class Ack(WireMessage):
    """Every event up to and including ``highest_seq`` is applied; the station may prune them."""

    type: Literal["ack"] = "ack"
    highest_seq: Annotated[int, Field(ge=0)]
    at: UtcDatetime


# --- bridge -> station: allocations (kind "allocation") ---------------------------------------


class OrderLine(_Part):
    """One line to pick: which product, where it is, and how many."""

    line_id: Name
    sku: Name
    gtin: Gtin
    quantity: PositiveQuantity
    slot: Name


class ShipTo(_Part):
    """Where the parcel goes, as printed on the label, top to bottom."""

    name: Label
    lines: Annotated[tuple[Label, ...], Field(max_length=4)] = ()
    city: Label
    postal_code: Annotated[StrictStr, Field(min_length=1, max_length=16)]
    country: Annotated[StrictStr, Field(pattern=r"^[A-Z]{2}$")]
    """ISO 3166-1 alpha-2 code."""


class Delivery(_Part):
    """How the order ships: the label's address, carrier and references."""

    ship_to: ShipTo
    carrier: Name
    service_level: Name | None = None
    shipment_reference: Name | None = None
    tracking_number: Label | None = None
    """The carrier's number when booked ahead; without it the station labels with the SSCC."""


class OrderAllocated(WireMessage):
    """An order to pack at this station; a higher version replaces a lower one for the order."""

    type: Literal["order_allocated"] = "order_allocated"
    order_id: Name
    version: Annotated[int, Field(ge=1)]
    at: UtcDatetime
    lines: Annotated[tuple[OrderLine, ...], Field(min_length=1, max_length=500)]
    tote: Name | None = None
    """The tote the order was picked into upstream; scanning it starts the order too."""
    delivery: Delivery | None = None

    @model_validator(mode="after")
    def _line_ids_unique(self) -> Self:
        seen: set[str] = set()
        for line in self.lines:
            if line.line_id in seen:
                raise ValueError(f"line_id {line.line_id!r} appears more than once in lines")
            seen.add(line.line_id)
        return self


class OrderCancelled(WireMessage):
    """The order is withdrawn from the station as of this version."""

    type: Literal["order_cancelled"] = "order_cancelled"
    order_id: Name
    version: Annotated[int, Field(ge=1)]
    at: UtcDatetime
    reason: Text


AllocationMessage = Annotated[OrderAllocated | OrderCancelled, Field(discriminator="type")]


# --- bridge -> station: commands (kind "command") ---------------------------------------------


class BridgeCommand(WireMessage):
    """Fields every command has: an id the station can log and de-duplicate, and when."""

    command_id: UUID
    at: UtcDatetime


class RequestRebirth(BridgeCommand):
    """Publish the birth again (same bd_seq) so the bridge re-learns the station's state."""

    type: Literal["request_rebirth"] = "request_rebirth"


class ReprintLabel(BridgeCommand):
    """Print an existing label again, e.g. when the packer's copy was damaged."""

    type: Literal["reprint_label"] = "reprint_label"
    order_id: Name
    label_id: Name


class IdentifyStation(BridgeCommand):
    """Flash the station's lights so a person on the floor can find it."""

    type: Literal["identify_station"] = "identify_station"
    seconds: Annotated[int, Field(ge=1, le=300)]


CommandMessage = Annotated[
    RequestRebirth | ReprintLabel | IdentifyStation, Field(discriminator="type")
]


# --- fleet (kinds "config", "update", "fleet", "fetch", "blob") --------------------------------

MAX_CHUNK_BYTES: Final = 32 * 1024
"""The most file bytes one `FetchChunk` carries; base64 and JSON keep it under 64 KiB."""

MAX_FETCH_WINDOW: Final = 4 * 2**20
"""The most bytes one `FetchRequest` asks for; the bridge answers with several chunks."""

FETCH_PATH_PATTERN: Final = r"^(metadata|targets)/[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*$"
"""A repository file: under metadata/ or targets/, no empty, absolute or parent levels."""


def _no_dot_levels(path: str) -> str:
    if any(level in {".", ".."} for level in path.split("/")):
        raise ValueError(f"path {path!r} has a '.' or '..' level; repository paths stay inside")
    return path


RepositoryPath = Annotated[
    StrictStr,
    Field(min_length=1, max_length=256, pattern=FETCH_PATH_PATTERN),
    AfterValidator(_no_dot_levels),
]
"""A file of the bridge's release repository, as the TUF fetcher asks for it."""

ReleaseTarget = Annotated[
    StrictStr,
    Field(max_length=256, pattern=r"^releases/[A-Za-z0-9_+-][A-Za-z0-9_.+-]*/release\.json$"),
    AfterValidator(_no_dot_levels),
]
"""The TUF target path of a release's manifest: ``releases/<version>/release.json``."""

UpdateState = Literal[
    "idle",
    "downloading",
    "installing",
    "switching",
    "trial",
    "committed",
    "rolling_back",
    "rolled_back",
    "refused",
    "failed",
]
"""Where a station's updater is; every state is safe to be cut off in (see docs/fleet.md)."""

UpdateRefusal = Literal[
    "unsigned",
    "bad_signature",
    "tampered",
    "rollback",
    "freeze",
    "path_escape",
    "oversize",
    "not_found",
    "download_failed",
    "install_failed",
    "health_gate",
    "crash_loop",
    "no_previous",
    "not_updatable",
]
"""Why an update was refused or rolled back, by name, so the fleet view can count them."""


class ConfigDesired(WireMessage):
    """The configuration the station should run (retained on its `config` topic).

    ``settings`` overlays the station's own station.toml, section by section; the station
    validates the result with the same models as station.toml and refuses it with the reason.
    """

    type: Literal["config_desired"] = "config_desired"
    version: Annotated[int, Field(ge=1)]
    at: UtcDatetime
    settings: dict[str, JsonValue]


class UpdateOffered(WireMessage):
    """A rollout asks the station to install a release (retained on its `update` topic).

    Nothing here is trusted: the station fetches and verifies the release through TUF metadata
    signed by the release keys, so the offer only names what to look for.
    """

    type: Literal["update_offered"] = "update_offered"
    rollout_id: Name
    version: Version
    target: ReleaseTarget
    """The TUF target path of the release's manifest, e.g. ``releases/0.2.0/release.json``."""
    at: UtcDatetime
    health_deadline_s: Annotated[int, Field(ge=5, le=3600)] = 120
    """How long the new version has, after its restart, to pass its health gate."""


class UpdateWithdrawn(WireMessage):
    """The rollout no longer asks for anything (paused or aborted); replaces a retained offer."""

    type: Literal["update_withdrawn"] = "update_withdrawn"
    rollout_id: Name
    at: UtcDatetime
    reason: Text


class UpdateRevert(WireMessage):
    """The operator rolls the station back to the version it ran before ``from_version``."""

    type: Literal["update_revert"] = "update_revert"
    rollout_id: Name
    from_version: Version
    at: UtcDatetime


UpdateMessage = Annotated[
    UpdateOffered | UpdateWithdrawn | UpdateRevert, Field(discriminator="type")
]


class ConfigReport(_Part):
    """The configuration the station runs, and the last one it refused (with the reason)."""

    applied_version: Annotated[int, Field(ge=0)]
    refused_version: Annotated[int, Field(ge=1)] | None = None
    refused_reason: Text | None = None


class UpdateReport(_Part):
    """What the updater is doing or last did, for the rollout and the fleet view."""

    state: UpdateState
    running_version: Version
    previous_version: Version | None = None
    target_version: Version | None = None
    rollout_id: Name | None = None
    refusal: UpdateRefusal | None = None
    reason: Text | None = None
    at: UtcDatetime


class FleetReport(WireMessage):
    """The station's fleet state (retained on its `fleet` topic), replaced whenever it changes."""

    type: Literal["fleet_report"] = "fleet_report"
    at: UtcDatetime
    config: ConfigReport
    update: UpdateReport


class FetchRequest(WireMessage):
    """Send ``length`` bytes of a repository file from ``offset`` (the TUF fetcher over MQTT)."""

    type: Literal["fetch_request"] = "fetch_request"
    request_id: UUID
    path: RepositoryPath
    offset: Annotated[StrictInt, Field(ge=0)]
    length: Annotated[StrictInt, Field(ge=1, le=MAX_FETCH_WINDOW)]


class FetchChunk(WireMessage):
    """Part of a repository file, answering one `FetchRequest`; ``data`` is base64."""

    type: Literal["fetch_chunk"] = "fetch_chunk"
    request_id: UUID
    path: RepositoryPath
    offset: Annotated[StrictInt, Field(ge=0)]
    data: Annotated[StrictStr, Field(max_length=(MAX_CHUNK_BYTES * 4) // 3 + 4)]
    total_size: Annotated[StrictInt, Field(ge=0)]
    """The whole file's size, so the fetcher knows when it has everything."""


class FetchRefused(WireMessage):
    """The bridge will not send the file; ``status`` follows HTTP (404 not there, 400 bad)."""

    type: Literal["fetch_refused"] = "fetch_refused"
    request_id: UUID
    path: Annotated[StrictStr, Field(max_length=256)]
    status: Annotated[StrictInt, Field(ge=400, le=599)]
    reason: Text


BlobMessage = Annotated[FetchChunk | FetchRefused, Field(discriminator="type")]
