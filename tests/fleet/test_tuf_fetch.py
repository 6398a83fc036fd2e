"""The station's TUF fetcher over MQTT: bounded windows, resumption after losses, clear failures.

The link is an in-process transport that hands requests to the real `BlobServer` on its own
thread, so requests and answers cross threads as they do between the updater and the asyncio side.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from tuf.api.exceptions import DownloadError, DownloadHTTPError
from tuf_world import ThreadTransport

from cloud_bridge.fleet.release import BlobServer
from edge.contract import FetchChunk, FetchRefused
from edge.fleet.tuf_fetch import MqttFetcher, repository_path

CONTENT = bytes(range(256)) * 1000  # 256,000 bytes: several windows of 64 KiB


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "targets" / "releases" / "0.2.0").mkdir(parents=True)
    (tmp_path / "targets" / "releases" / "0.2.0" / "abc.wheel.whl").write_bytes(CONTENT)
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "timestamp.json").write_bytes(b'{"signed": {}}')
    return tmp_path


@pytest.fixture
def links(repo: Path) -> Iterator[list[ThreadTransport]]:
    made: list[ThreadTransport] = []
    yield made
    for transport in made:
        transport.close()


def _link(
    repo: Path,
    links: list[ThreadTransport],
    *,
    chunk_timeout_s: float = 0.5,
    give_up_s: float = 5.0,
    **kwargs: object,
) -> tuple[MqttFetcher, ThreadTransport]:
    """A fetcher over the real blob server; short timeouts only where a test loses things."""
    transport = ThreadTransport(BlobServer(repo, chunk_bytes=8192), **kwargs)  # type: ignore[arg-type]
    fetcher = MqttFetcher(
        transport, window_bytes=65536, chunk_timeout_s=chunk_timeout_s, give_up_s=give_up_s
    )
    transport.fetcher = fetcher
    links.append(transport)
    return fetcher, transport


URL = "mqtt://bridge/targets/releases/0.2.0/abc.wheel.whl"


def test_urls_map_to_repository_paths() -> None:
    assert repository_path("mqtt://bridge/metadata/2.root.json") == "metadata/2.root.json"
    assert repository_path(URL) == "targets/releases/0.2.0/abc.wheel.whl"


@pytest.mark.parametrize(
    "url", ["https://example.invalid/metadata/root.json", "mqtt://bridge/other/root.json"]
)
def test_a_url_outside_the_two_bases_is_refused(url: str) -> None:
    with pytest.raises(DownloadError, match="cannot fetch"):
        repository_path(url)


def test_a_url_with_parent_levels_is_refused_as_a_bad_request() -> None:
    with pytest.raises(DownloadHTTPError) as refused:
        repository_path("mqtt://bridge/targets/../keys/root.pem")
    assert refused.value.status_code == 400


def test_a_file_larger_than_a_window_arrives_whole_through_several_requests(
    repo: Path, links: list[ThreadTransport]
) -> None:
    fetcher, transport = _link(repo, links)

    data = fetcher.download_bytes(URL, len(CONTENT))

    assert data == CONTENT
    assert fetcher.bytes_received == len(CONTENT)
    assert fetcher.requests_sent == 4  # 256,000 bytes in windows of 65,536
    assert fetcher.resends == 0
    assert all(request.length <= 65536 for request in transport.requests)


def test_lost_requests_are_asked_again_from_the_first_missing_byte(
    repo: Path, links: list[ThreadTransport]
) -> None:
    fetcher, transport = _link(
        repo, links, chunk_timeout_s=0.05, drop_request=lambda request, n: n in {0, 2}
    )

    assert fetcher.download_bytes(URL, len(CONTENT)) == CONTENT
    assert transport.dropped_requests == 2
    assert fetcher.resends >= 2


def test_a_lost_chunk_resumes_from_that_chunk_not_from_the_start(
    repo: Path, links: list[ThreadTransport]
) -> None:
    fetcher, transport = _link(
        repo, links, chunk_timeout_s=0.05, drop_chunk=lambda chunk, n: n == 3
    )

    assert fetcher.download_bytes(URL, len(CONTENT)) == CONTENT
    assert transport.dropped_chunks == 1
    assert 3 * 8192 in [request.offset for request in transport.requests[1:]]
    assert all(request.offset > 0 for request in transport.requests[1:])
    assert fetcher.bytes_received == len(CONTENT)


def test_duplicate_chunks_are_ignored(repo: Path, links: list[ThreadTransport]) -> None:
    fetcher, _ = _link(repo, links, duplicate=True)

    assert fetcher.download_bytes(URL, len(CONTENT)) == CONTENT
    assert fetcher.ignored_answers > 0
    assert fetcher.bytes_received == len(CONTENT)


def test_answers_to_other_requests_are_ignored(repo: Path, links: list[ThreadTransport]) -> None:
    fetcher, _ = _link(repo, links)
    stale_chunk = FetchChunk(
        request_id=uuid4(),
        path="targets/releases/0.2.0/abc.wheel.whl",
        offset=8192,
        data="eA==",
        total_size=len(CONTENT),
    )
    stale_refusal = FetchRefused(request_id=uuid4(), path="x", status=404, reason="old news")

    chunks = fetcher.fetch(URL)
    first = next(chunks)
    fetcher.deliver(stale_chunk)
    fetcher.deliver(stale_refusal)

    assert first + b"".join(chunks) == CONTENT
    assert fetcher.ignored_answers >= 2


def test_a_missing_file_is_a_404_download_error(repo: Path, links: list[ThreadTransport]) -> None:
    fetcher, _ = _link(repo, links)

    with pytest.raises(DownloadHTTPError, match=r"no file targets/nothing\.whl") as refused:
        fetcher.download_bytes("mqtt://bridge/targets/nothing.whl", 1000)
    assert refused.value.status_code == 404


def test_an_offline_link_is_retried_until_it_comes_back(
    repo: Path, links: list[ThreadTransport]
) -> None:
    fetcher, transport = _link(repo, links, chunk_timeout_s=0.05)
    transport.offline = True
    back = threading.Timer(0.3, lambda: setattr(transport, "offline", False))
    back.start()

    try:
        assert fetcher.download_bytes(URL, len(CONTENT)) == CONTENT
    finally:
        back.cancel()
    assert fetcher.send_failures >= 2


def test_the_fetcher_gives_up_after_the_give_up_time_without_progress(
    repo: Path, links: list[ThreadTransport]
) -> None:
    fetcher, _ = _link(
        repo, links, chunk_timeout_s=0.05, give_up_s=0.3, drop_request=lambda request, n: True
    )

    with pytest.raises(DownloadError, match=r"no progress fetching .* giving up"):
        fetcher.download_bytes(URL, len(CONTENT))
    assert fetcher.resends >= 3


def test_window_and_timeouts_are_checked(repo: Path, links: list[ThreadTransport]) -> None:
    transport = ThreadTransport(BlobServer(repo))
    links.append(transport)
    with pytest.raises(ValueError, match="window_bytes"):
        MqttFetcher(transport, window_bytes=0)
    with pytest.raises(ValueError, match="give_up_s"):
        MqttFetcher(transport, chunk_timeout_s=5, give_up_s=1)
