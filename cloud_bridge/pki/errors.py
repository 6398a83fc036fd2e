"""Errors raised by the site PKI.

Each is a `BridgeError`, and each also inherits the standard exception that fits it, so the
command line can turn any of them into one clear line.
"""

from __future__ import annotations

from cloud_bridge.errors import BridgeError

__all__ = [
    "CertificateExistsError",
    "InsecurePkiError",
    "InvalidCertificateNameError",
    "PkiError",
    "PkiExistsError",
    "PkiNotFoundError",
    "UnknownCertificateError",
]


class PkiError(BridgeError):
    """Base of every error the site PKI raises."""


class PkiNotFoundError(PkiError, FileNotFoundError):
    """The directory holds no site CA; the message says how to create one."""


class PkiExistsError(PkiError, FileExistsError):
    """`init` was asked to create a CA where one already exists."""


class InsecurePkiError(PkiError, PermissionError):
    """A private key or the PKI directory can be read by group or others."""


class InvalidCertificateNameError(PkiError, ValueError):
    """A certificate name is not one safe topic level, or not a name of the kind asked for."""


class CertificateExistsError(PkiError, FileExistsError):
    """A valid, unrevoked certificate already carries this name (renew it explicitly)."""


class UnknownCertificateError(PkiError, LookupError):
    """No certificate (or no unrevoked one) carries this name."""
