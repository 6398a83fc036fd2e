"""Hypothesis strategies for every outside input: wire payloads, HID reports, scans, label text.

The tests and `packline fuzz` draw from the same strategies, so a failure the long run finds is one
a test can pin down. Each payload carries what the contract must do with it: whether it has to be
rejected, and which field the rejection has to name, so a check never guesses after the fact.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from edge.contract import (
    MAX_PAYLOAD_BYTES,
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
    StationInventory,
    StationStatus,
    TopicKind,
    UpdateOffered,
    UpdateReport,
    UpdateRevert,
    UpdateWithdrawn,
    WireMessage,
    encode,
)

__all__ = [
    "AT",
    "GTINS",
    "FuzzPayload",
    "Mutation",
    "barcodes",
    "examples",
    "hid_report_streams",
    "hid_reports",
    "label_texts",
    "overlong_texts",
    "payloads",
    "sample_messages",
]

AT: Final = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
GTINS: Final = ("05012345678900", "04006381333931", "09501101530003")
"""Real GTINs with correct check digits (the simulated station's products)."""

Mutation = Literal[
    "valid",
    "random_bytes",
    "truncated",
    "oversize",
    "deep",
    "random_json",
    "misrouted",
    "wrong_type",
    "out_of_range",
    "missing",
    "extra",
]

Path = tuple[str | int, ...]
T = TypeVar("T")


@dataclass(frozen=True)
class FuzzPayload:
    """One payload for one topic kind, and what the contract must do with it.

    ``must_reject``: any acceptance is a bug. ``must_accept``: any rejection is a bug. ``field``:
    a rejection must name it (a dotted path such as ``lines.0.quantity``, or ``payload`` for bytes
    that are not a JSON object of the allowed size).
    """

    kind: TopicKind
    mutation: Mutation
    payload: bytes
    must_reject: bool
    must_accept: bool = False
    field: str | None = None

    def __repr__(self) -> str:  # short enough to read in a falsifying example
        shown = self.payload if len(self.payload) <= 300 else self.payload[:300] + b"..."
        return (
            f"FuzzPayload(kind={self.kind.value!r}, mutation={self.mutation!r}, "
            f"must_reject={self.must_reject}, field={self.field!r}, payload={shown!r} "
            f"({len(self.payload)} bytes))"
        )


def _uuid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def sample_messages() -> dict[TopicKind, tuple[WireMessage, ...]]:
    """One valid message of every model the contract has, optional fields filled in."""
    event: dict[str, Any] = {"event_id": _uuid(1), "seq": 7, "at": AT, "order_id": "SO-1"}
    line: dict[str, Any] = {"line_id": "1", "sku": "MUG", "slot": "A1"}
    ship_to = ShipTo(
        name="Harbour Cafe Ltd",
        lines=("12 Quay Street", "Unit 4"),
        city="Bristol",
        postal_code="BS1 4DJ",
        country="GB",
    )
    delivery = Delivery(
        ship_to=ship_to,
        carrier="DPD",
        service_level="next-day",
        shipment_reference="SH-1",
        tracking_number="TRK123456",
    )
    update = UpdateReport(
        state="trial",
        running_version="0.2.0",
        previous_version="0.1.0",
        target_version="0.2.0",
        rollout_id="R-1",
        refusal="health_gate",
        reason="probe",
        at=AT,
    )
    samples: list[WireMessage] = [
        OrderScanned(**event, order_version=1),
        LinePicked(**event, **line, gtin=GTINS[0], quantity=2),
        ShortageRecorded(**event, **line, expected_quantity=3, found_quantity=1, reason="damaged"),
        LineReturned(**event, **line, quantity=1),
        OrderCompleted(
            **event, order_version=2, label_id="L1", carrier="DPD", tracking_number="TRK1"
        ),
        LabelPrinted(**event, label_id="L1", carrier="DPD", tracking_number="TRK1"),
        LabelReprinted(**event, label_id="L1", reason="smudged"),
        LabelVoided(**event, label_id="L1", reason="wrong parcel"),
        OrderAborted(**event, reason="other", note="dropped"),
        StationBirth(
            bd_seq=3,
            at=AT,
            software_version="0.2.0",
            config_version=4,
            hardware=(DeviceStatus(kind="printer", name="printer", status="fault", detail="lid"),),
            config_hash="0" * 64,
            outbox_depth=5,
            update_state="idle",
        ),
        StationDeath(bd_seq=3, at=AT),
        StationInventory(
            at=AT,
            software_version="0.2.0",
            config_version=1,
            devices=(DeviceInfo(kind="scanner", name="s", model="M", serial="1", firmware="f"),),
            disk_free_bytes=10,
            outbox_depth=0,
        ),
        StationStatus(
            at=AT,
            phase="picking",
            order_id="SO-1",
            printer="fault",
            printer_detail="head open",
            outbox_depth=1,
            outbox_bytes=100,
            outbox_oldest_age_s=1.5,
            outbox_alarm=False,
            acknowledged_seq=3,
            counters=StationCounters(picks=2, rejected_messages=1),
        ),
        Ack(highest_seq=0, at=AT),
        OrderAllocated(
            order_id="SO-1",
            version=1,
            at=AT,
            lines=(OrderLine(line_id="1", sku="MUG", gtin=GTINS[0], quantity=2, slot="A1"),),
            tote="T-1",
            delivery=delivery,
        ),
        OrderCancelled(order_id="SO-1", version=2, at=AT, reason="customer"),
        RequestRebirth(command_id=_uuid(2), at=AT),
        ReprintLabel(command_id=_uuid(3), at=AT, order_id="SO-1", label_id="L1"),
        IdentifyStation(command_id=_uuid(4), at=AT, seconds=1),
        ConfigDesired(version=1, at=AT, settings={"station": {"alert_seconds": 2}}),
        UpdateOffered(
            rollout_id="R-1", version="0.2.0", target="releases/0.2.0/release.json", at=AT
        ),
        UpdateWithdrawn(rollout_id="R-1", at=AT, reason="paused"),
        UpdateRevert(rollout_id="R-1", from_version="0.2.0", at=AT),
        FleetReport(
            at=AT,
            config=ConfigReport(applied_version=1, refused_version=2, refused_reason="bad"),
            update=update,
        ),
        FetchRequest(request_id=_uuid(5), path="metadata/root.json", offset=0, length=10),
        FetchChunk(request_id=_uuid(6), path="targets/a.bin", offset=0, data="AAAA", total_size=3),
        FetchRefused(request_id=_uuid(7), path="targets/a.bin", status=404, reason="gone"),
    ]
    by_kind: dict[TopicKind, list[WireMessage]] = {kind: [] for kind in MESSAGE_TYPES}
    for message in samples:
        for kind, models in MESSAGE_TYPES.items():
            if type(message) in models.values():
                by_kind[kind].append(message)
    missing = [
        model.__name__
        for kind, models in MESSAGE_TYPES.items()
        for model in models.values()
        if not any(type(sample) is model for sample in by_kind[kind])
    ]
    if missing:  # a new message model must get a sample here, or it goes unfuzzed
        raise AssertionError(f"no fuzz sample for message model(s): {', '.join(missing)}")
    return {kind: tuple(messages) for kind, messages in by_kind.items()}


_SAMPLES: Final = sample_messages()
_FREE_FORM: Final = ("settings",)
"""Fields whose content is any JSON (validated later by the station's own config models)."""


def _document(message: WireMessage) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(encode(message))
    return loaded


def _paths(value: Any, prefix: Path = ()) -> list[Path]:
    found: list[Path] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _get(document: Any, path: Path) -> Any:
    for part in path:
        document = document[part]
    return document


def _set(document: Any, path: Path, value: Any) -> None:
    _get(document, path[:-1])[path[-1]] = value


def _dotted(path: Path) -> str:
    return ".".join(str(part) for part in path)


def _dump(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


_json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
_json_values = st.recursive(
    _json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _wrong_values(current: Any) -> st.SearchStrategy[Any]:
    """JSON values of a type the field's current (valid) value is not, and never acceptable."""
    text = st.text(max_size=20)
    fraction = st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x))
    nested = st.lists(st.integers(), min_size=1, max_size=3) | st.fixed_dictionaries(
        {"fuzz_unknown": st.integers()}
    )
    if isinstance(current, bool):
        return st.integers() | text | fraction | nested
    if isinstance(current, int):
        return st.booleans() | text | fraction | nested
    if isinstance(current, float):
        return st.booleans() | text | nested
    if isinstance(current, str):
        return st.booleans() | st.integers() | fraction | nested
    if isinstance(current, list):
        return st.booleans() | st.integers() | text | st.fixed_dictionaries({"a": st.integers()})
    return st.booleans() | st.integers() | text | st.lists(st.integers(), max_size=2)


def _free_form(path: Path) -> bool:
    return bool(path) and path[0] in _FREE_FORM


@st.composite
def _mutated(draw: st.DrawFn, kind: TopicKind) -> FuzzPayload:
    message = draw(st.sampled_from(_SAMPLES[kind]))
    document = _document(message)
    mutation = draw(
        st.sampled_from(("valid", "wrong_type", "out_of_range", "missing", "extra", "misrouted"))
    )
    if mutation == "valid":
        return FuzzPayload(kind, "valid", encode(message), must_reject=False, must_accept=True)
    if mutation == "misrouted":
        others = [m for k, ms in _SAMPLES.items() if k is not kind for m in ms]
        other = draw(st.sampled_from(others))
        carried = type(other) in MESSAGE_TYPES[kind].values()
        return FuzzPayload(kind, "misrouted", encode(other), must_reject=not carried, field="type")
    if mutation == "missing":
        key = draw(st.sampled_from(sorted(document)))
        model = type(message)
        required = key in {"schema_version", "type"} or model.model_fields[key].is_required()
        del document[key]
        return FuzzPayload(kind, "missing", _dump(document), must_reject=required, field=key)
    if mutation == "extra":
        containers = [()] + [
            path
            for path in _paths(document)
            if isinstance(_get(document, path), dict) and not _free_form(path)
        ]
        path = draw(st.sampled_from(containers))
        target = _get(document, path)
        key = draw(
            (st.from_regex(r"\A[a-z][a-z0-9_]{0,15}\Z") | st.text(min_size=1, max_size=8)).filter(
                lambda name: name not in target
            )
        )
        target[key] = draw(_json_values)
        return FuzzPayload(
            kind, "extra", _dump(document), must_reject=True, field=_dotted((*path, key))
        )
    paths = _paths(document)
    path = draw(st.sampled_from(paths))
    current = _get(document, path)
    if mutation == "out_of_range" and isinstance(current, int) and not isinstance(current, bool):
        value = draw(st.sampled_from((-1, 0, 2**31, 2**63, -(2**63) - 1, 10**30)) | st.integers())
        _set(document, path, value)
        return FuzzPayload(
            kind, "out_of_range", _dump(document), must_reject=False, field=_dotted(path)
        )
    _set(document, path, draw(_wrong_values(current)))
    lenient = current is None or _free_form(path)
    return FuzzPayload(
        kind, "wrong_type", _dump(document), must_reject=not lenient, field=_dotted(path)
    )


@st.composite
def _broken_bytes(draw: st.DrawFn, kind: TopicKind) -> FuzzPayload:
    how = draw(st.sampled_from(("random_bytes", "truncated", "oversize", "deep", "random_json")))
    if how == "random_bytes":
        data = draw(st.binary(max_size=600))
        return FuzzPayload(kind, "random_bytes", data, must_reject=True)
    if how == "truncated":
        whole = encode(draw(st.sampled_from(_SAMPLES[kind])))
        cut = draw(st.integers(0, len(whole) - 1))
        return FuzzPayload(kind, "truncated", whole[:cut], must_reject=True, field="payload")
    if how == "oversize":
        whole = encode(draw(st.sampled_from(_SAMPLES[kind])))
        extra = draw(st.integers(1, 4096))
        padding = b" " * (MAX_PAYLOAD_BYTES - len(whole) + extra)
        padded = whole[:1] + padding + whole[1:]
        return FuzzPayload(kind, "oversize", padded, must_reject=True, field="payload")
    if how == "deep":
        depth = draw(st.integers(50, MAX_PAYLOAD_BYTES // 2 + 100))
        opener, closer = draw(st.sampled_from(((b"[", b"]"), (b'{"a":', b"}"))))
        nested = opener * depth + b"1" + closer * depth
        return FuzzPayload(kind, "deep", nested, must_reject=True)
    document = draw(_json_values | st.dictionaries(st.text(max_size=12), _json_values))
    if isinstance(document, dict) and draw(st.booleans()):
        document["schema_version"] = 1
        document["type"] = draw(st.sampled_from(sorted(MESSAGE_TYPES[kind])))
    return FuzzPayload(kind, "random_json", _dump(document), must_reject=False)


def payloads(kinds: tuple[TopicKind, ...] | None = None) -> st.SearchStrategy[FuzzPayload]:
    """Payloads for the given topic kinds (all of them by default), valid and otherwise."""
    chosen = tuple(MESSAGE_TYPES) if kinds is None else kinds
    return st.sampled_from(chosen).flatmap(lambda kind: _mutated(kind) | _broken_bytes(kind))


# --- scanner ------------------------------------------------------------------------------------

_KEY_USAGES: Final = st.integers(0x04, 0x38) | st.sampled_from((0x28, 0x2B, 0x58, 0x64))


@st.composite
def _plausible_report(draw: st.DrawFn) -> bytes:
    modifiers = draw(st.sampled_from((0, 0x02, 0x20, 0x01, 0x10, 0x04, 0x40, 0x08, 0x80)))
    keys = draw(st.lists(_KEY_USAGES, max_size=6))
    return bytes([modifiers, 0, *keys, *([0] * (6 - len(keys)))])


def hid_reports() -> st.SearchStrategy[bytes]:
    """Boot-keyboard reports: plausible ones, undefined usages and modifiers, rollover errors
    (0x01 in every key slot), releases, and reports of the wrong length."""
    rollover = st.just(bytes([0, 0, 1, 1, 1, 1, 1, 1]))
    release = st.just(bytes(8))
    return st.one_of(
        _plausible_report(),
        st.binary(min_size=8, max_size=8),
        rollover,
        release,
        st.binary(max_size=16),
    )


def hid_report_streams() -> st.SearchStrategy[list[bytes]]:
    """Streams of reports, as a flaky cable or a hostile device sends them."""
    return st.lists(hid_reports(), max_size=60)


# --- barcodes -----------------------------------------------------------------------------------


def _with_wrong_check_digit(gtin: str) -> str:
    return gtin[:-1] + str((int(gtin[-1]) + 1) % 10)


_CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.just("\x7f")
_NON_LATIN = st.sampled_from(
    (
        "東京都",
        "الرياض",
        "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1",
        "Stra\u00dfe",
        "🙂📦",
        "\u202e",
        "\uff46\uff55\uff4c\uff4c",
    )
)


def barcodes() -> st.SearchStrategy[str]:
    """Scan texts: anything at all, GS1 strings with bad check digits, command lookalikes,
    control characters, non-Latin text and very long scans."""
    gs1 = st.builds(
        lambda gtin, tail: f"01{gtin}{tail}",
        st.sampled_from(GTINS).map(_with_wrong_check_digit) | st.from_regex(r"\A\d{14}\Z"),
        st.sampled_from(("", "\x1d10LOT1", "17261231", "\x1d21SER")),
    )
    return st.one_of(
        st.text(max_size=80),
        st.sampled_from(GTINS).map(_with_wrong_check_digit),
        st.sampled_from(GTINS),
        gs1,
        st.builds(lambda rest: "PL:" + rest, st.text(max_size=30)),
        st.lists(_CONTROL | _NON_LATIN | st.sampled_from("0123456789"), max_size=30).map("".join),
        st.integers(1000, 20000).map(lambda n: "9" * n),
        st.integers(1000, 20000).map(lambda n: "01" + "x" * n),
    )


# --- label text ---------------------------------------------------------------------------------


def label_texts(*, max_size: int = 60) -> st.SearchStrategy[str]:
    """Text for a label field: ZPL's own characters, control characters, non-Latin text."""
    specials = st.sampled_from(("^", "~", "_", "^XZ", "~JA", "^FS", "_5E", "^FH", "~HS", ">;"))
    pieces = st.one_of(st.text(max_size=8), specials, _CONTROL, _NON_LATIN)
    return st.lists(pieces, max_size=max_size // 4).map("".join)


def overlong_texts() -> st.SearchStrategy[str]:
    """Text far longer than a label field takes."""
    return st.integers(300, 5000).map(lambda n: "^" * n)


def examples(strategy: st.SearchStrategy[T], count: int, seed: int) -> list[T]:
    """``count`` examples of ``strategy``, the same for the same seed: a batch to send through a
    real broker, where one Hypothesis example per connection would be far too slow."""
    drawn: list[T] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: T) -> None:
        drawn.append(example)

    hypothesis_seed(seed)(collect)()
    return drawn[:count]
