"""The release key store: one private Ed25519 key per TUF role, refused when others can read it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cloud_bridge.fleet.release import (
    ROLES,
    InsecureKeyFileError,
    KeyStore,
    KeyStoreError,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_makes_one_owner_only_key_per_role_in_an_owner_only_directory(
    tmp_path: Path,
) -> None:
    store = KeyStore.create(tmp_path / "keys")

    assert _mode(store.directory) == 0o700
    for role in ROLES:
        assert _mode(store.key_file(role)) == 0o600
    keyids = {store.public_key(role).keyid for role in ROLES}
    assert len(keyids) == len(ROLES)
    assert {store.public_key(role).keytype for role in ROLES} == {"ed25519"}


def test_create_refuses_a_directory_that_already_holds_keys(tmp_path: Path) -> None:
    KeyStore.create(tmp_path / "keys")

    with pytest.raises(KeyStoreError, match="already holds keys"):
        KeyStore.create(tmp_path / "keys")


def test_loading_a_key_file_readable_by_group_is_refused_naming_the_file(tmp_path: Path) -> None:
    store = KeyStore.create(tmp_path / "keys")
    store.key_file("targets").chmod(0o640)

    with pytest.raises(InsecureKeyFileError, match=r"targets\.pem has mode 0640") as refused:
        store.signer("targets")
    assert str(store.key_file("targets")) in str(refused.value)


def test_a_key_directory_readable_by_others_is_refused(tmp_path: Path) -> None:
    store = KeyStore.create(tmp_path / "keys")
    store.directory.chmod(0o755)

    with pytest.raises(InsecureKeyFileError, match=r"key directory .* mode 0755"):
        KeyStore(store.directory)


def test_a_missing_key_directory_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="keys init"):
        KeyStore(tmp_path / "nowhere")


def test_a_key_file_that_is_not_a_private_key_is_refused(tmp_path: Path) -> None:
    store = KeyStore.create(tmp_path / "keys")
    store.key_file("snapshot").write_bytes(b"not a key")

    with pytest.raises(KeyStoreError, match=r"snapshot\.pem is not a PEM private key"):
        store.signer("snapshot")


def test_an_unknown_role_is_named(tmp_path: Path) -> None:
    store = KeyStore.create(tmp_path / "keys")

    with pytest.raises(KeyStoreError, match="unknown role 'release'"):
        store.signer("release")


def test_rotate_replaces_the_key_and_keeps_the_old_one_retired_and_private(tmp_path: Path) -> None:
    store = KeyStore.create(tmp_path / "keys")
    before = store.public_key("root").keyid

    old, new = store.rotate("root")

    assert old.public_key.keyid == before
    assert store.public_key("root").keyid == new.public_key.keyid != before
    assert _mode(store.key_file("root")) == 0o600
    retired = store.find(before)
    assert retired is not None
    assert retired.public_key.keyid == before
    assert all(_mode(path) == 0o600 for path in (store.directory / "retired").iterdir())


def test_signing_with_a_loaded_key_verifies_with_its_public_key(tmp_path: Path) -> None:
    store = KeyStore.create(tmp_path / "keys")
    signer = KeyStore(store.directory).signer("timestamp")

    signature = signer.sign(b"payload")

    store.public_key("timestamp").verify_signature(signature, b"payload")
