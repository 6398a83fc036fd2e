"""A label's SSCC comes from the station's label id (``L`` + SSCC), and is never guessed."""

from __future__ import annotations

import pytest

from cloud_bridge.export.labels import sscc_of_label
from edge.station.sscc import compose_sscc

SSCC = compose_sscc(0, "5012345", 42)


def test_a_station_label_id_gives_the_sscc_it_was_made_from() -> None:
    assert sscc_of_label(f"L{SSCC}") == SSCC


@pytest.mark.parametrize(
    "label_id",
    [
        None,
        "LBL-SO-1",
        SSCC,  # no L
        f"L{SSCC}0",  # 19 digits
        f"L{SSCC[:-1]}{(int(SSCC[-1]) + 1) % 10}",  # wrong check digit
    ],
)
def test_any_other_label_id_gives_no_sscc(label_id: str | None) -> None:
    assert sscc_of_label(label_id) is None
