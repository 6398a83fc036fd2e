"""The token file: private, replaced whole, and refused when other users could read it."""

from __future__ import annotations

import os
import stat
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud_bridge.sage import (
    OAuthTokens,
    SageReconnectRequired,
    TokenFileInsecure,
    TokenFileInvalid,
    TokenStore,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def pair(n: int = 1) -> OAuthTokens:
    return OAuthTokens(f"access-{n}", f"refresh-{n}", NOW + timedelta(minutes=5), NOW)


token_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=80)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(token_text, token_text, moments, moments)
def test_saved_tokens_load_back_unchanged(
    access: str, refresh: str, access_at: datetime, refresh_at: datetime
) -> None:
    tokens = OAuthTokens(access, refresh, access_at, refresh_at)
    with tempfile.TemporaryDirectory() as directory:
        store = TokenStore(Path(directory) / "tokens.json", environment="test")
        store.save(tokens)
        assert store.load() == tokens


def test_the_file_is_private_even_under_a_permissive_umask(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    previous = os.umask(0)
    try:
        TokenStore(path, environment="test").save(pair())
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_saving_replaces_the_whole_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json", environment="test")
    store.save(pair(1))
    store.save(pair(2))
    assert store.load() == pair(2)
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.json"]


def test_a_file_other_users_can_read_is_refused_naming_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = TokenStore(path, environment="test")
    store.save(pair())
    path.chmod(0o644)
    with pytest.raises(TokenFileInsecure) as caught:
        store.load()
    assert str(path) in str(caught.value)
    assert f"chmod 600 {path}" in str(caught.value)


def test_a_group_readable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    TokenStore(path, environment="test").save(pair())
    path.chmod(0o640)
    with pytest.raises(PermissionError, match="0640"):
        TokenStore(path, environment="test").load()


def test_a_missing_file_means_sage_must_be_connected(tmp_path: Path) -> None:
    with pytest.raises(SageReconnectRequired, match="packline sage connect"):
        TokenStore(tmp_path / "tokens.json", environment="test").load()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"access_token": "a"}', "refresh_token"),
    ],
)
def test_a_damaged_file_is_refused_naming_what_is_wrong(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(TokenFileInvalid, match=expected):
        TokenStore(path, environment="test").load()
