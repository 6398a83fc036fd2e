"""Property: every message type survives encode -> decode unchanged, on the topic carrying it."""

from __future__ import annotations

from base64 import b64encode
from datetime import UTC
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.contract import (
    MAX_CHUNK_BYTES,
    MAX_FETCH_WINDOW,
    MESSAGE_TYPES,
    Ack,
    ConfigDesired,
    ConfigReport,
    Delivery,
    DeviceInfo,
    DeviceStatus,
    FetchChunk,
    FetchRefused,
    FetchRequest,
    FleetReport,
    IdentifyStation,
    LabelPrinted,
    LabelReprinted,
    LabelVoided,
    LinePicked,
    LineReturned,
    OrderAborted,
    OrderAllocated,
    OrderCancelled,
    OrderCompleted,
    OrderLine,
    OrderScanned,
    ReprintLabel,
    RequestRebirth,
    ShipTo,
    ShortageRecorded,
    StationBirth,
    StationCounters,
    StationDeath,
    StationId,
    StationInventory,
    StationStatus,
    UpdateOffered,
    UpdateRefusal,
    UpdateReport,
    UpdateRevert,
    UpdateState,
    UpdateWithdrawn,
    WireMessage,
    decode,
    prepare,
)
from edge.contract.fields import MAX_SEQUENCE, gtin_check_digit

_printable = st.characters(exclude_categories=["Cc", "Cs"])
names = st.text(alphabet=_printable, min_size=1, max_size=64)
labels = st.text(alphabet=_printable, min_size=1, max_size=128)
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=500)
instants = st.datetimes(timezones=st.just(UTC))
sequences = st.integers(min_value=1, max_value=MAX_SEQUENCE)
counts = st.integers(min_value=0, max_value=10**12)
positive = st.integers(min_value=1, max_value=1_000_000)
versions = st.integers(min_value=1, max_value=10**9)
release_versions = st.from_regex(
    r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(\.post[0-9]{1,3})?", fullmatch=True
)
repository_paths = st.from_regex(
    r"(metadata|targets)/[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,20}(/[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,20}){0,3}",
    fullmatch=True,
)
device_kinds = st.sampled_from(["scanner", "printer", "lights"])


@st.composite
def gtins(draw: st.DrawFn) -> str:
    length = draw(st.sampled_from([8, 12, 13, 14]))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return body + str(gtin_check_digit(body))


def _event(model: type[WireMessage], **fields: Any) -> st.SearchStrategy[WireMessage]:
    return st.builds(
        model, event_id=st.uuids(), seq=sequences, at=instants, order_id=names, **fields
    )


@st.composite
def shortages(draw: st.DrawFn) -> WireMessage:
    expected = draw(positive)
    return draw(
        _event(
            ShortageRecorded,
            line_id=names,
            sku=names,
            slot=names,
            expected_quantity=st.just(expected),
            found_quantity=st.integers(min_value=0, max_value=expected - 1),
            reason=st.sampled_from(["missing", "damaged", "wrong_item_in_slot", "other"]),
        )
    )


order_lines = st.builds(
    OrderLine, line_id=names, sku=names, gtin=gtins(), quantity=positive, slot=names
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

MESSAGES: dict[type[WireMessage], st.SearchStrategy[WireMessage]] = {
    OrderScanned: _event(OrderScanned, order_version=versions),
    LinePicked: _event(
        LinePicked, line_id=names, sku=names, gtin=gtins(), slot=names, quantity=positive
    ),
    ShortageRecorded: shortages(),
    LineReturned: _event(LineReturned, line_id=names, sku=names, slot=names, quantity=positive),
    OrderCompleted: _event(
        OrderCompleted,
        order_version=versions,
        label_id=names,
        carrier=names,
        tracking_number=labels,
    ),
    LabelPrinted: _event(LabelPrinted, label_id=names, carrier=names, tracking_number=labels),
    LabelReprinted: _event(LabelReprinted, label_id=names, reason=texts),
    LabelVoided: _event(LabelVoided, label_id=names, reason=texts),
    OrderAborted: _event(
        OrderAborted,
        reason=st.sampled_from(
            ["packer_cancelled", "shortage", "damaged", "cancelled_by_bridge", "other"]
        ),
        note=st.none() | texts,
    ),
    StationBirth: st.builds(
        StationBirth,
        bd_seq=sequences,
        at=instants,
        software_version=names,
        config_version=counts,
        hardware=st.lists(
            st.builds(
                DeviceStatus,
                kind=device_kinds,
                name=names,
                status=st.sampled_from(["ok", "missing", "fault"]),
                detail=st.none() | texts,
            ),
            max_size=4,
        ).map(tuple),
        config_hash=st.none() | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
        outbox_depth=counts,
    ),
    StationDeath: st.builds(StationDeath, bd_seq=sequences, at=instants),
    StationInventory: st.builds(
        StationInventory,
        at=instants,
        software_version=names,
        config_version=counts,
        devices=st.lists(
            st.builds(
                DeviceInfo,
                kind=device_kinds,
                name=names,
                model=labels,
                serial=st.none() | labels,
                firmware=st.none() | labels,
            ),
            max_size=4,
        ).map(tuple),
        disk_free_bytes=counts,
        outbox_depth=counts,
    ),
    StationStatus: st.builds(
        StationStatus,
        at=instants,
        phase=st.sampled_from(["idle", "picking", "finalising", "labelling", "fault"]),
        order_id=st.none() | names,
        printer=st.sampled_from(["ok", "fault", "offline", "unknown"]),
        printer_detail=st.none() | texts,
        outbox_depth=counts,
        outbox_bytes=counts,
        outbox_oldest_age_s=st.none() | st.floats(min_value=0, max_value=1e9),
        outbox_alarm=st.booleans(),
        acknowledged_seq=counts,
        counters=st.builds(StationCounters, picks=counts, shorts=counts, reconnects=counts),
    ),
    Ack: st.builds(Ack, highest_seq=st.integers(min_value=0, max_value=MAX_SEQUENCE), at=instants),
    OrderAllocated: st.builds(
        OrderAllocated,
        order_id=names,
        version=versions,
        at=instants,
        lines=st.lists(
            order_lines, min_size=1, max_size=8, unique_by=lambda line: line.line_id
        ).map(tuple),
        tote=st.none() | names,
        delivery=st.none()
        | st.builds(
            Delivery,
            ship_to=st.builds(
                ShipTo,
                name=labels,
                lines=st.lists(labels, max_size=4).map(tuple),
                city=labels,
                postal_code=st.from_regex(r"[A-Z0-9 ]{1,16}", fullmatch=True),
                country=st.from_regex(r"[A-Z]{2}", fullmatch=True),
            ),
            carrier=names,
            service_level=st.none() | names,
            shipment_reference=st.none() | names,
            tracking_number=st.none() | labels,
        ),
    ),
    OrderCancelled: st.builds(
        OrderCancelled, order_id=names, version=versions, at=instants, reason=texts
    ),
    RequestRebirth: st.builds(RequestRebirth, command_id=st.uuids(), at=instants),
    ReprintLabel: st.builds(
        ReprintLabel, command_id=st.uuids(), at=instants, order_id=names, label_id=names
    ),
    IdentifyStation: st.builds(
        IdentifyStation,
        command_id=st.uuids(),
        at=instants,
        seconds=st.integers(min_value=1, max_value=300),
    ),
    ConfigDesired: st.builds(
        ConfigDesired,
        version=versions,
        at=instants,
        settings=st.dictionaries(st.text(max_size=20), json_values, max_size=6),
    ),
    UpdateOffered: st.builds(
        UpdateOffered,
        rollout_id=names,
        version=release_versions,
        target=release_versions.map(lambda version: f"releases/{version}/release.json"),
        at=instants,
        health_deadline_s=st.integers(min_value=5, max_value=3600),
    ),
    UpdateWithdrawn: st.builds(UpdateWithdrawn, rollout_id=names, at=instants, reason=texts),
    UpdateRevert: st.builds(
        UpdateRevert, rollout_id=names, from_version=release_versions, at=instants
    ),
    FleetReport: st.builds(
        FleetReport,
        at=instants,
        config=st.builds(
            ConfigReport,
            applied_version=st.integers(min_value=0, max_value=10**6),
            refused_version=st.none() | versions,
            refused_reason=st.none() | texts,
        ),
        update=st.builds(
            UpdateReport,
            state=st.sampled_from(get_args(UpdateState)),
            running_version=release_versions,
            previous_version=st.none() | release_versions,
            target_version=st.none() | release_versions,
            rollout_id=st.none() | names,
            refusal=st.none() | st.sampled_from(get_args(UpdateRefusal)),
            reason=st.none() | texts,
            at=instants,
        ),
    ),
    FetchRequest: st.builds(
        FetchRequest,
        request_id=st.uuids(),
        path=repository_paths,
        offset=st.integers(min_value=0, max_value=2**40),
        length=st.integers(min_value=1, max_value=MAX_FETCH_WINDOW),
    ),
    FetchChunk: st.builds(
        FetchChunk,
        request_id=st.uuids(),
        path=repository_paths,
        offset=st.integers(min_value=0, max_value=2**40),
        data=st.binary(max_size=MAX_CHUNK_BYTES).map(lambda raw: b64encode(raw).decode()),
        total_size=st.integers(min_value=0, max_value=2**40),
    ),
    FetchRefused: st.builds(
        FetchRefused,
        request_id=st.uuids(),
        path=repository_paths,
        status=st.sampled_from([400, 404, 429, 500]),
        reason=texts,
    ),
}

station_ids = st.builds(
    StationId,
    site=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,31}", fullmatch=True),
    station=st.from_regex(r"[A-Z0-9][A-Za-z0-9_-]{0,31}", fullmatch=True),
)


def test_the_round_trip_strategies_cover_every_message_type_on_the_wire() -> None:
    carried = {model for models in MESSAGE_TYPES.values() for model in models.values()}

    assert set(MESSAGES) == carried


@pytest.mark.parametrize("model", list(MESSAGES), ids=lambda model: model.__name__)
@settings(deadline=None)
@given(station_id=station_ids, data=st.data())
def test_every_message_decodes_to_an_equal_message_on_its_own_topic(
    model: type[WireMessage], station_id: StationId, data: st.DataObject
) -> None:
    message = data.draw(MESSAGES[model])
    publication = prepare(station_id, message)

    decoded = decode(publication.topic, publication.payload)

    assert decoded.message == message
    assert type(decoded.message) is model
    assert decoded.address.station_id == station_id
