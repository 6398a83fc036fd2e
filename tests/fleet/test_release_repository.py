"""The signed release repository: initial metadata, publishing, refreshing and key rotation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tuf.api._payload import Root, Targets
from tuf.api.metadata import Metadata
from tuf_world import make_release

from cloud_bridge.fleet.release import (
    ExpiryPolicy,
    KeyStore,
    PublishRefusedError,
    ReleaseRepository,
    RepositoryStateError,
    published_releases,
)


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore.create(tmp_path / "keys")


@pytest.fixture
def repo(tmp_path: Path, keys: KeyStore) -> ReleaseRepository:
    return ReleaseRepository.init(tmp_path / "repo", keys)


def _version(repo: ReleaseRepository, role: str) -> int:
    document = json.loads((repo.metadata_dir / f"{role}.json").read_bytes())
    return int(document["signed"]["version"])


def test_init_writes_version_one_of_every_role_signed_by_its_key(repo: ReleaseRepository) -> None:
    root = Metadata[Root].from_bytes(repo.trusted_root())
    root.signed.verify_delegate("root", root.signed_bytes, root.signatures)
    for role in ("targets", "snapshot", "timestamp"):
        metadata = Metadata.from_bytes((repo.metadata_dir / f"{role}.json").read_bytes())
        root.signed.verify_delegate(role, metadata.signed_bytes, metadata.signatures)
        assert metadata.signed.version == 1
    assert root.signed.consistent_snapshot
    assert (repo.metadata_dir / "1.root.json").read_bytes() == repo.trusted_root()
    assert repo.releases() == []


def test_init_refuses_an_existing_repository(repo: ReleaseRepository, keys: KeyStore) -> None:
    with pytest.raises(RepositoryStateError, match="already holds a release repository"):
        ReleaseRepository.init(repo.directory, keys)


def test_a_directory_that_is_not_a_repository_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(RepositoryStateError, match="repo init"):
        ReleaseRepository(tmp_path)


def test_publish_signs_the_release_files_as_targets_and_bumps_the_chain(
    repo: ReleaseRepository, tmp_path: Path
) -> None:
    version = repo.publish(make_release(tmp_path / "builds", "0.2.0"))

    assert version == "0.2.0"
    targets = Metadata[Targets].from_bytes((repo.metadata_dir / "targets.json").read_bytes())
    assert sorted(targets.signed.targets) == [
        "releases/0.2.0/packline-0.2.0-py3-none-any.whl",
        "releases/0.2.0/release.json",
    ]
    info = targets.signed.targets["releases/0.2.0/release.json"]
    stored = repo.targets_dir / "releases" / "0.2.0" / f"{info.hashes['sha256']}.release.json"
    assert stored.read_bytes() == (tmp_path / "builds" / "0.2.0" / "release.json").read_bytes()
    assert [_version(repo, role) for role in ("targets", "snapshot", "timestamp")] == [2, 2, 2]
    assert (repo.metadata_dir / "2.targets.json").exists()
    assert (repo.metadata_dir / "2.snapshot.json").exists()


def test_releases_are_listed_oldest_first_by_version_not_by_text(
    repo: ReleaseRepository, tmp_path: Path
) -> None:
    for version in ("0.9.0", "0.10.0", "1.0.0rc1"):
        repo.publish(make_release(tmp_path / "builds", version))

    assert repo.releases() == ["0.9.0", "0.10.0", "1.0.0rc1"]
    assert published_releases(repo.directory) == repo.releases()


def test_publishing_a_version_twice_is_refused_naming_it(
    repo: ReleaseRepository, tmp_path: Path
) -> None:
    repo.publish(make_release(tmp_path / "first", "0.2.0"))

    with pytest.raises(PublishRefusedError, match=r"release 0\.2\.0 is already published"):
        repo.publish(make_release(tmp_path / "second", "0.2.0"))


def test_publishing_an_older_version_is_refused_naming_both(
    repo: ReleaseRepository, tmp_path: Path
) -> None:
    repo.publish(make_release(tmp_path / "builds", "0.3.0"))

    with pytest.raises(PublishRefusedError, match=r"0\.2\.5 is not newer than .* 0\.3\.0"):
        repo.publish(make_release(tmp_path / "builds", "0.2.5"))
    assert repo.releases() == ["0.3.0"]


def test_a_release_whose_manifest_leaves_the_release_is_refused(
    repo: ReleaseRepository, tmp_path: Path
) -> None:
    release = make_release(
        tmp_path / "builds", "0.2.0", manifest={"version": "0.2.0", "wheels": ["../evil.whl"]}
    )

    with pytest.raises(PublishRefusedError, match=r"\.\./evil\.whl"):
        repo.publish(release)


def test_a_release_missing_a_wheel_it_names_is_refused(
    repo: ReleaseRepository, tmp_path: Path
) -> None:
    release = make_release(tmp_path / "builds", "0.2.0")
    (release / "packline-0.2.0-py3-none-any.whl").unlink()

    with pytest.raises(PublishRefusedError, match=r"names packline-0\.2\.0-py3-none-any\.whl"):
        repo.publish(release)


def test_a_directory_without_release_json_is_refused(
    repo: ReleaseRepository, tmp_path: Path
) -> None:
    with pytest.raises(PublishRefusedError, match=r"no release\.json"):
        repo.publish(tmp_path)


def test_reading_needs_no_keys_but_changing_does(repo: ReleaseRepository, tmp_path: Path) -> None:
    reader = ReleaseRepository(repo.directory)

    assert reader.releases() == []
    with pytest.raises(RepositoryStateError, match="needs the key store"):
        reader.publish(make_release(tmp_path / "builds", "0.2.0"))


def test_keys_that_the_root_does_not_trust_cannot_sign(
    repo: ReleaseRepository, tmp_path: Path
) -> None:
    strangers = ReleaseRepository(repo.directory, KeyStore.create(tmp_path / "other-keys"))

    with pytest.raises(RepositoryStateError, match="not the one the repository's root trusts"):
        strangers.publish(make_release(tmp_path / "builds", "0.2.0"))


def test_refresh_timestamp_signs_a_new_timestamp_only(repo: ReleaseRepository) -> None:
    repo.refresh_timestamp()

    assert [_version(repo, role) for role in ("targets", "snapshot", "timestamp")] == [1, 1, 2]


def test_refresh_timestamp_resigns_what_would_expire_before_the_new_timestamp(
    tmp_path: Path, keys: KeyStore
) -> None:
    start = datetime.now(UTC)
    now = [start]
    policy = ExpiryPolicy(snapshot=timedelta(days=2), timestamp=timedelta(days=1))
    repo = ReleaseRepository.init(tmp_path / "repo", keys, expiry=policy, clock=lambda: now[0])
    now[0] = start + timedelta(days=1, hours=12)

    repo.refresh_timestamp()

    assert [_version(repo, role) for role in ("targets", "snapshot", "timestamp")] == [1, 2, 2]
    assert repo.expires("snapshot") > now[0] + timedelta(days=1)


def test_rotating_the_root_key_writes_a_root_signed_by_old_and_new_keys(
    repo: ReleaseRepository, keys: KeyStore
) -> None:
    old_keyid = keys.public_key("root").keyid

    repo.rotate_keys("root")

    new_root = Metadata[Root].from_bytes((repo.metadata_dir / "2.root.json").read_bytes())
    old_root = Metadata[Root].from_bytes((repo.metadata_dir / "1.root.json").read_bytes())
    old_root.signed.verify_delegate("root", new_root.signed_bytes, new_root.signatures)
    new_root.signed.verify_delegate("root", new_root.signed_bytes, new_root.signatures)
    assert new_root.signed.roles["root"].keyids == [keys.public_key("root").keyid]
    assert old_keyid not in new_root.signed.keys
    assert repo.trusted_root() == (repo.metadata_dir / "2.root.json").read_bytes()


def test_rotating_the_targets_key_resigns_targets_with_the_new_key(
    repo: ReleaseRepository, keys: KeyStore
) -> None:
    repo.rotate_keys("targets")

    root = Metadata[Root].from_bytes(repo.trusted_root())
    targets = Metadata[Targets].from_bytes((repo.metadata_dir / "targets.json").read_bytes())
    root.signed.verify_delegate("targets", targets.signed_bytes, targets.signatures)
    assert list(targets.signatures) == [keys.public_key("targets").keyid]
    assert [_version(repo, role) for role in ("targets", "snapshot", "timestamp")] == [2, 2, 2]
