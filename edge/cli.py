"""The `packline` console command: one entry point, one subcommand per job.

Subcommands import their implementation only when they run, so `packline --help` stays fast and a
station never imports the bridge's database code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]

PRINTER_FAULTS = ("paper_out", "head_open", "paused", "ribbon_out", "buffer_full")


def _run_sim_printer(args: argparse.Namespace) -> int:
    from firmware_sim.zebra.cli import run_printer

    return run_printer(host=args.host, port=args.port, faults=args.fault)


def _run_sim_sage(args: argparse.Namespace) -> int:
    import asyncio

    from firmware_sim.sage import SageSandboxServer

    async def serve() -> None:
        server = SageSandboxServer(host=args.host, port=args.port)
        await server.start()
        print(f"Sage sandbox on {server.api_url} (businesses: test, live)", flush=True)
        await server.serve_forever()

    asyncio.run(serve())
    return 0


def _run_bench(args: argparse.Namespace) -> int:
    from firmware_sim.bench import BenchPlanError, plan_from_options, run_bench
    from firmware_sim.bench_plan import COUNT_HELP

    try:
        plan = plan_from_options(
            quick=args.quick, overrides={name: getattr(args, name) for name in COUNT_HELP}
        )
    except BenchPlanError as error:
        raise SystemExit(f"packline bench: {error}") from None
    return run_bench(plan, as_json=args.json)


def _run_demo(args: argparse.Namespace) -> int:
    from firmware_sim.shift.chaos import parse_chaos
    from firmware_sim.shift.run import ShiftError, ShiftOptions, run_shift

    try:
        options = ShiftOptions(
            orders=args.orders,
            stations=args.stations,
            chaos=parse_chaos(args.chaos),
            seed=args.seed,
            as_json=args.json,
            broker_url=args.broker,
            db_url=args.db,
            mistake_rate=args.mistake_rate,
            work_dir=args.work_dir,
        )
        return run_shift(options)
    except (ShiftError, ValueError) as error:
        print(f"packline demo: {error}", file=sys.stderr, flush=True)
        return 2


_INSECURE_HELP = (
    "local development only: allow a plain mqtt:// broker on a loopback address, without TLS "
    "or a client certificate (logged as a warning at start)"
)


def _run_station(args: argparse.Namespace) -> int:
    from edge.station.main import run_station

    return run_station(
        config_path=args.config,
        sim=args.sim,
        sim_control_port=args.sim_control_port,
        home=args.home,
        insecure=args.insecure,
    )


def _provision_station(args: argparse.Namespace) -> int:
    import tempfile

    from edge import __version__
    from edge.errors import EdgeError
    from edge.fleet.home import StationHome
    from edge.fleet.verify import trust_root
    from edge.station.config import load_station_config

    try:
        load_station_config(args.config)
        root = args.trusted_root.read_bytes()
        with tempfile.TemporaryDirectory() as scratch:
            trust_root(Path(scratch), root)  # checked before anything is written in the home
        home = StationHome.provision(
            args.home.resolve(),
            factory_version=__version__,
            trusted_root=root,
            station_toml=args.config,
        )
    except (OSError, EdgeError) as error:
        print(f"packline station provision: {error}", file=sys.stderr, flush=True)
        return 2
    print(
        f"station home {home.root} provisioned: base release {__version__}, "
        f"station.toml copied, release root trusted",
        flush=True,
    )
    return 0


def _boot_station(args: argparse.Namespace) -> int:
    from edge.fleet.boot import boot_and_exec

    home: Path = args.home.resolve()
    argv = ["station", "run", "--config", str(home / "station.toml"), "--home", str(home)]
    if args.insecure:
        argv.append("--insecure")
    if not args.sim:
        boot_and_exec(home, argv)
    from firmware_sim.power_cut import checkpoint_from_environment

    argv += ["--sim", "--sim-control-port", str(args.sim_control_port)]
    checkpoint = checkpoint_from_environment()
    if checkpoint is None:
        boot_and_exec(home, argv)
    boot_and_exec(home, argv, checkpoint=checkpoint)


def _add_station(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    station = subparsers.add_parser("station", help="run a pack station")
    station_sub = station.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = station_sub.add_parser("run", help="run the station process from its station.toml")
    run.add_argument("--config", type=Path, required=True, help="path to station.toml")
    run.add_argument(
        "--sim",
        action="store_true",
        help="wire the simulated scanner, lights and printer instead of real hardware",
    )
    run.add_argument(
        "--sim-control-port",
        type=int,
        default=0,
        help="with --sim: loopback port of the rig's control socket (0 picks a free one and "
        "writes it to <state_dir>/sim-control.port)",
    )
    run.add_argument(
        "--home",
        type=Path,
        default=None,
        help="the station home (releases, updater state, TUF trust); without it the station "
        "refuses software updates",
    )
    run.add_argument(
        "--insecure",
        action="store_true",
        help=_INSECURE_HELP,
    )
    run.set_defaults(handler=_run_station)
    boot = station_sub.add_parser(
        "boot",
        help="the service's entry point: pick the release to run (finishing an interrupted "
        "switch, rolling back a crash loop) and exec the station from it",
    )
    boot.add_argument("--home", type=Path, required=True, help="the station home directory")
    boot.add_argument("--sim", action="store_true", help="run the station on the simulated rig")
    boot.add_argument("--sim-control-port", type=int, default=0, help="with --sim, as for run")
    boot.add_argument(
        "--insecure",
        action="store_true",
        help=_INSECURE_HELP,
    )
    boot.set_defaults(handler=_boot_station)
    provision = station_sub.add_parser(
        "provision",
        help="make a station home: the installed version as its base release, its station.toml, "
        "and the release repository's root metadata as its only trust anchor",
    )
    provision.add_argument("--home", type=Path, required=True, help="the home to create")
    provision.add_argument("--config", type=Path, required=True, help="the station.toml to use")
    provision.add_argument(
        "--trusted-root",
        type=Path,
        required=True,
        help="the repository's root.json (`packline fleet repo init` writes it)",
    )
    provision.set_defaults(handler=_provision_station)


def _run_bridge(args: argparse.Namespace) -> int:
    from cloud_bridge.main import run_bridge

    return run_bridge(config_path=args.config, insecure=args.insecure)


def _add_bridge(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bridge = subparsers.add_parser("bridge", help="run the cloud bridge")
    bridge_sub = bridge.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = bridge_sub.add_parser("run", help="run one bridge instance from its bridge.toml")
    run.add_argument("--config", type=Path, required=True, help="path to bridge.toml")
    run.add_argument(
        "--insecure",
        action="store_true",
        help=_INSECURE_HELP,
    )
    run.set_defaults(handler=_run_bridge)
    from cloud_bridge.token_cli import add_token_commands

    add_token_commands(bridge_sub)


def _add_sim(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = subparsers.add_parser("sim", help="run a piece of the simulated hardware rig")
    sim_sub = sim.add_subparsers(dest="device", required=True, metavar="DEVICE")
    printer = sim_sub.add_parser(
        "printer", help="a virtual Zebra network printer that speaks ZPL on TCP"
    )
    printer.add_argument("--host", default="127.0.0.1", help="address to listen on")
    printer.add_argument("--port", type=int, default=9100, help="TCP port (default 9100)")
    printer.add_argument(
        "--fault",
        action="append",
        choices=PRINTER_FAULTS,
        default=[],
        help="start with this fault set (repeatable)",
    )
    printer.set_defaults(handler=_run_sim_printer)
    sage = sim_sub.add_parser(
        "sage", help="a Sage Accounting v3.1 sandbox (OAuth, X-Business, invoices, stock)"
    )
    sage.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sage.add_argument("--port", type=int, default=8090, help="TCP port (default 8090)")
    sage.set_defaults(handler=_run_sim_sage)


def _add_bench(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from firmware_sim.bench_plan import COUNT_HELP, FULL_PLAN, QUICK_PLAN

    bench = subparsers.add_parser(
        "bench",
        help="measure the station and the bridge against baselines taken in the same run",
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="small counts (the --quick number in each option's help), about two minutes",
    )
    for name, text in COUNT_HELP.items():
        full, quick = getattr(FULL_PLAN, name), getattr(QUICK_PLAN, name)
        bench.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=int,
            default=None,
            help=f"{text} (default {full:,}; --quick {quick:,})",
        )
    bench.add_argument(
        "--json",
        action="store_true",
        help="end the output with the figures as JSON, the last line one flat object",
    )
    bench.set_defaults(handler=_run_bench)


def _add_demo(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo", help="a whole shift: broker, bridge, Sage sandbox, stations and packers"
    )
    demo.add_argument("--orders", type=int, default=200, help="orders in the shift (200)")
    demo.add_argument("--stations", type=int, default=3, help="station processes (3)")
    demo.add_argument(
        "--chaos",
        default=None,
        metavar="LIST",
        help="faults to inject, comma-separated: broker-restart, bridge-crash, station-crash, "
        "network-partition, sage-faults, printer-faults, or all",
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the data and the packers")
    demo.add_argument(
        "--json", action="store_true", help="end the output with one JSON object on one line"
    )
    demo.add_argument(
        "--broker",
        default=None,
        help="MQTT broker URL (default: a private Mosquitto on a free loopback port)",
    )
    demo.add_argument(
        "--db", default=None, help="the bridge's database URL (default: a temporary SQLite file)"
    )
    demo.add_argument(
        "--mistake-rate",
        type=float,
        default=0.05,
        help="how often a packer presses a wrong slot or scans a wrong item (0.05)",
    )
    demo.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="keep configs, databases and every process's log here (default: a temporary dir)",
    )
    demo.set_defaults(handler=_run_demo)


def _add_sage(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cloud_bridge.posting.cli import add_sage_commands

    add_sage_commands(subparsers)


def _add_fleet(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cloud_bridge.fleet.cli import add_fleet_commands

    add_fleet_commands(subparsers)


def _add_pki(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cloud_bridge.pki.cli import add_pki_commands

    add_pki_commands(subparsers)


def _add_export(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cloud_bridge.export.cli import add_export_commands

    add_export_commands(subparsers)


def _add_fuzz(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from firmware_sim.fuzz.cli import add_fuzz_command

    add_fuzz_command(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="packline", description="Packline: warehouse pack stations, bridge and rig."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(subparsers)
    _add_station(subparsers)
    _add_bridge(subparsers)
    _add_sim(subparsers)
    _add_sage(subparsers)
    _add_fleet(subparsers)
    _add_pki(subparsers)
    _add_fuzz(subparsers)
    _add_export(subparsers)
    _add_bench(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `packline` command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
