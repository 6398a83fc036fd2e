"""Files holding secrets (private keys, OAuth tokens, client secrets) are the service user's alone.

A secret that any other account on the machine can read is as good as published: a key copied
by a contractor's login signs releases or impersonates a station, a copied refresh token posts
to the books. So a process refuses to start when one of its secret files (or a directory of
them) can be read, written or entered by group or others, or belongs to another user, and the
message names the file, its mode and the command that fixes it.

Both the station and the bridge import this module; it depends on nothing of either.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from edge.errors import ConfigError

__all__ = [
    "PRIVATE_MASK",
    "check_secret_files",
    "private_path_problem",
    "read_secret_file",
]

PRIVATE_MASK = 0o077
"""Permission bits that must be clear: any access at all for group or others."""


def private_path_problem(
    path: Path, info: os.stat_result | None = None, *, directory: bool = False
) -> str | None:
    """Why `path` is not private to this process's user, or None when it is.

    `info` is a stat already taken (from an open handle, say, so the check and the read see the
    same file). A directory must be 0700 or stricter, a file 0600 or stricter.
    """
    info = info if info is not None else path.stat()
    wanted = "0700" if directory else "0600"
    if info.st_mode & PRIVATE_MASK:
        mode = stat.S_IMODE(info.st_mode)
        return (
            f"{path} has mode {mode:04o}, so group or others can reach it; it holds secrets "
            f"only the service user may read: run `chmod {wanted[1:]} {path}`"
        )
    if info.st_uid != os.geteuid():
        return (
            f"{path} belongs to uid {info.st_uid}, not to the service user (uid {os.geteuid()}) "
            f"this process runs as: run `chown {os.geteuid()} {path}` and `chmod {wanted[1:]} "
            f"{path}`"
        )
    return None


def check_secret_files(files: Iterable[tuple[str, Path]]) -> None:
    """Refuse to go on while any existing secret file or key directory is not private.

    `files` pairs the config key that names each path (`broker.key_file`) with the path. A
    directory is checked together with every file under it. A path that does not exist is
    skipped: whatever reads it reports that, and a token file appears only once connected.
    All problems are reported at once, one per line, so one start-up names every file to fix.
    """
    problems: list[str] = []
    for key, path in files:
        for problem in _problems_under(path):
            problems.append(f"{key}: {problem}")
    if problems:
        raise ConfigError("secret files readable by others:\n  " + "\n  ".join(problems))


def _problems_under(path: Path) -> list[str]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return []
    except OSError as error:
        return [f"{path}: cannot check its permissions ({error.strerror})"]
    if not stat.S_ISDIR(info.st_mode):
        problem = private_path_problem(path, info)
        return [problem] if problem else []
    problems = []
    directory_problem = private_path_problem(path, info, directory=True)
    if directory_problem:
        problems.append(directory_problem)
    for entry in sorted(path.rglob("*")):
        try:
            entry_info = entry.lstat()
        except OSError:
            continue
        if stat.S_ISREG(entry_info.st_mode) or stat.S_ISDIR(entry_info.st_mode):
            problem = private_path_problem(
                entry, entry_info, directory=stat.S_ISDIR(entry_info.st_mode)
            )
            if problem:
                problems.append(problem)
    return problems


def read_secret_file(path: Path, key: str) -> str:
    """The stripped text of a secret file, refused unless only its owner can read it.

    `key` names the setting in errors. No message ever quotes the file's contents.
    """
    try:
        with path.open("rb") as handle:
            problem = private_path_problem(path, os.fstat(handle.fileno()))
            raw = handle.read()
    except OSError as error:
        raise ConfigError(f"{key}: cannot read {path}: {error.strerror}") from None
    if problem:
        raise ConfigError(f"{key}: {problem}")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{key}: {path} is not UTF-8 text") from None
    if not text:
        raise ConfigError(f"{key}: {path} is empty")
    return text
