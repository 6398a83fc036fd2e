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
    from firmware_sim.bench import BenchPlan, run_bench

    plan = BenchPlan(
        rounds=args.rounds,
        orders=args.orders,
        kills=args.kills,
        replay_events=args.replay_events,
        bridge_lines=args.bridge_lines,
        bridge_skus=args.bridge_skus,
        ingest_events=args.ingest_events,
        sage_postings=args.sage_postings,
    )
    return run_bench(plan, as_json=args.json)


def _run_demo(args: argparse.Namespace) -> int:
    from firmware_sim.demo import run_demo

    return run_demo(broker_url=args.broker)


def _run_station(args: argparse.Namespace) -> int:
    from edge.station.main import run_station

    return run_station(
        config_path=args.config, sim=args.sim, sim_control_port=args.sim_control_port
    )


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
    run.set_defaults(handler=_run_station)


def _run_bridge(args: argparse.Namespace) -> int:
    from cloud_bridge.main import run_bridge

    return run_bridge(config_path=args.config)


def _add_bridge(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bridge = subparsers.add_parser("bridge", help="run the cloud bridge")
    bridge_sub = bridge.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = bridge_sub.add_parser("run", help="run one bridge instance from its bridge.toml")
    run.add_argument("--config", type=Path, required=True, help="path to bridge.toml")
    run.set_defaults(handler=_run_bridge)


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
    bench = subparsers.add_parser(
        "bench", help="measure the drivers against baselines taken in the same run"
    )
    bench.add_argument("--rounds", type=int, default=300, help="samples per measurement")
    bench.add_argument(
        "--orders", type=int, default=1000, help="orders run before reading the station's memory"
    )
    bench.add_argument(
        "--kills", type=int, default=500, help="kill -9s of a process appending to the outbox"
    )
    bench.add_argument(
        "--replay-events", type=int, default=10_000, help="events queued for the replay figure"
    )
    bench.add_argument(
        "--bridge-lines", type=int, default=100_000, help="order lines in the allocation figure"
    )
    bench.add_argument("--bridge-skus", type=int, default=10_000, help="SKUs they spread over")
    bench.add_argument(
        "--ingest-events", type=int, default=2_000, help="station events in the ingest figure"
    )
    bench.add_argument(
        "--sage-postings",
        type=int,
        default=300,
        help="shipments posted to the Sage sandbox in the posting figure",
    )
    bench.add_argument(
        "--json", action="store_true", help="end the output with one JSON object on one line"
    )
    bench.set_defaults(handler=_run_bench)


def _add_demo(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser("demo", help="run a visible pick on the simulated station")
    demo.add_argument(
        "--broker",
        default=None,
        help="MQTT broker URL (default: start a private Mosquitto on a free loopback port)",
    )
    demo.set_defaults(handler=_run_demo)


def _add_sage(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cloud_bridge.posting.cli import add_sage_commands

    add_sage_commands(subparsers)


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
