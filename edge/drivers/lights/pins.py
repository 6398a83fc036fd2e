"""Pin names, normalised the way gpiozero resolves them, so one pin has one spelling.

gpiozero accepts the same pin as `17`, `"17"`, `"GPIO17"`, `"BCM17"`, `"BOARD11"` or `"J8:11"`.
A slot map that wires two devices to one pin under different spellings must still be caught, so
every name is resolved against the 40-pin header (identical on every Pi since the B+) and stored
as its `GPIOn` name.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from gpiozero.pins.pi import PiBoardInfo
from pydantic import BeforeValidator

__all__ = ["GpioPin", "normalise_pin"]

# Any 40-pin revision will do: the header layout is the same on all of them.
_FORTY_PIN_REVISION = 0xA02082


@cache
def _board() -> Any:
    return PiBoardInfo.from_revision(_FORTY_PIN_REVISION)


def normalise_pin(name: object) -> str:
    """Return the `GPIOn` name of a pin given in any spelling gpiozero accepts.

    Raises `ValueError` (which pydantic reports against the config key) for names that are not
    pins, and for header pins that are not GPIOs such as `BOARD1` (3V3) or `BOARD6` (ground).
    """
    if isinstance(name, bool) or not isinstance(name, int | str):
        # ValueError, not TypeError: pydantic reports only ValueError against the config key.
        raise ValueError(  # noqa: TRY004
            f"a pin must be a BCM number or a gpiozero pin name, not {name!r}"
        )
    key: int | str = name if isinstance(name, int) else name.strip().upper()
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    matches = [info for _header, info in _board().find_pin(key)]
    if not matches:
        raise ValueError(
            f"unknown pin {name!r}: expected a BCM number or a name such as 'GPIO17' or 'BOARD11'"
        )
    info = matches[0]
    if not str(info.name).startswith("GPIO"):
        raise ValueError(f"pin {name!r} is {info.name}, not a GPIO")
    return str(info.name)


GpioPin = Annotated[str, BeforeValidator(normalise_pin)]
"""A config field holding a pin; whatever the spelling, the value is its `GPIOn` name."""
