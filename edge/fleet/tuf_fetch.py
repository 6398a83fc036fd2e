"""A TUF fetcher that gets repository files over MQTT, in bounded chunks, resuming after a drop.

``tuf.ngclient.Updater`` runs in a worker thread and asks this fetcher for URLs such as
``mqtt://bridge/metadata/timestamp.json``; the fetcher turns each into `FetchRequest` windows,
sends them through a `BlobTransport` (the station's MQTT uplink), and reads the bridge's
`FetchChunk`/`FetchRefused` answers, which the asyncio side hands over with `deliver`. It only
moves bytes: every check of what the bytes mean (length, hashes, signatures, versions, expiry)
stays with TUF.
"""

from __future__ import annotations

import binascii
import queue
import time
from base64 import b64decode
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import unquote
from uuid import UUID, uuid4

from pydantic import TypeAdapter, ValidationError
from tuf.api.exceptions import DownloadError, DownloadHTTPError
from tuf.ngclient.fetcher import FetcherInterface

from edge.contract import (
    MAX_FETCH_WINDOW,
    FetchChunk,
    FetchRefused,
    FetchRequest,
    RepositoryPath,
)

__all__ = [
    "DEFAULT_WINDOW_BYTES",
    "METADATA_URL",
    "TARGETS_URL",
    "BlobTransport",
    "MqttFetcher",
    "repository_path",
]

METADATA_URL: Final = "mqtt://bridge/metadata/"
"""The base URL the station's TUF updater uses for metadata; the fetcher maps it to metadata/."""

TARGETS_URL: Final = "mqtt://bridge/targets/"
"""The base URL for target files; the fetcher maps it to targets/."""

DEFAULT_WINDOW_BYTES: Final = 2**20
"""How much one request asks for: large enough to keep the link busy, small enough to resend."""

_PATH: Final = TypeAdapter(RepositoryPath)


class BlobTransport(Protocol):
    """Sends a fetch request to the bridge; must be thread-safe.

    May raise ConnectionError while the station is offline: the fetcher then waits and asks
    again, as it does when a request or its answers are lost.
    """

    def send(self, request: FetchRequest) -> None:
        """Publish ``request`` towards the bridge."""


def repository_path(url: str) -> str:
    """The repository path (``metadata/...`` or ``targets/...``) a fetcher URL names."""
    for base, level in ((METADATA_URL, "metadata"), (TARGETS_URL, "targets")):
        if url.startswith(base):
            path = f"{level}/{unquote(url[len(base) :])}"
            try:
                return _PATH.validate_python(path)
            except ValidationError:
                raise DownloadHTTPError(
                    f"{url!r} does not name a file inside the release repository", 400
                ) from None
    raise DownloadError(f"cannot fetch {url!r}: expected {METADATA_URL}... or {TARGETS_URL}...")


@dataclass(frozen=True)
class _Asked:
    request_id: UUID
    end: int
    """The first byte after the window this request asked for."""


class MqttFetcher(FetcherInterface):
    """Fetches repository files through a `BlobTransport`, one window of chunks at a time.

    Answers are matched to the request in flight by id and offset; duplicates and stale answers
    are dropped. When nothing useful arrives for ``chunk_timeout_s`` it asks again from the first
    missing byte, and after ``give_up_s`` without progress it fails the download.

    The counters (``bytes_received``, ``requests_sent``, ...) are for benchmarks and logs.
    """

    def __init__(
        self,
        transport: BlobTransport,
        *,
        window_bytes: int = DEFAULT_WINDOW_BYTES,
        chunk_timeout_s: float = 5.0,
        give_up_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= window_bytes <= MAX_FETCH_WINDOW:
            raise ValueError(
                f"window_bytes {window_bytes} must be between 1 and {MAX_FETCH_WINDOW}"
            )
        if chunk_timeout_s <= 0 or give_up_s < chunk_timeout_s:
            raise ValueError(
                f"chunk_timeout_s ({chunk_timeout_s}) must be positive and give_up_s "
                f"({give_up_s}) at least as long"
            )
        self._transport = transport
        self._window = window_bytes
        self._chunk_timeout = chunk_timeout_s
        self._give_up = give_up_s
        self._clock = clock
        self._answers: queue.SimpleQueue[FetchChunk | FetchRefused] = queue.SimpleQueue()
        self.bytes_received = 0
        self.chunks_received = 0
        self.requests_sent = 0
        self.resends = 0
        self.send_failures = 0
        self.ignored_answers = 0
        self.files_fetched = 0

    def deliver(self, message: FetchChunk | FetchRefused) -> None:
        """Hand over an answer from the bridge; safe to call from any thread."""
        self._answers.put(message)

    def _fetch(self, url: str) -> Iterator[bytes]:
        return self._download(repository_path(url))

    def _drain(self) -> None:
        while True:
            try:
                self._answers.get_nowait()
            except queue.Empty:
                return
            self.ignored_answers += 1

    def _ask(self, path: str, offset: int, total: int | None) -> _Asked:
        length = self._window if total is None else max(1, min(self._window, total - offset))
        request = FetchRequest(request_id=uuid4(), path=path, offset=offset, length=length)
        try:
            self._transport.send(request)
        except ConnectionError:
            self.send_failures += 1
        else:
            self.requests_sent += 1
        return _Asked(request.request_id, offset + length)

    def _download(self, path: str) -> Iterator[bytes]:
        self._drain()
        offset = 0
        total: int | None = None
        asked = self._ask(path, offset, total)
        last_progress = last_activity = self._clock()
        while total is None or offset < total:
            now = self._clock()
            if now - last_progress >= self._give_up:
                raise DownloadError(
                    f"no progress fetching {path} for {self._give_up:g} s "
                    f"({offset} of {total if total is not None else '?'} bytes); giving up"
                )
            if now - last_activity >= self._chunk_timeout:
                asked = self._ask(path, offset, total)
                self.resends += 1
                last_activity = now
                continue
            wait = min(last_activity + self._chunk_timeout, last_progress + self._give_up) - now
            try:
                answer = self._answers.get(timeout=max(wait, 0.0))
            except queue.Empty:
                continue
            if answer.request_id != asked.request_id:
                self.ignored_answers += 1
                continue
            if isinstance(answer, FetchRefused):
                raise DownloadHTTPError(
                    f"the bridge refused {path}: {answer.reason}", answer.status
                )
            data = self._accept(answer, path, offset, total)
            if data is None:
                self.ignored_answers += 1
                continue
            total = answer.total_size
            offset += len(data)
            self.bytes_received += len(data)
            self.chunks_received += 1
            last_progress = last_activity = self._clock()
            if data:
                yield data
            if offset < total and offset >= asked.end:
                asked = self._ask(path, offset, total)
        self.files_fetched += 1

    @staticmethod
    def _accept(chunk: FetchChunk, path: str, offset: int, total: int | None) -> bytes | None:
        """The chunk's bytes if they are the next ones of this file, else None (ignore it)."""
        if chunk.path != path or chunk.offset != offset:
            return None
        if total is not None and chunk.total_size != total:
            raise DownloadError(
                f"{path} changed size during the download ({total} -> {chunk.total_size} bytes)"
            )
        try:
            data = b64decode(chunk.data, validate=True)
        except binascii.Error:
            return None
        if offset + len(data) > chunk.total_size or (not data and offset < chunk.total_size):
            return None
        return data
