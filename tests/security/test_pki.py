"""The site PKI behind `packline pki`: private keys stay private, names are safe topic levels,
and a revocation reaches the CRL the broker reads."""

from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloud_bridge.errors import BridgeError
from cloud_bridge.pki import (
    BRIDGE_CERT_NAME,
    CertificateExistsError,
    CertificateKind,
    InsecurePkiError,
    InvalidCertificateNameError,
    PkiExistsError,
    PkiNotFoundError,
    SitePki,
    UnknownCertificateError,
    format_serial,
)
from cloud_bridge.pki.cli import add_pki_commands


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@pytest.fixture
def pki(tmp_path: Path) -> SitePki:
    return SitePki.init(tmp_path / "pki", site="ams1")


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="packline")
    add_pki_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


# --- init --------------------------------------------------------------------------------------


def test_init_writes_every_private_key_mode_0600_in_a_directory_mode_0700(
    tmp_path: Path, permissive_umask: None
) -> None:
    pki = SitePki.init(tmp_path / "pki")
    credentials = pki.issue("ams1.st01")

    assert mode(pki.directory) == 0o700
    assert mode(pki.clients_dir) == 0o700
    for key in (pki.ca_key_file, pki.broker_key_file, credentials.key_file):
        assert mode(key) == 0o600, key
    assert mode(pki.ca_file) == 0o644


def test_init_refuses_a_directory_that_already_holds_a_ca(pki: SitePki) -> None:
    with pytest.raises(PkiExistsError, match=r"already holds a CA \(ca\.crt\)"):
        SitePki.init(pki.directory)


def test_the_broker_certificate_names_localhost_and_the_loopback_address_by_default(
    pki: SitePki,
) -> None:
    names = (
        certificate(pki.broker_cert_file)
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )

    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ip_address("127.0.0.1")]


def test_the_broker_certificate_carries_every_broker_name_given(tmp_path: Path) -> None:
    pki = SitePki.init(tmp_path / "pki", broker_names=["mqtt.example.net", "10.0.0.5"])
    names = (
        certificate(pki.broker_cert_file)
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )

    assert names.get_values_for_type(x509.DNSName) == ["mqtt.example.net"]
    assert names.get_values_for_type(x509.IPAddress) == [ip_address("10.0.0.5")]


def test_a_new_pki_starts_with_an_empty_crl_signed_by_its_ca(pki: SitePki) -> None:
    crl = x509.load_pem_x509_crl(pki.crl_file.read_bytes())

    assert len(crl) == 0
    assert crl.is_signature_valid(certificate(pki.ca_file).public_key())  # type: ignore[arg-type]


def test_opening_a_directory_without_a_ca_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(PkiNotFoundError, match="packline pki init"):
        SitePki.open(tmp_path)


def test_opening_refuses_a_ca_key_readable_by_others(pki: SitePki) -> None:
    pki.ca_key_file.chmod(0o644)

    with pytest.raises(InsecurePkiError, match=r"ca\.key has mode 0644"):
        SitePki.open(pki.directory)


# --- issue -------------------------------------------------------------------------------------


def test_a_station_certificate_is_named_after_the_station_and_signed_by_the_site_ca(
    pki: SitePki,
) -> None:
    cert = certificate(pki.issue("ams1.st01").cert_file)

    assert common_name(cert) == "ams1.st01"
    cert.verify_directly_issued_by(certificate(pki.ca_file))
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_the_bridge_gets_a_certificate_of_its_own_kind(pki: SitePki) -> None:
    credentials = pki.issue(BRIDGE_CERT_NAME, kind="bridge")

    assert common_name(certificate(credentials.cert_file)) == BRIDGE_CERT_NAME
    assert [entry.kind for entry in pki.entries() if entry.name == BRIDGE_CERT_NAME] == [
        CertificateKind.BRIDGE
    ]


@pytest.mark.parametrize(
    "name",
    ["", "a/b", "a+b", "a#b", "a\x00b", "a b", "a\tb", "a\nb", "bell\x07", "x" * 65],
)
@pytest.mark.parametrize("kind", ["station", "bridge"])
def test_a_name_that_is_not_one_safe_topic_level_is_refused_naming_it(
    pki: SitePki, name: str, kind: str
) -> None:
    with pytest.raises(InvalidCertificateNameError) as refused:
        pki.issue(name, kind=kind)

    assert repr(name) in str(refused.value)
    assert not (pki.clients_dir / f"{name}.key").exists()


@pytest.mark.parametrize("name", ["ams1", "ams1.st.01", "ams1.", ".st01", "ams1.st 01"])
def test_a_station_name_that_is_not_a_station_id_is_refused(pki: SitePki, name: str) -> None:
    with pytest.raises(InvalidCertificateNameError, match=re.escape(f"certificate name {name!r}")):
        pki.issue(name, kind="station")


def test_a_station_of_another_site_is_refused_by_a_site_pki(pki: SitePki) -> None:
    with pytest.raises(InvalidCertificateNameError, match=r"not in this PKI's site 'ams1'"):
        pki.issue("lon1.st01")


def test_a_bridge_name_with_a_dot_is_refused_so_it_never_looks_like_a_station(
    pki: SitePki,
) -> None:
    with pytest.raises(InvalidCertificateNameError, match=r"'ams1\.bridge'.*contains '\.'"):
        pki.issue("ams1.bridge", kind="bridge")


def test_a_name_with_a_valid_certificate_is_not_issued_again_without_renew(
    pki: SitePki,
) -> None:
    pki.issue("ams1.st01")

    with pytest.raises(CertificateExistsError, match=r"'ams1\.st01' already exists.*--renew"):
        pki.issue("ams1.st01")


def test_renewing_issues_a_new_certificate_and_keeps_the_old_one_listed(pki: SitePki) -> None:
    first = certificate(pki.issue("ams1.st01").cert_file).serial_number
    second = certificate(pki.issue("ams1.st01", renew=True).cert_file).serial_number

    listed = [entry.serial for entry in pki.entries() if entry.name == "ams1.st01"]
    assert listed == [first, second]


def test_a_revoked_name_may_be_issued_again(pki: SitePki) -> None:
    pki.issue("ams1.st01")
    pki.revoke("ams1.st01")

    pki.issue("ams1.st01")

    states = [entry.revoked for entry in pki.entries() if entry.name == "ams1.st01"]
    assert states == [True, False]


def test_an_expired_certificate_can_be_made_for_tests_and_is_listed_as_expired(
    pki: SitePki,
) -> None:
    now = datetime.now(UTC)
    credentials = pki.issue(
        "ams1.st01", not_before=now - timedelta(days=10), not_after=now - timedelta(days=1)
    )

    assert certificate(credentials.cert_file).not_valid_after_utc < now
    assert [entry.expired(now) for entry in pki.entries() if entry.name == "ams1.st01"] == [True]
    pki.issue("ams1.st01")  # an expired certificate does not block a new one


def test_client_credentials_give_a_tls_context_of_tls_1_2_or_newer(pki: SitePki) -> None:
    context = pki.issue("ams1.st01").tls_context()

    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED


# --- revoke ------------------------------------------------------------------------------------


def test_revoking_puts_the_serial_in_the_crl_signed_by_the_ca(pki: SitePki) -> None:
    serial = certificate(pki.issue("ams1.st01").cert_file).serial_number

    pki.revoke("ams1.st01")

    crl = x509.load_pem_x509_crl(pki.crl_file.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert crl.is_signature_valid(certificate(pki.ca_file).public_key())  # type: ignore[arg-type]
    assert pki.revoked_serials() == {serial}


def test_revoking_a_name_revokes_its_renewed_certificates_too(pki: SitePki) -> None:
    pki.issue("ams1.st01")
    pki.issue("ams1.st01", renew=True)

    revoked = pki.revoke("ams1.st01")

    assert len(revoked) == 2
    assert pki.revoked_serials() == {entry.serial for entry in revoked}


def test_revoking_a_name_never_issued_is_refused_naming_it(pki: SitePki) -> None:
    with pytest.raises(UnknownCertificateError, match=r"'ams1\.st99' was ever issued"):
        pki.revoke("ams1.st99")


def test_a_revocation_is_seen_by_a_pki_opened_later(pki: SitePki) -> None:
    pki.issue("ams1.st01")
    pki.revoke("ams1.st01")

    reopened = SitePki.open(pki.directory)

    assert [entry.revoked for entry in reopened.entries() if entry.name == "ams1.st01"] == [True]


def test_pki_errors_belong_to_the_bridge_error_tree() -> None:
    assert issubclass(InvalidCertificateNameError, BridgeError)
    assert issubclass(InvalidCertificateNameError, ValueError)
    assert issubclass(InsecurePkiError, PermissionError)


# --- the command line ----------------------------------------------------------------------------


def test_the_command_line_issues_revokes_and_lists_with_serials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = str(tmp_path / "pki")
    assert run_cli("pki", "init", "--dir", directory, "--site", "ams1") == 0
    assert run_cli("pki", "issue", "--dir", directory, "ams1.st01") == 0
    assert run_cli("pki", "issue", "--dir", directory, BRIDGE_CERT_NAME, "--kind", "bridge") == 0
    assert run_cli("pki", "revoke", "--dir", directory, "ams1.st01") == 0
    capsys.readouterr()

    assert run_cli("pki", "list", "--dir", directory, "--json") == 0

    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    serial = certificate(tmp_path / "pki" / "clients" / "ams1.st01.crt").serial_number
    assert listed["ams1.st01"]["serial"] == format_serial(serial)
    assert listed["ams1.st01"]["revoked"] is True
    assert listed[BRIDGE_CERT_NAME]["revoked"] is False
    assert listed["localhost"]["kind"] == "broker"


def test_the_command_line_refuses_a_bad_name_with_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = str(tmp_path / "pki")
    run_cli("pki", "init", "--dir", directory)
    capsys.readouterr()

    status = run_cli("pki", "issue", "--dir", directory, "ams1/st01")

    assert status == 2
    out, err = capsys.readouterr()
    assert "packline pki issue: certificate name 'ams1/st01' is refused" in err
    assert out == ""


def test_revoke_tells_the_operator_that_the_broker_must_reload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = str(tmp_path / "pki")
    run_cli("pki", "init", "--dir", directory)
    run_cli("pki", "issue", "--dir", directory, "ams1.st01")

    run_cli("pki", "revoke", "--dir", directory, "ams1.st01")

    assert "SIGHUP" in capsys.readouterr().out
