"""The versioned topic tree: one subtree per station, so a broker ACL can fence each station in.

Every topic a station may touch lives under ``packline/v1/station/<site>.<station>/<kind>``. The
station id ``<site>.<station>`` is ONE topic level on purpose: Mosquitto substitutes ``%u`` and
``%c`` in ACL patterns only as a whole level, so a single level that equals the station's
certificate name (and so its username and client id) is what lets one pattern line confine every
station to its own subtree. A tree such as ``packline/v1/<site>/<station>/...`` cannot be fenced
that way. The site stays recoverable because site ids cannot contain a dot.

The station id in the topic is the only identity the bridge trusts: payloads never repeat it,
because only the topic is checked by the broker's ACL.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from edge.contract.errors import InvalidIdError, TopicError

__all__ = [
    "MAX_ID_LENGTH",
    "STATION_TREE",
    "TOPIC_ROOT",
    "TOPIC_SPECS",
    "StationId",
    "TopicAddress",
    "TopicKind",
    "TopicSpec",
    "parse_topic",
    "station_subscription",
    "station_topic",
    "subscription_for_all_stations",
]

TOPIC_ROOT = "packline/v1"
"""Root of the tree; the version level changes only with an incompatible change to the tree."""

STATION_TREE = f"{TOPIC_ROOT}/station"
"""Parent of every station's subtree."""
MAX_ID_LENGTH = 32
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")

# Characters refused with a reason of their own, because each breaks something specific.
_FORBIDDEN_REASONS = {
    "/": "'/' separates topic levels",
    "+": "'+' is an MQTT single-level wildcard",
    "#": "'#' is an MQTT multi-level wildcard",
    "\x00": "NUL is not allowed in MQTT strings",
    ".": "'.' separates the site from the station in a station id",
}


class TopicKind(enum.StrEnum):
    """The last level of a station topic: what flows there, and so which messages it carries."""

    EVENT = "event"
    STATE = "state"
    INVENTORY = "inventory"
    STATUS = "status"
    ACK = "ack"
    ALLOCATION = "allocation"
    COMMAND = "command"
    CONFIG = "config"
    UPDATE = "update"
    FLEET = "fleet"
    FETCH = "fetch"
    BLOB = "blob"


Publisher = Literal["station", "bridge"]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How a kind of topic is used on the wire: who publishes it, and with which QoS and retain."""

    kind: TopicKind
    publisher: Publisher
    qos: int
    retain: bool
    purpose: str


def _spec(kind: TopicKind, publisher: Publisher, *, retain: bool, purpose: str) -> TopicSpec:
    return TopicSpec(kind=kind, publisher=publisher, qos=1, retain=retain, purpose=purpose)


TOPIC_SPECS: Mapping[TopicKind, TopicSpec] = MappingProxyType(
    {
        spec.kind: spec
        for spec in (
            _spec(
                TopicKind.EVENT,
                "station",
                retain=False,
                purpose="fulfilment events, one topic so the broker keeps their order",
            ),
            _spec(
                TopicKind.STATE,
                "station",
                retain=True,
                purpose="presence: birth from the station, death from its MQTT Will",
            ),
            _spec(
                TopicKind.INVENTORY,
                "station",
                retain=True,
                purpose="hardware and software inventory for the fleet view",
            ),
            _spec(
                TopicKind.STATUS,
                "station",
                retain=True,
                purpose="live workflow, printer, outbox and counters for the floor view",
            ),
            _spec(
                TopicKind.ACK,
                "bridge",
                retain=True,
                purpose="highest event sequence the bridge has applied",
            ),
            _spec(
                TopicKind.ALLOCATION,
                "bridge",
                retain=False,
                purpose="orders allocated to the station and their cancellations, in order",
            ),
            _spec(
                TopicKind.COMMAND,
                "bridge",
                retain=False,
                purpose="one-off commands: rebirth, reprint, identify",
            ),
            _spec(
                TopicKind.CONFIG,
                "bridge",
                retain=True,
                purpose="desired configuration document, by version",
            ),
            _spec(
                TopicKind.UPDATE,
                "bridge",
                retain=True,
                purpose="a rollout's offer of a release, its withdrawal, or a revert",
            ),
            _spec(
                TopicKind.FLEET,
                "station",
                retain=True,
                purpose="the station's applied configuration and updater state",
            ),
            _spec(
                TopicKind.FETCH,
                "station",
                retain=False,
                purpose="requests for release repository files (TUF metadata and targets)",
            ),
            _spec(
                TopicKind.BLOB,
                "bridge",
                retain=False,
                purpose="chunks of release repository files answering the station's requests",
            ),
        )
    }
)


def _check_id(value: str, what: str) -> None:
    if not value:
        raise InvalidIdError(f"{what} id is empty; expected 1 to {MAX_ID_LENGTH} characters")
    for char, reason in _FORBIDDEN_REASONS.items():
        if char in value:
            raise InvalidIdError(f"{what} id {value!r} contains {char!r}: {reason}")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(
            f"{what} id {value!r} is {len(value)} characters long; at most {MAX_ID_LENGTH} allowed"
        )
    if not _ID_PATTERN.fullmatch(value):
        raise InvalidIdError(
            f"{what} id {value!r} is not allowed; expected ASCII letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )


@dataclass(frozen=True, slots=True)
class StationId:
    """A station's identity: its site and its name there, validated for use in topics and ACLs."""

    site: str
    station: str

    def __post_init__(self) -> None:
        _check_id(self.site, "site")
        _check_id(self.station, "station")

    @property
    def client_id(self) -> str:
        """The single topic level, MQTT client id and certificate name: ``<site>.<station>``."""
        return f"{self.site}.{self.station}"

    @classmethod
    def from_client_id(cls, client_id: str) -> StationId:
        """Split ``<site>.<station>`` back into its parts, refusing anything else."""
        site, dot, station = client_id.partition(".")
        if not dot:
            raise InvalidIdError(
                f"station id {client_id!r} has no '.'; expected '<site>.<station>'"
            )
        return cls(site=site, station=station)

    def __str__(self) -> str:
        return self.client_id


@dataclass(frozen=True, slots=True)
class TopicAddress:
    """Where a topic points: which station's subtree, and which kind of topic in it."""

    station_id: StationId
    kind: TopicKind

    @property
    def site(self) -> str:
        return self.station_id.site

    @property
    def station(self) -> str:
        return self.station_id.station

    @property
    def spec(self) -> TopicSpec:
        return TOPIC_SPECS[self.kind]

    @property
    def topic(self) -> str:
        return station_topic(self.station_id, self.kind)


def station_topic(station_id: StationId, kind: TopicKind) -> str:
    """The topic of one kind in one station's subtree."""
    return f"{STATION_TREE}/{station_id.client_id}/{TopicKind(kind).value}"


def station_subscription(station_id: StationId) -> str:
    """A filter for everything in one station's subtree (what its ACL lets it near)."""
    return f"{STATION_TREE}/{station_id.client_id}/#"


def subscription_for_all_stations(kind: TopicKind) -> str:
    """A filter for one kind of topic across every station, as the bridge subscribes."""
    return f"{STATION_TREE}/+/{TopicKind(kind).value}"


def parse_topic(topic: str) -> TopicAddress:
    """Turn a topic back into its station and kind; anything outside the tree is a `TopicError`."""
    prefix = f"{STATION_TREE}/"
    if not topic.startswith(prefix):
        raise TopicError(f"topic {topic!r} is not a Packline station topic; expected {prefix}...")
    levels = topic[len(prefix) :].split("/")
    if len(levels) != 2:
        raise TopicError(
            f"topic {topic!r} has {len(levels)} levels after {prefix!r}; "
            "expected '<site>.<station>/<kind>'"
        )
    client_id, kind_text = levels
    try:
        station_id = StationId.from_client_id(client_id)
    except InvalidIdError as error:
        raise TopicError(f"topic {topic!r}: {error}") from error
    try:
        kind = TopicKind(kind_text)
    except ValueError:
        known = ", ".join(kind.value for kind in TopicKind)
        raise TopicError(
            f"topic {topic!r} ends in unknown kind {kind_text!r}; expected one of: {known}"
        ) from None
    return TopicAddress(station_id=station_id, kind=kind)
