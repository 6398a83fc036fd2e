"""A small running demo for the page tests: the real processes, as `packline demo` runs them.

Mosquitto with the production TLS listener and ACL, the Sage sandbox, the bridge as its own
process on SQLite with its HTTP API, and one station process on the simulated rig serving the
packer's screen. The bridge gets the demo's own data (`build_scenario`), so some orders are held
by the credit check with the exact messages the seeds give, and the rest are released to the
station. The allocation board listens as the demo's does, so a test knows which orders the
station holds.

Everything asynchronous runs on one event loop in a thread of its own: the tests drive the
browser through Playwright's sync API on the main thread, and reach the world through `run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import tomli_w

from edge.contract import OrderAllocated, StationId
from firmware_sim.broker import MosquittoBroker
from firmware_sim.control import RigControlClient
from firmware_sim.ports import free_port
from firmware_sim.sage import SageSandbox, SageSandboxServer
from firmware_sim.secure_site import SiteCredentials
from firmware_sim.shift.floor import BOARD_NAME, AllocationBoard
from firmware_sim.shift.scenario import Scenario, build_scenario
from firmware_sim.shift.script import apply_setup, seed_sage
from firmware_sim.shift.site import BRIDGE_INSTANCE, BridgeSite, StationSite
from firmware_sim.sim_station import SLOT_PINS

_T = TypeVar("_T")

SITE = "web"
ORDERS = 30
"""The scenario's minimum: every role (held by credit, unpaid, released) is present."""
STARTUP_S = 90.0
SETTLE_S = 45.0
"""Long enough for the station to reconnect after a broker restart (its backoff tops at 30 s)."""
ABORT_BARCODE = "PL:ABORT"


class WorldError(RuntimeError):
    """The demo world did not come up, or did not do what a test waited for."""


@dataclass
class WebWorld:
    """The running demo; build with `start`, end with `stop`."""

    directory: Path
    credentials: SiteCredentials
    station_id: StationId = field(default_factory=lambda: StationId(SITE, "st01"))
    scenario: Scenario | None = None
    broker: MosquittoBroker | None = None
    bridge: BridgeSite | None = None
    station: StationSite | None = None
    board: AllocationBoard | None = None
    screen_port: int = 0
    viewer_token: str = ""
    used_orders: set[str] = field(default_factory=set)
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _thread: threading.Thread | None = None
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    _control: RigControlClient | None = None

    # -- the loop --------------------------------------------------------------------------------

    def run(self, job: Coroutine[Any, Any, _T], timeout: float = 60.0) -> _T:
        """Run `job` on the world's loop and wait for its result."""
        future: Future[_T] = asyncio.run_coroutine_threadsafe(job, self._loop)
        return future.result(timeout)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self.run(self._start(), timeout=STARTUP_S)
        except BaseException:
            self.stop()
            raise
        self.viewer_token = self._create_viewer_token()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self._stack.aclose(), timeout=60.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10.0)

    # -- building it -----------------------------------------------------------------------------

    async def _start(self) -> None:
        stack = self._stack
        self.broker = stack.enter_context(
            self.credentials.broker(bridge_instances=[BRIDGE_INSTANCE], readers=[BOARD_NAME])
        )
        self.scenario = build_scenario(orders=ORDERS, stations=[self.station_id.client_id], seed=3)
        sandbox = SageSandbox()
        sage_server = await stack.enter_async_context(SageSandboxServer(sandbox))
        seed_sage(sandbox, self.scenario)
        self.bridge = BridgeSite.create(
            self.directory / "bridge",
            database_url=None,
            broker_link=self.credentials.bridge_link(BRIDGE_INSTANCE, self.broker.tls_url),
            insecure=False,
            stations=self.scenario.slot_maps,
            sandbox_url=sage_server.url,
            sandbox=sandbox,
        )
        await self.bridge.process.start()
        stack.push_async_callback(self.bridge.process.stop)
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=self.bridge.api_url,
                headers={"Authorization": f"Bearer {self.bridge.token}"},
                timeout=30.0,
            )
        )
        await self._until_api(api)
        await apply_setup(api, self.scenario)
        self.station = StationSite.create(
            self.directory / "stations",
            self.station_id,
            self.credentials.station_link(self.station_id, self.broker.tls_url),
            insecure=False,
        )
        self.screen_port = _add_screen(self.station.state_dir / "station.toml")
        await self.station.process.start()
        stack.push_async_callback(self.station.process.stop)
        self.board = AllocationBoard(
            [self.station_id],
            self.broker.host,
            self.broker.tls_port,
            self.credentials.credentials(BOARD_NAME, "bridge").tls_context(),
        )
        board_task = asyncio.create_task(self.board.run())
        stack.push_async_callback(_cancel, board_task)
        self._control = await self._connect_control()
        stack.push_async_callback(self._control.close)
        await self._until_screen()
        await self.until(lambda: len(self.open_orders()) >= 3, "three orders at the station")

    async def _until_api(self, api: httpx.AsyncClient) -> None:
        assert self.bridge is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.bridge.process.check_alive()
            with contextlib.suppress(httpx.TransportError):
                if (await api.get("/orders", params={"limit": 1})).status_code == 200:
                    return
            await asyncio.sleep(0.2)
        raise WorldError(f"the bridge's API did not come up:\n{self.bridge.process.log_tail()}")

    async def _connect_control(self) -> RigControlClient:
        assert self.station is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.station.process.check_alive()
            port = self.station.control_port()
            if port is not None:
                with contextlib.suppress(OSError):
                    return await RigControlClient.connect("127.0.0.1", port, timeout=10.0)
            await asyncio.sleep(0.2)
        raise WorldError(f"the station's rig did not start:\n{self.station.process.log_tail()}")

    async def _until_screen(self) -> None:
        assert self.station is not None
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=5.0) as client:
            while time.monotonic() < deadline:
                self.station.process.check_alive()
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.screen_url}/api/state")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise WorldError(f"the station's screen did not answer:\n{self.station.process.log_tail()}")

    def _create_viewer_token(self) -> str:
        """A viewer token made the way an operator makes one: `packline bridge token create`."""
        assert self.bridge is not None
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "edge.cli",
                "bridge",
                "token",
                "create",
                "--config",
                str(self.bridge.directory / "bridge.toml"),
                "--name",
                "floor-manager",
                "--role",
                "viewer",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if completed.returncode != 0:
            raise WorldError(f"token create failed: {completed.stderr}")
        return completed.stdout.strip()

    # -- what the tests use ----------------------------------------------------------------------

    @property
    def screen_url(self) -> str:
        return f"http://127.0.0.1:{self.screen_port}"

    @property
    def dashboard_url(self) -> str:
        assert self.bridge is not None
        return f"{self.bridge.api_url}/dashboard/"

    @property
    def control(self) -> RigControlClient:
        assert self._control is not None
        return self._control

    def open_orders(self) -> list[OrderAllocated]:
        assert self.board is not None
        return self.board.open_orders(self.station_id.client_id)

    def take_order(self, timeout: float = 20.0) -> OrderAllocated:
        """An order the station holds that no test has used yet (the bridge may still be
        releasing some when a test runs first)."""
        deadline = time.monotonic() + timeout
        while True:
            for order in self.open_orders():
                if order.order_id not in self.used_orders:
                    self.used_orders.add(order.order_id)
                    return order
            if time.monotonic() > deadline:
                raise WorldError(
                    f"no unused order left at the station after {timeout} s "
                    f"({len(self.used_orders)} used by earlier tests)"
                )
            time.sleep(0.1)

    def scan(self, text: str, symbology: str) -> None:
        self.run(self.control.scan(text, symbology))

    def scan_item(self, gtin: str) -> None:
        """Scan as the product's barcode reads: EAN-13 for a GTIN-14 with a leading zero,
        otherwise GS1-128 with the GTIN's application identifier."""
        full = gtin.zfill(14)
        if full.startswith("0"):
            self.scan(full[1:], "]E0")
        else:
            self.scan(f"01{full}", "]C1")

    def press_slot(self, slot: str) -> None:
        self.run(self.control.press(SLOT_PINS[slot][1], seconds=0.08))

    def slot_lit(self, slot: str, look_s: float = 1.2) -> bool:
        """Whether the slot's LED pin is high at any moment of a look longer than a blink."""

        async def look() -> bool:
            pin = f"GPIO{SLOT_PINS[slot][0]}"
            deadline = time.monotonic() + look_s
            while time.monotonic() < deadline:
                if (await self.control.lit()).get(pin, False):
                    return True
                await asyncio.sleep(0.05)
            return False

        return self.run(look())

    def printed(self) -> list[dict[str, Any]]:
        return self.run(self.control.printed())

    def screen_state(self) -> dict[str, Any]:
        response = httpx.get(f"{self.screen_url}/api/state", timeout=5.0)
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state

    def leave_idle(self, timeout: float = SETTLE_S) -> None:
        """Bring the station back to idle and online, as a packer would after any test.

        A broker a test stopped is started again, a label being printed is let finish, and an
        order still open is aborted with the abort barcode. Run before and after each screen
        test, so no test depends on the one before it, and one failure never leaves an open
        order or a dead broker for the next. The outbox is not waited on: after a broker restart
        it can take up to the uplink's ack stall (a minute) to drain, and no test needs it empty.
        """
        assert self.broker is not None
        if not self.broker.running:
            self.start_broker()
        wait_until(lambda: self.screen_state()["link"]["online"], "the station online", timeout)
        wait_until(
            lambda: self.screen_state()["phase"] != "labelling", "the label to finish", timeout
        )
        if self.screen_state()["order"] is not None:
            self.scan(ABORT_BARCODE, "]C0")
            wait_until(lambda: self.screen_state()["order"] is None, "the order aborted", timeout)

    def kill_broker(self) -> None:
        assert self.broker is not None
        self.broker.kill()

    def start_broker(self) -> None:
        assert self.broker is not None
        self.broker.start()

    async def until(self, condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise WorldError(f"timed out after {seconds} s waiting for {what}")
            await asyncio.sleep(0.1)


def _add_screen(config: Path) -> int:
    """Give the station.toml a `[screen]` on a free loopback port; return the port."""
    document = tomllib.loads(config.read_text())
    port = free_port()
    document["screen"] = {"host": "127.0.0.1", "port": port}
    config.write_bytes(tomli_w.dumps(document).encode())
    return port


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll `condition` from a test (the main thread) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise WorldError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
