"""A station.toml for a station on the simulated rig, built from the same parser the CLI uses.

The pins, the scanner's USB ids and the printer port here are what the rig presents, so the
benchmarks, the tests and the demo describe the simulated station in one place.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from edge.contract import StationId
from edge.station.config import StationConfig, parse_station_config
from firmware_sim.ports import reserved_ports

__all__ = [
    "BUZZER_PIN",
    "CONFIRM_PIN",
    "SCANNER_PRODUCT_ID",
    "SCANNER_VENDOR_ID",
    "SHORTAGE_PIN",
    "SLOT_PINS",
    "sim_station_config",
    "sim_station_document",
]

SCANNER_VENDOR_ID: Final = 0x05E0
SCANNER_PRODUCT_ID: Final = 0x1200
SLOT_PINS: Final = {"A1": (5, 6), "A2": (13, 12), "A3": (19, 26), "B1": (16, 7), "B2": (8, 25)}
"""Slot -> (LED pin, button pin)."""
CONFIRM_PIN: Final = 20
SHORTAGE_PIN: Final = 21
BUZZER_PIN: Final = 18


def sim_station_document(
    station_id: StationId,
    *,
    broker_url: str,
    printer_port: int,
    state_dir: Path,
    broker_link: Mapping[str, Any] | None = None,
    screen_port: int | None = None,
    **station: Any,
) -> dict[str, Any]:
    """The station.toml of a simulated station, as a dict; `station` adds keys to [station].

    ``broker_link`` (from `firmware_sim.secure_site.SiteCredentials.station_link`) adds the TLS
    keys to ``[broker]``: its url, CA, and the station's own certificate and key.
    ``screen_port`` is where the packer's screen listens; by default a port free now, so several
    simulated stations (the demo's, parallel tests') never meet on one.
    """
    if screen_port is None:
        screen_port = reserved_ports(1)[0]
    # Each station needs its own block of SSCC serials, as on a real site: two stations counting
    # from the same start would print the same SSCC (and label id) for different parcels.
    serial_block = (1 + zlib.crc32(station_id.client_id.encode()) % 998) * 1_000_000
    return {
        "station": {
            "site": station_id.site,
            "id": station_id.station,
            "state_dir": str(state_dir),
            **station,
        },
        "broker": {"url": broker_url, "backoff_max_s": 1.0, **(broker_link or {})},
        "scanner": {
            "vendor_id": SCANNER_VENDOR_ID,
            "product_id": SCANNER_PRODUCT_ID,
            "layout": "us",
            "symbology_ids": True,
        },
        "printer": {
            "journal": "print-jobs.json",
            "connection": {"transport": "tcp", "host": "127.0.0.1", "port": printer_port},
        },
        "labels": {
            "company_prefix": "7613032",
            "extension_digit": 3,
            "serial_start": serial_block,
            "serial_end": serial_block + 999_999,
        },
        "lights": {
            "slots": {
                slot: {"led": led, "button": button} for slot, (led, button) in SLOT_PINS.items()
            },
            "confirm_button": CONFIRM_PIN,
            "shortage_button": SHORTAGE_PIN,
            "buzzer": {"pin": BUZZER_PIN},
            "long_press_ms": 600,
        },
        "screen": {"port": screen_port},
    }


def sim_station_config(
    station_id: StationId,
    *,
    broker_url: str,
    printer_port: int,
    state_dir: Path,
    broker_link: Mapping[str, Any] | None = None,
    screen_port: int | None = None,
    **station: Any,
) -> StationConfig:
    """The validated config of a simulated station."""
    return parse_station_config(
        sim_station_document(
            station_id,
            broker_url=broker_url,
            printer_port=printer_port,
            state_dir=state_dir,
            broker_link=broker_link,
            screen_port=screen_port,
            **station,
        )
    )
