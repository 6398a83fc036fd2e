"""The rig's control socket: simulated hands act through it on real drivers in the same process.

Every test goes through the real socket; the drivers on the far side (scanner reader, lights,
label printer) are the production ones on the rig's simulated backends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from edge.drivers.lights import ButtonEvent, ButtonRole, LightsConfig, PressKind, StationLights
from edge.drivers.printer import JobJournal, LabelPrinter, TcpTransport
from edge.drivers.scanner import BarcodeReader, ReaderState, ScannerConfig
from firmware_sim.control import (
    MAX_REQUEST_BYTES,
    RigControlClient,
    RigControlServer,
    RigControlUnreachable,
    RigRequestRefused,
)
from firmware_sim.errors import SimError
from firmware_sim.station_rig import SimulatedStationRig

WAIT = 10.0  # generous: a loaded machine makes tests slower, never wrong
VENDOR, PRODUCT = 0x05E0, 0x1200
SLOT_LED, SLOT_BUTTON = "GPIO17", "GPIO6"
OTHER_LED, OTHER_BUTTON = "GPIO13", "GPIO12"
TAP_SECONDS = 0.15
LONG_PRESS_MS = 800
HOLD_SECONDS = 1.3
ZPL = "^XA^FO20,20^A0N,40,40^FDOrder SO-1001^FS^FO20,80^BCN,80^FD376130321109103420^FS^XZ"

LIGHTS = LightsConfig.model_validate(
    {
        "slots": {
            "A1": {"led": SLOT_LED, "button": SLOT_BUTTON},
            "A2": {"led": OTHER_LED, "button": OTHER_BUTTON},
        },
        "confirm_button": "GPIO23",
        "shortage_button": "GPIO24",
        "long_press_ms": LONG_PRESS_MS,
    }
)


@pytest.fixture
async def rig() -> AsyncIterator[SimulatedStationRig]:
    async with SimulatedStationRig(
        scanner_vendor_id=VENDOR, scanner_product_id=PRODUCT, layout="uk"
    ) as running:
        yield running


@pytest.fixture
async def control(rig: SimulatedStationRig) -> AsyncIterator[RigControlServer]:
    async with RigControlServer(rig) as server:
        yield server


@pytest.fixture
async def hands(control: RigControlServer) -> AsyncIterator[RigControlClient]:
    async with await RigControlClient.connect("127.0.0.1", control.port, timeout=WAIT) as client:
        yield client


@pytest.fixture
async def lights(rig: SimulatedStationRig) -> AsyncIterator[StationLights]:
    async with StationLights(LIGHTS, pin_factory=rig.gpio.factory) as driver:
        yield driver


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[JobJournal]:
    journal = JobJournal(tmp_path / "jobs.json")
    yield journal
    journal.close()


@pytest.fixture
async def printer(rig: SimulatedStationRig, journal: JobJournal) -> AsyncIterator[LabelPrinter]:
    transport = TcpTransport("127.0.0.1", rig.printer.port)
    async with LabelPrinter(transport, journal, status_timeout=WAIT) as driver:
        yield driver


async def next_event(lights: AsyncIterator[ButtonEvent]) -> ButtonEvent:
    return await asyncio.wait_for(anext(lights), WAIT)


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll a pin a worker thread changes; its one callback slot belongs to the driver."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - nothing to await: the pin has no event to give
            await asyncio.sleep(0.01)


class RawConnection:
    """The protocol without the client: for requests the client would never send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, line: bytes) -> dict[str, object]:
        self.writer.write(line + b"\n")
        await self.writer.drain()
        reply = await asyncio.wait_for(self.reader.readline(), WAIT)
        decoded: dict[str, object] = json.loads(reply)
        return decoded


@pytest.fixture
async def raw(control: RigControlServer) -> AsyncIterator[RawConnection]:
    reader, writer = await asyncio.open_connection("127.0.0.1", control.port)
    yield RawConnection(reader, writer)
    writer.close()
    await writer.wait_closed()


# -- the packer's hands, seen by the real drivers ------------------------------------------------


async def test_a_scan_arrives_as_hid_reports_the_real_reader_decodes(
    rig: SimulatedStationRig, hands: RigControlClient
) -> None:
    config = ScannerConfig(vendor_id=VENDOR, product_id=PRODUCT, layout="uk", symbology_ids=True)
    async with BarcodeReader(config, backend=rig.usb_backend) as reader:
        scans = reader.scans()
        await hands.scan("SO-1001 £5", symbology="]C0")
        scan = await asyncio.wait_for(anext(scans), WAIT)

    assert (scan.text, scan.symbology) == ("SO-1001 £5", "]C0")


@pytest.mark.parametrize("pin", [SLOT_BUTTON, 6, "BCM6"])
async def test_a_press_is_one_short_button_event_whatever_the_pin_spelling(
    lights: StationLights, hands: RigControlClient, pin: str | int
) -> None:
    events = lights.events()

    await hands.press(pin, seconds=TAP_SECONDS, bounce=3)

    event = await next_event(events)
    assert (event.role, event.slot, event.press) == (ButtonRole.SLOT, "A1", PressKind.SHORT)


async def test_a_press_with_the_default_duration_still_counts_as_a_press(
    lights: StationLights, hands: RigControlClient
) -> None:
    events = lights.events()

    await hands.press(OTHER_BUTTON)

    assert (await next_event(events)).slot == "A2"


async def test_a_hold_is_a_long_press(lights: StationLights, hands: RigControlClient) -> None:
    events = lights.events()

    await hands.hold(SLOT_BUTTON, HOLD_SECONDS)

    event = await next_event(events)
    assert (event.slot, event.press) == ("A1", PressKind.LONG)


async def test_a_held_button_does_not_stall_the_printer_in_the_same_loop(
    rig: SimulatedStationRig,
    lights: StationLights,
    hands: RigControlClient,
    printer: LabelPrinter,
) -> None:
    events = lights.events()
    button = rig.gpio.pin(SLOT_BUTTON)
    holding = asyncio.create_task(hands.hold(SLOT_BUTTON, 3.0))

    # Were the hold run on the loop, this coroutine could not run until the button was let go.
    await wait_until(lambda: float(button.state) == 0)
    status = await printer.status()
    button_still_down = float(button.state) == 0

    await holding
    assert status.faults == []
    assert button_still_down
    assert (await next_event(events)).press is PressKind.LONG


async def test_lit_reports_each_light_the_driver_drives(
    lights: StationLights, hands: RigControlClient
) -> None:
    assert await hands.lit() == {OTHER_LED: False, SLOT_LED: False}

    lights.on("A1", quantity=2)

    assert await hands.lit() == {OTHER_LED: False, SLOT_LED: True}


async def test_lit_is_empty_before_any_light_is_claimed(hands: RigControlClient) -> None:
    assert await hands.lit() == {}


async def test_printed_shows_a_label_the_real_printer_driver_sent(
    printer: LabelPrinter, hands: RigControlClient
) -> None:
    await printer.print_label("SO-1001-label-1", ZPL)

    labels = await hands.printed()

    assert len(labels) == 1
    assert labels[0]["fields"] == ["Order SO-1001"]
    assert labels[0]["barcodes"] == [{"symbology": "Code 128", "data": "376130321109103420"}]
    assert labels[0]["copies"] == 1


async def test_a_printer_fault_set_through_the_socket_shows_in_host_status(
    printer: LabelPrinter, hands: RigControlClient
) -> None:
    await hands.set_printer_fault("paper_out")
    out = await printer.status()
    await hands.set_printer_fault("paper_out", active=False)
    back = await printer.status()

    assert out.paper_out
    assert out.faults == ["paper_out"]
    assert back.faults == []


async def test_unplugging_and_replugging_the_scanner_is_seen_by_the_reader(
    rig: SimulatedStationRig, hands: RigControlClient
) -> None:
    states: asyncio.Queue[ReaderState] = asyncio.Queue()
    config = ScannerConfig(vendor_id=VENDOR, product_id=PRODUCT, layout="uk", reconnect_poll_s=0.05)

    async def until(wanted: ReaderState) -> None:
        async with asyncio.timeout(WAIT):
            while await states.get() is not wanted:
                pass

    async with BarcodeReader(config, backend=rig.usb_backend, on_state=states.put_nowait) as reader:
        scans = reader.scans()
        await until(ReaderState.CONNECTED)
        await hands.unplug_scanner()
        await until(ReaderState.DISCONNECTED)
        await hands.plug_scanner()
        await until(ReaderState.CONNECTED)
        await hands.scan("after-replug")
        scan = await asyncio.wait_for(anext(scans), WAIT)

    assert scan.text == "after-replug"


# -- bad requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "named"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"pin": "GPIO6"}', "missing field 'op'"),
        (b'{"op": "fly"}', "unknown op 'fly'"),
        (b'{"op": "press"}', "field 'pin': Field required"),
        (b'{"op": "press", "pin": "GPIO6", "colour": "red"}', "field 'colour'"),
        (b'{"op": "press", "pin": true}', "field 'pin'"),
        (b'{"op": "press", "pin": "GPIO6", "seconds": -1}', "field 'seconds'"),
        (b'{"op": "hold", "pin": "GPIO6"}', "field 'seconds': Field required"),
        (b'{"op": "press", "pin": "GPIO99"}', "'GPIO99' is not a GPIO pin"),
        (b'{"op": "press", "pin": "GND"}', "'GND' is not a GPIO pin"),
        (b'{"op": "press", "pin": 17}', "GPIO17 is an output"),
        (b'{"op": "press", "pin": "GPIO5"}', "no button reads pin GPIO5"),
        (b'{"op": "scan"}', "field 'text': Field required"),
        (b'{"op": "scan", "text": "x", "symbology": "C0"}', "not an AIM identifier"),
        (b'{"op": "set_printer_fault", "fault": "on_fire"}', "unknown fault 'on_fire'"),
        (b'{"op": "plug_scanner"}', "already plugged"),
    ],
)
async def test_a_bad_request_gets_an_error_naming_it_and_the_connection_keeps_serving(
    lights: StationLights, raw: RawConnection, line: bytes, named: str
) -> None:
    refused = await raw.exchange(line)
    lights.on("A2")
    after = await raw.exchange(b'{"op": "lit"}')

    assert refused["ok"] is False
    assert named in str(refused["error"])
    assert after == {"ok": True, "lit": {OTHER_LED: True, SLOT_LED: False}}


async def test_a_pin_with_no_button_is_refused_listing_the_buttons_there_are(
    lights: StationLights, raw: RawConnection
) -> None:
    refused = await raw.exchange(b'{"op": "press", "pin": "GPIO5"}')

    assert "buttons are on: GPIO6, GPIO12, GPIO23, GPIO24" in str(refused["error"])


async def test_an_over_long_request_line_is_skipped_and_refused(raw: RawConnection) -> None:
    too_long = b'{"op": "scan", "text": "' + b"x" * MAX_REQUEST_BYTES + b'"}'

    refused = await raw.exchange(too_long)
    after = await raw.exchange(b'{"op": "printed"}')

    assert refused == {
        "ok": False,
        "error": f"request line longer than {MAX_REQUEST_BYTES} bytes; skipped it",
    }
    assert after == {"ok": True, "labels": []}


async def test_the_client_raises_the_rigs_own_error_as_a_sim_error(
    hands: RigControlClient,
) -> None:
    with pytest.raises(RigRequestRefused, match="unknown fault 'on_fire'") as raised:
        await hands.set_printer_fault("on_fire")

    assert isinstance(raised.value, SimError)
    assert await hands.printed() == []


async def test_a_client_that_cannot_connect_names_the_address(
    control: RigControlServer,
) -> None:
    port = control.port
    await control.stop()

    with pytest.raises(RigControlUnreachable, match=f"127.0.0.1:{port}"):
        await RigControlClient.connect("127.0.0.1", port, timeout=WAIT)


async def test_a_client_whose_server_stopped_says_the_connection_is_gone(
    control: RigControlServer, hands: RigControlClient
) -> None:
    await control.stop()

    with pytest.raises(RigControlUnreachable):
        await hands.lit()
