"""The bridge's side of the TUF fetch over MQTT: answer a `FetchRequest` from the repository.

Each request asks for a window of one repository file; the answer is that window cut into
chunks of at most ``chunk_bytes`` (base64 in JSON stays under the MQTT payload limit), each
carrying the file's total size so the station knows when it has everything. The server trusts
nothing in the request beyond what the contract already checked: the path must resolve inside
the repository, symlinks included.
"""

from __future__ import annotations

import os
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from edge.contract import MAX_CHUNK_BYTES, FetchChunk, FetchRefused, FetchRequest

__all__ = ["BlobServer"]


class BlobServer:
    """Serves byte ranges of the files under a release repository directory."""

    def __init__(self, repository_dir: Path, *, chunk_bytes: int = MAX_CHUNK_BYTES) -> None:
        if not 1 <= chunk_bytes <= MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes {chunk_bytes} must be between 1 and {MAX_CHUNK_BYTES}")
        self.root = Path(repository_dir).resolve()
        self.chunk_bytes = chunk_bytes

    def _refuse(self, request: FetchRequest, status: int, reason: str) -> FetchRefused:
        return FetchRefused(
            request_id=request.request_id, path=request.path, status=status, reason=reason
        )

    def answer(self, request: FetchRequest) -> Iterator[FetchChunk | FetchRefused]:
        """The chunks of the requested window, or one refusal (404 missing, 400 bad request)."""
        resolved = (self.root / request.path).resolve()
        if not resolved.is_relative_to(self.root):
            yield self._refuse(request, 400, f"{request.path} resolves outside the repository")
            return
        try:
            handle = resolved.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            yield self._refuse(request, 404, f"no file {request.path} in the release repository")
            return
        except OSError as error:
            yield self._refuse(request, 500, f"cannot read {request.path}: {error.strerror}")
            return
        with handle:
            size = os.fstat(handle.fileno()).st_size
            if request.offset > size:
                yield self._refuse(
                    request,
                    400,
                    f"offset {request.offset} is beyond the end of {request.path} ({size} bytes)",
                )
                return
            yield from self._chunks(request, handle, size)

    def _chunks(self, request: FetchRequest, handle: BinaryIO, size: int) -> Iterator[FetchChunk]:
        """Cut the window into chunks; an empty file (or window at the end) is one empty chunk."""
        offset = request.offset
        end = min(size, request.offset + request.length)
        handle.seek(offset)
        while True:
            data = handle.read(min(self.chunk_bytes, end - offset))
            yield FetchChunk(
                request_id=request.request_id,
                path=request.path,
                offset=offset,
                data=b64encode(data).decode("ascii"),
                total_size=size,
            )
            offset += len(data)
            if offset >= end or not data:
                return
