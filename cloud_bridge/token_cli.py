"""`packline bridge token create|revoke|list`: the API's tokens in the bridge's database.

Each command reads the same bridge.toml as `packline bridge run`, so it writes the database the
running bridge reads; a new or revoked token counts from the next request, with no restart.
`create` prints the new token alone on stdout (so ``TOKEN=$(packline bridge token create ...)``
captures exactly it) and never again; everything else it says goes to stderr.

This module is imported whenever the console command builds its parser, on stations too, so
the database and web code are imported only when a token command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from edge.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["ROLE_NAMES", "add_token_commands"]

Actions: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

ROLE_NAMES = ("viewer", "operator", "credit_controller", "admin")
"""For the help text only; `cloud_bridge.api.roles.Role` decides, and a test keeps them equal."""


def add_token_commands(bridge_subparsers: Actions) -> None:
    """Register `token` and its actions under `packline bridge`."""
    token = bridge_subparsers.add_parser("token", help="create, revoke and list API tokens")
    actions = token.add_subparsers(dest="token_action", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create", help="make a token with a role and print it once, alone on stdout"
    )
    _config_flag(create)
    create.add_argument("--name", required=True, help="who holds it; the audit trail's actor")
    create.add_argument("--role", required=True, help=f"one of {', '.join(ROLE_NAMES)}")
    create.set_defaults(handler=_guarded("create", _create))

    revoke = actions.add_parser("revoke", help="refuse a token from its next request on")
    _config_flag(revoke)
    revoke.add_argument("--name", required=True, help="the token's name")
    revoke.set_defaults(handler=_guarded("revoke", _revoke))

    listing = actions.add_parser("list", help="every token: name, role, prefix, dates")
    _config_flag(listing)
    listing.set_defaults(handler=_guarded("list", _list))


def _config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="path to bridge.toml")


def _guarded(
    action: str, run: Callable[[argparse.Namespace], int]
) -> Callable[[argparse.Namespace], int]:
    """Turn configuration, database and token errors into one line on stderr and status 2."""

    def handler(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return run(args)
        except (ConfigError, SQLAlchemyError, ValueError) as error:
            print(f"packline bridge token {action}: {error}", file=sys.stderr, flush=True)
            return 2

    return handler


@contextmanager
def _database(path: Path) -> Iterator[Engine]:
    """An engine on the database bridge.toml names, migrated to head."""
    from cloud_bridge.config import load_bridge_config
    from cloud_bridge.db import make_engine, upgrade

    config = load_bridge_config(path)
    engine = make_engine(config.bridge.database_url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def _create(args: argparse.Namespace) -> int:
    from cloud_bridge.api.tokens import create_token, parse_role
    from cloud_bridge.audit import console_actor

    role = parse_role(args.role)
    with _database(args.config) as engine:
        token = create_token(engine, args.name, role, actor=console_actor())
    print(token, flush=True)
    print(
        f"token {args.name!r} ({role.value}) created; it is shown only this once",
        file=sys.stderr,
        flush=True,
    )
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from cloud_bridge.api.tokens import revoke_token
    from cloud_bridge.audit import console_actor

    with _database(args.config) as engine:
        revoke_token(engine, args.name, actor=console_actor())
    print(f"token {args.name!r} revoked; it is refused from its next request", flush=True)
    return 0


def _list(args: argparse.Namespace) -> int:
    from cloud_bridge.api.tokens import list_tokens

    with _database(args.config) as engine:
        tokens = list_tokens(engine)
    rows = [("NAME", "ROLE", "PREFIX", "CREATED (UTC)", "REVOKED (UTC)")]
    rows += [
        (
            token.name,
            token.role.value,
            token.prefix,
            f"{token.created_at:%Y-%m-%d %H:%M:%S}",
            f"{token.revoked_at:%Y-%m-%d %H:%M:%S}" if token.revoked_at is not None else "-",
        )
        for token in tokens
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0
