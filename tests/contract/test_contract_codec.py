"""Decoding is strict: each rejection is a ContractError naming the field and the reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from edge.contract import (
    MAX_PAYLOAD_BYTES,
    Ack,
    ContractError,
    LinePicked,
    MessageError,
    OrderAllocated,
    OrderLine,
    PayloadTooLargeError,
    SchemaVersionError,
    StationId,
    TopicError,
    TopicKind,
    decode,
    encode,
    prepare,
    station_topic,
)

STATION = StationId("ams1", "st07")
AT = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
ALLOCATION_TOPIC = station_topic(STATION, TopicKind.ALLOCATION)
EVENT_TOPIC = station_topic(STATION, TopicKind.EVENT)


def allocation(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": 1,
        "type": "order_allocated",
        "order_id": "SO-1001",
        "version": 3,
        "at": "2025-03-04T10:30:00Z",
        "lines": [
            {
                "line_id": "1",
                "sku": "MUG-RED",
                "gtin": "4006381333931",
                "quantity": 2,
                "slot": "A-01",
            }
        ],
    }
    document.update(changes)
    return document


def payload(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def test_a_valid_allocation_decodes_to_its_model_with_the_topic_address() -> None:
    decoded = decode(ALLOCATION_TOPIC, payload(allocation()))

    assert decoded.address.station_id == STATION
    assert decoded.address.kind is TopicKind.ALLOCATION
    assert decoded.message == OrderAllocated(
        order_id="SO-1001",
        version=3,
        at=AT,
        lines=(
            OrderLine(line_id="1", sku="MUG-RED", gtin="4006381333931", quantity=2, slot="A-01"),
        ),
    )


def test_encoding_is_compact_utf8_json() -> None:
    message = Ack(highest_seq=41, at=AT)

    assert encode(message) == (
        b'{"schema_version":1,"type":"ack","highest_seq":41,"at":"2025-03-04T10:30:00Z"}'
    )


def test_prepare_uses_the_topic_qos_and_retain_of_the_message_kind() -> None:
    publication = prepare(STATION, Ack(highest_seq=41, at=AT))

    assert publication.topic == "packline/v1/station/ams1.st07/ack"
    assert (publication.qos, publication.retain) == (1, True)


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        (
            allocation(lines=[{**allocation()["lines"][0], "quantity": 0}]),
            "lines.0.quantity: must be > 0",
        ),
        (
            allocation(lines=[{**allocation()["lines"][0], "quantity": "2"}]),
            "lines.0.quantity: must be an integer",
        ),
        (
            allocation(lines=[{**allocation()["lines"][0], "quantity": True}]),
            "lines.0.quantity: must be an integer",
        ),
        (
            allocation(lines=[{**allocation()["lines"][0], "gtin": "4006381333932"}]),
            "lines.0.gtin: check digit 2 is wrong; expected 1",
        ),
        (allocation(lines=[]), "lines: must have at least 1 item"),
        (allocation(version=0), "version: must be >= 1"),
        (allocation(at="2025-03-04T10:30:00"), "at: Input should have timezone info"),
        (allocation(at="2025-03-04T12:30:00+02:00"), "at: must be in UTC"),
        (allocation(colour="red"), "colour: unknown field"),
        (
            allocation(lines=[allocation()["lines"][0], allocation()["lines"][0]]),
            "line_id '1' appears more than once",
        ),
        ({k: v for k, v in allocation().items() if k != "order_id"}, "order_id: required field"),
    ],
)
def test_a_malformed_message_is_rejected_naming_the_field_and_reason(
    document: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(MessageError) as caught:
        decode(ALLOCATION_TOPIC, payload(document))

    assert complaint in str(caught.value)


def test_a_rejection_reports_only_the_real_reason_not_pydantic_echoes() -> None:
    bad_line = {**allocation()["lines"][0], "quantity": 0}

    with pytest.raises(MessageError) as caught:
        decode(ALLOCATION_TOPIC, payload(allocation(lines=[bad_line])))

    assert str(caught.value) == "invalid OrderAllocated: lines.0.quantity: must be > 0"


@pytest.mark.parametrize("version", [2, 0, "1", None, 1.0, True])
def test_an_unknown_schema_version_is_rejected_before_the_fields_are_read(version: object) -> None:
    with pytest.raises(SchemaVersionError, match="schema_version: unsupported"):
        decode(ALLOCATION_TOPIC, payload(allocation(schema_version=version, version="junk")))


def test_a_missing_schema_version_is_rejected() -> None:
    document = allocation()
    del document["schema_version"]

    with pytest.raises(SchemaVersionError, match="schema_version: missing"):
        decode(ALLOCATION_TOPIC, payload(document))


def test_a_message_type_that_belongs_to_another_topic_is_rejected() -> None:
    with pytest.raises(MessageError, match="'order_allocated' is not carried on the 'event' topic"):
        decode(EVENT_TOPIC, payload(allocation()))


def test_a_message_without_a_type_is_rejected_listing_the_types_the_topic_carries() -> None:
    document = allocation()
    del document["type"]

    with pytest.raises(MessageError, match="type: missing; expected one of: order_allocated"):
        decode(ALLOCATION_TOPIC, payload(document))


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON list; expected an object"),
        (b"", "not JSON"),
    ],
)
def test_a_payload_that_is_not_a_json_object_is_rejected(raw: bytes, complaint: str) -> None:
    with pytest.raises(MessageError, match=complaint):
        decode(ALLOCATION_TOPIC, raw)


def test_an_oversized_payload_is_rejected_before_parsing() -> None:
    oversized = b"{" * (MAX_PAYLOAD_BYTES + 1)

    with pytest.raises(PayloadTooLargeError, match=f"at most {MAX_PAYLOAD_BYTES}"):
        decode(ALLOCATION_TOPIC, oversized)


def test_encoding_refuses_a_message_the_other_end_would_refuse_for_size() -> None:
    line = OrderLine(line_id="x", sku="S" * 64, gtin="4006381333931", quantity=1, slot="L" * 64)
    lines = tuple(line.model_copy(update={"line_id": str(index)}) for index in range(500))
    message = OrderAllocated(order_id="SO-1", version=1, at=AT, lines=lines)

    with pytest.raises(PayloadTooLargeError, match="OrderAllocated encodes to"):
        encode(message)


def test_a_payload_on_a_foreign_topic_is_rejected_as_a_topic_error() -> None:
    with pytest.raises(TopicError):
        decode("homeassistant/light/kitchen", payload(allocation()))


def test_every_contract_error_is_a_value_error() -> None:
    assert issubclass(ContractError, ValueError)


def test_constructing_a_model_in_python_is_as_strict_as_decoding() -> None:
    with pytest.raises(ValueError, match="quantity"):
        LinePicked(
            event_id=UUID(int=1),
            seq=1,
            at=AT,
            order_id="SO-1",
            line_id="1",
            sku="MUG",
            gtin="4006381333931",
            slot="A-01",
            quantity=0,
        )
