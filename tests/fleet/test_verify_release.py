"""Fetching a release through TUF: the happy path, and each refusal with a crafted repository.

Every refusal happens before anything is unpacked: the updater only ever sees a
`VerifiedRelease`, or an `UpdateRefused` that names why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from securesystemslib.signer._crypto_signer import CryptoSigner
from tuf_world import (
    WHEEL_BYTES,
    ThreadTransport,
    World,
    keep_copy,
    make_release,
    make_world,
    resign,
    stale_clock,
    strip_signatures,
    timestamp_pointing_to_old_snapshot,
)

from cloud_bridge.fleet.release import BlobServer, ExpiryPolicy
from edge.fleet.errors import UpdateRefused
from edge.fleet.tuf_fetch import MqttFetcher
from edge.fleet.verify import fetch_verified_release, parse_manifest, trust_root

WHEEL = "packline-0.2.0-py3-none-any.whl"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with make_world(tmp_path) as made:
        yield made


def _refusal(world: World, target: str, **kwargs: object) -> UpdateRefused:
    with pytest.raises(UpdateRefused) as refused:
        world.fetch(target, **kwargs)  # type: ignore[arg-type]
    return refused.value


def test_a_signed_newer_release_is_downloaded_and_verified(world: World) -> None:
    target = world.publish("0.2.0")

    release = world.fetch(target, installed="0.1.0")

    assert release.version == "0.2.0"
    assert release.directory == world.base / "download"
    assert [wheel.name for wheel in release.wheels] == [WHEEL]
    assert release.wheels[0].read_bytes() == WHEEL_BYTES
    assert json.loads((release.directory / "release.json").read_text())["version"] == "0.2.0"
    assert (world.tuf_dir / "timestamp.json").exists()  # trusted state kept for rollback checks


def test_a_release_survives_a_lossy_link(world: World) -> None:
    target = world.publish("0.2.0", wheels={WHEEL: WHEEL_BYTES * 200})

    release = world.fetch(target, drop_chunk=lambda chunk, n: n % 5 == 2)

    assert release.wheels[0].read_bytes() == WHEEL_BYTES * 200


def test_unsigned_metadata_is_refused_as_unsigned(world: World) -> None:
    target = world.publish("0.2.0")
    strip_signatures(world.metadata("timestamp.json"))

    refused = _refusal(world, target)

    assert refused.refusal == "unsigned"
    assert not (world.base / "download" / WHEEL).exists()


def test_metadata_signed_by_a_key_nobody_trusts_is_refused_as_bad_signature(world: World) -> None:
    target = world.publish("0.2.0")
    resign(world.metadata("timestamp.json"), CryptoSigner.generate_ed25519())

    assert _refusal(world, target).refusal == "bad_signature"


def test_a_tampered_wheel_is_refused_and_never_written(world: World) -> None:
    target = world.publish("0.2.0")
    stored = world.stored_target(f"releases/0.2.0/{WHEEL}")
    data = bytearray(stored.read_bytes())
    data[10] ^= 0xFF
    stored.write_bytes(bytes(data))

    refused = _refusal(world, target)

    assert refused.refusal == "tampered"
    assert not (world.base / "download" / WHEEL).exists()


def test_a_wheel_longer_than_its_metadata_says_is_refused_as_oversize(world: World) -> None:
    target = world.publish("0.2.0")
    stored = world.stored_target(f"releases/0.2.0/{WHEEL}")
    stored.write_bytes(stored.read_bytes() + b"payload the metadata never mentioned" * 100)

    refused = _refusal(world, target)

    assert refused.refusal == "oversize"
    assert not (world.base / "download" / WHEEL).exists()


def test_stale_metadata_is_refused_as_a_freeze(tmp_path: Path) -> None:
    with make_world(
        tmp_path, expiry=ExpiryPolicy(timestamp=timedelta(days=1)), clock=stale_clock(days=2)
    ) as stale:
        target = stale.publish("0.2.0")

        refused = _refusal(stale, target)

    assert refused.refusal == "freeze"
    assert "expired" in refused.reason


def test_an_older_timestamp_served_after_a_newer_one_was_trusted_is_refused_as_rollback(
    world: World,
) -> None:
    world.publish("0.2.0")
    old_timestamp = keep_copy(world.metadata("timestamp.json"), world.base / "replay")
    target = world.publish("0.3.0")
    world.fetch(target, into="first")
    old_timestamp.replace(world.metadata("timestamp.json"))

    refused = _refusal(world, target, into="second")

    assert refused.refusal == "rollback"


def test_an_older_snapshot_under_a_compromised_timestamp_key_is_refused_as_rollback(
    world: World,
) -> None:
    world.fetch(world.publish("0.2.0"), into="first")
    target = world.publish("0.3.0")
    world.fetch(target, into="second")
    timestamp_pointing_to_old_snapshot(world, snapshot_version=2)

    refused = _refusal(world, target, into="third")

    assert refused.refusal == "rollback"


def test_a_release_not_newer_than_the_installed_version_is_refused_as_rollback(
    world: World,
) -> None:
    target = world.publish("0.2.0")

    refused = _refusal(world, target, installed="0.3.0")

    assert refused.refusal == "rollback"
    assert "0.2.0 is not newer than the installed 0.3.0" in refused.reason
    assert not (world.base / "download" / WHEEL).exists()


def test_a_manifest_naming_a_wheel_outside_the_release_is_refused_as_path_escape(
    world: World,
) -> None:
    release = make_release(
        world.base / "evil", "0.2.0", manifest={"version": "0.2.0", "wheels": ["../evil.whl"]}
    )
    (world.base / "evil.whl").write_bytes(b"evil")
    world.repo.sign_targets(
        {
            "releases/0.2.0/release.json": release / "release.json",
            "releases/evil.whl": world.base / "evil.whl",
        }
    )

    refused = _refusal(world, "releases/0.2.0/release.json")

    assert refused.refusal == "path_escape"
    assert "../evil.whl" in refused.reason
    assert not (world.base / "evil.whl.downloaded").exists()
    assert sorted(path.name for path in (world.base / "download").iterdir()) == ["release.json"]


def test_a_manifest_whose_version_differs_from_its_directory_is_refused_as_tampered(
    world: World,
) -> None:
    release = make_release(
        world.base / "odd", "0.2.0", manifest={"version": "9.0.0", "wheels": [WHEEL]}
    )
    world.repo.sign_targets({"releases/0.2.0/release.json": release / "release.json"})

    refused = _refusal(world, "releases/0.2.0/release.json")

    assert refused.refusal == "tampered"
    assert "9.0.0" in refused.reason


def test_a_release_the_repository_never_signed_is_not_found(world: World) -> None:
    world.publish("0.2.0")

    assert _refusal(world, "releases/0.5.0/release.json").refusal == "not_found"


def test_a_signed_wheel_missing_from_the_server_is_not_found(world: World) -> None:
    target = world.publish("0.2.0")
    world.stored_target(f"releases/0.2.0/{WHEEL}").unlink()

    assert _refusal(world, target).refusal == "not_found"


def test_a_link_that_never_answers_is_a_download_failure(world: World) -> None:
    target = world.publish("0.2.0")
    transport = ThreadTransport(BlobServer(world.repo.directory), drop_request=lambda r, n: True)
    world.transports.append(transport)
    fetcher = MqttFetcher(transport, chunk_timeout_s=0.05, give_up_s=0.2)
    transport.fetcher = fetcher

    with pytest.raises(UpdateRefused) as refused:
        fetch_verified_release(
            tuf_dir=world.tuf_dir,
            fetcher=fetcher,
            target=target,
            installed_version="0.1.0",
            into=world.base / "download",
        )

    assert refused.value.refusal == "download_failed"
    assert "giving up" in refused.value.reason


def test_a_station_without_a_trusted_root_is_not_updatable(world: World) -> None:
    target = world.publish("0.2.0")
    (world.tuf_dir / "root.json").unlink()

    assert _refusal(world, target).refusal == "not_updatable"


def test_the_station_follows_root_and_targets_key_rotations(world: World) -> None:
    world.fetch(world.publish("0.2.0"), into="first")
    world.repo.rotate_keys("root")
    world.repo.rotate_keys("targets")
    world.repo.rotate_keys("root")
    target = world.publish("0.3.0")

    release = world.fetch(target, installed="0.2.0", into="second")

    assert release.version == "0.3.0"
    trusted = json.loads((world.tuf_dir / "root.json").read_bytes())
    assert trusted["signed"]["version"] == 4  # three rotations, each followed


def test_a_new_root_not_signed_by_the_old_root_key_is_refused(world: World) -> None:
    target = world.publish("0.2.0")
    world.repo.rotate_keys("root")
    resign(world.metadata("2.root.json"), world.keys.signer("root"))  # new key only

    refused = _refusal(world, target)

    assert refused.refusal == "bad_signature"
    assert json.loads((world.tuf_dir / "root.json").read_bytes())["signed"]["version"] == 1


def test_trust_root_refuses_a_root_that_is_not_self_signed(world: World, tmp_path: Path) -> None:
    root = json.loads(world.repo.trusted_root())
    root["signatures"] = []

    with pytest.raises(UpdateRefused) as refused:
        trust_root(tmp_path / "other-station", json.dumps(root).encode())

    assert refused.value.refusal == "unsigned"
    assert not (tmp_path / "other-station" / "root.json").exists()


@pytest.mark.parametrize(
    ("manifest", "refusal"),
    [
        ({"version": "0.2.0", "wheels": ["../evil.whl"]}, "path_escape"),
        ({"version": "0.2.0", "wheels": ["lib/evil.whl"]}, "path_escape"),
        ({"version": "0.2.0", "wheels": ["C:\\evil.whl"]}, "path_escape"),
        ({"version": "0.2.0", "wheels": ["evil.tar.gz"]}, "tampered"),
        ({"version": "0.2.0", "wheels": []}, "tampered"),
        ({"version": "not a version", "wheels": ["a.whl"]}, "tampered"),
        ({"version": "0.2.0", "wheels": ["a.whl"], "base": True}, "tampered"),
        ({"version": "0.2.0", "wheels": ["a.whl", "a.whl"]}, "tampered"),
        (["0.2.0"], "tampered"),
    ],
)
def test_the_manifest_is_read_strictly(manifest: object, refusal: str) -> None:
    with pytest.raises(UpdateRefused) as refused:
        parse_manifest(json.dumps(manifest).encode())

    assert refused.value.refusal == refusal
