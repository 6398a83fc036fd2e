"""Which names a client certificate may carry: each becomes a broker username and a topic level.

With ``use_identity_as_username`` the certificate's CN is the MQTT username and, through
``use_username_as_clientid``, the client id. The ACL substitutes it for ``%u`` as one whole topic
level, so a name with a level separator or a wildcard would open someone else's subtree. Station
names are station ids and are checked by the contract's own parser; bridge names must not contain
a dot, so a bridge can never be mistaken for a station by the ``%u`` patterns.
"""

from __future__ import annotations

import enum
from typing import Final

from cloud_bridge.broker_settings import DEFAULT_INSTANCE, bridge_cert_names
from cloud_bridge.pki.errors import InvalidCertificateNameError
from edge.contract import InvalidIdError, StationId

__all__ = [
    "BRIDGE_CERT_NAME",
    "BRIDGE_CERT_NAMES",
    "MAX_NAME_LENGTH",
    "CertificateKind",
    "check_name",
]

BRIDGE_CERT_NAMES: Final = bridge_cert_names(DEFAULT_INSTANCE)
"""The default bridge instance's two certificate names (control and ingest connections: the
broker binds a client id to its certificate, so each connection needs its own); the shipped ACL
grants both the whole tree."""

BRIDGE_CERT_NAME: Final = BRIDGE_CERT_NAMES[0]
"""The default bridge instance's control connection certificate name."""

MAX_NAME_LENGTH: Final = 64
"""The X.509 upper bound for a common name."""

_UNSAFE: Final = {
    "/": "'/' separates topic levels",
    "+": "'+' is an MQTT single-level wildcard",
    "#": "'#' is an MQTT multi-level wildcard",
    "\x00": "NUL is not allowed in MQTT strings",
}


class CertificateKind(enum.StrEnum):
    """What a certificate is for: a station, a bridge, or the broker's own server certificate."""

    STATION = "station"
    BRIDGE = "bridge"
    BROKER = "broker"


def _refuse(
    name: str, reason: str, expected: str = "one safe MQTT topic level"
) -> InvalidCertificateNameError:
    return InvalidCertificateNameError(
        f"certificate name {name!r} is refused: {reason}; expected {expected}"
    )


def _check_topic_level(name: str) -> None:
    if not name:
        raise _refuse(name, "it is empty")
    for char, reason in _UNSAFE.items():
        if char in name:
            raise _refuse(name, f"it contains {char!r} ({reason})")
    for char in name:
        if char.isspace():
            raise _refuse(name, f"it contains whitespace {char!r}")
        if not char.isprintable():
            raise _refuse(name, f"it contains the non-printable character {char!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise _refuse(name, f"it is {len(name)} characters long, at most {MAX_NAME_LENGTH}")


def check_name(name: str, kind: CertificateKind, site: str | None = None) -> str:
    """Return ``name`` if a client certificate of ``kind`` may carry it, else raise naming it.

    With ``site`` set, a station must belong to that site: a site CA vouches for its own stations.
    """
    _check_topic_level(name)
    if kind is CertificateKind.STATION:
        try:
            station = StationId.from_client_id(name)
        except InvalidIdError as error:
            raise _refuse(name, f"it is not a station id ({error})", "'<site>.<station>'") from None
        if site is not None and station.site != site:
            raise _refuse(
                name, f"the station is not in this PKI's site {site!r}", f"'{site}.<station>'"
            )
    elif kind is CertificateKind.BRIDGE:
        if "." in name:
            raise _refuse(
                name, "it contains '.', which marks a station id", "a bridge name without '.'"
            )
    else:
        raise _refuse(name, f"a client certificate cannot be of kind {kind.value!r}")
    return name
