"""The bridge's blob server: byte windows of repository files, in bounded chunks, or a refusal."""

from __future__ import annotations

from base64 import b64decode
from pathlib import Path
from uuid import uuid4

import pytest

from cloud_bridge.fleet.release import BlobServer
from edge.contract import MAX_CHUNK_BYTES, FetchChunk, FetchRefused, FetchRequest


def _request(path: str, offset: int = 0, length: int = 1000) -> FetchRequest:
    return FetchRequest(request_id=uuid4(), path=path, offset=offset, length=length)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "repo" / "targets" / "releases").mkdir(parents=True)
    (tmp_path / "repo" / "metadata").mkdir()
    (tmp_path / "repo" / "targets" / "blob.bin").write_bytes(bytes(range(256)) * 10)
    return tmp_path / "repo"


def test_a_window_is_served_in_chunks_no_larger_than_the_chunk_size(repo: Path) -> None:
    server = BlobServer(repo, chunk_bytes=100)
    request = _request("targets/blob.bin", offset=50, length=1000)

    answers = list(server.answer(request))

    assert all(isinstance(answer, FetchChunk) for answer in answers)
    chunks = [answer for answer in answers if isinstance(answer, FetchChunk)]
    data = [b64decode(chunk.data) for chunk in chunks]
    assert [len(piece) for piece in data] == [100] * 10
    assert [chunk.offset for chunk in chunks] == list(range(50, 1050, 100))
    assert b"".join(data) == (bytes(range(256)) * 10)[50:1050]
    assert {chunk.total_size for chunk in chunks} == {2560}
    assert {chunk.request_id for chunk in chunks} == {request.request_id}


def test_the_window_stops_at_the_end_of_the_file(repo: Path) -> None:
    server = BlobServer(repo)

    answers = list(server.answer(_request("targets/blob.bin", offset=2500, length=1000)))

    assert len(answers) == 1
    assert isinstance(answers[0], FetchChunk)
    assert b64decode(answers[0].data) == (bytes(range(256)) * 10)[2500:]


def test_an_empty_file_is_one_empty_chunk_that_says_its_size_is_zero(repo: Path) -> None:
    (repo / "metadata" / "empty.json").write_bytes(b"")

    answers = list(BlobServer(repo).answer(_request("metadata/empty.json")))

    assert len(answers) == 1
    assert isinstance(answers[0], FetchChunk)
    assert (answers[0].data, answers[0].total_size) == ("", 0)


def test_full_size_chunks_fit_the_contract(repo: Path) -> None:
    (repo / "targets" / "big.bin").write_bytes(b"\xff" * (3 * MAX_CHUNK_BYTES))

    answers = list(BlobServer(repo).answer(_request("targets/big.bin", length=3 * MAX_CHUNK_BYTES)))

    assert len(answers) == 3
    for answer in answers:
        assert isinstance(answer, FetchChunk)
        FetchChunk.model_validate(answer.model_dump())


def test_a_missing_file_is_refused_with_404_naming_the_path(repo: Path) -> None:
    (answer,) = BlobServer(repo).answer(_request("targets/releases/9.9.9/nothing.whl"))

    assert isinstance(answer, FetchRefused)
    assert answer.status == 404
    assert "targets/releases/9.9.9/nothing.whl" in answer.reason


def test_a_directory_is_not_a_file_to_serve(repo: Path) -> None:
    (answer,) = BlobServer(repo).answer(_request("targets/releases"))

    assert isinstance(answer, FetchRefused)
    assert answer.status == 404


def test_an_offset_beyond_the_end_is_refused_with_400(repo: Path) -> None:
    (answer,) = BlobServer(repo).answer(_request("targets/blob.bin", offset=2561))

    assert isinstance(answer, FetchRefused)
    assert answer.status == 400
    assert "beyond the end" in answer.reason


def test_a_symlink_that_leads_out_of_the_repository_is_refused_with_400(
    repo: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret.pem").write_text("private")
    (repo / "targets" / "escape.pem").symlink_to(tmp_path / "secret.pem")

    (answer,) = BlobServer(repo).answer(_request("targets/escape.pem"))

    assert isinstance(answer, FetchRefused)
    assert answer.status == 400
    assert "outside the repository" in answer.reason


def test_a_chunk_size_above_the_contract_limit_is_refused(repo: Path) -> None:
    with pytest.raises(ValueError, match="chunk_bytes"):
        BlobServer(repo, chunk_bytes=MAX_CHUNK_BYTES + 1)
