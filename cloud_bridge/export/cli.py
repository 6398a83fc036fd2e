"""`packline export --config bridge.toml --to DIR [--since T] [--format parquet|csv] [--json]`.

Meant for a nightly job: each run writes the rows that are new since the watermark stored in
DIR, one file per dataset, and prints how many rows each dataset got. Bad input (an unknown
format, an unreadable --since, a DIR that is a file, a damaged watermark, a config or database
that cannot be used, another export already running into DIR) is one line naming the problem
and exit status 2, with nothing written.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloud_bridge.export.run import ExportSummary

__all__ = ["add_export_commands", "parse_since"]

_FORMATS = ("parquet", "csv")


def add_export_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register `packline export`; the bridge's database code is imported only when it runs."""
    export = subparsers.add_parser(
        "export",
        help="export orders, allocations, shipments, labels, Sage documents and station events "
        "for a data warehouse, incrementally",
    )
    export.add_argument(
        "--config", type=Path, required=True, metavar="TOML", help="path to bridge.toml"
    )
    export.add_argument(
        "--to",
        dest="directory",
        type=Path,
        required=True,
        metavar="DIR",
        help="the export directory: one folder per dataset, and the stored watermark",
    )
    export.add_argument(
        "--since",
        default=None,
        metavar="T",
        help="lower bound of the first run (ISO 8601 instant, or a date meaning its UTC "
        "midnight); later runs continue from the stored watermark unless this is later",
    )
    export.add_argument(
        "--format",
        dest="file_format",
        default="parquet",
        metavar="FORMAT",
        help="parquet (default) or csv",
    )
    export.add_argument("--json", action="store_true", help="print the summary as JSON")
    export.set_defaults(handler=_run)


def parse_since(text: str) -> datetime:
    """An ISO 8601 instant (naive means UTC) or a date (its UTC midnight), as aware UTC."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"--since {text!r} is not a date or an ISO 8601 instant; expected e.g. 2026-11-24 "
            "or 2026-11-24T03:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from cloud_bridge.config import load_bridge_config
    from cloud_bridge.errors import BridgeError
    from cloud_bridge.export.run import ExportOptions, run_export
    from edge.errors import ConfigError

    if args.file_format not in _FORMATS:
        return _refuse(f"--format {args.file_format!r} is unknown; expected parquet or csv")
    try:
        since = None if args.since is None else parse_since(args.since)
    except ValueError as error:
        return _refuse(str(error))
    try:
        database_url = load_bridge_config(args.config).bridge.database_url
    except (ConfigError, BridgeError, OSError) as error:
        return _refuse(str(error))
    try:
        summary = run_export(
            ExportOptions(
                database_url=database_url,
                directory=args.directory,
                file_format=args.file_format,
                since=since,
            )
        )
    except (BridgeError, OSError) as error:
        return _refuse(str(error))
    except SQLAlchemyError as error:
        return _refuse(f"database {_hidden(database_url)}: {error.args[0]}")
    if args.json:
        print(json.dumps(summary.as_json(), indent=2), flush=True)
    else:
        _print_table(summary)
    return 0


def _hidden(url: str) -> str:
    """The database URL without its password, for an error message."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _refuse(message: str) -> int:
    print(f"packline export: {message}", file=sys.stderr, flush=True)
    return 2


def _print_table(summary: ExportSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"export run {summary.run} ({summary.file_format})")
    table.add_column("dataset")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for name, count in summary.rows.items():
        table.add_row(name, str(count), summary.files.get(name, "-"))
    table.add_row("total", str(summary.total_rows), "")
    console = Console()
    console.print(table)
    console.print(summary.lower_bound)
    for path in summary.finished_leftovers:
        console.print(f"renamed {path}: its run was committed but stopped before renaming it")
    for path in summary.removed_leftovers:
        console.print(f"removed {path}: its run stopped before it was committed")
