"""The simulated USB bus behaves as libusb does wherever a driver could tell the difference."""

from __future__ import annotations

import errno
import string
import threading
import time
from collections.abc import Callable
from typing import Literal

import pytest
import usb.core
import usb.util
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.errors import SimError
from firmware_sim.usb import (
    CTRL_RIGHT_BRACKET,
    DeviceNotPlugged,
    SimulatedHidScanner,
    SimulatedUsbBackend,
    SimulatedUsbZebra,
    UntypableCharacter,
)
from firmware_sim.zebra import Fault, ZebraPrinterModel

HID_IN = 0x81
Layout = Literal["us", "uk"]
RELEASE = bytes(8)


@pytest.fixture
def bus() -> SimulatedUsbBackend:
    return SimulatedUsbBackend()


def find_one(bus: SimulatedUsbBackend, **match: object) -> usb.core.Device:
    device = usb.core.find(backend=bus, **match)
    assert device is not None
    return device


def claimed(device: usb.core.Device) -> usb.core.Device:
    device.detach_kernel_driver(0)
    usb.util.claim_interface(device, 0)
    return device


def read_all(device: usb.core.Device) -> list[bytes]:
    reports = []
    while True:
        try:
            reports.append(bytes(device.read(HID_IN, 8, 50)))
        except usb.core.USBTimeoutError:
            return reports


def test_find_sees_plugged_devices_with_descriptors_and_bus_topology(
    bus: SimulatedUsbBackend,
) -> None:
    bus.plug(SimulatedHidScanner(serial="S1", bus=3, port_numbers=(1, 4)))
    device = find_one(bus, idVendor=0x05E0, idProduct=0x1200)
    assert (device.bus, device.port_number, device.port_numbers) == (3, 4, (1, 4))
    assert device.address >= 2
    interface = device.get_active_configuration()[(0, 0)]
    assert (interface.bInterfaceClass, interface.bInterfaceSubClass) == (3, 1)
    assert interface.bInterfaceProtocol == 1
    endpoint = interface[0]
    assert endpoint.bEndpointAddress == HID_IN
    assert usb.util.endpoint_type(endpoint.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
    assert bytes(interface.extra_descriptors)[1] == 0x21  # the HID class descriptor


def test_string_descriptors_are_served_in_utf16_after_the_langid_list(
    bus: SimulatedUsbBackend,
) -> None:
    bus.plug(SimulatedHidScanner(serial="SER-42"))
    device = find_one(bus)
    assert device.langids == (0x0409,)
    assert device.serial_number == "SER-42"
    assert device.manufacturer == "Simulated Scanners Ltd"
    raw = bytes(device.ctrl_transfer(0x80, 6, (3 << 8) | 3, 0x0409, 255))
    assert raw == bytes([2 + 12, 3]) + "SER-42".encode("utf-16-le")


def test_an_unknown_standard_request_stalls_with_epipe(bus: SimulatedUsbBackend) -> None:
    bus.plug(SimulatedHidScanner())
    with pytest.raises(usb.core.USBError) as caught:
        find_one(bus).ctrl_transfer(0xC0, 0x42, 0, 0, 4)  # vendor request
    assert caught.value.errno == errno.EPIPE


def test_a_read_with_nothing_queued_waits_out_its_timeout_then_raises_usb_timeout(
    bus: SimulatedUsbBackend,
) -> None:
    bus.plug(SimulatedHidScanner())
    device = claimed(find_one(bus))
    started = time.monotonic()
    with pytest.raises(usb.core.USBTimeoutError) as caught:
        device.read(HID_IN, 8, 100)
    assert time.monotonic() - started >= 0.09
    assert caught.value.errno == errno.ETIMEDOUT
    assert caught.value.backend_error_code == -7


def test_a_blocked_read_wakes_when_a_report_is_queued_from_another_thread(
    bus: SimulatedUsbBackend,
) -> None:
    scanner = SimulatedHidScanner()
    bus.plug(scanner)
    device = claimed(find_one(bus))
    threading.Timer(0.05, scanner.inject_report, [bytes([0, 0, 4, 0, 0, 0, 0, 0])]).start()
    assert bytes(device.read(HID_IN, 8, 10_000)) == bytes([0, 0, 4, 0, 0, 0, 0, 0])


def test_claiming_an_interface_the_kernel_driver_holds_fails_with_ebusy(
    bus: SimulatedUsbBackend,
) -> None:
    bus.plug(SimulatedHidScanner())
    device = find_one(bus)
    assert device.is_kernel_driver_active(0)
    with pytest.raises(usb.core.USBError) as caught:
        usb.util.claim_interface(device, 0)
    assert caught.value.errno == errno.EBUSY
    device.detach_kernel_driver(0)
    usb.util.claim_interface(device, 0)
    assert not device.is_kernel_driver_active(0)


def test_a_second_handle_cannot_claim_an_interface_already_claimed(
    bus: SimulatedUsbBackend,
) -> None:
    bus.plug(SimulatedHidScanner())
    first = claimed(find_one(bus))
    with pytest.raises(usb.core.USBError) as caught:
        usb.util.claim_interface(find_one(bus), 0)
    assert caught.value.errno == errno.EBUSY
    usb.util.dispose_resources(first)
    usb.util.claim_interface(find_one(bus), 0)


def test_after_unplug_every_call_on_an_open_handle_fails_with_enodev(
    bus: SimulatedUsbBackend,
) -> None:
    scanner = SimulatedHidScanner()
    bus.plug(scanner)
    device = claimed(find_one(bus))
    bus.unplug(scanner)
    calls: list[Callable[[], object]] = [
        lambda: device.read(HID_IN, 8, 10),
        lambda: device.ctrl_transfer(0x80, 0, 0, 0, 2),
        lambda: device.is_kernel_driver_active(0),
        lambda: device.clear_halt(HID_IN),
    ]
    for call in calls:
        with pytest.raises(usb.core.USBError) as caught:
            call()
        assert caught.value.errno == errno.ENODEV
    assert usb.core.find(backend=bus) is None
    usb.util.dispose_resources(device)  # closing a vanished device never fails


def test_an_unplug_wakes_a_blocked_read_with_enodev(bus: SimulatedUsbBackend) -> None:
    scanner = SimulatedHidScanner()
    bus.plug(scanner)
    device = claimed(find_one(bus))
    threading.Timer(0.05, bus.unplug, [scanner]).start()
    with pytest.raises(usb.core.USBError) as caught:
        device.read(HID_IN, 8, 0)  # 0 = no timeout, as in libusb
    assert caught.value.errno == errno.ENODEV


def test_a_replugged_device_enumerates_at_a_new_address_and_needs_a_new_handle(
    bus: SimulatedUsbBackend,
) -> None:
    scanner = SimulatedHidScanner()
    bus.plug(scanner)
    old = claimed(find_one(bus))
    old_address = old.address
    bus.unplug(scanner)
    bus.plug(scanner)
    with pytest.raises(usb.core.USBError) as caught:
        old.read(HID_IN, 8, 10)
    assert caught.value.errno == errno.ENODEV
    new = claimed(find_one(bus))
    assert new.address != old_address
    scanner.scan("a")
    assert read_all(new)[0] == bytes([0, 0, 0x04, 0, 0, 0, 0, 0])


def test_an_unplugged_scanner_refuses_to_scan_rather_than_lose_the_scan(
    bus: SimulatedUsbBackend,
) -> None:
    scanner = SimulatedHidScanner()
    with pytest.raises(DeviceNotPlugged, match="unplugged"):
        scanner.scan("x")


def test_plugging_a_device_twice_is_refused(bus: SimulatedUsbBackend) -> None:
    scanner = SimulatedHidScanner()
    bus.plug(scanner)
    with pytest.raises(SimError, match="already plugged"):
        bus.plug(scanner)


def test_every_key_press_report_is_followed_by_an_all_zero_release(
    bus: SimulatedUsbBackend,
) -> None:
    scanner = SimulatedHidScanner()
    bus.plug(scanner)
    device = claimed(find_one(bus))
    scanner.scan("aB")
    assert read_all(device) == [
        bytes([0, 0, 0x04, 0, 0, 0, 0, 0]),
        RELEASE,
        bytes([0x02, 0, 0x05, 0, 0, 0, 0, 0]),
        RELEASE,
        bytes([0, 0, 0x28, 0, 0, 0, 0, 0]),
        RELEASE,
    ]


@pytest.mark.parametrize(
    ("char", "us_report", "uk_report"),
    [
        ('"', (0x02, 0x34), (0x02, 0x1F)),
        ("@", (0x02, 0x1F), (0x02, 0x34)),
        ("#", (0x02, 0x20), (0x00, 0x32)),
        ("\\", (0x00, 0x31), (0x00, 0x64)),
        ("|", (0x02, 0x31), (0x02, 0x64)),
        ("~", (0x02, 0x35), (0x02, 0x32)),
    ],
)
def test_layouts_type_the_symbols_on_their_own_keys(
    char: str, us_report: tuple[int, int], uk_report: tuple[int, int]
) -> None:
    layouts: tuple[tuple[Layout, tuple[int, int]], ...] = (("us", us_report), ("uk", uk_report))
    for layout, (modifiers, usage) in layouts:
        first = SimulatedHidScanner(layout=layout).reports_for_scan(char)[0]
        assert (first[0], first[2]) == (modifiers, usage), layout


def test_pound_sign_is_shift_3_on_uk_and_untypable_on_us() -> None:
    assert SimulatedHidScanner(layout="uk").reports_for_scan("£")[0][:3] == bytes([2, 0, 0x20])
    with pytest.raises(UntypableCharacter, match="us layout has no key"):
        SimulatedHidScanner(layout="us").reports_for_scan("£")


def test_gs1_separator_is_sent_as_ctrl_right_bracket_or_as_the_stand_in() -> None:
    ctrl = SimulatedHidScanner(gs1_separator=CTRL_RIGHT_BRACKET).reports_for_scan("\x1d")[0]
    stand_in = SimulatedHidScanner(gs1_separator="|").reports_for_scan("\x1d")[0]
    assert (ctrl[0], ctrl[2]) == (0x01, 0x30)
    assert (stand_in[0], stand_in[2]) == (0x02, 0x31)


def test_the_aim_prefix_is_typed_only_when_the_scanner_is_set_to_send_it() -> None:
    with_id = SimulatedHidScanner(send_symbology_id=True).reports_for_scan("1", symbology="]C1")
    without = SimulatedHidScanner(send_symbology_id=False).reports_for_scan("1", symbology="]C1")
    assert len(with_id) == len(without) + 6
    with pytest.raises(SimError, match="not an AIM identifier"):
        SimulatedHidScanner().reports_for_scan("1", symbology="C1")


def test_rollover_packs_distinct_keys_with_the_same_modifiers_into_one_report() -> None:
    reports = SimulatedHidScanner(keys_per_report=6).reports_for_scan("abcAa")
    assert reports[0] == bytes([0, 0, 0x04, 0x05, 0x06, 0, 0, 0])
    assert reports[2] == bytes([0x02, 0, 0x04, 0, 0, 0, 0, 0])
    assert reports[4] == bytes([0, 0, 0x04, 0x28, 0, 0, 0, 0])


@pytest.mark.parametrize("layout", ["us", "uk"])
@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(string.printable[:95])), packing=st.integers(1, 6))
def test_rollover_never_changes_the_sequence_of_keys_pressed(
    layout: Layout, text: str, packing: int
) -> None:
    def keys(reports: list[bytes]) -> list[tuple[int, int]]:
        return [(r[0], usage) for r in reports for usage in r[2:] if usage]

    one_by_one = SimulatedHidScanner(layout=layout).reports_for_scan(text)
    packed = SimulatedHidScanner(layout=layout, keys_per_report=packing).reports_for_scan(text)
    assert keys(packed) == keys(one_by_one)


def test_an_oversized_interrupt_report_overflows_the_hosts_buffer_as_libusb_reports(
    bus: SimulatedUsbBackend,
) -> None:
    scanner = SimulatedHidScanner()
    bus.plug(scanner)
    device = claimed(find_one(bus))
    scanner.inject_report(bytes(9))
    with pytest.raises(usb.core.USBError) as caught:
        device.read(HID_IN, 8, 100)
    assert caught.value.errno == errno.EOVERFLOW


# -- the USB Zebra ------------------------------------------------------------------------------


def plugged_zebra(bus: SimulatedUsbBackend, model: ZebraPrinterModel) -> usb.core.Device:
    bus.plug(SimulatedUsbZebra(model))
    device = find_one(bus, idVendor=0x0A5F)
    device.detach_kernel_driver(0)
    return device


def test_the_zebra_is_a_bidirectional_printer_class_device_with_bulk_endpoints(
    bus: SimulatedUsbBackend,
) -> None:
    device = plugged_zebra(bus, ZebraPrinterModel())
    interface = device.get_active_configuration()[(0, 0)]
    assert (interface.bInterfaceClass, interface.bInterfaceSubClass) == (7, 1)
    assert interface.bInterfaceProtocol == 2
    endpoints = {e.bEndpointAddress: usb.util.endpoint_type(e.bmAttributes) for e in interface}
    assert endpoints == {0x01: usb.util.ENDPOINT_TYPE_BULK, 0x81: usb.util.ENDPOINT_TYPE_BULK}


def test_get_device_id_answers_a_big_endian_length_then_the_ieee1284_id(
    bus: SimulatedUsbBackend,
) -> None:
    device = plugged_zebra(bus, ZebraPrinterModel(model_name="ZD421"))
    answer = bytes(device.ctrl_transfer(0xA1, 0, 0, 0, 1024))
    length = int.from_bytes(answer[:2], "big")
    assert length == len(answer)
    assert answer[2:].startswith(b"MFG:Zebra Technologies;CMD:ZPL;MDL:ZD421;")


def test_get_port_status_reports_paper_empty_from_the_model(bus: SimulatedUsbBackend) -> None:
    model = ZebraPrinterModel()
    device = plugged_zebra(bus, model)
    assert bytes(device.ctrl_transfer(0xA1, 1, 0, 0, 1)) == bytes([0x18])
    model.set_fault(Fault.PAPER_OUT)
    status = bytes(device.ctrl_transfer(0xA1, 1, 0, 0, 1))[0]
    assert status & 0x20
    assert not status & 0x08


def test_zpl_written_to_bulk_out_prints_and_host_queries_answer_on_bulk_in(
    bus: SimulatedUsbBackend,
) -> None:
    model = ZebraPrinterModel()
    device = plugged_zebra(bus, model)
    label = b"^XA^FO10,10^A0N,30,30^FDHello^FS^XZ"
    assert device.write(0x01, label, 1000) == len(label)
    assert model.printed[0].field_data() == ["Hello"]
    device.write(0x01, b"~HS", 1000)
    answer = bytes(device.read(0x81, 512, 1000))
    assert answer.count(b"\x03") == 3


def test_a_write_cut_short_reports_the_partial_count_without_an_error(
    bus: SimulatedUsbBackend,
) -> None:
    zebra = SimulatedUsbZebra(ZebraPrinterModel())
    bus.plug(zebra)
    device = find_one(bus, idVendor=0x0A5F)
    device.detach_kernel_driver(0)
    zebra.accept_only_next_write(5)
    assert device.write(0x01, b"^XA^FDpartial^FS^XZ", 1000) == 5
    assert bytes(zebra.received) == b"^XA^F"
    zebra.accept_only_next_write(0)
    with pytest.raises(usb.core.USBTimeoutError):
        device.write(0x01, b"^XA^XZ", 1000)


def test_the_scan_latency_bench_times_every_round_through_the_driver_and_the_baseline() -> None:
    from firmware_sim.bench_usb import measure_scan_latency

    driver, baseline = measure_scan_latency(5)
    assert len(driver) == len(baseline) == 5
    assert all(latency > 0 for latency in driver + baseline)
