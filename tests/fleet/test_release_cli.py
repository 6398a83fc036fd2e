"""`packline fleet keys|repo|release`: the release side from the command line.

The commands are registered on a parser built here the way `packline fleet` registers them, so
these tests run the real handlers end to end.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pytest
from tuf_world import make_release

from cloud_bridge.fleet.release import ReleaseRepository
from cloud_bridge.fleet.release.cli import add_release_commands


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="packline")
    commands = parser.add_subparsers(dest="command", required=True)
    fleet = commands.add_parser("fleet")
    actions = fleet.add_subparsers(dest="action", required=True)
    add_release_commands(actions)
    args = parser.parse_args(["fleet", *argv])
    return int(args.handler(args))


def test_keys_repo_build_publish_and_list_work_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, repo = str(tmp_path / "keys"), str(tmp_path / "repo")

    assert run(["keys", "init", "--dir", keys]) == 0
    assert run(["repo", "init", "--repo", repo, "--keys", keys]) == 0
    assert run(["release", "build", "--version", "0.2.0", "--out", str(tmp_path / "out")]) == 0
    built = capsys.readouterr().out.strip().splitlines()[-1]
    assert run(["release", "publish", built, "--repo", repo, "--keys", keys]) == 0
    capsys.readouterr()
    assert run(["release", "list", "--repo", repo]) == 0

    assert capsys.readouterr().out.split() == ["0.2.0"]


def test_keys_rotate_rotates_the_role_in_the_store_and_the_repository(tmp_path: Path) -> None:
    keys, repo = str(tmp_path / "keys"), str(tmp_path / "repo")
    run(["keys", "init", "--dir", keys])
    run(["repo", "init", "--repo", repo, "--keys", keys])

    assert run(["keys", "rotate", "--dir", keys, "--role", "root", "--repo", repo]) == 0

    assert (Path(repo) / "metadata" / "2.root.json").exists()


def test_publishing_an_old_version_is_one_clear_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, repo = str(tmp_path / "keys"), str(tmp_path / "repo")
    run(["keys", "init", "--dir", keys])
    run(["repo", "init", "--repo", repo, "--keys", keys])
    ReleaseRepository(Path(repo)).releases()
    run(
        [
            "release",
            "publish",
            str(make_release(tmp_path / "a", "0.3.0")),
            "--repo",
            repo,
            "--keys",
            keys,
        ]
    )
    capsys.readouterr()

    status = run(
        [
            "release",
            "publish",
            str(make_release(tmp_path / "b", "0.2.0")),
            "--repo",
            repo,
            "--keys",
            keys,
        ]
    )

    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert error == [
        "packline fleet release publish: release 0.2.0 is not newer than the newest published "
        "release 0.3.0"
    ]


def test_an_insecure_key_file_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, repo = tmp_path / "keys", str(tmp_path / "repo")
    run(["keys", "init", "--dir", str(keys)])
    (keys / "root.pem").chmod(0o644)

    status = run(["repo", "init", "--repo", repo, "--keys", str(keys)])

    assert status == 2
    assert f"{keys / 'root.pem'} has mode 0644" in capsys.readouterr().err


def test_a_bad_version_is_refused_at_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run(["release", "build", "--version", "latest", "--out", str(tmp_path)])

    assert status == 2
    assert "'latest' is not a PEP 440 version" in capsys.readouterr().err


def test_listing_a_missing_repository_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["release", "list", "--repo", str(tmp_path)]) == 2
    assert "packline fleet repo init" in capsys.readouterr().err
