"""The Mosquitto ACL that confines each station to its own subtree, derived from the topic specs.

Deriving it from `TOPIC_SPECS` keeps the ACL and the tree from drifting apart: a new topic kind
gets exactly the access its publisher needs. Station lines use ``%u``, which Mosquitto fills with
the certificate's name when ``use_identity_as_username`` is on; ``use_username_as_clientid`` then
binds the client id to it as well, so no station can take over another's session.
"""

from __future__ import annotations

from collections.abc import Iterable

from edge.contract.errors import InvalidIdError
from edge.contract.topics import STATION_TREE, TOPIC_ROOT, TOPIC_SPECS

__all__ = ["mosquitto_acl"]


def _check_bridge_name(name: str) -> None:
    # A bridge name without a dot can never equal a station id, so the %u station patterns,
    # which apply to every user, grant a bridge nothing a station could observe.
    if not name or any(char in name for char in "./+#\x00 \t\r\n"):
        raise InvalidIdError(
            f"bridge username {name!r} is not allowed; expected a non-empty name without "
            "'.', '/', '+', '#', NUL or whitespace"
        )


def mosquitto_acl(bridge_usernames: Iterable[str], reader_usernames: Iterable[str] = ()) -> str:
    """Mosquitto ``acl_file`` text: stations reach only their own subtree, bridges reach all.

    Readers (a monitoring or test client) may read every topic. Like every user they also match
    the station patterns under their own name, which has no dot and so is no station's: the
    bridge rejects what is published there as not a station id.
    """
    lines = [
        "# Packline broker ACL (generated from edge.contract; do not edit by hand).",
        "# Station lines match the station's certificate name, which is also its username and",
        "# client id: <site>.<station>. Pattern lines apply to every user.",
    ]
    for spec in TOPIC_SPECS.values():
        access = "write" if spec.publisher == "station" else "read"
        lines.append(f"pattern {access} {STATION_TREE}/%u/{spec.kind.value}")
    for name in bridge_usernames:
        _check_bridge_name(name)
        lines += ["", f"user {name}", f"topic readwrite {TOPIC_ROOT}/#"]
    for name in reader_usernames:
        _check_bridge_name(name)
        lines += ["", f"user {name}", f"topic read {TOPIC_ROOT}/#"]
    return "\n".join(lines) + "\n"
