"""The bridge's `[broker]`: the station link settings plus a second certificate for ingest.

The broker binds every client id to the certificate's name, so two connections made with one
certificate would take over each other's session. The bridge keeps two connections (control:
allocations, commands, fleet; ingest: the shared event subscription), so each has its own
certificate: ``bridge-<instance>`` and ``bridge-<instance>-ingest``, the client ids it used
before TLS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import aiomqtt
from pydantic import model_validator

from edge.station.uplink import BrokerSettings

__all__ = [
    "DEFAULT_INSTANCE",
    "BridgeBrokerSettings",
    "bridge_cert_names",
    "control_client_id",
    "ingest_client_id",
]

DEFAULT_INSTANCE = "main"
"""The bridge instance name when bridge.toml does not give one."""


def control_client_id(instance: str) -> str:
    """The control connection's client id, and the name on its certificate."""
    return f"bridge-{instance}"


def ingest_client_id(instance: str) -> str:
    """The ingest connection's client id, and the name on its certificate."""
    return f"bridge-{instance}-ingest"


def bridge_cert_names(instance: str) -> tuple[str, str]:
    """Both certificate names an instance needs, each a broker user in the ACL."""
    return control_client_id(instance), ingest_client_id(instance)


class BridgeBrokerSettings(BrokerSettings):
    """`[broker]` of bridge.toml: ``cert_file``/``key_file`` are the control connection's."""

    ingest_cert_file: Path | None = None
    ingest_key_file: Path | None = None

    @model_validator(mode="after")
    def _ingest_certificate(self) -> Self:
        if (self.ingest_cert_file is None) != (self.ingest_key_file is None):
            raise ValueError("ingest_cert_file and ingest_key_file go together")
        if (self.cert_file is None) != (self.ingest_cert_file is None):
            raise ValueError(
                "cert_file and ingest_cert_file go together: the control and ingest connections "
                "each need their own certificate (bridge-<instance> and bridge-<instance>-ingest)"
            )
        return self

    def resolved(self, base: Path) -> BridgeBrokerSettings:
        """The same settings with relative certificate and key paths taken from `base`."""
        keys = ("ca_file", "cert_file", "key_file", "ingest_cert_file", "ingest_key_file")
        update = {
            key: base / path
            for key in keys
            if (path := getattr(self, key)) is not None and not path.is_absolute()
        }
        return self.model_copy(update=update)

    def ingest_settings(self) -> BrokerSettings:
        """The link settings the ingest connection uses: its own certificate, the same CA."""
        return BrokerSettings.model_validate(
            {
                **self.model_dump(exclude={"ingest_cert_file", "ingest_key_file"}),
                "cert_file": self.ingest_cert_file,
                "key_file": self.ingest_key_file,
            }
        )

    def ingest_tls_parameters(self) -> aiomqtt.TLSParameters | None:
        """TLS for the ingest connection (None for plain ``mqtt://``)."""
        return self.ingest_settings().tls_parameters()
