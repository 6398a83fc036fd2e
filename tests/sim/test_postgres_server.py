"""The rig's PostgreSQL: private, loopback, durable across a crash, clear about what is missing."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from firmware_sim.errors import SimError
from firmware_sim.postgres import (
    PostgresError,
    PostgresNotInstalledError,
    PostgresServer,
    PostgresStartError,
    PostgresUserError,
    find_postgres_bin,
)

POSTGRES_PROGRAMS = ("initdb", "pg_ctl", "postgres", "createdb")


def libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def fake_bin(directory: Path, programs: tuple[str, ...] = POSTGRES_PROGRAMS) -> Path:
    directory.mkdir(parents=True)
    for name in programs:
        program = directory / name
        program.write_text("#!/bin/sh\nexit 1\n")
        program.chmod(0o755)
    return directory


@pytest.fixture(scope="module")
def postgres_bin() -> Path:
    """The installed server programs; without them these tests skip (the session fixture fails
    in CI, so a missing install step cannot pass unnoticed there)."""
    try:
        return find_postgres_bin()
    except PostgresNotInstalledError as error:
        pytest.skip(f"PostgreSQL is not installed: {error}")


@pytest.fixture(scope="module")
def server(postgres_bin: Path) -> Iterator[PostgresServer]:
    with PostgresServer(database="rig", bin_dir=postgres_bin) as running:
        yield running


def test_a_missing_server_program_is_reported_naming_it_and_the_debian_package(
    tmp_path: Path,
) -> None:
    bin_dir = fake_bin(tmp_path / "bin", programs=("pg_ctl", "postgres", "createdb"))

    with pytest.raises(PostgresNotInstalledError, match=r"missing: initdb\).*apt-get install"):
        PostgresServer(bin_dir=bin_dir)


def test_the_newest_complete_major_version_is_chosen(tmp_path: Path) -> None:
    fake_bin(tmp_path / "9.6" / "bin")
    fake_bin(tmp_path / "15" / "bin")
    fake_bin(tmp_path / "16" / "bin", programs=("initdb", "pg_ctl"))

    assert find_postgres_bin(root=tmp_path) == tmp_path / "15" / "bin"


def test_postgres_is_looked_for_on_path_when_no_debian_version_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(PostgresNotInstalledError, match="or on PATH; install the Debian package"):
        find_postgres_bin(root=tmp_path / "absent")

    on_path = fake_bin(tmp_path / "local")
    monkeypatch.setenv("PATH", str(on_path))
    assert find_postgres_bin(root=tmp_path / "absent") == on_path


def test_running_as_a_user_that_does_not_exist_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PostgresUserError, match="no system user 'no-such-packline-user'"):
        PostgresServer(bin_dir=fake_bin(tmp_path / "bin"), run_as="no-such-packline-user")


def test_postgres_errors_belong_to_the_rigs_error_tree() -> None:
    assert issubclass(PostgresNotInstalledError, SimError)
    assert issubclass(PostgresNotInstalledError, FileNotFoundError)
    assert issubclass(PostgresUserError, PermissionError)


def test_the_server_answers_queries_on_loopback_as_its_own_superuser(
    server: PostgresServer,
) -> None:
    assert server.url == f"postgresql+psycopg://packline@127.0.0.1:{server.port}/rig"

    with psycopg.connect(libpq_url(server.url)) as connection:
        row = connection.execute("select 1, current_user, current_database()").fetchone()

    assert row == (1, "packline", "rig")


def test_the_server_keeps_fsync_on_and_allows_fifty_connections(server: PostgresServer) -> None:
    with psycopg.connect(server.conninfo) as connection:
        settings: dict[str, str] = dict(
            connection.execute(
                "select name, setting from pg_settings"
                " where name in ('fsync', 'max_connections', 'server_encoding')"
            ).fetchall()
        )

    assert settings == {"fsync": "on", "max_connections": "50", "server_encoding": "UTF8"}


def test_a_server_cannot_be_entered_twice(server: PostgresServer) -> None:
    with pytest.raises(PostgresError, match="not re-entrant"):
        server.__enter__()


def test_committed_rows_are_seen_by_a_second_connection_and_uncommitted_ones_are_not(
    postgres_url: str,
) -> None:
    with psycopg.connect(libpq_url(postgres_url)) as writer:
        writer.execute("create table visibility_probe (id int primary key)")
        writer.execute("insert into visibility_probe values (1)")
        writer.commit()
        writer.execute("insert into visibility_probe values (2)")

        with psycopg.connect(libpq_url(postgres_url), autocommit=True) as reader:
            seen = reader.execute("select id from visibility_probe order by id").fetchall()
        writer.rollback()
        writer.execute("drop table visibility_probe")
        writer.commit()

    assert seen == [(1,)]


def test_the_session_url_is_exported_for_code_that_reads_the_environment(
    postgres_url: str,
) -> None:
    assert os.environ["PACKLINE_TEST_POSTGRES_URL"] == postgres_url


def test_committed_rows_survive_a_crash_and_restart_on_the_same_port(postgres_bin: Path) -> None:
    with PostgresServer(bin_dir=postgres_bin) as server:
        with psycopg.connect(server.conninfo) as connection:
            connection.execute("create table durable (id int primary key)")
            connection.execute("insert into durable values (7)")
        port = server.port

        server.kill()
        server.start()

        assert server.port == port
        with psycopg.connect(server.conninfo) as connection:
            rows = connection.execute("select id from durable").fetchall()
    assert rows == [(7,)]


def test_leaving_the_server_stops_it_and_removes_its_directory(postgres_bin: Path) -> None:
    with PostgresServer(bin_dir=postgres_bin) as server:
        directory = server.directory
        port = server.port
        assert (directory / "data" / "PG_VERSION").is_file()

    assert not directory.exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5.0):
        pass


def test_a_restart_whose_port_was_taken_fails_quoting_the_servers_complaint(
    postgres_bin: Path,
) -> None:
    with PostgresServer(bin_dir=postgres_bin) as server:
        server.stop()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
            squatter.bind(("127.0.0.1", server.port))
            squatter.listen()

            with pytest.raises(PostgresStartError, match="could not bind"):
                server.start()

        assert not server.running
