"""`packline demo`: a whole shift on one machine, on embedded defaults, with optional chaos.

One command starts Mosquitto (or uses `--broker`), the Sage sandbox, the cloud bridge as its own
process on a temporary SQLite database (or `--db`), K station processes on the simulated rig,
and a simulated packer per station. The demo data (`scenario.py`) exercises every rule of the
seeds. The shift ends when every order has reached its end state and everything is posted; then
the books are read from each system's own records and the invariants checked. The exit status
is 0 only if they all hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table
from sqlalchemy import Engine, func, select

from cloud_bridge.db import make_engine
from cloud_bridge.db.models import OrderState, Posting, PostingState, SalesOrder, Shipment
from cloud_bridge.posting.connection import open_client
from cloud_bridge.posting.reconcile import reconcile
from cloud_bridge.posting.settings import SageSettings
from edge.contract import StationId
from firmware_sim.broker import MosquittoBroker
from firmware_sim.netproxy import PartitionProxy
from firmware_sim.packer import MistakePlan, PackResult
from firmware_sim.sage import SageSandbox, SageSandboxServer
from firmware_sim.secure_site import SiteCredentials
from firmware_sim.shift.books import FINAL_STATES, ShiftBooks, count_orders, read_books
from firmware_sim.shift.chaos import Chaos, ChaosTargets
from firmware_sim.shift.floor import BOARD_NAME, AllocationBoard, StationPacker
from firmware_sim.shift.pages import PagesReport, StationPages, check_pages, export_twice
from firmware_sim.shift.scenario import Scenario, build_scenario
from firmware_sim.shift.script import ShiftScript, apply_setup, order_states, seed_sage
from firmware_sim.shift.secret_scan import collect_site_secrets, find_leaks
from firmware_sim.shift.site import BRIDGE_INSTANCE, BridgeSite, StationSite

__all__ = ["ShiftError", "ShiftOptions", "run_shift"]

log = logging.getLogger(__name__)

SITE = "demo"
QUIET_S = 4.0
"""Nothing may change for this long before the shift counts as over."""


class ShiftError(RuntimeError):
    """The shift could not run (a process died, the setup was refused, it never finished)."""


@dataclass(frozen=True)
class ShiftOptions:
    """What `packline demo` was asked for."""

    orders: int = 200
    stations: int = 3
    chaos: frozenset[str] = frozenset()
    seed: int = 1
    as_json: bool = False
    broker_url: str | None = None
    db_url: str | None = None
    mistake_rate: float = 0.05
    time_limit_s: float | None = None
    work_dir: Path | None = None
    """Keep every config, database and log here instead of a temporary directory."""

    def limit(self) -> float:
        """How long the shift may take before it is called stuck."""
        if self.time_limit_s is not None:
            return self.time_limit_s
        # A packer takes about 5 to 8 s an order (lights blink, so each look lasts 0.65 s);
        # twice that, plus the auto queue's one-minute retry of paid prepayment orders.
        return 180.0 + self.orders * 15.0 / max(self.stations, 1) + (300 if self.chaos else 0)


@dataclass
class _Progress:
    started: float = field(default_factory=time.monotonic)
    packed: int = 0
    shipping: float = 0.0
    """The share of the orders meant to ship that have shipped."""
    states: Counter[str] = field(default_factory=Counter)
    pending_postings: int = 0

    def finished(self, orders: int) -> int:
        return sum(self.states.get(name, 0) for name in FINAL_STATES.values())


@dataclass(frozen=True)
class _BrokerLink:
    """Where the shift's broker listens, and the site credentials when it is ours (TLS)."""

    host: str
    port: int
    broker: MosquittoBroker | None
    credentials: SiteCredentials | None
    """None only with ``--broker URL``: a plain loopback broker, run with ``--insecure``."""

    def url(self, port: int) -> str:
        scheme = "mqtts" if self.credentials is not None else "mqtt"
        return f"{scheme}://{self.host}:{port}"

    def station_link(self, station_id: StationId, port: int) -> dict[str, Any]:
        if self.credentials is None:
            return {"url": self.url(port)}
        return self.credentials.station_link(station_id, self.url(port))

    def bridge_link(self) -> dict[str, Any]:
        if self.credentials is None:
            return {"url": self.url(self.port)}
        return self.credentials.bridge_link(BRIDGE_INSTANCE, self.url(self.port))

    def board_tls(self) -> ssl.SSLContext | None:
        if self.credentials is None:
            return None
        return self.credentials.credentials(BOARD_NAME, "bridge").tls_context()


@contextlib.contextmanager
def _broker(url: str | None, folder: Path) -> Iterator[_BrokerLink]:
    """The demo's own Mosquitto, TLS only with the generated ACL, on a throwaway PKI."""
    if url is not None:
        parsed = urlparse(url)
        if parsed.scheme not in {"mqtt", "tcp"} or not parsed.hostname:
            raise ShiftError(f"--broker: expected mqtt://HOST:PORT, got {url!r}")
        yield _BrokerLink(parsed.hostname, parsed.port or 1883, None, None)
        return
    credentials = SiteCredentials.create(folder / "pki")
    with credentials.broker(bridge_instances=[BRIDGE_INSTANCE], readers=[BOARD_NAME]) as broker:
        yield _BrokerLink(broker.host, broker.tls_port, broker, credentials)


_PAGES_PATIENCE_S = 20.0
"""How long the page checks may retry while a process the chaos restarted opens its ports."""


@contextlib.contextmanager
def _folder(work_dir: Path | None) -> Iterator[Path]:
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        yield work_dir
        return
    with tempfile.TemporaryDirectory(prefix="packline-shift-") as folder:
        yield Path(folder)


def run_shift(options: ShiftOptions, console: Console | None = None) -> int:
    """Run the shift; print the summary (and the JSON line); 0 if every invariant holds."""
    out = console or Console()
    if options.orders < 1 or options.stations < 1:
        raise ShiftError("--orders and --stations must each be at least 1")
    logging.basicConfig(level=logging.WARNING)
    # The Sage sandbox runs in this process; a reply it drops on purpose is not news here.
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    with (
        _folder(options.work_dir) as folder,
        _broker(options.broker_url, folder) as link,
    ):
        floor = _Floor(options, folder, link.host, link.port, link.broker, link, out)
        books = asyncio.run(_shift(floor))
        secrets = collect_site_secrets(folder)
        books.secrets_checked = len(secrets)
        books.secret_leaks = find_leaks(folder, secrets)
    _print_summary(out, books, options)
    broken = books.broken_invariants()
    if broken:
        out.print("[bold red]Invariants broken:[/]")
        for line in broken:
            out.print(f"  - {line}")
    else:
        out.print("[bold green]Every invariant holds.[/]")
    if options.as_json:
        out.file.flush()
        print(json.dumps(books.as_json(), sort_keys=True), flush=True)
    return 1 if broken else 0


@dataclass
class _Floor:
    """Everything the shift runs on, gathered as it is started."""

    options: ShiftOptions
    folder: Path
    host: str
    port: int
    broker: MosquittoBroker | None
    link: _BrokerLink
    out: Console
    stations: dict[str, StationSite] = field(default_factory=dict)
    proxies: dict[str, PartitionProxy] = field(default_factory=dict)


async def _shift(floor: _Floor) -> ShiftBooks:
    options, folder, host, port = floor.options, floor.folder, floor.host, floor.port
    station_ids = [StationId(SITE, f"st{number:02d}") for number in range(1, options.stations + 1)]
    scenario = build_scenario(
        orders=options.orders,
        stations=[station.client_id for station in station_ids],
        seed=options.seed,
    )
    sandbox = SageSandbox()
    async with SageSandboxServer(sandbox) as sage_server:
        seed_sage(sandbox, scenario)
        bridge = BridgeSite.create(
            folder / "bridge",
            database_url=options.db_url,
            broker_link=floor.link.bridge_link(),
            insecure=floor.link.credentials is None,
            stations=scenario.slot_maps,
            sandbox_url=sage_server.url,
            sandbox=sandbox,
        )
        engine = make_engine(bridge.database_url)
        async with contextlib.AsyncExitStack() as stack:
            await bridge.process.start()
            stack.push_async_callback(bridge.process.stop)
            api = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=bridge.api_url,
                    headers={"Authorization": f"Bearer {bridge.token}"},
                    timeout=30.0,
                )
            )
            await _wait_for_api(api, bridge)
            await apply_setup(api, scenario)
            proxies = floor.proxies
            stations = floor.stations
            for station_id in station_ids:
                proxy = await stack.enter_async_context(PartitionProxy(host, port))
                proxies[station_id.client_id] = proxy
                site = StationSite.create(
                    folder / "stations",
                    station_id,
                    floor.link.station_link(station_id, proxy.port),
                    insecure=floor.link.credentials is None,
                )
                stations[site.name] = site
                await site.process.start()
                stack.push_async_callback(site.process.stop)
            _print_pages(floor.out, bridge, stations)
            books = await _work_the_shift(floor, _Systems(scenario, bridge, sandbox, engine, api))
            await _all_up(bridge, stations)
            pages = await _check_pages(bridge, stations, engine)
            for site in stations.values():
                await site.process.stop()
            await bridge.process.stop()
        settings = SageSettings.model_validate_json(
            json.dumps(_sage_settings_document(bridge, sage_server.url, sandbox))
        )
        async with open_client(settings) as client:
            result = await reconcile(_sessions(engine), client)
        final = read_books(
            engine, {name: site.state_dir for name, site in stations.items()}, sandbox
        )
        final.faults = books.faults
        final.seconds = books.seconds
        final.reconcile_differences = len(result.differences)
        final.reconcile_lines = result.lines()
        final.not_as_expected = _not_as_expected(scenario, order_states(engine))
        final.screens_answered = pages.screens_answered
        final.page_problems = pages.problems
        exported = export_twice(bridge.database_url, folder / "export")
        final.export_rows = dict(exported.first)
        final.export_repeat_rows = sum(exported.second.values())
        engine.dispose()
        return final


async def _check_pages(
    bridge: BridgeSite, stations: dict[str, StationSite], engine: Engine
) -> PagesReport:
    """The screens, the dashboard and /metrics against the books; a process the chaos just
    restarted gets a few seconds to open its ports."""
    counts, _pending, shipments = _snapshot(engine)
    held = counts.get("credit_held", 0) + counts.get("prepayment_held", 0)
    orders = sum(count for state, count in counts.items() if state != "(at a station)")
    deadline = time.monotonic() + _PAGES_PATIENCE_S
    while True:
        report = await check_pages(
            api_url=bridge.api_url,
            viewer_token=bridge.viewer_token,
            stations=[
                StationPages(site.name, site.screen_port, site.metrics_port)
                for site in stations.values()
            ],
            orders=orders,
            credit_holds=held,
            shipments=shipments,
        )
        if not report.problems or time.monotonic() > deadline:
            return report
        await asyncio.sleep(1.0)


def _not_as_expected(scenario: Scenario, states: dict[str, str]) -> list[str]:
    """Orders that did not end as the data says they must."""
    expected = scenario.expected
    wrong = []
    for order_no, state in sorted(states.items()):
        if order_no in expected.credit_held:
            wanted = {OrderState.HELD_CREDIT.value}
        elif order_no in expected.prepayment_held:
            wanted = {OrderState.HELD_PREPAYMENT.value}
        elif order_no in expected.cancelled:
            wanted = {OrderState.CANCELLED.value}
        else:
            wanted = {OrderState.SHIPPED.value, OrderState.PARTIALLY_SHIPPED.value}
        if state not in wanted:
            wrong.append(f"{order_no} is {state}, expected {' or '.join(sorted(wanted))}")
    return wrong


def _sessions(engine: Engine) -> Any:
    from cloud_bridge.db import session_factory

    return session_factory(engine)


def _sage_settings_document(bridge: BridgeSite, sandbox_url: str, sandbox: SageSandbox) -> Any:
    directory = bridge.directory
    return {
        "environment": "test",
        "client_id": "packline-shift",
        "client_secret_file": str(directory / "sage-client-secret"),
        "base_url": f"{sandbox_url}/v3.1",
        "token_url": f"{sandbox_url}/oauth/token",
        "requests_per_minute": 0,
        "test": {
            "business_id": sandbox.business_id("test"),
            "token_file": str(directory / "sage-test-tokens.json"),
        },
    }


async def _wait_for_api(api: httpx.AsyncClient, bridge: BridgeSite) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        bridge.process.check_alive()
        with contextlib.suppress(httpx.TransportError):
            if (await api.get("/orders", params={"limit": 1})).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise ShiftError(f"the bridge's API did not come up in 60 s:\n{bridge.process.log_tail()}")


@dataclass(frozen=True)
class _Systems:
    """The data and the systems the shift talks to."""

    scenario: Scenario
    bridge: BridgeSite
    sandbox: SageSandbox
    engine: Engine
    api: httpx.AsyncClient


async def _work_the_shift(floor: _Floor, systems: _Systems) -> ShiftBooks:
    options, stations, proxies, broker = (
        floor.options,
        floor.stations,
        floor.proxies,
        floor.broker,
    )
    scenario, bridge, sandbox, engine, api = (
        systems.scenario,
        systems.bridge,
        systems.sandbox,
        systems.engine,
        systems.api,
    )
    progress = _Progress()
    board = AllocationBoard(
        [site.station_id for site in stations.values()],
        floor.host,
        floor.port,
        floor.link.board_tls(),
    )
    rng = random.Random(options.seed)
    rate = options.mistake_rate
    mistakes = MistakePlan(wrong_slot=rate, wrong_item=rate, shortage=rate / 2)

    def packed(_station: str, _result: PackResult) -> None:
        progress.packed += 1

    async def still_here(station: str, order_id: str) -> bool:
        return await asyncio.to_thread(_order_at_station, engine, order_id, station)

    packers = [
        StationPacker(
            site.station_id,
            site.state_dir,
            board,
            mistakes=mistakes,
            seed=rng.randrange(1 << 30),
            on_packed=packed,
            still_here=still_here,
        )
        for site in stations.values()
    ]

    async def restart_broker() -> None:
        assert broker is not None
        await asyncio.to_thread(broker.kill)
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        await asyncio.to_thread(broker.start)

    script = ShiftScript(scenario, api, engine, sandbox)

    async def crash_bridge() -> None:
        async with script.calls:
            await bridge.process.kill()
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        await bridge.process.start()

    async def crash_station(name: str) -> None:
        await stations[name].restart()

    async def partition(name: str, seconds: float) -> None:
        proxies[name].partition()
        try:
            await asyncio.sleep(seconds)
        finally:
            proxies[name].heal()

    chaos = Chaos(
        options.chaos,
        ChaosTargets(
            restart_broker=restart_broker if broker is not None else None,
            crash_bridge=crash_bridge,
            crash_station=crash_station,
            partition=partition,
            control_port=lambda name: stations[name].control_port(),
            stations=sorted(stations),
            sandbox=sandbox,
        ),
        rng=random.Random(options.seed * 7919),
    )
    async with _running(board.run(), *(packer.run() for packer in packers)):
        chaos_task = asyncio.create_task(chaos.run())
        try:
            await _until_done(floor, systems, progress, chaos, chaos_task, script)
        finally:
            chaos_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await chaos_task
    books = ShiftBooks()
    books.faults = dict(chaos.injected)
    books.seconds = round(time.monotonic() - progress.started, 1)
    return books


@contextlib.asynccontextmanager
async def _running(*jobs: Any) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _order_at_station(engine: Engine, order_id: str, station: str) -> bool:
    with engine.connect() as connection:
        row = connection.execute(
            select(SalesOrder.station_id).where(SalesOrder.order_no == order_id)
        ).first()
    return row is not None and row[0] == station


def _snapshot(engine: Engine) -> tuple[Counter[str], int, int]:
    """Orders by state, postings still pending, and shipments, read from the bridge."""
    counts = count_orders(engine)
    with engine.connect() as connection:
        pending = connection.execute(
            select(func.count()).select_from(Posting).where(Posting.state == PostingState.PENDING)
        ).scalar_one()
        shipments = connection.execute(select(func.count()).select_from(Shipment)).scalar_one()
        at_stations = connection.execute(
            select(func.count()).select_from(SalesOrder).where(SalesOrder.station_id.is_not(None))
        ).scalar_one()
    counts["(at a station)"] = at_stations
    return counts, pending, shipments


async def _until_done(  # noqa: PLR0917 - the shift's parts, each used
    floor: _Floor,
    systems: _Systems,
    progress: _Progress,
    chaos: Chaos,
    chaos_task: asyncio.Task[None],
    script: ShiftScript,
) -> None:
    options, stations, out = floor.options, floor.stations, floor.out
    bridge, engine = systems.bridge, systems.engine
    deadline = progress.started + options.limit()
    quiet_since: float | None = None
    last: tuple[Any, ...] | None = None
    with Live(console=out, refresh_per_second=4, transient=options.as_json) as live:
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            if not chaos_task.done():
                bridge.process.check_alive()
                for site in stations.values():
                    site.process.check_alive()
            counts, pending, shipments = await asyncio.to_thread(_snapshot, engine)
            states = await asyncio.to_thread(order_states, engine)
            progress.states = counts
            progress.pending_postings = pending
            progress.shipping = script.progress(states)
            finished = progress.finished(options.orders)
            await script.advance(states)
            live.update(_progress_table(options, progress, chaos, shipments, now))
            if progress.shipping >= 0.9 and not chaos_task.done():
                chaos_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await chaos_task
                await _all_up(bridge, stations)
            settled = (
                chaos_task.done()
                and script.done
                and progress.shipping >= 1.0
                and finished == options.orders
                and counts.get("(at a station)", 0) == 0
                and pending == 0
            )
            state = (tuple(sorted(counts.items())), pending, shipments)
            if settled and state == last:
                quiet_since = quiet_since or now
                if now - quiet_since >= QUIET_S:
                    return
            else:
                quiet_since = None
            last = state
            if now > deadline:
                out.print(
                    f"[bold red]The shift did not settle in {options.limit():.0f} s[/]: "
                    f"{dict(counts)}, {pending} posting(s) pending; counting the books as they are"
                )
                return


async def _all_up(bridge: BridgeSite, stations: dict[str, StationSite]) -> None:
    """After the chaos: every process running again."""
    if not bridge.process.running:
        await bridge.process.start()
    for site in stations.values():
        if not site.process.running:
            await site.process.start()


def _progress_table(
    options: ShiftOptions, progress: _Progress, chaos: Chaos, shipments: int, now: float
) -> Table:
    elapsed = max(now - progress.started, 0.001)
    finished = progress.finished(options.orders)
    table = Table(title=f"Packline shift: {options.orders} orders, {options.stations} stations")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("orders done", f"{finished} / {options.orders}")
    table.add_row("orders to ship, shipped", f"{progress.shipping:.0%}")
    table.add_row("rate", f"{finished / elapsed * 60:.1f} orders/min")
    table.add_row("shipments", str(shipments))
    held = progress.states.get("credit_held", 0) + progress.states.get("prepayment_held", 0)
    table.add_row("held (credit, prepayment)", str(held))
    table.add_row("at stations", str(progress.states.get("(at a station)", 0)))
    table.add_row("Sage postings pending", str(progress.pending_postings))
    faults = ", ".join(f"{kind} {count}" for kind, count in sorted(chaos.injected.items()))
    table.add_row("faults injected", faults or "none")
    table.add_row("elapsed", f"{elapsed:.0f} s")
    return table


def _print_pages(out: Console, bridge: BridgeSite, stations: dict[str, StationSite]) -> None:
    """Where to watch the shift: each packer's screen, and the manager's dashboard."""
    for site in stations.values():
        out.print(f"Packer's screen of {site.name}: http://127.0.0.1:{site.screen_port}/")
    out.print(
        f"Manager's dashboard: {bridge.api_url}/dashboard/ "
        f"(sign in with the viewer token in {bridge.directory / 'viewer-token'})"
    )


def _print_summary(out: Console, books: ShiftBooks, options: ShiftOptions) -> None:
    table = Table(title="End of shift")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in books.as_json().items():
        if key == "faults":
            continue
        table.add_row(key, str(value))
    out.print(table)
    if books.faults:
        faults = Table(title="Faults injected")
        faults.add_column("fault")
        faults.add_column("times", justify="right")
        for kind, count in sorted(books.faults.items()):
            faults.add_row(kind, str(count))
        out.print(faults)
    elif options.chaos:
        out.print("No fault was injected (the shift ended before the first one).")
