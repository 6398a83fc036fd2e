"""`packline fleet status`: the fleet as the bridge's database knows it, as a table or JSON.

It reads the same bridge.toml as `packline bridge run`, so it sees the database the running
bridge writes, and needs no broker. Like the rest of the console command, the implementation is
imported only when the subcommand runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from edge.errors import ConfigError

__all__ = ["add_fleet_commands"]


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn configuration and database errors into one clear line and exit status 2."""

    def handler(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return run(args)
        except (ConfigError, SQLAlchemyError, ValueError) as error:
            print(f"packline fleet {args.action}: {error}", flush=True)
            return 2

    return handler


def _status(args: argparse.Namespace) -> int:
    from rich.console import Console

    from cloud_bridge.config import load_bridge_config
    from cloud_bridge.db import make_engine, session_factory, upgrade
    from cloud_bridge.fleet.status import FleetFilter, fleet_json, fleet_table, list_fleet

    config = load_bridge_config(args.config)
    engine = make_engine(config.bridge.database_url)
    try:
        upgrade(engine)
        with session_factory(engine)() as session:
            rows = list_fleet(
                session,
                FleetFilter(
                    site=args.site, group=args.group, version=args.version, state=args.state
                ),
            )
    finally:
        engine.dispose()
    if args.json:
        print(fleet_json(rows), flush=True)
    else:
        Console().print(fleet_table(rows))
    return 0


def add_fleet_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `packline fleet` and its actions."""
    fleet = subparsers.add_parser("fleet", help="see every station the bridge knows")
    actions = fleet.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="list stations: presence, versions, hardware")
    status.add_argument("--config", type=Path, required=True, help="path to bridge.toml")
    status.add_argument("--site", default=None, help="only stations of this site")
    status.add_argument("--group", default=None, help="only stations of this group")
    status.add_argument("--version", default=None, help="only stations running this software")
    status.add_argument(
        "--state", choices=("online", "offline"), default=None, help="only online or offline"
    )
    status.add_argument("--json", action="store_true", help="print JSON for scripts")
    status.set_defaults(handler=_guarded(_status))
