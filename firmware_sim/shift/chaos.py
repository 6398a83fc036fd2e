"""Faults at random moments during the shift, repeatedly, and a tally of each.

Every fault is one that happens on a real floor: the broker restarting, the bridge or a station
killed outright, a station's network cut for a while (through a loopback proxy the demo
controls, so the packers keep working offline), Sage throttling or failing, and a printer out of
paper or with its head open. The books at the end must be straight regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from firmware_sim.control import RigControlClient
from firmware_sim.errors import SimError
from firmware_sim.sage import FaultKind, SageSandbox

__all__ = ["CHAOS_KINDS", "Chaos", "ChaosTargets", "parse_chaos"]

log = logging.getLogger(__name__)

CHAOS_KINDS = (
    "broker-restart",
    "bridge-crash",
    "station-crash",
    "network-partition",
    "sage-faults",
    "printer-faults",
)


def parse_chaos(text: str | None) -> frozenset[str]:
    """`--chaos a,b` or `all` as a set of kinds; an unknown kind is an error naming the known."""
    if not text:
        return frozenset()
    kinds = {part.strip() for part in text.split(",") if part.strip()}
    if "all" in kinds:
        return frozenset(CHAOS_KINDS)
    unknown = sorted(kinds - set(CHAOS_KINDS))
    if unknown:
        raise ValueError(
            f"--chaos: unknown fault(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(CHAOS_KINDS)} or all"
        )
    return frozenset(kinds)


@dataclass
class ChaosTargets:
    """What the chaos can reach, as callables the shift provides."""

    restart_broker: Callable[[], Awaitable[None]] | None
    """None when the broker is not ours to restart (`--broker URL`)."""
    crash_bridge: Callable[[], Awaitable[None]]
    crash_station: Callable[[str], Awaitable[None]]
    partition: Callable[[str, float], Awaitable[None]]
    control_port: Callable[[str], int | None]
    stations: Sequence[str]
    sandbox: SageSandbox


class Chaos:
    """Injects the chosen kinds of fault, one every few seconds, until stopped."""

    def __init__(
        self,
        kinds: frozenset[str],
        targets: ChaosTargets,
        *,
        rng: random.Random,
        every_s: tuple[float, float] = (3.0, 7.0),
    ) -> None:
        self.kinds = sorted(kinds)
        if targets.restart_broker is None and "broker-restart" in self.kinds:
            self.kinds.remove("broker-restart")
            log.warning("chaos: broker-restart skipped: the broker given with --broker is not ours")
        self._targets = targets
        self._rng = rng
        self._every_s = every_s
        self.injected: Counter[str] = Counter()
        self._running: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Inject until cancelled; lasting faults (partitions, printer faults) end by themselves."""
        if not self.kinds:
            return
        try:
            while True:
                await asyncio.sleep(self._rng.uniform(*self._every_s))
                kind = self._rng.choice(self.kinds)
                task = asyncio.create_task(self._inject(kind), name=f"chaos-{kind}")
                self._running.add(task)
                task.add_done_callback(self._running.discard)
        finally:
            await self.settle()

    async def settle(self) -> None:
        """Let every fault in progress finish (heal, clear, restart)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _inject(self, kind: str) -> None:
        targets = self._targets
        station = self._rng.choice(list(targets.stations))
        try:
            if kind == "broker-restart":
                assert targets.restart_broker is not None
                await targets.restart_broker()
            elif kind == "bridge-crash":
                await targets.crash_bridge()
            elif kind == "station-crash":
                await targets.crash_station(station)
            elif kind == "network-partition":
                await targets.partition(station, self._rng.uniform(2.0, 6.0))
            elif kind == "sage-faults":
                self._sage_faults()
            elif kind == "printer-faults":
                await self._printer_fault(station)
        except (SimError, OSError, ConnectionError, TimeoutError) as error:
            log.info("chaos: %s on %s did not take: %s", kind, station, error)
            return
        self.injected[kind] += 1

    def _sage_faults(self) -> None:
        faults = self._targets.sandbox.faults
        choice = self._rng.randrange(3)
        if choice == 0:
            faults.queue(status=429, retry_after=1, times=self._rng.randint(2, 6))
        elif choice == 1:
            faults.queue(status=503, times=self._rng.randint(1, 4))
        else:
            faults.queue(kind=FaultKind.COMMIT_THEN_DROP, method="POST")

    async def _printer_fault(self, station: str) -> None:
        port = self._targets.control_port(station)
        if port is None:
            raise ConnectionError(f"{station} has no rig control port yet")
        fault = self._rng.choice(["paper_out", "head_open"])
        client = await RigControlClient.connect("127.0.0.1", port)
        try:
            await client.set_printer_fault(fault, True)
        finally:
            await client.close()
        await asyncio.sleep(self._rng.uniform(1.5, 4.0))
        port = self._targets.control_port(station)
        if port is None:
            return
        with contextlib.suppress(SimError, OSError, ConnectionError, TimeoutError):
            client = await RigControlClient.connect("127.0.0.1", port)
            try:
                await client.set_printer_fault(fault, False)
            finally:
                await client.close()
