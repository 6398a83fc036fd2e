"""Secret files are the service user's alone: the station and the bridge refuse to start otherwise.

Each refusal names the setting, the file, its mode and the fix (`chmod 600`), and never quotes
what the file holds.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from cloud_bridge.main import run_bridge
from edge.errors import ConfigError
from edge.secret_files import check_secret_files, private_path_problem, read_secret_file
from edge.station.config import load_station_config

ROOT = Path(__file__).resolve().parents[2]
STATION_EXAMPLE = ROOT / "edge" / "station" / "station.example.toml"
BRIDGE_EXAMPLE = ROOT / "cloud_bridge" / "bridge.example.toml"
SECRET = "do-not-print-this-secret-value"


def secret_file(path: Path, mode: int, text: str = SECRET) -> Path:
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


# The one check both sides use


def test_a_file_group_or_others_can_read_is_refused_naming_key_file_mode_and_fix(
    tmp_path: Path,
) -> None:
    path = secret_file(tmp_path / "station.key", 0o644)

    with pytest.raises(ConfigError) as caught:
        check_secret_files([("broker.key_file", path)])

    message = str(caught.value)
    assert f"broker.key_file: {path} has mode 0644" in message
    assert f"chmod 600 {path}" in message
    assert SECRET not in message


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o660])
def test_any_access_by_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = secret_file(tmp_path / "secret", mode)

    with pytest.raises(ConfigError, match=f"mode {mode:04o}"):
        check_secret_files([("sage.client_secret_file", path)])


def test_a_private_file_and_a_missing_one_pass(tmp_path: Path) -> None:
    path = secret_file(tmp_path / "secret", 0o600)

    check_secret_files([("a", path), ("b", tmp_path / "not-connected-yet.json")])

    assert private_path_problem(path) is None


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    first = secret_file(tmp_path / "one.key", 0o644)
    second = secret_file(tmp_path / "two.key", 0o640)

    with pytest.raises(ConfigError) as caught:
        check_secret_files([("broker.key_file", first), ("broker.ingest_key_file", second)])

    assert str(first) in str(caught.value)
    assert str(second) in str(caught.value)


def test_a_key_directory_and_every_key_in_it_must_be_private(tmp_path: Path) -> None:
    keys = tmp_path / "release-keys"
    keys.mkdir(mode=0o755)
    keys.chmod(0o755)
    retired = keys / "retired"
    retired.mkdir(mode=0o700)
    secret_file(keys / "root.pem", 0o600)
    leaked = secret_file(retired / "root-old.pem", 0o644)

    with pytest.raises(ConfigError) as caught:
        check_secret_files([("fleet.keys", keys)])

    message = str(caught.value)
    assert f"{keys} has mode 0755" in message
    assert f"chmod 700 {keys}" in message
    assert f"{leaked} has mode 0644" in message


def test_reading_a_secret_refuses_an_open_file_and_never_quotes_it(tmp_path: Path) -> None:
    path = secret_file(tmp_path / "secret", 0o644)

    with pytest.raises(ConfigError) as caught:
        read_secret_file(path, "sage.client_secret_file")

    assert "chmod 600" in str(caught.value)
    assert SECRET not in str(caught.value)
    path.chmod(0o600)
    assert read_secret_file(path, "sage.client_secret_file") == SECRET


def test_a_secret_that_is_not_text_is_refused_without_quoting_a_byte(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"\xff\xfe" + SECRET.encode())
    path.chmod(0o600)

    with pytest.raises(ConfigError) as caught:
        read_secret_file(path, "sage.client_secret_file")

    assert "not UTF-8" in str(caught.value)
    assert "xff" not in str(caught.value)


# The station


def station_config(tmp_path: Path, key_mode: int) -> Path:
    data: dict[str, Any] = tomllib.loads(STATION_EXAMPLE.read_text(encoding="utf-8"))
    key = secret_file(tmp_path / "ams1.st07.key", key_mode)
    data["broker"]["key_file"] = str(key)
    data["station"]["state_dir"] = str(tmp_path / "state")
    path = tmp_path / "station.toml"
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


def test_the_station_refuses_to_load_a_config_whose_key_others_can_read(tmp_path: Path) -> None:
    path = station_config(tmp_path, 0o644)

    with pytest.raises(ConfigError) as caught:
        load_station_config(path)

    message = str(caught.value)
    assert "broker.key_file" in message
    assert "mode 0644" in message
    assert "chmod 600" in message


def test_the_station_loads_a_config_whose_key_is_private(tmp_path: Path) -> None:
    path = station_config(tmp_path, 0o600)

    assert load_station_config(path).config.broker.key_file == tmp_path / "ams1.st07.key"


# The bridge


def bridge_config(tmp_path: Path, *, secret_mode: int, keys_mode: int = 0o700) -> Path:
    data: dict[str, Any] = tomllib.loads(BRIDGE_EXAMPLE.read_text(encoding="utf-8"))
    data["bridge"]["database_url"] = f"sqlite:///{tmp_path / 'bridge.db'}"
    data["broker"] = {"url": "mqtt://127.0.0.1:1"}
    data["http"] = {"host": "127.0.0.1", "port": 0}
    data["sage"]["client_secret_file"] = str(secret_file(tmp_path / "sage-secret", secret_mode))
    data["sage"]["test"]["token_file"] = str(tmp_path / "sage-test-tokens.json")
    data["sage"]["live"]["token_file"] = str(tmp_path / "sage-live-tokens.json")
    keys = tmp_path / "release-keys"
    keys.mkdir()
    keys.chmod(keys_mode)
    data["fleet"] = {"keys": str(keys)}
    path = tmp_path / "bridge.toml"
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


def test_the_bridge_refuses_to_start_with_a_sage_secret_others_can_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bridge_config(tmp_path, secret_mode=0o644)

    status = run_bridge(config_path=path, insecure=True)

    assert status == 2
    error = capsys.readouterr().err
    assert "sage.client_secret_file" in error
    assert f"{tmp_path / 'sage-secret'} has mode 0644" in error
    assert "chmod 600" in error
    assert SECRET not in error


def test_the_bridge_refuses_to_start_with_a_signing_key_directory_others_can_enter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bridge_config(tmp_path, secret_mode=0o600, keys_mode=0o755)

    status = run_bridge(config_path=path, insecure=True)

    assert status == 2
    error = capsys.readouterr().err
    assert "fleet.keys" in error
    assert "chmod 700" in error
