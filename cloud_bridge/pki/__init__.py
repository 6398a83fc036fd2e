"""The site PKI: a CA, the broker's server certificate, one client certificate per station and
bridge, and a CRL, kept in one private directory and managed by `packline pki`.

The broker binds each client's identity to its certificate's CN (the station id, or the bridge's
name), so the names this package accepts are the names the broker's ACL confines.
"""

from __future__ import annotations

from cloud_bridge.pki.errors import (
    CertificateExistsError,
    InsecurePkiError,
    InvalidCertificateNameError,
    PkiError,
    PkiExistsError,
    PkiNotFoundError,
    UnknownCertificateError,
)
from cloud_bridge.pki.index import CertificateEntry, format_serial
from cloud_bridge.pki.names import BRIDGE_CERT_NAME, BRIDGE_CERT_NAMES, CertificateKind, check_name
from cloud_bridge.pki.site import (
    DEFAULT_BROKER_NAMES,
    DEFAULT_CA_DAYS,
    DEFAULT_CLIENT_DAYS,
    ClientCredentials,
    SitePki,
)

__all__ = [
    "BRIDGE_CERT_NAME",
    "BRIDGE_CERT_NAMES",
    "DEFAULT_BROKER_NAMES",
    "DEFAULT_CA_DAYS",
    "DEFAULT_CLIENT_DAYS",
    "CertificateEntry",
    "CertificateExistsError",
    "CertificateKind",
    "ClientCredentials",
    "InsecurePkiError",
    "InvalidCertificateNameError",
    "PkiError",
    "PkiExistsError",
    "PkiNotFoundError",
    "SitePki",
    "UnknownCertificateError",
    "check_name",
    "format_serial",
]
