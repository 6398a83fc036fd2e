"""After a demo run: does any secret of the site appear in any of its logs?

`collect_site_secrets` reads every secret the site's files hold, the way the processes find
them: the bridge.toml and station.toml files name the Sage client secret, the Sage token files
(their access and refresh tokens) and the broker private keys; any other private key file (the
throwaway PKI, release signing keys) and the API token files the demo writes are picked up by
their shape. `find_leaks` then looks for each value in every log file under the folder.

A private key is looked for line by line (each base64 line of its PEM body), so a key that
leaked in pieces, or as a repr with escaped newlines, is still found. Values shorter than
`MIN_SECRET_LENGTH` are ignored: they would match by chance. A leak report names the secret and
the file, never the value, so the report itself leaks nothing.

Sage access tokens rotate every few minutes, so only the pair in the token file at the end is
known here; an earlier pair that leaked is not found by this scan.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["MIN_SECRET_LENGTH", "collect_site_secrets", "find_leaks", "log_files"]

MIN_SECRET_LENGTH = 12
_PEM_BEGIN = b"-----BEGIN"
_PRIVATE = b"PRIVATE KEY-----"
_MAX_SECRET_FILE = 256 * 1024
_TOKEN_FIELDS = ("access_token", "refresh_token")
_TOKEN_FILE_NAMES = ("api-token", "http-token", "api.token", "token")


def collect_site_secrets(folder: Path) -> dict[str, str]:
    """Every secret the site under `folder` holds: a readable name -> the value."""
    secrets: dict[str, str] = {}
    for config in sorted(folder.rglob("bridge.toml")):
        _from_bridge_toml(config, folder, secrets)
    for config in sorted(folder.rglob("station.toml")):
        _from_station_toml(config, folder, secrets)
    for path in _files(folder):
        if path.name.endswith(".json") and "token" in path.name:
            _add_tokens(path, folder, secrets)
        elif path.name in _TOKEN_FILE_NAMES or path.name.endswith("-token"):
            _add_text(path, folder, f"API token ({_relative(path, folder)})", secrets)
        elif path.suffix in {".key", ".pem"}:
            _add_private_key(path, folder, secrets)
    return {name: value for name, value in secrets.items() if len(value) >= MIN_SECRET_LENGTH}


def log_files(folder: Path) -> list[Path]:
    """The log files under `folder`: `*.log`, and rotated `*.log.N`."""
    return [path for path in _files(folder) if path.suffix == ".log" or ".log." in path.name]


def find_leaks(folder: Path, secrets: Mapping[str, str]) -> list[str]:
    """One line per (secret, log file) where the secret's value appears, naming both."""
    leaks: list[str] = []
    wanted = [
        (name, value.encode())
        for name, value in sorted(secrets.items())
        if len(value) >= MIN_SECRET_LENGTH
    ]
    for log in sorted(log_files(folder)):
        try:
            text = log.read_bytes()
        except OSError:
            continue
        for name, value in wanted:
            index = text.find(value)
            if index >= 0:
                line = text.count(b"\n", 0, index) + 1
                leaks.append(f"{name} appears in {_relative(log, folder)} (line {line})")
    return leaks


# The files


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        try:
            if path.is_file() and not path.is_symlink():
                yield path
        except OSError:
            continue


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def _read(path: Path) -> bytes | None:
    try:
        if path.stat().st_size > _MAX_SECRET_FILE:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _add_text(path: Path, folder: Path, name: str, secrets: dict[str, str]) -> None:
    raw = _read(path)
    if raw is None:
        return
    text = raw.decode("utf-8", errors="replace").strip()
    if text and "\n" not in text:
        secrets[name] = text


def _add_tokens(path: Path, folder: Path, secrets: dict[str, str]) -> None:
    raw = _read(path)
    if raw is None:
        return
    try:
        data = json.loads(raw)
    except ValueError:
        return
    if not isinstance(data, dict):
        return
    for field in _TOKEN_FIELDS:
        value = data.get(field)
        if isinstance(value, str):
            secrets[f"Sage {field} ({_relative(path, folder)})"] = value


def _add_private_key(path: Path, folder: Path, secrets: dict[str, str]) -> None:
    raw = _read(path)
    if raw is None or _PEM_BEGIN not in raw or _PRIVATE not in raw:
        return
    body = [
        line.strip()
        for line in raw.decode("ascii", errors="replace").splitlines()
        if line.strip() and not line.startswith("-----")
    ]
    for number, line in enumerate(body, start=1):
        secrets[f"private key {_relative(path, folder)} (PEM line {number})"] = line


# The configs that name secret files


def _load_toml(path: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _named(config: Path, value: Any) -> Path | None:
    if not isinstance(value, str) or not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else config.parent / path


def _from_bridge_toml(config: Path, folder: Path, secrets: dict[str, str]) -> None:
    data = _load_toml(config)
    if data is None:
        return
    sage = data.get("sage") or {}
    secret = _named(config, sage.get("client_secret_file"))
    if secret is not None:
        _add_text(secret, folder, f"Sage client secret ({_relative(secret, folder)})", secrets)
    for environment in ("test", "live"):
        tokens = _named(config, (sage.get(environment) or {}).get("token_file"))
        if tokens is not None:
            _add_tokens(tokens, folder, secrets)
    http_token = _named(config, (data.get("http") or {}).get("token_file"))
    if http_token is not None:
        _add_text(http_token, folder, f"API token ({_relative(http_token, folder)})", secrets)
    broker = data.get("broker") or {}
    for key in ("key_file", "ingest_key_file"):
        key_file = _named(config, broker.get(key))
        if key_file is not None:
            _add_private_key(key_file, folder, secrets)


def _from_station_toml(config: Path, folder: Path, secrets: dict[str, str]) -> None:
    data = _load_toml(config)
    if data is None:
        return
    key_file = _named(config, (data.get("broker") or {}).get("key_file"))
    if key_file is not None:
        _add_private_key(key_file, folder, secrets)
