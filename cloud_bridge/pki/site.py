"""A site's PKI in one directory: the CA, the broker's certificate, client certificates, the CRL.

Layout, all written atomically (see `cloud_bridge.pki.files`)::

    ca.crt  ca.key  crl.pem  broker.crt  broker.key  index.json
    clients/<name>.crt  clients/<name>.key

The directory is 0700 and every key 0600. The broker needs ``ca.crt``, ``crl.pem``,
``broker.crt`` and ``broker.key``; ``ca.key`` never leaves this directory. Mosquitto reads the CRL
when it starts and when it gets SIGHUP, so a revocation takes effect at the broker's next reload.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cloud_bridge.pki.certs import (
    Authority,
    Revocation,
    build_ca,
    build_crl,
    build_leaf,
    key_pem,
    new_key,
    subject_alternative_names,
)
from cloud_bridge.pki.errors import (
    CertificateExistsError,
    InvalidCertificateNameError,
    PkiError,
    PkiExistsError,
    PkiNotFoundError,
    UnknownCertificateError,
)
from cloud_bridge.pki.files import (
    PRIVATE_FILE_MODE,
    PUBLIC_FILE_MODE,
    exclusive_lock,
    make_private_dir,
    require_private,
    write_atomic,
)
from cloud_bridge.pki.index import CertificateEntry, Register, format_serial
from cloud_bridge.pki.names import CertificateKind, check_name
from edge.contract import InvalidIdError, StationId

__all__ = [
    "DEFAULT_BROKER_NAMES",
    "DEFAULT_CA_DAYS",
    "DEFAULT_CLIENT_DAYS",
    "ClientCredentials",
    "SitePki",
]

DEFAULT_BROKER_NAMES: Final = ("localhost", "127.0.0.1")
DEFAULT_CA_DAYS: Final = 3650
"""Ten years for the CA and the broker: replacing them means touching every station."""
DEFAULT_CLIENT_DAYS: Final = 825
"""About two years and three months for a client, renewed with `issue --renew`."""
ORGANISATION: Final = "Packline"
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What one client needs to connect: its certificate and key, and the CA to trust."""

    cert_file: Path
    key_file: Path
    ca_file: Path

    def tls_context(self) -> ssl.SSLContext:
        """A client context: TLS 1.2 or newer, the site CA only, this certificate presented."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _check_site(site: str) -> None:
    try:
        StationId(site=site, station="ca")
    except InvalidIdError as error:
        raise InvalidCertificateNameError(f"site {site!r} is not a site id: {error}") from None


def _client_kind(kind: CertificateKind | str) -> CertificateKind:
    try:
        return CertificateKind(kind)
    except ValueError:
        raise InvalidCertificateNameError(
            f"certificate kind {kind!r} is unknown; expected 'station' or 'bridge'"
        ) from None


def _entry(certificate: x509.Certificate, name: str, kind: CertificateKind) -> CertificateEntry:
    return CertificateEntry(
        name=name,
        kind=kind,
        serial=certificate.serial_number,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
    )


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


class SitePki:
    """One site's PKI directory. Create it with `init`, use an existing one with `open`."""

    def __init__(self, directory: Path, register: Register) -> None:
        self.directory = directory
        self._register = register

    # --- files -------------------------------------------------------------------------------

    @property
    def site(self) -> str | None:
        return self._register.site

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key_file(self) -> Path:
        return self.directory / "ca.key"

    @property
    def crl_file(self) -> Path:
        return self.directory / "crl.pem"

    @property
    def broker_cert_file(self) -> Path:
        return self.directory / "broker.crt"

    @property
    def broker_key_file(self) -> Path:
        return self.directory / "broker.key"

    @property
    def index_file(self) -> Path:
        return self.directory / "index.json"

    @property
    def clients_dir(self) -> Path:
        return self.directory / "clients"

    def credentials(self, name: str) -> ClientCredentials:
        """The files of the latest certificate issued to ``name``."""
        credentials = self._files(name)
        if not credentials.cert_file.is_file():
            raise UnknownCertificateError(
                f"no certificate named {name!r} in {self.directory}; issue one with "
                f"'packline pki issue --dir {self.directory} {name}'"
            )
        return credentials

    def _files(self, name: str) -> ClientCredentials:
        return ClientCredentials(
            cert_file=self.clients_dir / f"{name}.crt",
            key_file=self.clients_dir / f"{name}.key",
            ca_file=self.ca_file,
        )

    # --- creating and opening ----------------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: Path,
        *,
        site: str | None = None,
        broker_names: Sequence[str] = DEFAULT_BROKER_NAMES,
        days: int = DEFAULT_CA_DAYS,
    ) -> SitePki:
        """Create the CA, the broker's certificate and an empty CRL; refuse an existing CA."""
        directory = Path(directory)
        if site is not None:
            _check_site(site)
        if not broker_names:
            raise PkiError("the broker needs at least one DNS name or IP address")
        if days < 1:
            raise PkiError(f"validity of {days} days is refused; expected at least 1 day")
        for existing in ("ca.crt", "ca.key"):
            if (directory / existing).exists():
                raise PkiExistsError(
                    f"{directory} already holds a CA ({existing}); use it, or choose an empty "
                    "directory for a new one"
                )
        make_private_dir(directory)
        make_private_dir(directory / "clients")
        now = _now()
        not_after = now + timedelta(days=days)
        label = f"Packline site CA {site}" if site else "Packline site CA"
        authority = build_ca(label, ORGANISATION, now - _CLOCK_SKEW, not_after)
        broker_key = new_key()
        broker = build_leaf(
            authority,
            broker_key,
            common_name=broker_names[0],
            organisation=ORGANISATION,
            server=True,
            not_before=now - _CLOCK_SKEW,
            not_after=not_after,
            alternative_names=subject_alternative_names(broker_names),
        )
        register = Register(
            site=site, entries=[_entry(broker, broker_names[0], CertificateKind.BROKER)]
        )
        # ca.crt last: until it exists, `open` treats the directory as having no CA.
        write_atomic(directory / "ca.key", key_pem(authority.key), PRIVATE_FILE_MODE)
        write_atomic(directory / "broker.key", key_pem(broker_key), PRIVATE_FILE_MODE)
        write_atomic(directory / "broker.crt", _pem(broker), PUBLIC_FILE_MODE)
        pki = cls(directory, register)
        pki._write_crl(authority, now)
        register.save(pki.index_file)
        write_atomic(directory / "ca.crt", _pem(authority.certificate), PUBLIC_FILE_MODE)
        return pki

    @classmethod
    def open(cls, directory: Path) -> SitePki:
        """An existing PKI, after checking that its directory and CA key are private."""
        directory = Path(directory)
        if not (directory / "ca.crt").is_file():
            raise PkiNotFoundError(
                f"{directory} holds no site CA (no ca.crt); create one with "
                f"'packline pki init --dir {directory}'"
            )
        require_private(directory, "PKI directory")
        require_private(directory / "ca.key", "CA key")
        return cls(directory, Register.load(directory / "index.json"))

    # --- certificates ------------------------------------------------------------------------

    def entries(self) -> list[CertificateEntry]:
        """Every certificate issued, the broker's first, in the order they were issued.

        Read from disk each time, so another process's `issue` or `revoke` is seen.
        """
        self._register = Register.load(self.index_file)
        return list(self._register.entries)

    def issue(
        self,
        name: str,
        kind: CertificateKind | str = CertificateKind.STATION,
        *,
        days: int = DEFAULT_CLIENT_DAYS,
        renew: bool = False,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> ClientCredentials:
        """Issue a client certificate whose CN is ``name``, and return its files.

        ``not_before``/``not_after`` override ``days``, for instance to make an expired
        certificate in a test. A name that already has a valid, unrevoked certificate is refused
        unless ``renew``; the old certificate then stays valid until it expires or is revoked.
        """
        kind = _client_kind(kind)
        check_name(name, kind, self.site)
        now = _now()
        start = not_before or now - _CLOCK_SKEW
        end = not_after or now + timedelta(days=days)
        if end <= start:
            raise PkiError(f"certificate {name!r} would end ({end}) before it starts ({start})")
        with exclusive_lock(self.directory):
            register = Register.load(self.index_file)
            current = [entry for entry in register.clients_named(name) if entry.valid(now)]
            if current and not renew:
                raise CertificateExistsError(
                    f"certificate {name!r} already exists (serial "
                    f"{format_serial(current[-1].serial)}, valid until {current[-1].not_after}); "
                    "pass --renew to issue another, or revoke it first"
                )
            key = new_key()
            certificate = build_leaf(
                self._authority(),
                key,
                common_name=name,
                organisation=ORGANISATION,
                server=False,
                not_before=start,
                not_after=end,
            )
            files = self._files(name)
            write_atomic(files.key_file, key_pem(key), PRIVATE_FILE_MODE)
            write_atomic(files.cert_file, _pem(certificate), PUBLIC_FILE_MODE)
            register.entries.append(_entry(certificate, name, kind))
            register.save(self.index_file)
            self._register = register
        return files

    def revoke(self, name: str) -> list[CertificateEntry]:
        """Revoke every unrevoked certificate of ``name`` and re-sign the CRL; returns them.

        The broker applies the new CRL when it is restarted or sent SIGHUP.
        """
        now = _now()
        with exclusive_lock(self.directory):
            register = Register.load(self.index_file)
            issued = register.clients_named(name)
            if not issued:
                raise UnknownCertificateError(f"no certificate named {name!r} was ever issued")
            revoked = [entry.revoke(now) for entry in issued if not entry.revoked]
            if not revoked:
                raise UnknownCertificateError(f"every certificate of {name!r} is already revoked")
            by_serial = {entry.serial: entry for entry in revoked}
            register.entries = [by_serial.get(entry.serial, entry) for entry in register.entries]
            register.crl_number += 1
            self._register = register
            # The index first: a crash before the CRL is written leaves the revocation recorded,
            # and the next CRL written from the index carries it. The other way round, the next
            # revocation would rebuild the CRL from an index that never heard of this one.
            register.save(self.index_file)
            self._write_crl(self._authority(), now)
        return revoked

    def revoked_serials(self) -> set[int]:
        """The serials the CRL on disk lists."""
        crl = x509.load_pem_x509_crl(self.crl_file.read_bytes())
        return {revoked.serial_number for revoked in crl}

    # --- internals ---------------------------------------------------------------------------

    def _authority(self) -> Authority:
        require_private(self.ca_key_file, "CA key")
        key = serialization.load_pem_private_key(self.ca_key_file.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError(f"{self.ca_key_file} holds a {type(key).__name__}; expected an EC key")
        certificate = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
        return Authority(certificate=certificate, key=key)

    def _write_crl(self, authority: Authority, now: datetime) -> None:
        revocations = [
            Revocation(serial=entry.serial, revoked_at=entry.revoked_at)
            for entry in self._register.entries
            if entry.revoked_at is not None
        ]
        crl = build_crl(authority, revocations, self._register.crl_number, now)
        write_atomic(self.crl_file, crl.public_bytes(serialization.Encoding.PEM), PUBLIC_FILE_MODE)
