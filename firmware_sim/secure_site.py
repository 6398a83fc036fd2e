"""A throwaway site PKI for the demo, the drill and the integration tests: TLS is the tested path.

Each run makes its own CA, broker certificate and client certificates, starts Mosquitto with the
production listener settings and the generated ACL (no plain listener), and hands each process
the ``[broker]`` keys an operator would write: an ``mqtts://`` url, the CA, and the process's own
certificate and key. Stations get a certificate named by their station id; a bridge instance gets
its two (control and ingest); a reader (the demo's allocation board) may read every topic (see
`edge.contract.mosquitto_acl` for what its name lets it write: nothing a station or the bridge
reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from cloud_bridge.broker_settings import bridge_cert_names
from cloud_bridge.pki import CertificateKind, ClientCredentials, SitePki
from edge.contract import StationId
from firmware_sim.broker import PRODUCTION_LIMITS, MosquittoBroker

__all__ = ["SiteCredentials"]


class SiteCredentials:
    """One site's PKI and the credentials issued from it, each issued once on first use."""

    def __init__(self, pki: SitePki) -> None:
        self.pki = pki
        self._issued: dict[str, ClientCredentials] = {}

    @classmethod
    def create(cls, directory: Path) -> Self:
        """A new CA in `directory` (which must not hold one), trusted for 127.0.0.1."""
        return cls(SitePki.init(directory))

    def broker(
        self, *, bridge_instances: Sequence[str] = (), readers: Sequence[str] = ()
    ) -> MosquittoBroker:
        """A Mosquitto with only the TLS listener, its ACL naming these bridges and readers, and
        the production broker's queue limits."""
        bridges = [name for instance in bridge_instances for name in bridge_cert_names(instance)]
        return MosquittoBroker(
            pki=self.pki,
            plain_listener=False,
            bridge_names=bridges,
            reader_names=readers,
            extra_config="\n".join(f"{key} {value}" for key, value in PRODUCTION_LIMITS.items()),
        )

    def credentials(self, name: str, kind: CertificateKind | str) -> ClientCredentials:
        """The certificate and key for `name`, issued the first time it is asked for."""
        issued = self._issued.get(name)
        if issued is None:
            issued = self.pki.issue(name, kind=CertificateKind(kind))
            self._issued[name] = issued
        return issued

    def station_link(self, station_id: StationId, url: str) -> dict[str, Any]:
        """station.toml's ``[broker]`` link keys for `station_id` (merge over the rest)."""
        own = self.credentials(station_id.client_id, CertificateKind.STATION)
        return {
            "url": url,
            "ca_file": str(own.ca_file),
            "cert_file": str(own.cert_file),
            "key_file": str(own.key_file),
        }

    def bridge_link(self, instance: str, url: str) -> dict[str, Any]:
        """bridge.toml's ``[broker]`` link keys for a bridge instance: both certificates."""
        control_name, ingest_name = bridge_cert_names(instance)
        control = self.credentials(control_name, CertificateKind.BRIDGE)
        ingest = self.credentials(ingest_name, CertificateKind.BRIDGE)
        return {
            "url": url,
            "ca_file": str(control.ca_file),
            "cert_file": str(control.cert_file),
            "key_file": str(control.key_file),
            "ingest_cert_file": str(ingest.cert_file),
            "ingest_key_file": str(ingest.key_file),
        }
