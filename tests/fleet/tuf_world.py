"""A release repository, a station's trusted metadata and a link between them, for TUF tests.

Everything is real: keys on disk, metadata signed with ``tuf.api``, the bridge's `BlobServer`
answering on its own thread, the station's `MqttFetcher` and ``tuf.ngclient``. The crafting
helpers play the attacker (or the broken network) by changing files the way one could.
"""

from __future__ import annotations

import json
import queue
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer._crypto_signer import CryptoSigner
from tuf.api._payload import MetaFile, Snapshot, Timestamp
from tuf.api.metadata import Metadata
from tuf.api.serialization.json import JSONSerializer

from cloud_bridge.fleet.release import BlobServer, ExpiryPolicy, KeyStore, ReleaseRepository
from edge.contract import FetchChunk, FetchRefused, FetchRequest
from edge.fleet.tuf_fetch import MqttFetcher
from edge.fleet.verify import VerifiedRelease, fetch_verified_release, trust_root

WHEEL_BYTES = b"PK\x03\x04 not really a wheel, TUF only cares about the bytes " * 40


def make_release(
    out: Path,
    version: str,
    *,
    wheels: dict[str, bytes] | None = None,
    manifest: dict[str, Any] | None = None,
) -> Path:
    """A release directory ``out/<version>`` with release.json and (fake) wheel files."""
    wheels = wheels if wheels is not None else {f"packline-{version}-py3-none-any.whl": WHEEL_BYTES}
    directory = out / version
    directory.mkdir(parents=True)
    for name, data in wheels.items():
        (directory / name).write_bytes(data)
    document = manifest if manifest is not None else {"version": version, "wheels": list(wheels)}
    (directory / "release.json").write_text(json.dumps(document))
    return directory


class ThreadTransport:
    """Hands fetch requests to a real `BlobServer` on a worker thread, like the bridge would.

    ``drop_request(request, n)`` loses the n-th request (counting from 0); ``drop_chunk(chunk,
    n)`` loses the n-th chunk; ``duplicate`` sends every chunk twice; ``offline`` makes `send`
    raise ConnectionError like a station with no link.
    """

    def __init__(
        self,
        server: BlobServer,
        *,
        drop_request: Callable[[FetchRequest, int], bool] = lambda request, n: False,
        drop_chunk: Callable[[FetchChunk, int], bool] = lambda chunk, n: False,
        duplicate: bool = False,
    ) -> None:
        self.server = server
        self.drop_request = drop_request
        self.drop_chunk = drop_chunk
        self.duplicate = duplicate
        self.offline = False
        self.fetcher: MqttFetcher | None = None
        self.requests: list[FetchRequest] = []
        self.dropped_requests = 0
        self.dropped_chunks = 0
        self._chunks_seen = 0
        self._work: queue.SimpleQueue[FetchRequest | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="blob-server", daemon=True)
        self._thread.start()

    def send(self, request: FetchRequest) -> None:
        if self.offline:
            raise ConnectionError("the station is offline")
        number = len(self.requests)
        self.requests.append(request)
        if self.drop_request(request, number):
            self.dropped_requests += 1
            return
        self._work.put(request)

    def _deliver(self, answer: FetchChunk | FetchRefused) -> None:
        assert self.fetcher is not None, "attach a fetcher before fetching"
        self.fetcher.deliver(answer)

    def _serve(self) -> None:
        while (request := self._work.get()) is not None:
            for answer in self.server.answer(request):
                if isinstance(answer, FetchChunk):
                    number = self._chunks_seen
                    self._chunks_seen += 1
                    if self.drop_chunk(answer, number):
                        self.dropped_chunks += 1
                        continue
                    if self.duplicate:
                        self._deliver(answer)
                self._deliver(answer)

    def close(self) -> None:
        self._work.put(None)
        self._thread.join(timeout=5)


@dataclass
class World:
    """Keys, a repository, and one station's TUF directory provisioned with the root."""

    base: Path
    keys: KeyStore
    repo: ReleaseRepository
    tuf_dir: Path
    transports: list[ThreadTransport] = field(default_factory=list)

    def publish(self, version: str, **kwargs: Any) -> str:
        """Build a small release and publish it; returns its manifest target."""
        self.repo.publish(make_release(self.base / "builds", version, **kwargs))
        return f"releases/{version}/release.json"

    def link(self, **kwargs: Any) -> tuple[MqttFetcher, ThreadTransport]:
        """A station fetcher wired to the repository's blob server."""
        transport = ThreadTransport(BlobServer(self.repo.directory), **kwargs)
        fetcher = MqttFetcher(transport, chunk_timeout_s=0.05, give_up_s=2.0)
        transport.fetcher = fetcher
        self.transports.append(transport)
        return fetcher, transport

    def fetch(
        self, target: str, *, installed: str = "0.1.0", into: str = "download", **link: Any
    ) -> VerifiedRelease:
        """What the station's updater does: fetch and verify ``target`` over the link."""
        fetcher, _ = self.link(**link)
        return fetch_verified_release(
            tuf_dir=self.tuf_dir,
            fetcher=fetcher,
            target=target,
            installed_version=installed,
            into=self.base / into,
        )

    def metadata(self, name: str) -> Path:
        return self.repo.metadata_dir / name

    def stored_target(self, target_path: str) -> Path:
        """The file on disk that a target path is served from (hash-prefixed)."""
        directory, _, name = target_path.rpartition("/")
        matches = list((self.repo.targets_dir / directory).glob(f"*.{name}"))
        assert len(matches) == 1, matches
        return matches[0]

    def close(self) -> None:
        for transport in self.transports:
            transport.close()


@contextmanager
def make_world(
    base: Path,
    *,
    expiry: ExpiryPolicy | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Iterator[World]:
    """A fresh world under ``base``; the station trusts the repository's first root."""
    keys = KeyStore.create(base / "keys")
    repo = ReleaseRepository.init(
        base / "repo", keys, expiry=expiry, clock=clock or (lambda: datetime.now(UTC))
    )
    tuf_dir = base / "station-tuf"
    trust_root(tuf_dir, repo.trusted_root())
    world = World(base=base, keys=keys, repo=repo, tuf_dir=tuf_dir)
    try:
        yield world
    finally:
        world.close()


# --- the attacker's and the broken network's tools -----------------------------------------

_SERIALIZER = JSONSerializer(compact=False)


def strip_signatures(path: Path) -> None:
    """Remove every signature from a metadata file (what an unsigned repository serves)."""
    document = json.loads(path.read_bytes())
    document["signatures"] = []
    path.write_text(json.dumps(document))


def resign(path: Path, signer: CryptoSigner) -> None:
    """Replace a metadata file's signatures with one by ``signer`` (e.g. a key nobody trusts)."""
    metadata = Metadata.from_bytes(path.read_bytes())
    metadata.sign(signer)
    path.write_bytes(metadata.to_bytes(_SERIALIZER))


def stale_clock(days: float) -> Callable[[], datetime]:
    """A clock ``days`` in the past, so what it signs has already expired."""
    return lambda: datetime.now(UTC) - timedelta(days=days)


def timestamp_pointing_to_old_snapshot(world: World, snapshot_version: int) -> None:
    """A compromised timestamp key signs a new timestamp naming an older snapshot."""
    old = world.metadata(f"{snapshot_version}.snapshot.json").read_bytes()
    assert Metadata[Snapshot].from_bytes(old).signed.version == snapshot_version
    timestamp = Metadata[Timestamp].from_bytes(world.metadata("timestamp.json").read_bytes())
    timestamp.signed.version += 1
    timestamp.signed.snapshot_meta = MetaFile.from_data(snapshot_version, old, ["sha256"])
    timestamp.sign(world.keys.signer("timestamp"))
    world.metadata("timestamp.json").write_bytes(timestamp.to_bytes(_SERIALIZER))


def keep_copy(path: Path, into: Path) -> Path:
    """Save a file as it is now, to serve it again later (a replay)."""
    into.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(path, into / path.name))
