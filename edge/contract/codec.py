"""Bytes on the wire to validated messages and back, for both ends of every topic.

``decode`` refuses an oversized payload (`MAX_PAYLOAD_BYTES`) before parsing it and one nested
too deeply to parse, then checks the schema version and the message type for the topic before the
full validation, so each rejection says precisely what is wrong ("lines.0.quantity: must be > 0").
``encode`` applies the same size limit, so a station can never publish something the bridge would
refuse for size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, get_args

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from edge.contract import messages as m
from edge.contract.errors import MessageError, PayloadTooLargeError, SchemaVersionError
from edge.contract.topics import TOPIC_SPECS, StationId, TopicAddress, TopicKind, parse_topic

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MESSAGE_TYPES",
    "Decoded",
    "Publication",
    "decode",
    "decode_for",
    "describe_validation_error",
    "encode",
    "kind_of",
    "prepare",
]

MAX_PAYLOAD_BYTES: Final = 64 * 1024
"""The largest payload either end accepts; far above any real message, far below a DoS."""


def _types_of(union: object) -> dict[str, type[m.WireMessage]]:
    """Map ``type`` values to models for an ``Annotated[A | B, Field(discriminator=...)]``."""
    members: tuple[type[m.WireMessage], ...] = get_args(get_args(union)[0])
    return {member.model_fields["type"].default: member for member in members}


MESSAGE_TYPES: Mapping[TopicKind, Mapping[str, type[m.WireMessage]]] = MappingProxyType(
    {
        TopicKind.EVENT: _types_of(m.StationEventMessage),
        TopicKind.STATE: _types_of(m.StationStateMessage),
        TopicKind.INVENTORY: {"station_inventory": m.StationInventory},
        TopicKind.STATUS: {"station_status": m.StationStatus},
        TopicKind.ACK: {"ack": m.Ack},
        TopicKind.ALLOCATION: _types_of(m.AllocationMessage),
        TopicKind.COMMAND: _types_of(m.CommandMessage),
        TopicKind.CONFIG: {"config_desired": m.ConfigDesired},
        TopicKind.UPDATE: _types_of(m.UpdateMessage),
        TopicKind.FLEET: {"fleet_report": m.FleetReport},
        TopicKind.FETCH: {"fetch_request": m.FetchRequest},
        TopicKind.BLOB: _types_of(m.BlobMessage),
    }
)
"""For each topic kind, the message types it carries, by their ``type`` value."""

_KIND_OF_MODEL: Mapping[type[m.WireMessage], TopicKind] = MappingProxyType(
    {model: kind for kind, models in MESSAGE_TYPES.items() for model in models.values()}
)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A validated inbound message and the topic address it arrived on."""

    address: TopicAddress
    message: m.WireMessage


@dataclass(frozen=True, slots=True)
class Publication:
    """Everything needed to publish one message: topic, payload bytes, QoS and retain flag."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


def kind_of(message: m.WireMessage) -> TopicKind:
    """The topic kind that carries this message type."""
    return _KIND_OF_MODEL[type(message)]


def encode(message: m.WireMessage) -> bytes:
    """Compact UTF-8 JSON, refused if it would exceed `MAX_PAYLOAD_BYTES`."""
    payload = message.model_dump_json().encode("utf-8")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(
            f"{type(message).__name__} encodes to {len(payload)} bytes; "
            f"at most {MAX_PAYLOAD_BYTES} allowed"
        )
    return payload


def prepare(station_id: StationId, message: m.WireMessage) -> Publication:
    """Encode a message for its topic in a station's subtree, with the QoS and retain it needs."""
    spec = TOPIC_SPECS[kind_of(message)]
    return Publication(
        topic=TopicAddress(station_id, spec.kind).topic,
        payload=encode(message),
        qos=spec.qos,
        retain=spec.retain,
    )


def decode(topic: str, payload: bytes) -> Decoded:
    """Validate a payload against the messages its topic carries; reject with a `ContractError`."""
    address = parse_topic(topic)
    return Decoded(address=address, message=decode_for(address.kind, payload))


def decode_for(kind: TopicKind, payload: bytes) -> m.WireMessage:
    """Validate a payload as one of the messages a topic kind carries."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(
            f"payload is {len(payload)} bytes; at most {MAX_PAYLOAD_BYTES} allowed"
        )
    document = _parse_json_object(payload)
    _check_schema_version(document)
    model = _model_for(kind, document)
    try:
        return model.model_validate_json(payload)
    except ValidationError as error:
        raise MessageError(
            f"invalid {model.__name__}: {describe_validation_error(error)}"
        ) from error


def _parse_json_object(payload: bytes) -> dict[str, Any]:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MessageError(f"payload is not UTF-8: {error.reason} at byte {error.start}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise MessageError(f"payload is not JSON: {error.msg} at character {error.pos}") from None
    except RecursionError:
        # The size limit bounds the bytes, not the depth: 64 KiB of "[" is small but would
        # otherwise escape as a RecursionError instead of a rejection.
        raise MessageError(
            "payload is not JSON this contract reads: arrays or objects nested too deeply"
        ) from None
    if not isinstance(document, dict):
        raise MessageError(f"payload is a JSON {type(document).__name__}; expected an object")
    return document


def _check_schema_version(document: dict[str, Any]) -> None:
    if "schema_version" not in document:
        raise SchemaVersionError("schema_version: missing; expected 1")
    version = document["schema_version"]
    if type(version) is not int or version != m.SCHEMA_VERSION:
        raise SchemaVersionError(
            f"schema_version: unsupported {version!r}; this build reads {m.SCHEMA_VERSION}"
        )


def _model_for(kind: TopicKind, document: dict[str, Any]) -> type[m.WireMessage]:
    carried = MESSAGE_TYPES[kind]
    expected = ", ".join(sorted(carried))
    message_type = document.get("type")
    if message_type is None:
        raise MessageError(f"type: missing; expected one of: {expected}")
    if not isinstance(message_type, str) or message_type not in carried:
        raise MessageError(
            f"type: {message_type!r} is not carried on the {kind.value!r} topic; "
            f"expected one of: {expected}"
        )
    return carried[message_type]


_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "missing": "required field is missing",
        "extra_forbidden": "unknown field (not in this schema version)",
        "greater_than": "must be > {gt}",
        "greater_than_equal": "must be >= {ge}",
        "less_than": "must be < {lt}",
        "less_than_equal": "must be <= {le}",
        "string_too_short": "must be at least {min_length} characters",
        "string_too_long": "must be at most {max_length} characters",
        "too_short": "must have at least {min_length} item(s)",
        "too_long": "must have at most {max_length} item(s)",
        "int_type": "must be an integer",
        "string_type": "must be a string",
        "bool_type": "must be true or false",
    }
)


def _reason(item: ErrorDetails) -> str:
    if item["type"] == "value_error":
        return str(item.get("ctx", {}).get("error", item["msg"]))
    template = _REASONS.get(item["type"])
    if template is None:
        return item["msg"]
    try:
        return template.format(**item.get("ctx", {}))
    except KeyError:
        return item["msg"]


def _is_echo_of_nested_failure(item: ErrorDetails, items: list[ErrorDetails]) -> bool:
    # pydantic reports a tuple as "too short" when one of its items failed; the item's own error
    # is the real reason, so the echo is dropped.
    if item["type"] != "too_short":
        return False
    loc = item["loc"]
    return any(other["loc"][: len(loc)] == loc and len(other["loc"]) > len(loc) for other in items)


def describe_validation_error(error: ValidationError) -> str:
    """One ``path: reason`` per problem, e.g. ``lines.0.quantity: must be > 0``."""
    items = error.errors()
    problems = []
    for item in items:
        if _is_echo_of_nested_failure(item, items):
            continue
        path = ".".join(str(part) for part in item["loc"])
        problems.append(f"{path}: {_reason(item)}" if path else _reason(item))
    return "; ".join(problems)
