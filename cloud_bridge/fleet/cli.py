"""`packline fleet`: the fleet as the bridge's database knows it, and the operator's controls.

Every command reads the same bridge.toml as `packline bridge run`, so it sees the database the
running bridge writes, and needs no broker: groups, configurations and rollout commands only
write the database, and the running bridge's fleet tick publishes what they imply. Like the rest
of the console command, the implementation is imported only when the subcommand runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from edge.errors import ConfigError

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session, sessionmaker

    from cloud_bridge.config import BridgeConfig

__all__ = ["add_fleet_commands"]

Actions: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

_PUBLISHED_BY_TICK = "the running bridge publishes it on its next fleet tick"
_FOLLOWS_BY_TICK = "the running bridge publishes what follows on its next fleet tick"
_OFFERS_BY_TICK = "the running bridge sends the offers on its fleet ticks"


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn configuration and database errors into one clear line and exit status 2."""

    def handler(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return run(args)
        except (ConfigError, SQLAlchemyError, ValueError) as error:
            print(f"packline fleet {getattr(args, 'label', args.action)}: {error}", flush=True)
            return 2

    return handler


@contextmanager
def _database(path: Path) -> Iterator[tuple[BridgeConfig, sessionmaker[Session]]]:
    """The bridge's configuration and sessions on its database, migrated to head."""
    from cloud_bridge.config import load_bridge_config
    from cloud_bridge.db import make_engine, session_factory, upgrade

    config = load_bridge_config(path)
    engine = make_engine(config.bridge.database_url)
    try:
        upgrade(engine)
        yield config, session_factory(engine)
    finally:
        engine.dispose()


def _now() -> datetime:
    from datetime import UTC, datetime

    return datetime.now(UTC)


# --- status ----------------------------------------------------------------------------------


def _status(args: argparse.Namespace) -> int:
    from rich.console import Console

    from cloud_bridge.fleet.status import FleetFilter, fleet_json, fleet_table, list_fleet

    with _database(args.config) as (_, sessions), sessions() as session:
        rows = list_fleet(
            session,
            FleetFilter(site=args.site, group=args.group, version=args.version, state=args.state),
        )
    if args.json:
        print(fleet_json(rows), flush=True)
    else:
        Console().print(fleet_table(rows))
    return 0


# --- groups ----------------------------------------------------------------------------------


def _group_set(args: argparse.Namespace) -> int:
    from cloud_bridge.fleet.groups import set_group

    group = None if args.clear else args.group
    with _database(args.config) as (_, sessions), sessions.begin() as session:
        moved = set_group(session, args.stations, group, now=_now())
    where = f"group {group}" if group is not None else "no group"
    names = ", ".join(station.client_id for station in moved) or "none (already there)"
    print(f"moved to {where}: {names}", flush=True)
    return 0


# --- configuration -----------------------------------------------------------------------------


def _config_set(args: argparse.Namespace) -> int:
    from cloud_bridge.db.fleet_control import ConfigScope
    from cloud_bridge.fleet.configs import load_overlay, set_config

    overlay = load_overlay(args.file)
    scope = ConfigScope.STATION if args.station is not None else ConfigScope.GROUP
    target = args.station if args.station is not None else args.group
    with _database(args.config) as (_, sessions), sessions.begin() as session:
        row = set_config(session, scope, target, overlay, now=_now())
        version = row.version
    print(f"configuration version {version} for {scope} {target}; {_PUBLISHED_BY_TICK}", flush=True)
    return 0


def _config_show(args: argparse.Namespace) -> int:
    import json

    from cloud_bridge.db.fleet import FleetStation
    from cloud_bridge.db.fleet_control import FleetStationReport
    from cloud_bridge.fleet.configs import effective_config, published_version
    from cloud_bridge.fleet.names import parse_station

    station_id = parse_station(args.station)
    with _database(args.config) as (_, sessions), sessions() as session:
        desired = effective_config(session, station_id)
        published = published_version(session, station_id)
        station = session.get(FleetStation, station_id.client_id)
        report = session.get(FleetStationReport, station_id.client_id)
    shown = {
        "station": station_id.client_id,
        "group": station.group if station is not None else None,
        "version": desired.version if desired is not None else None,
        "settings": desired.settings if desired is not None else None,
        "published_version": published,
        "applied_version": report.config_applied_version if report is not None else None,
        "refused_version": report.config_refused_version if report is not None else None,
        "refused_reason": report.config_refused_reason if report is not None else None,
    }
    print(json.dumps(shown, indent=2), flush=True)
    return 0


# --- rollouts ----------------------------------------------------------------------------------

_POLICY_FLAGS = (
    ("canaries", int, "stations that go first, alone"),
    ("base_rate", int, "stations in the first wave after the canaries"),
    ("increment_factor", float, "each further wave is this many times the one before"),
    ("abort_percent", float, "abort when more than this percent of finished stations failed"),
    ("min_sample", int, "abort only once at least this many stations have finished"),
    ("station_timeout_s", int, "online seconds a station has to finish before it counts as failed"),
    ("health_deadline_s", int, "seconds the new version has to pass its health gate"),
)


def _rollout_start(args: argparse.Namespace) -> int:
    from cloud_bridge.fleet.rollout_control import start_rollout
    from cloud_bridge.fleet.settings import FleetSettings

    with _database(args.config) as (config, sessions):
        fleet = config.fleet or FleetSettings()
        policy = fleet.rollout.model_dump()
        policy.update(
            {n: getattr(args, n) for n, _, _ in _POLICY_FLAGS if getattr(args, n) is not None}
        )
        with sessions.begin() as session:
            rollout = start_rollout(
                session,
                version=args.version,
                group=args.group,
                now=_now(),
                repository_dir=fleet.repository,
                **policy,
            )
            name = rollout.name
    print(f"{name} started: {args.version} to group {args.group}; {_OFFERS_BY_TICK}", flush=True)
    return 0


def _rollout_status(args: argparse.Namespace) -> int:
    from rich.console import Console

    from cloud_bridge.fleet.rollout_status import (
        list_rollouts,
        rollout_json,
        rollout_table,
        rollout_view,
        rollouts_table,
        watch_rollout,
    )

    console = Console()
    with _database(args.config) as (_, sessions):
        if args.watch:
            view = watch_rollout(sessions, args.rollout, interval_s=args.interval, console=console)
            views = [view]
        else:
            with sessions() as session:
                views = (
                    [rollout_view(session, args.rollout)]
                    if args.rollout is not None
                    else list_rollouts(session)
                )
    if args.json:
        print(rollout_json(views), flush=True)
    elif args.rollout is not None or args.watch:
        console.print(rollout_table(views[0]))
    else:
        console.print(rollouts_table(views))
    return 0


def _rollout_control(args: argparse.Namespace) -> int:
    from cloud_bridge.fleet import rollout_control as rollout

    change = {
        "pause": rollout.pause_rollout,
        "resume": rollout.resume_rollout,
        "abort": rollout.abort_rollout,
        "rollback": rollout.rollback_rollout,
    }[args.rollout_action]
    reason = args.reason or f"{args.rollout_action} by the operator"
    with _database(args.config) as (_, sessions), sessions.begin() as session:
        changed = change(session, args.rollout, now=_now(), reason=reason)
        name, state = changed.name, changed.state
    print(f"{name} is {state}; {_FOLLOWS_BY_TICK}", flush=True)
    return 0


# --- registration ------------------------------------------------------------------------------


def add_fleet_commands(subparsers: Actions) -> None:
    """Register `packline fleet` and its actions."""
    fleet = subparsers.add_parser("fleet", help="see and steer every station the bridge knows")
    actions = fleet.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_status(actions)
    _add_group(actions)
    _add_config(actions)
    _add_rollout(actions)
    _add_release(actions)
    _add_drill(actions)


def _config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="path to bridge.toml")


def _add_status(actions: Actions) -> None:
    status = actions.add_parser("status", help="list stations: presence, versions, hardware")
    _config_flag(status)
    status.add_argument("--site", default=None, help="only stations of this site")
    status.add_argument("--group", default=None, help="only stations of this group")
    status.add_argument("--version", default=None, help="only stations running this software")
    status.add_argument(
        "--state", choices=("online", "offline"), default=None, help="only online or offline"
    )
    status.add_argument("--json", action="store_true", help="print JSON for scripts")
    status.set_defaults(handler=_guarded(_status))


def _add_group(actions: Actions) -> None:
    group = actions.add_parser("group", help="put stations in rollout groups")
    verbs = group.add_subparsers(dest="group_action", required=True, metavar="ACTION")
    set_ = verbs.add_parser(
        "set",
        help="put stations in a group, or take them out (--clear); stations may be named "
        "before they ever report",
    )
    _config_flag(set_)
    which = set_.add_mutually_exclusive_group(required=True)
    which.add_argument("--group", help="the group to put the stations in")
    which.add_argument("--clear", action="store_true", help="take the stations out of any group")
    set_.add_argument("stations", nargs="+", metavar="STATION_ID", help="<site>.<station>")
    set_.set_defaults(handler=_guarded(_group_set), label="group set")


def _add_config(actions: Actions) -> None:
    config = actions.add_parser("config", help="push configuration to stations or groups")
    verbs = config.add_subparsers(dest="config_action", required=True, metavar="ACTION")
    set_ = verbs.add_parser(
        "set",
        help="store a new configuration overlay (a table of station.toml sections) for a "
        f"station or a group; {_PUBLISHED_BY_TICK}",
    )
    _config_flag(set_)
    whom = set_.add_mutually_exclusive_group(required=True)
    whom.add_argument("--station", help="one station, <site>.<station>")
    whom.add_argument("--group", help="every station of a group")
    set_.add_argument("--file", type=Path, required=True, help="the overlay, as .toml or .json")
    set_.set_defaults(handler=_guarded(_config_set), label="config set")
    show = verbs.add_parser(
        "show", help="a station's effective configuration, what was sent and what it applied"
    )
    _config_flag(show)
    show.add_argument("station", metavar="STATION_ID", help="<site>.<station>")
    show.set_defaults(handler=_guarded(_config_show), label="config show")


def _add_rollout(actions: Actions) -> None:
    rollout = actions.add_parser(
        "rollout",
        help="stage a release over a group: canaries, then growing waves; these commands write "
        "the database and the running bridge's fleet tick sends the offers",
    )
    verbs = rollout.add_subparsers(dest="rollout_action", required=True, metavar="ACTION")
    start = verbs.add_parser(
        "start",
        help=f"start a rollout of a published release to a group; {_OFFERS_BY_TICK}",
    )
    _config_flag(start)
    start.add_argument("--version", required=True, help="the release version to roll out")
    start.add_argument("--group", required=True, help="the group of stations to update")
    for name, kind, text in _POLICY_FLAGS:
        start.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=kind,
            default=None,
            help=f"{text} (default from [fleet.rollout])",
        )
    start.set_defaults(handler=_guarded(_rollout_start), label="rollout start")
    status = verbs.add_parser("status", help="rollouts, or one rollout's stations and history")
    _config_flag(status)
    status.add_argument("rollout", nargs="?", default=None, help="rollout-<n> (default: all)")
    status.add_argument(
        "--watch",
        action="store_true",
        help="show a live progress bar until the rollout ends (default: the newest one)",
    )
    status.add_argument(
        "--interval", type=float, default=1.0, help="seconds between redraws with --watch (1)"
    )
    status.add_argument("--json", action="store_true", help="print JSON for scripts")
    status.set_defaults(handler=_guarded(_rollout_status), label="rollout status")
    for verb, text in (
        ("pause", "stop offering and withdraw offers not yet started"),
        ("resume", "offer again what the pause withdrew, and go on with the waves"),
        ("abort", "end the rollout; updated stations keep the release, unstarted offers go"),
        ("rollback", "end the rollout and send every station that committed it back"),
    ):
        control = verbs.add_parser(verb, help=f"{text}; {_PUBLISHED_BY_TICK}")
        _config_flag(control)
        control.add_argument("rollout", help="rollout-<n>")
        control.add_argument("--reason", default=None, help="why, kept with the transition")
        control.set_defaults(handler=_guarded(_rollout_control), label=f"rollout {verb}")


def _add_release(actions: Actions) -> None:
    """The release commands (keys, repository, build, publish), when that package is present."""
    try:
        from cloud_bridge.fleet.release.cli import add_release_commands
    except ModuleNotFoundError as error:
        if error.name is not None and error.name.startswith("cloud_bridge.fleet.release"):
            return
        raise
    add_release_commands(actions)


def _drill(args: argparse.Namespace) -> int:
    from firmware_sim.drill.run import DrillError, DrillOptions, run_drill

    try:
        result = run_drill(
            DrillOptions(
                stations=args.stations,
                bad_release=args.bad_release,
                power_cuts=args.power_cuts,
                seed=args.seed,
                work_dir=args.work_dir,
            )
        )
    except DrillError as error:
        print(f"packline fleet drill: {error}", flush=True)
        return 2
    verdict = "ok" if result.ok else "FAILED"
    print(
        f"drill {verdict}: {result.stations} stations, target {result.target_version}: "
        f"updated {result.updated}, rolled back {result.rolled_back}, untouched "
        f"{result.untouched}, failed {result.failed}, aborted {result.aborted}, waves "
        f"{result.waves}, power cuts {result.power_cuts}, on known-good {result.on_known_good}, "
        f"{result.seconds} s (seed {result.seed})",
        flush=True,
    )
    for violation in result.violations:
        print(f"  invariant failed: {violation}", flush=True)
    if args.json:
        print(result.to_json(), flush=True)
    return 0 if result.ok else 1


def _add_drill(actions: Actions) -> None:
    drill = actions.add_parser(
        "drill",
        help="a whole fleet update on this machine: broker, bridge, N supervised stations, "
        "a release v+1 rolled out, optional bad release and power cuts; checks its invariants",
    )
    drill.add_argument("--stations", type=int, default=8, help="simulated stations (8)")
    drill.add_argument(
        "--bad-release", action="store_true", help="ship a release whose health gate fails"
    )
    drill.add_argument(
        "--power-cuts", type=int, default=0, help="SIGKILL stations this many times mid-update"
    )
    drill.add_argument("--seed", type=int, default=None, help="seed for where the cuts fall")
    drill.add_argument(
        "--work-dir", type=Path, default=None, help="keep every file and log here (default: temp)"
    )
    drill.add_argument("--json", action="store_true", help="end with one JSON object")
    drill.set_defaults(handler=_drill)
