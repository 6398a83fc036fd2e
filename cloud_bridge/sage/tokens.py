"""Where the Sage OAuth tokens live between runs: one private JSON file, replaced atomically.

Sage's refresh tokens rotate on every use and the old one dies at once, so losing the newest
one means a person has to reconnect. The file is therefore only ever replaced whole (temp file,
fsync, rename, fsync of the directory): a crash leaves either the old pair or the new one,
never half of each. It holds secrets, so it is created 0600 and a file other users can read is
refused rather than used.

A Sage login may reach the test business and the live one alike, so nothing on Sage's side
stops a test token from posting to live. The file is therefore stamped with the environment it
was obtained for, and a store bound to the other environment refuses it, naming both. A file
without a stamp is refused too: which environment it belongs to cannot be known.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args

from cloud_bridge.sage.errors import (
    SageEnvironmentMismatch,
    SageReconnectRequired,
    TokenFileInsecure,
    TokenFileInvalid,
)
from edge.secret_files import private_path_problem

__all__ = ["ENVIRONMENTS", "Environment", "OAuthTokens", "TokenStore"]

Environment = Literal["test", "live"]
"""A Sage environment: the test (sandbox) business or the live one."""
ENVIRONMENTS: tuple[Environment, ...] = get_args(Environment)

_FIELDS = ("access_token", "refresh_token", "access_expires_at", "refresh_expires_at")


@dataclass(frozen=True)
class OAuthTokens:
    """One access/refresh pair and when each stops working (timezone-aware)."""

    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime

    def to_json(self) -> dict[str, str]:
        """The file's JSON object."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "access_expires_at": self.access_expires_at.isoformat(),
            "refresh_expires_at": self.refresh_expires_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any, path: Path) -> OAuthTokens:
        """Parse the file's JSON object, naming the file and the field when it is wrong."""
        if not isinstance(data, dict):
            raise TokenFileInvalid(f"{path}: expected a JSON object of OAuth tokens")
        missing = [name for name in _FIELDS if not isinstance(data.get(name), str)]
        if missing:
            raise TokenFileInvalid(f"{path}: expected string fields {', '.join(missing)}")
        try:
            access_expires = datetime.fromisoformat(data["access_expires_at"])
            refresh_expires = datetime.fromisoformat(data["refresh_expires_at"])
        except ValueError as error:
            raise TokenFileInvalid(f"{path}: expiry times must be ISO 8601: {error}") from error
        if access_expires.tzinfo is None or refresh_expires.tzinfo is None:
            raise TokenFileInvalid(f"{path}: expiry times must carry a UTC offset")
        return cls(data["access_token"], data["refresh_token"], access_expires, refresh_expires)


class TokenStore:
    """One environment's token file: `load()` what was saved, `save()` a new pair atomically."""

    def __init__(self, path: Path, *, environment: Environment) -> None:
        if environment not in ENVIRONMENTS:
            raise ValueError(
                f"TokenStore: environment must be one of {', '.join(ENVIRONMENTS)}, "
                f"got {environment!r}"
            )
        self.path = Path(path)
        self.environment: Environment = environment

    def _reconnect(self) -> str:
        return f"run `packline sage connect --environment {self.environment}`"

    def load(self) -> OAuthTokens:
        """The saved tokens; `SageReconnectRequired` if there are none yet.

        A file readable or writable by group or others is refused (`TokenFileInsecure`), and
        so is one stamped with the other environment (`SageEnvironmentMismatch`).
        """
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            raise SageReconnectRequired(
                f"no Sage {self.environment} tokens at {self.path}; a person must "
                f"{self._reconnect()}"
            ) from None
        with handle:
            problem = private_path_problem(self.path, os.fstat(handle.fileno()))
            if problem:
                raise TokenFileInsecure(f"Sage OAuth tokens: {problem}")
            raw = handle.read()
        try:
            data = json.loads(raw)
        except ValueError:
            # The parser's message quotes the text around the fault, which is a token.
            raise TokenFileInvalid(f"{self.path}: not valid JSON") from None
        tokens = OAuthTokens.from_json(data, self.path)
        self._check_stamp(data)
        return tokens

    def _check_stamp(self, data: Any) -> None:
        stamp = data.get("environment") if isinstance(data, dict) else None
        if stamp == self.environment:
            return
        if stamp in ENVIRONMENTS:
            raise SageEnvironmentMismatch(
                f"{self.path} holds tokens obtained for Sage {stamp}, but it is configured as the "
                f"token file of Sage {self.environment}; a token of one environment is never "
                f"used for the other. Point [sage.{self.environment}] token_file at its own "
                f"file and {self._reconnect()}"
            )
        raise TokenFileInvalid(
            f"{self.path} does not say which Sage environment its tokens belong to (expected "
            f'"environment": "{self.environment}"); {self._reconnect()} to replace it'
        )

    def save(self, tokens: OAuthTokens) -> None:
        """Replace the file with `tokens`, durably, so a crash never loses the rotated pair."""
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(
            {"environment": self.environment, **tokens.to_json()}, indent=2
        ).encode()
        descriptor, temp_name = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=directory
        )
        try:
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "wb") as temp:
                temp.write(payload)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; the new name is otherwise only in the page cache."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
