"""A real PostgreSQL cluster on a free loopback port, for tests and benches.

The bridge's multi-instance mode runs on PostgreSQL, so its tests run against the server itself
rather than SQLite pretending: row locks, isolation and constraint errors are PostgreSQL's own.
Each server is a fresh cluster in its own temporary directory (data, unix socket and log), on its
own port, so parallel runs and a distribution cluster on 5432 never interfere. Authentication is
``trust``, which is safe only because the server listens on 127.0.0.1 and on a socket inside a
directory nobody else can enter. ``fsync`` stays on: tests pin down what survives a crash.

PostgreSQL refuses to run as root. When the tests run as root, the cluster is created and run as
an unprivileged system user (the ``postgres`` user the Debian package creates), which owns the
temporary directory.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from firmware_sim.errors import SimError
from firmware_sim.ports import launch_on_free_port

__all__ = [
    "DEFAULT_POSTGRES_ROOT",
    "REQUIRED_PROGRAMS",
    "PostgresCommandError",
    "PostgresError",
    "PostgresNotInstalledError",
    "PostgresServer",
    "PostgresStartError",
    "PostgresUserError",
    "find_postgres_bin",
]

DEFAULT_POSTGRES_ROOT = Path("/usr/lib/postgresql")
REQUIRED_PROGRAMS = ("initdb", "pg_ctl", "postgres", "createdb")
_HOST = "127.0.0.1"
_ROOT_FALLBACK_USER = "postgres"
# Small enough for many clusters on one CI machine, large enough for the bridge's pools.
_SERVER_SETTINGS = {
    "listen_addresses": f"'{_HOST}'",
    "max_connections": "50",
    "shared_buffers": "'16MB'",
    "fsync": "on",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}
_HBA = (
    "# Loopback only: the server listens nowhere else.\n"
    "local all all trust\n"
    f"host all all {_HOST}/32 trust\n"
)


class PostgresError(SimError, RuntimeError):
    """Base of the errors the rig's PostgreSQL server raises."""


class PostgresNotInstalledError(PostgresError, FileNotFoundError):
    """No PostgreSQL server programs; the message names the Debian package to install."""


class PostgresUserError(PostgresError, PermissionError):
    """Running as root with no unprivileged user to run PostgreSQL as."""


class PostgresCommandError(PostgresError):
    """A server program failed; the message quotes its output and the server's log."""


class PostgresStartError(PostgresCommandError):
    """initdb, start-up or database creation failed."""


def _not_installed(where: str) -> PostgresNotInstalledError:
    return PostgresNotInstalledError(
        f"PostgreSQL server programs ({', '.join(REQUIRED_PROGRAMS)}) not found {where}; "
        "install the Debian package 'postgresql' (apt-get install postgresql)"
    )


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _missing_programs(bin_dir: Path) -> list[str]:
    return [name for name in REQUIRED_PROGRAMS if not _is_executable(bin_dir / name)]


def _major_version(directory: Path) -> tuple[int, ...] | None:
    if re.fullmatch(r"\d+(\.\d+)*", directory.name) is None:
        return None
    return tuple(int(part) for part in directory.name.split("."))


def find_postgres_bin(root: Path = DEFAULT_POSTGRES_ROOT) -> Path:
    """The directory holding the server programs: initdb, pg_ctl, postgres and createdb.

    Debian keeps each major version's server programs under ``<root>/<major>/bin`` and puts none
    of them on PATH, so the newest complete major there wins; PATH is the fallback for other
    layouts. Symlinks on PATH are resolved, because pg_ctl finds postgres beside itself.
    """
    majors = []
    if root.is_dir():
        for directory in root.iterdir():
            version = _major_version(directory)
            if version is not None and not _missing_programs(directory / "bin"):
                majors.append((version, directory / "bin"))
    if majors:
        return max(majors)[1]
    found = shutil.which("initdb")
    if found is not None:
        bin_dir = Path(found).resolve().parent
        if not _missing_programs(bin_dir):
            return bin_dir
    raise _not_installed(f"under {root}/<major>/bin or on PATH")


def _default_run_as() -> str | None:
    return _ROOT_FALLBACK_USER if os.geteuid() == 0 else None


class PostgresServer:
    """One private PostgreSQL: ``with PostgresServer() as server: connect to server.url``.

    ``url`` is for SQLAlchemy (``postgresql+psycopg://``); ``conninfo`` is the same place for
    psycopg and libpq. ``user`` is the cluster's superuser, which owns ``database``. The server
    can be stopped, crashed (``kill``) and started again on the same port and data, to test
    recovery. Not re-entrant.
    """

    def __init__(
        self,
        *,
        database: str = "packline",
        user: str = "packline",
        bin_dir: Path | None = None,
        run_as: str | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        if bin_dir is None:
            bin_dir = find_postgres_bin()
        else:
            missing = _missing_programs(bin_dir)
            if missing:
                raise _not_installed(f"in {bin_dir} (missing: {', '.join(missing)})")
        if run_as is None:
            run_as = _default_run_as()
        self._account = self._look_up(run_as) if run_as is not None else None
        self._bin_dir = bin_dir
        self._database = database
        self._user = user
        self._startup_timeout = startup_timeout
        self._directory: Path | None = None
        self._port: int | None = None
        self._running = False

    @staticmethod
    def _look_up(name: str) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            raise PostgresUserError(
                f"PostgreSQL refuses to run as root, and there is no system user {name!r} to "
                "run it as; install the Debian package 'postgresql' (which creates the "
                "'postgres' user) or pass run_as= an existing unprivileged user"
            ) from None

    @property
    def host(self) -> str:
        return _HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresError("the server has not been started; use it as a context manager")
        return self._port

    @property
    def database(self) -> str:
        return self._database

    @property
    def user(self) -> str:
        return self._user

    @property
    def url(self) -> str:
        """The database's SQLAlchemy URL, using the psycopg 3 driver."""
        return f"postgresql+psycopg://{self._user}@{self.host}:{self.port}/{self._database}"

    @property
    def conninfo(self) -> str:
        """The database's libpq URI, for psycopg.connect and psql."""
        return f"postgresql://{self._user}@{self.host}:{self.port}/{self._database}"

    @property
    def directory(self) -> Path:
        """The server's private directory: ``data``, the unix socket and ``server.log``."""
        if self._directory is None:
            raise PostgresError("the server has not been started; use it as a context manager")
        return self._directory

    @property
    def running(self) -> bool:
        return self._running

    def log_text(self) -> str:
        """Everything the server has logged so far (for failure messages)."""
        try:
            return (self.directory / "server.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Self:
        if self._directory is not None:
            raise PostgresError("PostgresServer is not re-entrant; create another one")
        self._directory = Path(tempfile.mkdtemp(prefix="packline-postgres-"))
        try:
            if self._account is not None:
                os.chown(self._directory, self._account.pw_uid, self._account.pw_gid)
            self._init_cluster()
            self.start()
            self._create_database()
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._cleanup()

    def start(self) -> None:
        """Start (or restart) the server, keeping its port once one has been chosen."""
        if self._running:
            raise PostgresError(f"the server on port {self.port} is already running")
        if self._port is not None:
            self._launch(self._port)
            return
        launch_on_free_port(self._launch, PostgresStartError)

    def stop(self) -> None:
        """Stop cleanly: sessions are ended and a checkpoint is written on the way out."""
        self._end("fast")

    def kill(self) -> None:
        """Stop abruptly, as a crash would: no checkpoint, so restart replays the WAL."""
        self._end("immediate")

    def _end(self, mode: str) -> None:
        if not self._running:
            return
        self._running = False
        self._run(
            [self._program("pg_ctl"), "stop", "-D", str(self._data), "-m", mode, "-w"],
            what=f"pg_ctl stop -m {mode}",
            error=PostgresCommandError,
        )

    def _cleanup(self) -> None:
        try:
            self.stop()
        finally:
            if self._directory is not None:
                shutil.rmtree(self._directory, ignore_errors=True)
                self._directory = None

    @property
    def _data(self) -> Path:
        return self.directory / "data"

    def _program(self, name: str) -> str:
        return str(self._bin_dir / name)

    def _run(
        self,
        command: list[str],
        *,
        what: str,
        error: type[PostgresCommandError] = PostgresStartError,
    ) -> None:
        """Run a server program as the account that owns the cluster, raising with its output."""
        account = self._account
        result = subprocess.run(
            command,
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=self._startup_timeout + 30.0,
            check=False,
            user=account.pw_uid if account is not None else None,
            group=account.pw_gid if account is not None else None,
            extra_groups=[] if account is not None else None,
            env=self._environment(),
        )
        if result.returncode != 0:
            raise error(
                f"{what} failed with exit code {result.returncode}: "
                f"{(result.stdout + result.stderr).strip()}\nserver log:\n{self.log_text()}"
            )

    def _environment(self) -> dict[str, str]:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PG", "LC_")) and key != "LANG"
        }
        environment["LC_ALL"] = "C.UTF-8"
        if self._account is not None:
            environment["HOME"] = self._account.pw_dir
            environment["USER"] = environment["LOGNAME"] = self._account.pw_name
        return environment

    def _init_cluster(self) -> None:
        self._run(
            [
                self._program("initdb"),
                "-D",
                str(self._data),
                "-U",
                self._user,
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth=trust",
            ],
            what="initdb",
        )
        settings = "".join(f"{key} = {value}\n" for key, value in _SERVER_SETTINGS.items())
        settings += f"unix_socket_directories = '{self.directory}'\n"
        with (self._data / "postgresql.conf").open("a") as config:
            config.write("\n# Packline test cluster\n" + settings)
        (self._data / "pg_hba.conf").write_text(_HBA)

    def _launch(self, port: int) -> None:
        self._port = port
        self._run(
            [
                self._program("pg_ctl"),
                "start",
                "-D",
                str(self._data),
                "-l",
                str(self.directory / "server.log"),
                "-o",
                f"-p {port}",
                "-w",
                "-t",
                str(round(self._startup_timeout)),
            ],
            what=f"pg_ctl start on {_HOST}:{port}",
        )
        self._running = True

    def _create_database(self) -> None:
        self._run(
            [
                self._program("createdb"),
                "-h",
                str(self.directory),
                "-p",
                str(self.port),
                "-U",
                self._user,
                "-O",
                self._user,
                self._database,
            ],
            what=f"createdb {self._database}",
        )
