"""The station's fleet agent: pushed configuration, updates over TUF, and the health gate.

It sits between the uplink and the updater. Configuration documents go to `ConfigPush`, which
validates and stores them; the station restarts into an applied one when no order is open.
Update offers go to the `Updater` in a worker thread, because TUF's client is synchronous; its
fetcher reaches the bridge's release repository through this station's own MQTT connection
(`fetch` requests out, `blob` chunks in), so a station needs no other port. After a restart into
a new release the agent runs the health gate; it commits, or rolls back and restarts.

Every change of state is published at once as the retained `fleet_report`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from edge.contract import (
    ConfigDesired,
    FetchChunk,
    FetchRefused,
    FetchRequest,
    FleetReport,
    UpdateOffered,
    UpdateReport,
    UpdateRevert,
    UpdateState,
    UpdateWithdrawn,
    WireMessage,
)
from edge.fleet.config_push import ConfigPush
from edge.fleet.errors import UpdateRefused
from edge.fleet.gate import HealthGate
from edge.fleet.home import StationHome
from edge.fleet.tuf_fetch import MqttFetcher
from edge.fleet.updater import Updater
from edge.fleet.verify import VerifiedRelease, fetch_verified_release
from edge.station.uplink import Uplink, UplinkError

__all__ = ["FleetAgent", "HealthProbe", "RestartRequest"]

log = logging.getLogger("packline.station.fleet")

FleetMessage = ConfigDesired | UpdateOffered | UpdateWithdrawn | UpdateRevert
HealthProbe = Callable[[], Awaitable[dict[str, tuple[bool, str | None]]]]
"""Reads each health check: name -> (ok, detail). The station supplies it."""

_GATE_POLL_S = 0.25
_IDLE_POLL_S = 0.25
_SEND_TIMEOUT_S = 15.0
_FETCH_GIVE_UP_S = 120.0
"""A download that makes no progress this long fails (retryable: the offer is tried again)."""


class RestartRequest:
    """Why the station should restart, and whether it must wait for the packer to be idle."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reason = ""
        self.when_idle = True

    def request(self, reason: str, *, when_idle: bool) -> None:
        if self.event.is_set():
            self.when_idle = self.when_idle and when_idle
            return
        self.reason = reason
        self.when_idle = when_idle
        self.event.set()


class _UplinkTransport:
    """`BlobTransport` for the TUF fetcher: sends a request through the station's uplink.

    Called from the updater's worker thread, so it hands the send to the event loop and waits.
    """

    def __init__(self, uplink: Uplink, loop: asyncio.AbstractEventLoop) -> None:
        self._uplink = uplink
        self._loop = loop

    def send(self, request: FetchRequest) -> None:
        future = asyncio.run_coroutine_threadsafe(self._uplink.publish_now(request), self._loop)
        try:
            future.result(_SEND_TIMEOUT_S)
        except UplinkError as error:
            raise ConnectionError(str(error)) from error
        except TimeoutError as error:
            future.cancel()
            raise ConnectionError(
                f"fetch request not acknowledged in {_SEND_TIMEOUT_S} s"
            ) from error


class FleetAgent:
    """One station's fleet handling; `run` it as a task beside the station's other loops."""

    def __init__(
        self,
        *,
        config_push: ConfigPush,
        home: StationHome | None,
        software_version: str,
        running_config_version: int = 0,
        checkpoint: Callable[[UpdateState], None] | None = None,
    ) -> None:
        self._config_push = config_push
        self._home = home
        self._software_version = software_version
        self._running_config_version = running_config_version
        self._checkpoint_hook = checkpoint
        self._uplink: Uplink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fetcher: MqttFetcher | None = None
        self._updater = (
            Updater(home, fetch=self._fetch, checkpoint=self._checkpoint)
            if home is not None
            else None
        )
        self._update_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unmanaged_report: UpdateReport | None = None
        self.restart = RestartRequest()
        self.restart_now = asyncio.Event()
        """Set once a requested restart is due and allowed: the station then stops and exits."""
        self.gate_result: str | None = None

    # --- what the station reads --------------------------------------------------------------

    @property
    def update_state(self) -> UpdateState | None:
        return self._update_report().state

    @property
    def config_version(self) -> int:
        """The configuration version this process runs (an applied one waits for the restart)."""
        return self._running_config_version

    @property
    def in_trial(self) -> bool:
        return self._updater is not None and self._updater.in_trial

    def report(self) -> FleetReport:
        return FleetReport(
            at=datetime.now(UTC),
            config=self._config_push.report(),
            update=self._update_report(),
        )

    def _update_report(self) -> UpdateReport:
        if self._updater is not None:
            return self._updater.report()
        if self._unmanaged_report is not None:
            return self._unmanaged_report
        return UpdateReport(
            state="idle", running_version=self._software_version, at=datetime.now(UTC)
        )

    # --- wiring ------------------------------------------------------------------------------

    def attach(self, uplink: Uplink) -> None:
        """Give the agent the station's uplink (for reports and the fetcher's requests)."""
        self._uplink = uplink

    def publish_report(self) -> None:
        if self._uplink is not None:
            self._uplink.publish_latest(self.report())

    async def run(
        self,
        *,
        probe: HealthProbe,
        is_idle: Callable[[], bool],
    ) -> None:
        """Publish the report, finish an interrupted update, run the health gate when on trial."""
        self._loop = asyncio.get_running_loop()
        self.publish_report()
        if self._updater is not None:
            if self._updater.in_trial:
                await self._run_gate(probe)
            else:
                async with self._update_lock:
                    restart = await asyncio.to_thread(self._updater.resume)
                self.publish_report()
                if restart:
                    self.restart.request("resumed update installed", when_idle=True)
        await self._wait_for_restart_moment(is_idle)

    async def _run_gate(self, probe: HealthProbe) -> None:
        updater = self._updater
        assert updater is not None
        gate = HealthGate(float(updater.health_deadline_s), clock=time.monotonic)
        log.info("health gate: the new release has %d s to prove itself", updater.health_deadline_s)
        while True:
            for name, (ok, detail) in (await probe()).items():
                gate.observe(name, ok, detail)
            verdict = gate.verdict(time.monotonic())
            if verdict.passed:
                await asyncio.to_thread(updater.commit)
                self.gate_result = "passed"
                log.info("health gate passed; release committed")
                self.publish_report()
                return
            if verdict.failed:
                reason = verdict.reason or "health gate failed"
                self.gate_result = f"failed: {reason}"
                log.error("health gate failed: %s; rolling back", reason)
                await asyncio.to_thread(updater.roll_back, "health_gate", reason)
                self.publish_report()
                self.restart.request(f"rolled back: {reason}", when_idle=False)
                return
            await asyncio.sleep(_GATE_POLL_S)

    async def _wait_for_restart_moment(self, is_idle: Callable[[], bool]) -> None:
        """Return (ending the station run) once a restart is due and allowed; else wait forever."""
        while True:
            await self.restart.event.wait()
            # Not while an update runs either: its download needs the connection, and its steps
            # are redone after a restart only at the cost of starting the download again.
            while self._tasks or (  # noqa: ASYNC110 - polls the workflow
                self.restart.when_idle and not is_idle()
            ):
                await asyncio.sleep(_IDLE_POLL_S)
            log.info("restarting: %s", self.restart.reason)
            self.restart_now.set()
            return

    # --- messages from the bridge ------------------------------------------------------------

    async def on_message(self, message: WireMessage) -> bool:
        """Handle a fleet message; False when it is not one (the station handles it then)."""
        if isinstance(message, FetchChunk | FetchRefused):
            if self._fetcher is not None:
                self._fetcher.deliver(message)
            return True
        if isinstance(message, ConfigDesired):
            self._on_config(message)
            return True
        if isinstance(message, UpdateOffered | UpdateWithdrawn | UpdateRevert):
            await self._on_update(message)
            return True
        return False

    def _on_config(self, desired: ConfigDesired) -> None:
        outcome = self._config_push.apply(desired)
        log.info("configuration v%d: %s", desired.version, outcome)
        self.publish_report()
        if outcome.applied:
            self.restart.request(f"configuration v{desired.version} applied", when_idle=True)

    async def _on_update(self, message: UpdateOffered | UpdateWithdrawn | UpdateRevert) -> None:
        updater = self._updater
        if updater is None:
            if isinstance(message, UpdateOffered):
                self._unmanaged_report = UpdateReport(
                    state="refused",
                    running_version=self._software_version,
                    target_version=message.version,
                    rollout_id=message.rollout_id,
                    refusal="not_updatable",
                    reason="this station runs without a station home (no `packline station "
                    "boot --home`), so it cannot install releases",
                    at=datetime.now(UTC),
                )
                self.publish_report()
            return
        if updater.in_trial:
            log.info("%s ignored while the running release is on trial", message.type)
            return
        # In the background: a download needs this very message loop to deliver its chunks, and
        # a withdrawal waits for the running step (the updater abandons the update after it).
        task = asyncio.create_task(self._apply_update(updater, message), name="fleet-update")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply_update(
        self, updater: Updater, message: UpdateOffered | UpdateRevert | UpdateWithdrawn
    ) -> None:
        if isinstance(message, UpdateWithdrawn):
            await asyncio.to_thread(updater.withdraw, message.rollout_id)
            self.publish_report()
            return
        try:
            async with self._update_lock:
                if isinstance(message, UpdateRevert):
                    restart = await asyncio.to_thread(
                        updater.revert, message.from_version, rollout_id=message.rollout_id
                    )
                else:
                    restart = await asyncio.to_thread(updater.offer, message)
        except Exception:
            log.exception("%s failed", message.type)
            restart = False
        self.publish_report()
        if restart:
            self.restart.request(f"{message.type} needs a restart", when_idle=True)

    # --- the updater's side (worker thread) --------------------------------------------------

    def _fetch(self, target: str, installed_version: str, into: Path) -> VerifiedRelease:
        home = self._home
        uplink = self._uplink
        loop = self._loop
        if home is None or uplink is None or loop is None:
            raise UpdateRefused("download_failed", "the station's uplink is not running")
        fetcher = MqttFetcher(_UplinkTransport(uplink, loop), give_up_s=_FETCH_GIVE_UP_S)
        self._fetcher = fetcher
        try:
            return fetch_verified_release(
                tuf_dir=home.tuf_dir,
                fetcher=fetcher,
                target=target,
                installed_version=installed_version,
                into=into,
            )
        finally:
            self._fetcher = None

    def _checkpoint(self, state: UpdateState) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.publish_report)
        if self._checkpoint_hook is not None:
            self._checkpoint_hook(state)
