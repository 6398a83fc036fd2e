"""The label printer driver over TCP to the virtual Zebra: faults, job ids, no double prints."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.drivers.printer import (
    BufferFull,
    HeadOpen,
    JobJournal,
    JobOutcomeUnknown,
    JobState,
    LabelDataError,
    LabelPrinter,
    PaperOut,
    Paused,
    PrinterFault,
    PrinterOffline,
    RibbonOut,
    StatusTimeout,
    TcpTransport,
    UnknownJob,
)
from firmware_sim.zebra import Fault, PrintedLabel
from firmware_sim.zebra.server import ZebraTcpServer

ZPL = "^XA^CI28^FO20,20^A0N,40,40^FDOrder SO-1001^FS^XZ"
STATUS_WAIT = 10.0
"""Generous: a loaded machine only makes a status round trip slower, never wrong."""
PAUSE_FIRST = '! U1 setvar "packline.faults" "paused"\r\n' + ZPL


@pytest.fixture
async def server() -> AsyncIterator[ZebraTcpServer]:
    async with ZebraTcpServer(port=0) as running:
        yield running


@pytest.fixture
def journal(tmp_path: Path) -> JobJournal:
    return JobJournal(tmp_path / "jobs.json")


@pytest.fixture
async def printer(server: ZebraTcpServer, journal: JobJournal) -> AsyncIterator[LabelPrinter]:
    async with LabelPrinter(
        TcpTransport("127.0.0.1", server.port), journal, status_timeout=STATUS_WAIT
    ) as driver:
        yield driver


def prints_of_order(server: ZebraTcpServer) -> int:
    return sum(1 for label in server.model.printed if label.field_data() == ["Order SO-1001"])


async def test_a_job_prints_and_is_journalled_as_printed(
    server: ZebraTcpServer, printer: LabelPrinter, journal: JobJournal
) -> None:
    result = await printer.print_label("job-1", ZPL)

    assert result.state is JobState.PRINTED
    assert not result.duplicate
    assert prints_of_order(server) == 1
    record = journal.get("job-1")
    assert record is not None
    assert record.state is JobState.PRINTED


async def test_submitting_the_same_job_id_again_returns_the_earlier_outcome(
    server: ZebraTcpServer, printer: LabelPrinter
) -> None:
    await printer.print_label("job-1", ZPL)

    again = await printer.print_label("job-1", ZPL)

    assert again.duplicate
    assert again.state is JobState.PRINTED
    assert prints_of_order(server) == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.PAPER_OUT, PaperOut),
        (Fault.HEAD_OPEN, HeadOpen),
        (Fault.PAUSED, Paused),
        (Fault.RIBBON_OUT, RibbonOut),
        (Fault.BUFFER_FULL, BufferFull),
    ],
)
async def test_a_fault_raises_its_typed_error_and_sends_nothing(
    server: ZebraTcpServer,
    printer: LabelPrinter,
    journal: JobJournal,
    fault: Fault,
    error: type[PrinterFault],
) -> None:
    server.model.set_fault(fault)

    with pytest.raises(error) as raised:
        await printer.print_label("job-1", ZPL)

    assert raised.value.fault == fault.value
    record = journal.get("job-1")
    assert record is not None
    assert record.state is JobState.NOT_SENT
    server.model.clear_fault(fault)
    assert prints_of_order(server) == 0


async def test_a_job_refused_for_paper_out_prints_once_when_resubmitted_after_the_fix(
    server: ZebraTcpServer, printer: LabelPrinter
) -> None:
    server.model.set_fault(Fault.PAPER_OUT)
    with pytest.raises(PaperOut):
        await printer.print_label("job-1", ZPL)

    server.model.clear_fault(Fault.PAPER_OUT)
    first = await printer.print_label("job-1", ZPL)
    second = await printer.print_label("job-1", ZPL)

    assert first.state is JobState.PRINTED
    assert second.duplicate
    assert prints_of_order(server) == 1


async def test_a_label_held_by_the_printer_is_queued_and_prints_once_after_the_fault(
    server: ZebraTcpServer, printer: LabelPrinter
) -> None:
    result = await printer.print_label("job-1", PAUSE_FIRST)

    assert result.state is JobState.QUEUED
    assert result.status is not None
    assert result.status.labels_remaining == 1
    assert prints_of_order(server) == 0

    server.model.clear_fault(Fault.PAUSED)
    again = await printer.print_label("job-1", PAUSE_FIRST)

    assert again.duplicate
    assert prints_of_order(server) == 1


async def test_an_unanswered_status_query_is_a_fault_not_ready(
    server: ZebraTcpServer, journal: JobJournal
) -> None:
    server.model.set_fault(Fault.NO_STATUS_REPLY)
    transport = TcpTransport("127.0.0.1", server.port)

    async with LabelPrinter(transport, journal, status_timeout=0.5) as printer:
        with pytest.raises(StatusTimeout) as raised:
            await printer.print_label("job-1", ZPL)

    assert isinstance(raised.value, PrinterOffline)
    assert "~HS" in str(raised.value)
    assert prints_of_order(server) == 0


async def test_a_printer_nobody_listens_for_is_offline(journal: JobJournal) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = TcpTransport("127.0.0.1", port, connect_timeout=5.0)

    async with LabelPrinter(transport, journal) as printer:
        with pytest.raises(PrinterOffline, match=f"127.0.0.1:{port}"):
            await printer.print_label("job-1", ZPL)

    record = journal.get("job-1")
    assert record is not None
    assert record.state is JobState.NOT_SENT


async def test_a_dropped_connection_before_the_job_is_offline_and_nothing_prints(
    server: ZebraTcpServer, printer: LabelPrinter
) -> None:
    server.model.set_fault(Fault.CONNECTION_DROPPED)

    with pytest.raises(PrinterOffline):
        await printer.print_label("job-1", ZPL)

    assert prints_of_order(server) == 0


def drop_the_link_after_the_first_print(server: ZebraTcpServer) -> None:
    """The printer prints the label, then the link fails before the driver hears back."""

    def drop(_: PrintedLabel) -> None:
        if len(server.model.printed) == 1:
            server.model.set_fault(Fault.CONNECTION_DROPPED)

    server.model.add_print_listener(drop)


async def test_a_link_dropped_mid_job_leaves_the_outcome_unknown_and_never_retries(
    server: ZebraTcpServer, printer: LabelPrinter, journal: JobJournal
) -> None:
    drop_the_link_after_the_first_print(server)

    with pytest.raises(JobOutcomeUnknown, match="job-1"):
        await printer.print_label("job-1", ZPL)
    server.model.clear_fault(Fault.CONNECTION_DROPPED)
    with pytest.raises(JobOutcomeUnknown):
        await printer.print_label("job-1", ZPL)

    assert prints_of_order(server) == 1
    record = journal.get("job-1")
    assert record is not None
    assert record.state is JobState.UNKNOWN


async def test_an_explicit_reprint_of_an_unknown_job_prints_exactly_once_more(
    server: ZebraTcpServer, journal: JobJournal
) -> None:
    drop_the_link_after_the_first_print(server)
    async with LabelPrinter(
        TcpTransport("127.0.0.1", server.port), journal, status_timeout=STATUS_WAIT
    ) as printer:
        with pytest.raises(JobOutcomeUnknown):
            await printer.print_label("job-1", ZPL)
        server.model.clear_fault(Fault.CONNECTION_DROPPED)

        reprinted = await printer.reprint("job-1", "label not on the parcel after link drop")
        resubmitted = await printer.print_label("job-1", ZPL)

    assert reprinted.state is JobState.PRINTED
    assert reprinted.reprint == 1
    assert resubmitted.duplicate
    assert prints_of_order(server) == 2
    record = journal.get("job-1")
    assert record is not None
    assert [(r.reason, r.state) for r in record.reprints] == [
        ("label not on the parcel after link drop", JobState.PRINTED)
    ]


async def test_a_reprint_needs_a_known_job_and_a_reason(printer: LabelPrinter) -> None:
    with pytest.raises(UnknownJob, match="never-sent"):
        await printer.reprint("never-sent", "because")
    await printer.print_label("job-1", ZPL)
    with pytest.raises(LabelDataError, match="reason"):
        await printer.reprint("job-1", "  ")


async def test_a_job_interrupted_by_a_crash_is_unknown_after_a_restart(
    server: ZebraTcpServer, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.json"
    before_crash = JobJournal(path)
    before_crash.record_attempt("job-1", ZPL, JobState.SENDING)
    before_crash.close()

    transport = TcpTransport("127.0.0.1", server.port)
    async with LabelPrinter(transport, JobJournal(path), status_timeout=STATUS_WAIT) as printer:
        with pytest.raises(JobOutcomeUnknown, match="job-1"):
            await printer.print_label("job-1", ZPL)

    assert prints_of_order(server) == 0


async def test_the_driver_reconnects_after_the_printer_comes_back(
    server: ZebraTcpServer, printer: LabelPrinter
) -> None:
    server.model.set_fault(Fault.CONNECTION_DROPPED)
    with pytest.raises(PrinterOffline):
        await printer.print_label("job-1", ZPL)
    server.model.clear_fault(Fault.CONNECTION_DROPPED)

    result = await printer.print_label("job-1", ZPL)

    assert result.state is JobState.PRINTED
    assert prints_of_order(server) == 1
