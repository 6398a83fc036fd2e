"""Building the site's certificates and CRL with `cryptography`: pure functions, no files.

Keys are EC P-256 (small, fast, and accepted by Mosquitto's OpenSSL and Python's `ssl`). The CA
may sign only end-entity certificates (path length 0); client certificates are for client
authentication only and the broker's for server authentication only, so a station's certificate
can never stand in for the broker. The CRL is valid until the CA itself expires: OpenSSL refuses
every client once a CRL's next update has passed, and an outage should not be the reminder.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "Authority",
    "Revocation",
    "build_ca",
    "build_crl",
    "build_leaf",
    "key_pem",
    "new_key",
    "subject_alternative_names",
]

_HASH = hashes.SHA256()


@dataclass(frozen=True, slots=True)
class Authority:
    """The CA's certificate and key, which sign everything else."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class Revocation:
    """One revoked serial and when it was revoked."""

    serial: int
    revoked_at: datetime


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM: Mosquitto and the station read keys without a passphrase."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def build_ca(
    common_name: str, organisation: str, not_before: datetime, not_after: datetime
) -> Authority:
    """A self-signed CA that may sign end-entity certificates and CRLs, nothing else."""
    key = new_key()
    name = _name(common_name, organisation)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, _HASH)
    )
    return Authority(certificate=certificate, key=key)


def subject_alternative_names(names: Iterable[str]) -> list[x509.GeneralName]:
    """IP addresses become IP entries and everything else a DNS name, as TLS clients match them."""
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


def build_leaf(
    authority: Authority,
    key: ec.EllipticCurvePrivateKey,
    *,
    common_name: str,
    organisation: str,
    server: bool,
    not_before: datetime,
    not_after: datetime,
    alternative_names: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    """An end-entity certificate: for the broker (``server``) or for one client."""
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    public = key.public_key()
    issuer_key_id = authority.certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organisation))
        .issuer_name(authority.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_key_id),
            critical=False,
        )
    )
    if alternative_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(list(alternative_names)), critical=False
        )
    return builder.sign(authority.key, _HASH)


def build_crl(
    authority: Authority, revocations: Iterable[Revocation], number: int, now: datetime
) -> x509.CertificateRevocationList:
    """The CRL listing ``revocations``, valid until the CA expires (see the module docstring)."""
    issuer_key_id = authority.certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(authority.certificate.subject)
        .last_update(now)
        .next_update(authority.certificate.not_valid_after_utc)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_key_id),
            critical=False,
        )
    )
    for revocation in revocations:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(revocation.serial)
            .revocation_date(revocation.revoked_at)
            .build()
        )
    return builder.sign(authority.key, _HASH)
