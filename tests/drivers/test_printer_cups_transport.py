"""The CUPS transport: with no lpr or no queue, the error names the queue."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edge.drivers.printer import (
    CupsTransport,
    JobJournal,
    JobState,
    LabelPrinter,
    PrinterOffline,
)

REAL_QUEUE = os.environ.get("PACKLINE_TEST_CUPS_QUEUE")


async def test_a_missing_lpr_is_offline_naming_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    transport = CupsTransport("dock-zebra")

    with pytest.raises(PrinterOffline, match=r"'dock-zebra'.*lpr"):
        await transport.open()


async def test_a_job_for_an_unusable_queue_is_recorded_as_not_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    journal = JobJournal(tmp_path / "jobs.json")

    async with LabelPrinter(CupsTransport("dock-zebra"), journal) as printer:
        with pytest.raises(PrinterOffline, match="dock-zebra"):
            await printer.print_label("job-1", "^XA^XZ")

    record = journal.get("job-1")
    assert record is not None
    assert record.state is JobState.NOT_SENT


@pytest.mark.skipif(shutil.which("lpr") is None, reason="needs the CUPS client tools")
async def test_a_queue_cups_does_not_know_is_offline_naming_it() -> None:
    with pytest.raises(PrinterOffline, match="no-such-queue-for-packline-tests"):
        await CupsTransport("no-such-queue-for-packline-tests").open()


@pytest.mark.hardware
@pytest.mark.skipif(REAL_QUEUE is None, reason="set PACKLINE_TEST_CUPS_QUEUE to a raw queue")
async def test_a_job_on_a_real_queue_is_spooled(tmp_path: Path) -> None:
    assert REAL_QUEUE is not None
    journal = JobJournal(tmp_path / "jobs.json")

    async with LabelPrinter(CupsTransport(REAL_QUEUE), journal) as printer:
        result = await printer.print_label("cups-job-1", "^XA^FO20,20^A0N,30,30^FDcups^FS^XZ")

    assert result.state is JobState.SPOOLED


def test_a_cups_queue_cannot_read_back() -> None:
    assert not CupsTransport("dock-zebra").can_read
