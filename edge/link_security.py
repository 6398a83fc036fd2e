"""What a station or bridge checks about its broker link before it connects.

Production is MQTT 5 over mutual TLS: ``mqtts://`` with a client certificate. A plain ``mqtt://``
link is for local development only, on a loopback broker, and only when ``--insecure`` says so;
it is logged loudly, so it cannot become the default by accident.

The name in the client certificate is checked against who the process is.

The broker takes a client's username and client id from its certificate's common name
(``use_identity_as_username`` with ``use_username_as_clientid``), and its ACL confines that name
to its own topics. A station holding another station's certificate would therefore connect fine
and then have every publish refused; checking the name at start turns that into one clear error.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from edge.errors import ConfigError
from edge.station.uplink import BrokerSettings

__all__ = ["INSECURE_BANNER", "certificate_name", "check_certificate_name", "check_link_security"]

log = logging.getLogger("packline.security")

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

INSECURE_BANNER = (
    "INSECURE BROKER LINK: plain mqtt:// without TLS or a client certificate, allowed by "
    "--insecure for local development only. Anyone on this host can read and forge its messages."
)


def check_link_security(settings: BrokerSettings, identity: str, *, insecure: bool) -> None:
    """Refuse a link that is neither mutual TLS nor an explicitly insecure loopback one.

    ``identity`` is the name the process connects as: the station id, or the bridge's client id.
    """
    if settings.scheme == "mqtts":
        if settings.ca_file is None:
            raise ConfigError(
                "broker.ca_file: an mqtts:// link needs the site CA's certificate, so only a "
                "broker certified by the site is trusted (not any publicly trusted one)"
            )
        if settings.cert_file is None:
            raise ConfigError(
                "broker.cert_file: an mqtts:// link needs a client certificate and key "
                "(cert_file, key_file); the broker refuses clients without one"
            )
        check_certificate_name(settings.cert_file, identity, key="broker.cert_file")
        return
    if not insecure:
        raise ConfigError(
            f"broker.url: {settings.url} is plain mqtt://, which sends events unencrypted and "
            "unauthenticated; use mqtts:// with a client certificate (packline pki issue), or "
            "pass --insecure for local development against a loopback broker"
        )
    if settings.host not in _LOOPBACK:
        raise ConfigError(
            f"broker.url: --insecure is only allowed with a loopback broker (127.0.0.1, "
            f"localhost or ::1), not {settings.host!r}"
        )
    log.warning("%s (%s as %s)", INSECURE_BANNER, settings.url, identity)


def certificate_name(cert_file: Path) -> str:
    """The subject common name of the PEM certificate in `cert_file`."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except OSError as error:
        raise ConfigError(f"{cert_file}: cannot read the certificate: {error.strerror}") from error
    except ValueError as error:
        raise ConfigError(f"{cert_file}: not a PEM certificate ({error})") from error
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise ConfigError(
            f"{cert_file}: the certificate has {len(names)} common names; expected exactly one"
        )
    value = names[0].value
    return value if isinstance(value, str) else value.decode()


def check_certificate_name(cert_file: Path | None, expected: str, *, key: str) -> None:
    """Refuse to start when the client certificate is issued to another name than `expected`.

    ``key`` names the config key the certificate came from, for the error message.
    """
    if cert_file is None:
        return
    name = certificate_name(cert_file)
    if name != expected:
        raise ConfigError(
            f"{key}: the certificate {cert_file} is issued to {name!r}, but this process "
            f"connects as {expected!r}; the broker would refuse every publish. Issue one with "
            f"`packline pki issue {expected}`"
        )
