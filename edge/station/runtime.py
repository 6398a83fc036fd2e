"""The station process: the pure workflow wired to the drivers, the TinyDB state and the uplink.

One lock serialises every input, and each input is handled in the same order:

1. the workflow computes the new state and its effects;
2. the new state, the events it emits and the allocation-cache changes are written in ONE
   storage transaction (one fsync), so a power cut leaves either all of them or none;
3. only then do the lights change and the buzzer sound, so a packer never sees success for
   something that is not on disk;
4. label jobs go to the printer worker, and the uplink is woken to publish the new events.

If the outbox is full the transaction is rolled back: the packer gets an error and nothing is
recorded, rather than an event being dropped later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from tinydb import TinyDB
from tinydb.table import Document

from edge import __version__
from edge.contract import (
    DeviceStatus,
    IdentifyStation,
    OrderAllocated,
    OrderCancelled,
    ReprintLabel,
    RequestRebirth,
    StationCounters,
    StationStatus,
    WireMessage,
)
from edge.drivers.lights import PatternName, SignalName, StationLights
from edge.drivers.lights.events import ButtonEvent, ButtonRole, PressKind
from edge.drivers.printer import JobJournal, LabelPrinter
from edge.drivers.printer.config import build_transport
from edge.drivers.printer.errors import (
    JobOutcomeUnknown,
    PrinterError,
    PrinterOffline,
    StatusTimeout,
)
from edge.drivers.printer.journal import JobState
from edge.drivers.printer.labels import Address, ShippingLabel, printer_setup, render_label
from edge.drivers.scanner import BarcodeReader
from edge.station.allocations import AllocationCache
from edge.station.config import StationConfig
from edge.station.counters import DurableCounter
from edge.station.fleet_agent import FleetAgent
from edge.station.metrics import StationMetrics
from edge.station.outbox import Outbox, OutboxFull
from edge.station.scans import classify_scan
from edge.station.screen.audit import ScreenAudit
from edge.station.sscc import SsccAllocator
from edge.station.storage import JournalStorage, journal_storage_of
from edge.station.uplink import BirthInfo, Uplink
from edge.station.workflow import (
    AllocationCancelled,
    AllocationChanged,
    BadScan,
    ClearAlert,
    ConfirmPress,
    Effect,
    Emit,
    Flash,
    Input,
    ItemScan,
    LabelFailed,
    LabelPlan,
    LabelPlanned,
    LabelPrintedOk,
    LightPicture,
    NeedLabel,
    OpenOrder,
    OrderFinished,
    OrderScan,
    PrintLabel,
    ReprintDone,
    ReprintLabelJob,
    RequestReprint,
    ShortagePress,
    SlotPress,
    Sound,
    Step,
    WorkflowState,
    light_picture,
    resume,
    step,
)

__all__ = ["LastScan", "Station"]

log = logging.getLogger("packline.station")

_STATE_TABLE = "workflow"
_STATE_DOC = 1
_PRINTER_RETRY_S = 1.0
_STATUS_MIN_INTERVAL_S = 0.2
_STATUS_HEARTBEAT_S = 30.0


@dataclass(frozen=True)
class LastScan:
    """The most recent scan, as the packer's screen shows it."""

    text: str
    kind: str
    """What it read as: order, item, command or bad."""
    input: Input
    at: datetime
    seq: int
    """Counts scans since start, so a screen can tell two identical scans apart."""
    handled: Literal["pending", "recorded", "not_recorded"] = "pending"
    """Whether the workflow has taken it yet, and whether the station could record what it did
    (not when the outbox was full)."""
    alert: str | None = None
    """The kind of alert the workflow raised on it (a refusal such as ``wrong_item``), if any:
    a scan that read as an item can still be the wrong one."""


class Station:
    """One pack station: run it with `await station.run()`; cancel the task to stop it."""

    def __init__(
        self,
        config: StationConfig,
        *,
        usb_backend: Any = None,
        pin_factory: Any = None,
        config_hash: str | None = None,
        software_version: str = __version__,
        fleet: FleetAgent | None = None,
    ) -> None:
        self.config = config
        self.fleet = fleet
        self._usb_backend = usb_backend
        self._pin_factory = pin_factory
        self._config_hash = config_hash
        self._software_version = software_version
        state_dir = config.station.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self._db = TinyDB(state_dir / "station.json", storage=JournalStorage)
        self._storage = journal_storage_of(self._db)
        self.outbox = Outbox(
            self._db,
            max_events=config.outbox.max_events,
            max_bytes=config.outbox.max_bytes,
        )
        self.allocations = AllocationCache(self._db, frozenset(config.lights.slots))
        self._bd_seq = DurableCounter(state_dir / "bd_seq")
        self._sscc = SsccAllocator(state_dir / "sscc_serial", config.labels)
        self._journal = JobJournal(config.resolve(config.printer.journal))
        self.state = self._load_state()
        self._lock = asyncio.Lock()
        self._shown: LightPicture = {}
        self._lights: StationLights | None = None
        self._printer: LabelPrinter | None = None
        self._uplink: Uplink | None = None
        self._print_jobs: asyncio.Queue[Effect] = asyncio.Queue()
        self._alert_timer: asyncio.TimerHandle | None = None
        self._status_dirty = asyncio.Event()
        self.printer_state: tuple[str, str | None] = ("unknown", None)
        self.storage_alert: str | None = None
        self.rejected_allocations = 0
        """Allocations the contract accepted but this station cannot pack (an unknown slot)."""
        self.scan_counts: Counter[str] = Counter()
        """Scans since start, by what they read as: order, item, command or bad (metrics)."""
        self.printer_faults = 0
        """Times the printer went from working to fault or offline since start (metrics)."""
        self._identifying: asyncio.Task[None] | None = None
        self._identify_lit: set[str] = set()
        """Slots flashing only because the station identifies itself (no workflow light)."""
        self._printing = False
        """A label job is being planned, printed or reprinted (the status watch waits)."""
        self.screen_audit = ScreenAudit(self._db)
        self.revision = 0
        """Goes up on every change the packer's screen shows (state, lights, printer...)."""
        self._changed = asyncio.Event()
        self.last_scan: LastScan | None = None
        self.screen_url: str | None = None
        """Where the packer's screen listens, once it does (see `[screen]`)."""
        self.metrics = StationMetrics(self)
        """The station's Prometheus registry and its `/metrics` listener (see `[metrics]`)."""

    # --- lifecycle ---------------------------------------------------------------------------

    async def run(self, *, ready: Callable[[], None] | None = None) -> None:
        """Run every loop of the station until cancelled; `ready` is called once it is up."""
        config = self.config
        reader = BarcodeReader(config.scanner, backend=self._usb_backend)
        printer = LabelPrinter(
            build_transport(config.printer.connection, usb_backend=self._usb_backend),
            self._journal,
            status_timeout=config.printer.status_timeout_s,
            on_connect=printer_setup(config.labels),
        )
        self._printer = printer
        uplink = self.attach_uplink()
        try:
            async with (
                reader,
                StationLights(config.lights, pin_factory=self._pin_factory) as lights,
                printer,
                asyncio.TaskGroup() as tasks,
            ):
                self._lights = lights
                self._render_lights()
                for effect in resume(self.state):
                    self._print_jobs.put_nowait(effect)
                tasks.create_task(self._scan_loop(reader), name="scans")
                tasks.create_task(self._button_loop(lights), name="buttons")
                tasks.create_task(self._printer_loop(), name="printer")
                if printer.can_report_status:
                    tasks.create_task(
                        self._watch_printer(printer, config.printer.status_poll_s),
                        name="printer-status",
                    )
                tasks.create_task(uplink.run(), name="uplink")
                tasks.create_task(self._status_loop(), name="status")
                tasks.create_task(self.metrics.serve(config.metrics), name="metrics")
                if config.screen.enabled:
                    from edge.station.screen.server import serve_screen

                    tasks.create_task(serve_screen(self, config.screen), name="screen")
                if self.fleet is not None:
                    tasks.create_task(
                        self.fleet.run(probe=self.health_checks, is_idle=self._is_idle),
                        name="fleet",
                    )
                log.info(
                    "station %s running: phase=%s outbox_depth=%d",
                    config.station.station_id,
                    self.state.phase,
                    self.outbox.stats().depth,
                )
                if ready is not None:
                    ready()
        finally:
            if self._identifying is not None:
                self._identifying.cancel()
            if self._alert_timer is not None:
                self._alert_timer.cancel()  # its ClearAlert would write to closed storage
            self._lights = None
            self.close()

    def attach_uplink(self) -> Uplink:
        """Create the uplink that feeds the bridge's messages to this station, and keep it.

        `run` calls it; a harness that delivers messages in-process (the fuzzer) calls it instead,
        so messages take the same path, rejections and counters included, without hardware.
        """
        self._uplink = Uplink(
            self.config.station.station_id,
            self.config.broker,
            self.outbox,
            self._bd_seq,
            birth=self._birth_info,
            on_message=self._on_message,
        )
        self.metrics.attach_uplink(self._uplink)
        if self.fleet is not None:
            self.fleet.attach(self._uplink)
        return self._uplink

    @property
    def rejected_messages(self) -> int:
        """Messages from the bridge refused: by the uplink (contract, topic, ack, handler
        failure) or here (an allocation this station cannot pack); published in the status."""
        uplink = self._uplink
        return (uplink.rejected_messages if uplink is not None else 0) + self.rejected_allocations

    async def stop(self) -> None:
        """Stop cleanly: publish the death and disconnect, so the bridge sees a clean leave."""
        if self._uplink is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._uplink.stop(), 5.0)

    def close(self) -> None:
        """Release the files the station holds (the run loop calls this when it ends)."""
        with contextlib.suppress(Exception):
            self._bd_seq.close()
        with contextlib.suppress(Exception):
            self._sscc.close()
        with contextlib.suppress(Exception):
            self._db.close()

    # --- handling one input ------------------------------------------------------------------

    async def handle(
        self, item: Input, *, record: Callable[[Step], object] | None = None
    ) -> Step | None:
        """Apply one input: persist state and events together, then show the result.

        `record` is called with the workflow's result inside the same storage transaction, so
        what it writes (the screen's audit row) is on disk exactly when the state is. Returns
        the result, or None when the full outbox refused it and nothing was recorded.
        """
        async with self._lock:
            return await self._handle_locked(item, record=record)

    async def _handle_locked(
        self,
        item: Input,
        also: Callable[[], object] | None = None,
        *,
        record: Callable[[Step], object] | None = None,
    ) -> Step | None:
        result = step(self.state, item, verification=self.config.station.verification)
        try:
            with self._storage.transaction():
                if also is not None:
                    also()
                for effect in result.effects:
                    if isinstance(effect, Emit):
                        self.outbox.append(effect.event_type, **effect.fields)
                    elif isinstance(effect, OrderFinished):
                        self.allocations.finish(effect.order_id, effect.version, effect.outcome)
                if record is not None:
                    record(result)
                self._save_state(result.state)
        except OutboxFull as error:
            log.error("refused %s: %s", type(item).__name__, error)  # noqa: TRY400 - expected
            self.storage_alert = f"outbox full, nothing recorded: {error}"
            if self._lights is not None:
                self._lights.sound(SignalName.ERROR)
            self._mark_changed()
            return None
        self.storage_alert = None
        self.state = result.state
        self._show(result.effects)
        if any(isinstance(effect, Emit) for effect in result.effects) and self._uplink:
            self._uplink.notify_appended()
        for effect in result.effects:
            if isinstance(effect, NeedLabel | PrintLabel | ReprintLabelJob):
                self._print_jobs.put_nowait(effect)
        self._schedule_alert_clear()
        self._mark_changed()
        return result

    def _show(self, effects: tuple[Effect, ...]) -> None:
        lights = self._lights
        if lights is None:
            return
        for effect in effects:
            if isinstance(effect, Flash):
                for slot in effect.slots:
                    lights.show(slot, effect.pattern)
                    self._shown[slot] = (effect.pattern, None)
                    self._identify_lit.discard(slot)
        self._render_lights(keep_flashes=True)
        for effect in effects:
            if isinstance(effect, Sound):
                lights.sound(effect.signal)

    def _render_lights(self, *, keep_flashes: bool = False) -> None:
        """Make the slots show `light_picture(state)`, touching only slots that differ."""
        lights = self._lights
        if lights is None:
            return
        picture = light_picture(self.state)
        for slot in list(self._shown):
            if slot not in picture:
                if keep_flashes and self._shown[slot][0] is PatternName.DONE:
                    continue
                lights.off(slot)
                del self._shown[slot]
        for slot, (pattern, quantity) in picture.items():
            if self._shown.get(slot) != (pattern, quantity):
                lights.show(slot, pattern, quantity=quantity)
                self._shown[slot] = (pattern, quantity)
                self._identify_lit.discard(slot)
        self.notify_change()

    def _schedule_alert_clear(self) -> None:
        if self._alert_timer is not None:
            self._alert_timer.cancel()
            self._alert_timer = None
        if self.state.alert is None:
            return
        loop = asyncio.get_running_loop()
        self._alert_timer = loop.call_later(
            self.config.station.alert_seconds,
            lambda: loop.create_task(self.handle(ClearAlert())),
        )

    # --- inputs from the hardware ------------------------------------------------------------

    async def _scan_loop(self, reader: BarcodeReader) -> None:
        async for scan in reader.scans():
            item = classify_scan(scan.text, scan.symbology, self.allocations.lookup)
            kind = _scan_kind(item)
            self.scan_counts[kind] += 1
            seq = self.last_scan.seq + 1 if self.last_scan is not None else 1
            scanned = LastScan(scan.text, kind, item, datetime.now(UTC), seq)
            self.last_scan = scanned
            log.info("scan %r -> %s", scan.text, type(item).__name__)

            def judged(result: Step, scanned: LastScan = scanned) -> None:
                alert = None if result.state.alert is None else result.state.alert.kind
                self.last_scan = replace(scanned, handled="recorded", alert=alert)

            if await self.handle(item, record=judged) is None:
                self.last_scan = replace(scanned, handled="not_recorded")

    async def _button_loop(self, lights: StationLights) -> None:
        async for event in lights.events():
            item = _button_input(event)
            if item is not None:
                await self.handle(item)

    # --- the printer -------------------------------------------------------------------------

    async def _printer_loop(self) -> None:
        while True:
            job = await self._print_jobs.get()
            self._printing = True
            try:
                if isinstance(job, NeedLabel):
                    await self._plan_label(job.order)
                elif isinstance(job, PrintLabel):
                    await self._print(job)
                elif isinstance(job, ReprintLabelJob):
                    await self._reprint(job)
            finally:
                self._printing = False

    async def _watch_printer(self, printer: LabelPrinter, interval: float) -> None:
        """Read the printer's status now, then every `interval` seconds while no job runs.

        Without it the printer's state is unknown until the first label, and a packer would
        pick a whole order for a printer that is out of paper. A label job reads the status
        itself (before and after sending) and sets the state from that, so the watch skips its
        turn while a job is queued or running; `LabelPrinter`'s lock serialises the transport,
        so a read already under way when a job arrives finishes before the job's first byte.
        """
        while True:
            if not self._printing and self._print_jobs.empty():
                await self._read_printer_status(printer)
            await asyncio.sleep(interval)

    async def _read_printer_status(self, printer: LabelPrinter) -> None:
        """Set `printer_state` from one `~HS`: its faults in words, offline, or ok."""
        try:
            status = await printer.status()
            status.raise_for_fault(printer.description)
        except PrinterError as error:
            self._set_printer("offline" if _is_offline(error) else "fault", str(error))
            return
        if self.printer_state[0] != "ok":
            self._set_printer("ok", None)

    async def _plan_label(self, order: OpenOrder) -> None:
        if order.label is not None:
            await self.handle(LabelPlanned(order.label))
            return
        sscc = self._sscc.next()
        delivery = order.delivery
        plan = LabelPlan(
            label_id=f"L{sscc}",
            sscc=sscc,
            carrier=delivery.carrier if delivery else self.config.station.default_carrier,
            tracking_number=(delivery.tracking_number if delivery else None) or sscc,
        )
        await self.handle(LabelPlanned(plan))

    def _label_zpl(self, order: OpenOrder, plan: LabelPlan) -> str:
        delivery = order.delivery
        if delivery is not None:
            ship_to = Address(
                name=delivery.ship_to.name,
                lines=delivery.ship_to.lines,
                city=delivery.ship_to.city,
                postal_code=delivery.ship_to.postal_code,
                country=delivery.ship_to.country,
            )
            reference = delivery.shipment_reference or order.order_id
        else:
            ship_to = Address(
                name=f"Order {order.order_id}", lines=(), city="", postal_code="", country=""
            )
            reference = order.order_id
        label = ShippingLabel(
            ship_to=ship_to,
            order_reference=order.order_id,
            shipment_reference=reference,
            carrier=plan.carrier,
            tracking_number=plan.tracking_number,
            sscc=plan.sscc,
        )
        return render_label(self.config.labels, label)

    async def _print(self, job: PrintLabel) -> None:
        printer = self._printer
        assert printer is not None
        zpl = self._label_zpl(job.order, job.plan)
        while True:
            try:
                result = await printer.print_label(job.plan.label_id, zpl)
            except JobOutcomeUnknown as error:
                self._set_printer("unknown", str(error))
                await self.handle(
                    LabelFailed(
                        job.plan.label_id,
                        f"{error}; if no label came out, reprint it (PL:REPRINT)",
                    )
                )
                return
            except PrinterError as error:
                self._set_printer("offline" if _is_offline(error) else "fault", str(error))
                await self.handle(LabelFailed(job.plan.label_id, str(error)))
                await asyncio.sleep(_PRINTER_RETRY_S)
                continue
            self._set_printer(
                "ok" if result.state is not JobState.QUEUED else "fault", result.detail
            )
            await self.handle(LabelPrintedOk(job.plan.label_id))
            return

    async def _reprint(self, job: ReprintLabelJob) -> None:
        printer = self._printer
        assert printer is not None
        try:
            await printer.reprint(job.label_id, job.reason)
        except PrinterError as error:
            self._set_printer("offline" if _is_offline(error) else "fault", str(error))
            await self.handle(LabelFailed(None, f"reprint of {job.label_id} failed: {error}"))
            return
        self._set_printer("ok", None)
        await self.handle(ReprintDone(job.label_id, job.order_id, job.reason))
        order = self.state.order
        if order is not None and order.label is not None and order.label.label_id == job.label_id:
            await self.handle(LabelPrintedOk(job.label_id))

    def _set_printer(self, state: str, detail: str | None) -> None:
        if (state, detail) != self.printer_state:
            if state in {"fault", "offline"} and self.printer_state[0] not in {"fault", "offline"}:
                self.printer_faults += 1
            log.info("printer %s%s", state, f": {detail}" if detail else "")
            self.printer_state = (state, detail)
            self._mark_changed()

    # --- the bridge --------------------------------------------------------------------------

    async def _on_message(self, message: WireMessage) -> None:
        if self.fleet is not None and await self.fleet.on_message(message):
            return
        if isinstance(message, OrderAllocated | OrderCancelled):
            await self._on_allocation(message)
        elif isinstance(message, ReprintLabel):
            await self.handle(
                RequestReprint(
                    reason=f"requested by the bridge (command {message.command_id})",
                    label_id=message.label_id,
                )
            )
        elif isinstance(message, RequestRebirth) and self._uplink is not None:
            await self._uplink.rebirth()
        elif isinstance(message, IdentifyStation):
            # In the background: the flashing lasts up to minutes, and messages behind it (an
            # allocation, say) must not wait for it. A newer identify replaces an older one.
            if self._identifying is not None:
                self._identifying.cancel()
            self._identifying = asyncio.create_task(self._identify(message.seconds))
        else:
            log.info("%s ignored: this station runs without a fleet agent", type(message).__name__)

    async def _on_allocation(self, message: OrderAllocated | OrderCancelled) -> None:
        async with self._lock:
            order = self.state.order
            affects_open = order is not None and order.order_id == message.order_id
            changes: list[object] = []

            def apply() -> None:
                changes.append(self.allocations.apply(message))

            if not affects_open:
                with self._storage.transaction():
                    apply()
            elif isinstance(message, OrderAllocated):
                await self._handle_locked(AllocationChanged(message), also=apply)
            else:
                await self._handle_locked(
                    AllocationCancelled(message.order_id, message.version, message.reason),
                    also=apply,
                )
            for change in changes:
                rejected = getattr(change, "kind", "") == "rejected"
                if rejected:
                    self.rejected_allocations += 1
                log.log(logging.WARNING if rejected else logging.INFO, "allocation %s", change)

    async def _identify(self, seconds: int) -> None:
        lights = self._lights
        if lights is None:
            return
        dark = [slot for slot in lights.slots if slot not in self._shown]
        for slot in dark:
            lights.show(slot, PatternName.OFFLINE)
        self._identify_lit.update(dark)
        self.notify_change()
        try:
            await asyncio.sleep(seconds)
        finally:
            async with self._lock:
                # A newer identify, started as this one was cancelled, owns the flashing now.
                if self._identifying is asyncio.current_task():
                    for slot in dark:
                        if slot in self._identify_lit:
                            lights.off(slot)
                            self._identify_lit.discard(slot)
                    self.notify_change()

    def _birth_info(self) -> BirthInfo:
        fleet = self.fleet
        return BirthInfo(
            software_version=self._software_version,
            config_version=fleet.config_version if fleet is not None else 0,
            config_hash=self._config_hash,
            hardware=self.hardware_status(),
            update_state=fleet.update_state if fleet is not None else None,
        )

    def _is_idle(self) -> bool:
        """No order open: a restart now interrupts no packer."""
        return self.state.order is None

    async def health_checks(self) -> dict[str, tuple[bool, str | None]]:
        """The health gate's checks: storage, broker, birth and hardware (the process is up)."""
        checks: dict[str, tuple[bool, str | None]] = {"process": (True, None)}
        try:
            depth = self.outbox.stats().depth
            checks["storage"] = (True, f"TinyDB open, outbox depth {depth}")
        except Exception as error:  # any failure to read the files fails the gate
            checks["storage"] = (False, f"TinyDB not readable: {error}")
        uplink = self._uplink
        connected = uplink is not None and uplink.connected
        checks["broker"] = (connected, None if connected else "not connected to the broker")
        born = uplink is not None and uplink.online
        checks["birth"] = (born, None if born else "birth not yet acknowledged by the broker")
        checks["hardware"] = await self._hardware_check()
        return checks

    async def _hardware_check(self) -> tuple[bool, str | None]:
        if self._lights is None:
            return False, "scanner and lights not open yet"
        printer = self._printer
        if printer is None:
            return False, "printer not open yet"
        if not printer.can_report_status:
            # CUPS queues and write-only USB printers: opening the transport is all we can check.
            state, detail = self.printer_state
            if state in {"fault", "offline"}:
                return False, f"printer: {detail or state}"
            return True, "scanner and lights ok; printer cannot report its status"
        try:
            status = await printer.status()
        except PrinterError as error:
            return False, f"printer: {error}"
        if status.faults:
            return False, f"printer: {', '.join(status.faults)}"
        return True, "scanner, lights and printer ok"

    def hardware_status(self) -> tuple[DeviceStatus, ...]:
        printer_state, detail = self.printer_state
        printer_status = {"ok": "ok", "unknown": "ok"}.get(printer_state, "fault")
        return (
            DeviceStatus(kind="scanner", name="scanner", status="ok"),
            DeviceStatus(
                kind="printer",
                name="printer",
                status=printer_status,  # type: ignore[arg-type]
                detail=detail[:500] if detail else None,
            ),
            DeviceStatus(kind="lights", name="lights", status="ok"),
        )

    # --- status ------------------------------------------------------------------------------

    def _mark_changed(self) -> None:
        self._status_dirty.set()
        self.notify_change()

    def notify_change(self) -> None:
        """Wake every screen waiting in `wait_for_change`, at once: the status topic's throttle
        is for the broker, and a packer must see a scan land on the screen without delay."""
        self.revision += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for_change(self, seen: int) -> int:
        """Wait until `revision` differs from `seen` (at once if it already does); return it."""
        while self.revision == seen:
            await self._changed.wait()
        return self.revision

    @property
    def software_version(self) -> str:
        return self._software_version

    @property
    def lights_shown(self) -> LightPicture:
        """What each lit slot shows now (a copy); a slot in neither this nor
        `identifying_slots` is dark."""
        return dict(self._shown)

    @property
    def identifying_slots(self) -> frozenset[str]:
        """Slots flashing only because the station identifies itself to someone looking for it."""
        return frozenset(self._identify_lit)

    @property
    def uplink(self) -> Uplink | None:
        return self._uplink

    def status(self) -> StationStatus:
        """The station's status as it is published on its `status` topic."""
        stats = self.outbox.stats()
        counts = self.state.counts
        uplink = self._uplink
        oldest = (
            max(0.0, (datetime.now(UTC) - stats.oldest_at).total_seconds())
            if stats.oldest_at is not None
            else None
        )
        printer_state, detail = self.printer_state
        return StationStatus(
            at=datetime.now(UTC),
            phase="fault" if self.storage_alert else self.state.phase,
            order_id=self.state.order.order_id if self.state.order else None,
            printer=printer_state,  # type: ignore[arg-type]
            printer_detail=detail[:500] if detail else None,
            outbox_depth=stats.depth,
            outbox_bytes=stats.bytes,
            outbox_oldest_age_s=oldest,
            outbox_alarm=stats.alarm,
            acknowledged_seq=stats.acknowledged_seq,
            counters=StationCounters(
                **counts.model_dump(),
                reconnects=uplink.reconnects if uplink else 0,
                rejected_messages=self.rejected_messages,
            ),
        )

    async def _status_loop(self) -> None:
        last_sent = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_dirty.wait(), _STATUS_HEARTBEAT_S)
            self._status_dirty.clear()
            wait = _STATUS_MIN_INTERVAL_S - (time.monotonic() - last_sent)
            if wait > 0:
                await asyncio.sleep(wait)
            last_sent = time.monotonic()
            if self._uplink is not None:
                await self._uplink.publish_status(self.status())

    # --- persistence -------------------------------------------------------------------------

    def _load_state(self) -> WorkflowState:
        document = self._db.table(_STATE_TABLE).get(doc_id=_STATE_DOC)
        if document is None:
            return WorkflowState()
        return WorkflowState.model_validate_json(json.dumps(dict(document)))

    def _save_state(self, state: WorkflowState) -> None:
        table = self._db.table(_STATE_TABLE)
        table.upsert(Document(state.model_dump(mode="json"), doc_id=_STATE_DOC))


def _button_input(event: ButtonEvent) -> Input | None:
    if event.role is ButtonRole.SLOT and event.slot is not None:
        return SlotPress(event.slot)
    if event.role is ButtonRole.SHORTAGE and event.press is PressKind.LONG:
        return ShortagePress()
    if event.role is ButtonRole.CONFIRM:
        return ConfirmPress()
    return None


def _scan_kind(item: Input) -> str:
    if isinstance(item, OrderScan):
        return "order"
    if isinstance(item, ItemScan):
        return "item"
    if isinstance(item, BadScan):
        return "bad"
    return "command"


def _is_offline(error: PrinterError) -> bool:
    return isinstance(error, PrinterOffline | StatusTimeout)
