"""The PKI's register, ``index.json``: every certificate issued, with its serial and revocation.

The CRL is rebuilt from this register on every revocation, so the register, not the CRL, is the
record. Serials are kept as hexadecimal text because they are 159-bit numbers, which many JSON
readers cannot hold exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cloud_bridge.pki.errors import PkiError
from cloud_bridge.pki.files import PRIVATE_FILE_MODE, write_atomic
from cloud_bridge.pki.names import CertificateKind

__all__ = ["INDEX_FORMAT", "CertificateEntry", "Register", "format_serial"]

INDEX_FORMAT: Final = 1


def format_serial(serial: int) -> str:
    """A serial as the upper-case hexadecimal that `openssl` prints."""
    return f"{serial:X}"


@dataclass(frozen=True, slots=True)
class CertificateEntry:
    """One certificate the CA has issued."""

    name: str
    kind: CertificateKind
    serial: int
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def expired(self, now: datetime) -> bool:
        return now >= self.not_after

    def valid(self, now: datetime) -> bool:
        """Unrevoked and within its validity period: the broker would accept it now."""
        return not self.revoked and self.not_before <= now < self.not_after

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        document: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind.value,
            "serial": format_serial(self.serial),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "revoked": self.revoked,
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
        }
        if now is not None:
            document["expired"] = self.expired(now)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any], source: Path) -> CertificateEntry:
        try:
            revoked_at = document["revoked_at"]
            return cls(
                name=str(document["name"]),
                kind=CertificateKind(document["kind"]),
                serial=int(document["serial"], 16),
                not_before=datetime.fromisoformat(document["not_before"]),
                not_after=datetime.fromisoformat(document["not_after"]),
                revoked_at=None if revoked_at is None else datetime.fromisoformat(revoked_at),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise PkiError(
                f"{source} has an unreadable certificate entry {document!r}: {error!r}"
            ) from None

    def revoke(self, now: datetime) -> CertificateEntry:
        return replace(self, revoked_at=now)


@dataclass(slots=True)
class Register:
    """The contents of ``index.json``."""

    site: str | None
    crl_number: int = 1
    entries: list[CertificateEntry] = field(default_factory=list)

    def save(self, path: Path) -> None:
        document = {
            "format": INDEX_FORMAT,
            "site": self.site,
            "crl_number": self.crl_number,
            "certificates": [entry.to_json() for entry in self.entries],
        }
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        write_atomic(path, text.encode(), PRIVATE_FILE_MODE)

    @classmethod
    def load(cls, path: Path) -> Register:
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise PkiError(f"{path} is missing; the PKI directory is incomplete") from None
        except ValueError as error:
            raise PkiError(f"{path} is not valid JSON: {error}") from None
        if not isinstance(document, dict) or document.get("format") != INDEX_FORMAT:
            raise PkiError(f"{path} is not a format-{INDEX_FORMAT} PKI index")
        return cls(
            site=document.get("site"),
            crl_number=int(document.get("crl_number", 1)),
            entries=[
                CertificateEntry.from_json(entry, path)
                for entry in document.get("certificates", [])
            ],
        )

    def clients_named(self, name: str) -> list[CertificateEntry]:
        return [
            entry
            for entry in self.entries
            if entry.name == name and entry.kind is not CertificateKind.BROKER
        ]
