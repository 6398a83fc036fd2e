"""`packline fleet keys|repo|release`: make keys, a signed repository, and releases.

Registered on the `packline fleet` actions by `add_release_commands`. Each implementation is
imported only when its command runs, and every expected failure is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["add_release_commands"]

Handler = Callable[[argparse.Namespace], int]


def _guarded(name: str, run: Handler) -> Handler:
    """Turn a release-side error into one clear line on stderr and exit status 2."""

    def handler(args: argparse.Namespace) -> int:
        from cloud_bridge.fleet.release.errors import ReleaseError

        try:
            return run(args)
        except (ReleaseError, OSError, ValueError) as error:
            print(f"packline fleet {name}: {error}", file=sys.stderr, flush=True)
            return 2

    return handler


def _keys_init(args: argparse.Namespace) -> int:
    from cloud_bridge.fleet.release.keys import ROLES, KeyStore

    store = KeyStore.create(args.dir)
    print(f"created keys for {', '.join(ROLES)} in {store.directory} (owner-only)", flush=True)
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    from cloud_bridge.fleet.release.keys import KeyStore
    from cloud_bridge.fleet.release.repository import ReleaseRepository

    repository = ReleaseRepository(args.repo, KeyStore(args.dir))
    repository.rotate_keys(args.role)
    print(f"rotated the {args.role} key; stations follow it on their next update", flush=True)
    return 0


def _repo_init(args: argparse.Namespace) -> int:
    from cloud_bridge.fleet.release.keys import KeyStore
    from cloud_bridge.fleet.release.repository import ReleaseRepository

    repository = ReleaseRepository.init(args.repo, KeyStore(args.keys))
    root = repository.metadata_dir / "root.json"
    print(f"release repository ready in {repository.directory}; stations trust {root}", flush=True)
    return 0


def _release_build(args: argparse.Namespace) -> int:
    from cloud_bridge.fleet.release.build import build_release

    print(build_release(args.version, args.out, fault=args.fault), flush=True)
    return 0


def _release_publish(args: argparse.Namespace) -> int:
    from cloud_bridge.fleet.release.keys import KeyStore
    from cloud_bridge.fleet.release.repository import ReleaseRepository

    version = ReleaseRepository(args.repo, KeyStore(args.keys)).publish(args.release_dir)
    print(f"published release {version}: target releases/{version}/release.json", flush=True)
    return 0


def _release_list(args: argparse.Namespace) -> int:
    from cloud_bridge.fleet.release.repository import ReleaseRepository

    for version in ReleaseRepository(args.repo).releases():
        print(version, flush=True)
    return 0


def _add_keys(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = actions.add_parser("keys", help="create and rotate the release signing keys")
    commands = keys.add_subparsers(dest="keys_action", required=True, metavar="COMMAND")
    init = commands.add_parser("init", help="create one Ed25519 key per TUF role")
    init.add_argument("--dir", type=Path, required=True, help="new key directory (mode 0700)")
    init.set_defaults(handler=_guarded("keys init", _keys_init))
    rotate = commands.add_parser("rotate", help="replace a role's key and re-sign the repository")
    rotate.add_argument("--dir", type=Path, required=True, help="the key directory")
    rotate.add_argument(
        "--role", choices=("root", "targets", "snapshot", "timestamp"), required=True
    )
    rotate.add_argument("--repo", type=Path, required=True, help="the release repository")
    rotate.set_defaults(handler=_guarded("keys rotate", _keys_rotate))


def _add_repo(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    repo = actions.add_parser("repo", help="create the signed release repository")
    commands = repo.add_subparsers(dest="repo_action", required=True, metavar="COMMAND")
    init = commands.add_parser("init", help="write version 1 of the TUF metadata")
    init.add_argument("--repo", type=Path, required=True, help="new repository directory")
    init.add_argument("--keys", type=Path, required=True, help="the key directory")
    init.set_defaults(handler=_guarded("repo init", _repo_init))


def _add_release(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    release = actions.add_parser("release", help="build, publish and list releases")
    commands = release.add_subparsers(dest="release_action", required=True, metavar="COMMAND")
    build = commands.add_parser("build", help="build a release from the installed code")
    build.add_argument("--version", required=True, help="PEP 440 version, e.g. 0.2.0")
    build.add_argument("--out", type=Path, required=True, help="directory to build into")
    build.add_argument(
        "--fault",
        choices=("crash_at_start",),
        default=None,
        help="build a deliberately broken release for drills",
    )
    build.set_defaults(handler=_guarded("release build", _release_build))
    publish = commands.add_parser("publish", help="sign a built release into the repository")
    publish.add_argument("release_dir", type=Path, help="the built release (<out>/<version>)")
    publish.add_argument("--repo", type=Path, required=True, help="the release repository")
    publish.add_argument("--keys", type=Path, required=True, help="the key directory")
    publish.set_defaults(handler=_guarded("release publish", _release_publish))
    listing = commands.add_parser("list", help="list published releases, oldest first")
    listing.add_argument("--repo", type=Path, required=True, help="the release repository")
    listing.set_defaults(handler=_guarded("release list", _release_list))


def add_release_commands(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `keys`, `repo` and `release` on the `packline fleet` actions."""
    _add_keys(actions)
    _add_repo(actions)
    _add_release(actions)
