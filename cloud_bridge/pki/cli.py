"""`packline pki`: create the site CA and manage the certificates of the broker, stations and
bridges.

The implementation is imported only when a subcommand runs, like the rest of the console command.
Every error becomes one line naming the problem, with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

__all__ = ["add_pki_commands"]

Actions: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

_RELOAD_NOTE = (
    "Mosquitto reads the CRL when it starts and when it receives SIGHUP "
    "(systemctl reload mosquitto); until then a revoked certificate still connects."
)


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn PKI errors into one clear line and exit status 2."""

    def handler(args: argparse.Namespace) -> int:
        from cloud_bridge.pki.errors import PkiError

        try:
            return run(args)
        except (PkiError, OSError) as error:
            print(f"packline pki {args.action}: {error}", file=sys.stderr, flush=True)
            return 2

    return handler


def _init(args: argparse.Namespace) -> int:
    from cloud_bridge.pki.site import DEFAULT_BROKER_NAMES, SitePki

    pki = SitePki.init(
        args.dir,
        site=args.site,
        broker_names=args.broker_name or DEFAULT_BROKER_NAMES,
        days=args.days,
    )
    print(f"site CA:            {pki.ca_file}")
    print(f"broker certificate: {pki.broker_cert_file} (key {pki.broker_key_file})")
    print(f"revocation list:    {pki.crl_file}")
    print(f"keep {pki.ca_key_file} off the broker host; it signs every certificate")
    return 0


def _issue(args: argparse.Namespace) -> int:
    from cloud_bridge.pki.site import SitePki

    credentials = SitePki.open(args.dir).issue(
        args.name, args.kind, days=args.days, renew=args.renew
    )
    print(f"certificate: {credentials.cert_file}")
    print(f"key:         {credentials.key_file} (mode 0600)")
    print(f"trust:       {credentials.ca_file}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from cloud_bridge.pki.index import format_serial
    from cloud_bridge.pki.site import SitePki

    pki = SitePki.open(args.dir)
    for entry in pki.revoke(args.name):
        print(f"revoked {entry.name} serial {format_serial(entry.serial)}")
    print(f"CRL re-signed: {pki.crl_file}. {_RELOAD_NOTE}")
    return 0


def _list(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Table

    from cloud_bridge.pki.index import format_serial
    from cloud_bridge.pki.site import SitePki

    now = datetime.now(UTC)
    entries = SitePki.open(args.dir).entries()
    if args.json:
        print(json.dumps([entry.to_json(now) for entry in entries], indent=2))
        return 0
    table = Table(title=f"Certificates in {args.dir}")
    for column in ("name", "kind", "serial", "not after", "state"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        state = "revoked" if entry.revoked else "expired" if entry.expired(now) else "valid"
        table.add_row(
            entry.name,
            entry.kind.value,
            format_serial(entry.serial),
            entry.not_after.isoformat(),
            state,
        )
    Console().print(table)
    return 0


def _dir_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", type=Path, required=True, help="the PKI directory (kept mode 0700)"
    )


def add_pki_commands(subparsers: Actions) -> None:
    """Register `packline pki` and its actions."""
    from cloud_bridge.pki.names import BRIDGE_CERT_NAME

    pki = subparsers.add_parser(
        "pki", help="the site CA: broker, station and bridge certificates and the CRL"
    )
    actions = pki.add_subparsers(dest="action", required=True, metavar="ACTION")

    init = actions.add_parser(
        "init", help="create the site CA, the broker's certificate and an empty CRL"
    )
    _dir_flag(init)
    init.add_argument("--site", default=None, help="the site id; station names must be in it")
    init.add_argument(
        "--broker-name",
        action="append",
        default=None,
        metavar="NAME",
        help="a DNS name or IP address of the broker (repeat; default localhost and 127.0.0.1)",
    )
    init.add_argument(
        "--days", type=int, default=3650, help="validity of the CA and broker (default 3650)"
    )
    init.set_defaults(handler=_guarded(_init))

    issue = actions.add_parser(
        "issue",
        help="issue a client certificate whose name is a station id or a bridge name",
    )
    _dir_flag(issue)
    issue.add_argument(
        "name",
        help=f"station id '<site>.<station>', or a bridge name without '.' ({BRIDGE_CERT_NAME})",
    )
    issue.add_argument("--kind", choices=("station", "bridge"), default="station")
    issue.add_argument("--days", type=int, default=825, help="validity (default 825 days)")
    issue.add_argument(
        "--renew", action="store_true", help="issue again although a valid certificate exists"
    )
    issue.set_defaults(handler=_guarded(_issue))

    revoke = actions.add_parser(
        "revoke",
        help="revoke every certificate of a name and re-sign the CRL",
        description=f"Revoke every certificate of NAME and re-sign the CRL. {_RELOAD_NOTE}",
    )
    _dir_flag(revoke)
    revoke.add_argument("name", help="the certificate name to revoke")
    revoke.set_defaults(handler=_guarded(_revoke))

    list_ = actions.add_parser("list", help="list every certificate: serial, expiry, revocation")
    _dir_flag(list_)
    list_.add_argument("--json", action="store_true", help="print JSON for scripts")
    list_.set_defaults(handler=_guarded(_list))
