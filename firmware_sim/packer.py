"""A simulated packer: packs one order at a station the way a person does, mistakes included.

It works the station only through what a person has: the scanner, the buttons and the lights.
It reads the lights rather than following its own plan, so a slot the station does not light is
never picked, and the station's refusals (a wrong slot, a wrong item) are real refusals the
station counts. Mistakes are drawn from a seeded `random.Random`, so a run can be repeated.

It drives the rig through the control socket's client (`RigControlClient`) or anything with the
same methods (`PackerHands`), so the same packer works in-process in a test and against a
station process in the whole-shift demo.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from edge.contract import OrderAllocated, OrderLine
from firmware_sim.errors import SimError
from firmware_sim.sim_station import CONFIRM_PIN, SHORTAGE_PIN, SLOT_PINS

__all__ = [
    "MistakeKind",
    "MistakePlan",
    "PackResult",
    "PackerError",
    "PackerHands",
    "Shortage",
    "SimulatedPacker",
    "StationLayout",
]

MistakeKind = Literal["wrong_slot", "wrong_item"]
Verification = Literal["each", "line", "off"]

_POLL_S = 0.05
_LOOK_S = 0.65
"""How long a look at the lights lasts: longer than the pick pattern's dark half (0.5 s)."""
_PAUSE_S = 0.1
"""After a scan or press before the next act or look, so the station has taken it in."""


class PackerError(SimError, RuntimeError):
    """The station did not do what a packer waits for (a light, a label) in time."""


class PackerHands(Protocol):
    """What a packer can do at the rig; `RigControlClient` has exactly these methods."""

    async def scan(self, text: str, symbology: str | None = None) -> None: ...

    async def press(self, pin: str | int, seconds: float = 0.05, bounce: int = 0) -> None: ...

    async def hold(self, pin: str | int, seconds: float) -> None: ...

    async def lit(self) -> dict[str, bool]: ...

    async def printed(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class StationLayout:
    """Where the packer finds things: slot -> (LED pin, button pin), confirm and shortage pins."""

    slots: Mapping[str, tuple[int, int]] = field(default_factory=lambda: dict(SLOT_PINS))
    confirm_pin: int = CONFIRM_PIN
    shortage_pin: int = SHORTAGE_PIN
    long_press_s: float = 1.0
    """How long a long press lasts; longer than the station's ``long_press_ms``."""

    def led(self, slot: str) -> str:
        return f"GPIO{self._pins(slot)[0]}"

    def button(self, slot: str) -> str:
        return f"GPIO{self._pins(slot)[1]}"

    def _pins(self, slot: str) -> tuple[int, int]:
        try:
            return self.slots[slot]
        except KeyError:
            known = ", ".join(self.slots)
            raise PackerError(
                f"slot {slot!r} is not at this station; expected one of {known}"
            ) from None


def _rate(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"MistakePlan.{name} is {value!r}; expected a rate from 0 to 1")
    return value


@dataclass(frozen=True)
class MistakePlan:
    """How often the packer errs, per order line; zero everywhere is a perfect packer.

    ``short_lines`` names lines that are always short (for scripted scenes); ``shortage`` is the
    chance any other line is. A shortage is never drawn for the order's last open line while
    nothing has been picked, so a short order still ships partially rather than being aborted.
    """

    wrong_slot: float = 0.0
    """A press on a slot that is not lit before the right one."""
    wrong_item: float = 0.0
    """A scan of an item not on the order before the right one."""
    shortage: float = 0.0
    """The shelf is empty: the line is recorded short instead of picked."""
    short_lines: frozenset[str] = frozenset()
    shortage_by: Literal["button", "barcode", "either"] = "either"
    """A long press on the shortage button, the ``PL:SHORT`` command barcode, or either."""

    def __post_init__(self) -> None:
        _rate("wrong_slot", self.wrong_slot)
        _rate("wrong_item", self.wrong_item)
        _rate("shortage", self.shortage)


@dataclass(frozen=True)
class Shortage:
    """A line the packer recorded short, and how many units it found (none: the shelf is bare)."""

    line_id: str
    slot: str
    expected: int
    found: int = 0


@dataclass(frozen=True)
class PackResult:
    """What one order took: units confirmed, mistakes by kind, shortages, and the label."""

    order_id: str
    units_picked: int
    mistakes: Mapping[MistakeKind, int]
    shortages: tuple[Shortage, ...]
    label_printed: bool
    seconds: float


@dataclass
class _Progress:
    units: int = 0
    mistakes: Counter[MistakeKind] = field(default_factory=Counter)
    shortages: list[Shortage] = field(default_factory=list)

    @property
    def short_slots(self) -> set[str]:
        return {shortage.slot for shortage in self.shortages}


class SimulatedPacker:
    """Packs one allocated order at a station through `hands`; see `pack`.

    ``verification`` must match the station's: it says how many item scans a line needs (one per
    unit, one per line, or none).
    """

    def __init__(
        self,
        hands: PackerHands,
        *,
        mistakes: MistakePlan | None = None,
        rng: random.Random | None = None,
        layout: StationLayout | None = None,
        verification: Verification = "line",
        timeout: float = 20.0,
        first_light_timeout: float | None = None,
    ) -> None:
        self._hands = hands
        self._mistakes = mistakes or MistakePlan()
        self._rng = rng or random.Random(0)
        self._layout = layout or StationLayout()
        self._verification: Verification = verification
        self._timeout = timeout
        self._first_light_timeout = first_light_timeout or timeout

    async def pack(self, order: OrderAllocated) -> PackResult:
        """Scan the order, pick every slot the station lights, and wait for the label.

        The allocation must already be at the station. Raises `PackerError` if the order does
        not light up, or the label does not print, within the timeout.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self._timeout
        labels_before = len(await self._hands.printed())
        progress = _Progress()
        slots = [line.slot for line in order.lines]
        await self._hands.scan(order.order_id, "]C0")
        lit = await self._lit_within(slots, min(deadline, started + self._first_light_timeout))
        if not lit:
            raise PackerError(
                f"order {order.order_id}: no slot lit after its barcode was scanned; "
                "expected the station to hold its allocation"
            )
        while len(await self._hands.printed()) <= labels_before:
            if loop.time() > deadline:
                raise PackerError(
                    f"order {order.order_id}: no label within {self._timeout} s "
                    f"(slots still lit: {sorted(lit) or 'none'})"
                )
            to_pick = [
                line
                for line in order.lines
                if line.slot in lit and line.slot not in progress.short_slots
            ]
            if to_pick:
                slot = await self._work_line(order, to_pick, progress)
                if slot in progress.short_slots:
                    lit = await self._look(slots)
                else:
                    lit = await self._until_dark(slot, slots, deadline)
                continue
            if progress.short_slots & lit:
                await self._hands.press(self._layout.confirm_pin)
            lit = await self._look(slots)
        return PackResult(
            order_id=order.order_id,
            units_picked=progress.units,
            mistakes=dict(progress.mistakes),
            shortages=tuple(progress.shortages),
            label_printed=True,
            seconds=loop.time() - started,
        )

    # -- one line ------------------------------------------------------------------------------

    async def _work_line(
        self,
        order: OrderAllocated,
        to_pick: Sequence[OrderLine],
        progress: _Progress,
    ) -> str:
        """Pick the first lit line or record it short; returns its slot, for the caller to watch."""
        line = to_pick[0]
        if self._draw_shortage(line, to_pick, progress):
            await self._short(line, last_open=len(to_pick) == 1, progress=progress)
            return line.slot
        if self._verification != "off" and self._draw("wrong_item", progress):
            await self._scan_item(_stranger_gtin(order, self._rng))
        for _ in range(self._scans_for(line)):
            await self._scan_item(line.gtin)
        await asyncio.sleep(_PAUSE_S)
        wrong = self._wrong_slots(order, to_pick)
        if wrong and self._draw("wrong_slot", progress):
            await self._hands.press(self._layout.button(self._rng.choice(wrong)))
        await self._hands.press(self._layout.button(line.slot))
        await asyncio.sleep(_PAUSE_S)
        progress.units += line.quantity
        return line.slot

    def _scans_for(self, line: OrderLine) -> int:
        return {"each": line.quantity, "line": 1, "off": 0}[self._verification]

    async def _scan_item(self, gtin: str) -> None:
        """Scan as the product's barcode reads: EAN-13 for a GTIN-14 with a leading zero."""
        full = gtin.zfill(14)
        if full.startswith("0"):
            await self._hands.scan(full[1:], "]E0")
        else:
            await self._hands.scan(f"01{full}", "]C1")

    def _draw(self, kind: MistakeKind, progress: _Progress) -> bool:
        rate = {"wrong_slot": self._mistakes.wrong_slot, "wrong_item": self._mistakes.wrong_item}
        if self._rng.random() < rate[kind]:
            progress.mistakes[kind] += 1
            return True
        return False

    def _draw_shortage(
        self, line: OrderLine, to_pick: Sequence[OrderLine], progress: _Progress
    ) -> bool:
        if len(to_pick) == 1 and progress.units == 0:
            return False
        if line.line_id in self._mistakes.short_lines:
            return True
        return self._rng.random() < self._mistakes.shortage

    def _wrong_slots(self, order: OrderAllocated, to_pick: Sequence[OrderLine]) -> list[str]:
        """Slots with nothing to take: off the order if there are any, else lines already done.

        Never a lit slot, which a press would refuse for another reason (or confirm), so a wrong
        press is always the station's ``wrong_slot``; empty when every slot is lit.
        """
        on_order = {line.slot for line in order.lines}
        lit = {line.slot for line in to_pick}
        elsewhere = [slot for slot in self._layout.slots if slot not in on_order]
        done = [slot for slot in self._layout.slots if slot in on_order and slot not in lit]
        return elsewhere or done

    async def _short(self, line: OrderLine, *, last_open: bool, progress: _Progress) -> None:
        """Record the line short; with other lines open the station then asks which slot."""
        by = self._mistakes.shortage_by
        if by == "either":
            by = self._rng.choice(("button", "barcode"))
        if by == "button":
            await self._hands.hold(self._layout.shortage_pin, self._layout.long_press_s)
        else:
            await self._hands.scan("PL:SHORT:MISSING", "]C0")
        if not last_open:
            await asyncio.sleep(_PAUSE_S)
            await self._hands.press(self._layout.button(line.slot))
        progress.shortages.append(Shortage(line.line_id, line.slot, line.quantity))

    # -- the lights ----------------------------------------------------------------------------

    async def _look(self, slots: Iterable[str]) -> set[str]:
        """The slots seen lit during one look (patterns blink, so a look takes time)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + _LOOK_S
        wanted = set(slots)
        seen: set[str] = set()
        while loop.time() < until and seen != wanted:
            lights = await self._hands.lit()
            seen |= {slot for slot in wanted if lights.get(self._layout.led(slot))}
            await asyncio.sleep(_POLL_S)
        return seen

    async def _lit_within(self, slots: Sequence[str], deadline: float) -> set[str]:
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            lit = await self._look(slots)
            if lit:
                return lit
        return set()

    async def _until_dark(self, slot: str, slots: Sequence[str], deadline: float) -> set[str]:
        """Look until a whole look finds `slot` dark: the station took the press.

        Returns the order's slots lit in that look, which is what the packer acts on next.
        """
        loop = asyncio.get_running_loop()
        while True:
            lit = await self._look(slots)
            if slot not in lit:
                return lit
            if loop.time() > deadline:
                raise PackerError(f"slot {slot} stayed lit after its button was pressed")


def _stranger_gtin(order: OrderAllocated, rng: random.Random) -> str:
    """A valid GTIN-14 (leading zero, so it scans as EAN-13) that is on no line of the order."""
    on_order = {line.gtin.zfill(14) for line in order.lines}
    while True:
        body = "050" + "".join(rng.choice("0123456789") for _ in range(10))
        gtin = body + _check_digit(body)
        if gtin not in on_order:
            return gtin


def _check_digit(body: str) -> str:
    """The GS1 mod-10 check digit: weights 3 and 1 alternate from the rightmost digit."""
    total = sum(int(digit) * (3 if i % 2 == 0 else 1) for i, digit in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)
