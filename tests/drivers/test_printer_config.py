"""The [printer] section: one transport per config, unknown keys named."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import parse_section
from edge.drivers.printer import (
    CupsTransport,
    PrinterConfig,
    TcpConnection,
    TcpTransport,
    build_transport,
)
from edge.errors import ConfigError


def test_a_tcp_printer_section_builds_a_tcp_transport() -> None:
    config = parse_section(
        PrinterConfig,
        {"journal": "jobs.json", "connection": {"transport": "tcp", "host": "10.0.0.5"}},
        "printer",
    )

    assert config.connection == TcpConnection(transport="tcp", host="10.0.0.5", port=9100)
    assert config.journal == Path("jobs.json")
    transport = build_transport(config.connection)
    assert isinstance(transport, TcpTransport)
    assert transport.description == "tcp://10.0.0.5:9100"


def test_a_cups_printer_section_builds_a_cups_transport() -> None:
    config = parse_section(
        PrinterConfig,
        {"journal": "jobs.json", "connection": {"transport": "cups", "queue": "zebra"}},
        "printer",
    )

    assert isinstance(build_transport(config.connection), CupsTransport)


def test_a_key_of_another_transport_is_refused_by_name() -> None:
    data = {"journal": "j.json", "connection": {"transport": "cups", "queue": "z", "port": 1}}

    with pytest.raises(ConfigError, match=r"printer\.connection\.cups\.port: unknown key"):
        parse_section(PrinterConfig, data, "printer")


def test_an_unknown_transport_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"printer\.connection"):
        parse_section(
            PrinterConfig, {"journal": "j.json", "connection": {"transport": "lp0"}}, "printer"
        )


def test_a_usb_printer_section_builds_a_transport_for_that_device() -> None:
    config = parse_section(
        PrinterConfig,
        {
            "journal": "jobs.json",
            "connection": {"transport": "usb", "vendor_id": 0x0A5F, "product_id": 0x0164},
        },
        "printer",
    )

    assert build_transport(config.connection).description == "usb:0a5f:0164"
