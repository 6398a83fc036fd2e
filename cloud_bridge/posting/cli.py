"""`packline sage ...`: connect, read from Sage, post, reconcile, and look after the errors.

Every subcommand reads the same bridge.toml as `packline bridge run`, so it talks to the same
database and the same Sage business the running bridge does. Like the rest of the console
command, the implementation is imported only when a subcommand runs. Changes to the Sage
connection (connect, disconnect, switch) are audited under the console user's name.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from edge.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from cloud_bridge.config import BridgeConfig
    from cloud_bridge.posting.settings import SageSettings

__all__ = ["add_sage_commands"]


def _load(path: Path) -> tuple[BridgeConfig, SageSettings]:
    from cloud_bridge.config import load_bridge_config

    config = load_bridge_config(path)
    if config.sage is None:
        raise ConfigError(f"{path}: no [sage] section; add one to post to Sage")
    return config, config.sage


def _sessions(config: BridgeConfig) -> sessionmaker[Session]:
    from cloud_bridge.db import make_engine, session_factory, upgrade

    engine = make_engine(config.bridge.database_url)
    upgrade(engine)
    return session_factory(engine)


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn configuration and Sage errors into one clear line and exit status 2."""

    def handler(args: argparse.Namespace) -> int:
        from cloud_bridge.sage.errors import SageError

        try:
            return run(args)
        except (ConfigError, SageError, ValueError) as error:
            print(f"packline sage {args.action}: {error}", flush=True)
            return 2

    return handler


def _connect(args: argparse.Namespace) -> int:
    from cloud_bridge.audit import console_actor
    from cloud_bridge.posting.connect import connect

    config, settings = _load(args.config)
    environment: Literal["test", "live"] = args.environment or settings.environment
    asyncio.run(
        connect(
            settings,
            environment=environment,
            open_browser=not args.no_browser,
            out=lambda line: print(line, flush=True),
            sessions=_sessions(config),
            actor=console_actor(),
        )
    )
    return 0


def _disconnect(args: argparse.Namespace) -> int:
    from cloud_bridge.audit import console_actor
    from cloud_bridge.posting.connect import disconnect

    config, settings = _load(args.config)
    pending = disconnect(
        settings, _sessions(config), environment=args.environment, actor=console_actor()
    )
    print(f"Sage {args.environment} disconnected: its token file is removed.")
    if pending:
        print(
            f"{pending} posting(s) of Sage {args.environment} stay pending until it is connected "
            "again"
        )
    return 0


def _switch(args: argparse.Namespace) -> int:
    from cloud_bridge.audit import console_actor
    from cloud_bridge.db.types import utc_now
    from cloud_bridge.posting.environment import select_environment

    config, settings = _load(args.config)
    if args.environment != settings.environment:
        raise ConfigError(
            f'{args.config}: [sage] environment is "{settings.environment}"; set it to '
            f'"{args.environment}" first, so the running bridge and the switch agree'
        )
    with _sessions(config).begin() as session:
        changed = select_environment(
            session,
            environment=settings.environment,
            business_id=settings.business.business_id,
            actor=console_actor(),
            now=utc_now(),
            dismiss_in_flight=args.dismiss_in_flight,
        )
    where = f"Sage {settings.environment} business {settings.business.business_id}"
    print(f"posting to {where}" if changed else f"already posting to {where}")
    return 0


def _sync(args: argparse.Namespace) -> int:
    from cloud_bridge.posting.connection import open_client
    from cloud_bridge.posting.sync import sync_from_sage

    config, settings = _load(args.config)
    sessions = _sessions(config)

    async def run() -> list[str]:
        async with open_client(settings) as client:
            report = await sync_from_sage(sessions, client)
        return report.lines()

    for line in asyncio.run(run()):
        print(line)
    return 0


def _post(args: argparse.Namespace) -> int:
    from cloud_bridge.posting.service import PostingService

    config, settings = _load(args.config)
    sessions = _sessions(config)

    async def run() -> int:
        async with PostingService(sessions, settings) as service:
            result = await service.run_pass()
        sent = result.sent
        print(
            f"business {service.business_id}: planned {len(result.planned.postings)}, "
            f"posted {len(sent.posted)}, failed {len(sent.failed)}, "
            f"waiting for their invoice {len(sent.waiting)}"
        )
        if sent.halted:
            print(f"stopped early: {sent.halted}")
            return 1
        return 0

    return asyncio.run(run())


def _reconcile(args: argparse.Namespace) -> int:
    from cloud_bridge.posting.connection import open_client
    from cloud_bridge.posting.reconcile import reconcile

    config, settings = _load(args.config)
    sessions = _sessions(config)

    async def run() -> int:
        async with open_client(settings) as client:
            result = await reconcile(sessions, client)
        for line in result.lines():
            print(line)
        return 0 if result.ok else 1

    return asyncio.run(run())


def _errors(args: argparse.Namespace) -> int:
    from cloud_bridge.posting.report import error_report

    config, settings = _load(args.config)
    with _sessions(config)() as session:
        problems = error_report(
            session, settings.business.business_id, environment=settings.environment
        )
    for problem in problems:
        print(problem.line())
    print(
        f"{len(problems)} posting problem(s) in Sage {settings.environment} business "
        f"{settings.business.business_id}"
    )
    return 0


def _retry(args: argparse.Namespace) -> int:
    from cloud_bridge.posting.report import retry_postings

    config, settings = _load(args.config)
    with _sessions(config).begin() as session:
        shipments = retry_postings(session, args.posting_ids, environment=settings.environment)
    print(
        f"dismissed {len(args.posting_ids)} failed posting(s); shipment(s) "
        f"{', '.join(map(str, shipments))} will be planned again on the next pass"
    )
    return 0


def add_sage_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `packline sage` and its actions."""
    sage = subparsers.add_parser("sage", help="post shipments to Sage and reconcile")
    actions = sage.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(
        name: str, help_text: str, run: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text)
        parser.add_argument("--config", type=Path, required=True, help="path to bridge.toml")
        parser.set_defaults(handler=_guarded(run))
        return parser

    connect = action("connect", "authorise Packline with a Sage account (OAuth)", _connect)
    connect.add_argument(
        "--environment", choices=("test", "live"), default=None, help="default: [sage].environment"
    )
    connect.add_argument(
        "--no-browser", action="store_true", help="print the URL instead of opening a browser"
    )
    disconnect = action("disconnect", "forget an environment's Sage tokens", _disconnect)
    disconnect.add_argument("--environment", choices=("test", "live"), required=True)
    switch = action(
        "switch", "post to the environment bridge.toml now names (test to live)", _switch
    )
    switch.add_argument(
        "--environment",
        choices=("test", "live"),
        required=True,
        help="the environment to switch to; must be the one bridge.toml names",
    )
    switch.add_argument(
        "--dismiss-in-flight",
        action="store_true",
        help="dismiss the old environment's pending postings and queued corrections instead "
        "of refusing while they are there",
    )
    action("sync", "read contacts, accounts, tax rates and items from Sage", _sync)
    action("post", "plan and send due postings once", _post)
    action("reconcile", "list every difference between the bridge and Sage", _reconcile)
    action("errors", "list postings Sage refused and what it said", _errors)
    retry = action("retry", "plan failed postings again after fixing their cause", _retry)
    retry.add_argument("posting_ids", type=int, nargs="+", metavar="POSTING_ID")
