"""The label printer driver: one job = one id, checked status before and after, no double prints.

The driver works the same over every `PrinterTransport`. For each job it

1. looks the id up in the journal: a finished job returns its earlier outcome, a job whose
   outcome is unknown is refused until a `reprint` of it has succeeded;
2. asks `~HS` and raises the typed fault (`PaperOut`, `HeadOpen`, ...) before sending anything;
   no complete answer in time is `StatusTimeout`, a fault, never "ready";
3. records `sending` in the journal, sends, and asks `~HS` again: nothing left in the printer
   means printed, labels remaining means queued in the printer (it prints when the fault
   clears); a failure after the first byte is recorded as `unknown`.

Whatever ZPL is given as `on_connect` (stored label formats, printer settings) is sent each time
the transport is (re)opened, before any job: a printer that restarted has lost what it kept in
RAM, and a restart always drops the link, so re-sending on connect restores it.

Over CUPS, which cannot answer, steps 2 and 3 reduce to the queue checks `CupsTransport.open`
makes, and a sent job is recorded as `spooled`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from edge.drivers.printer.errors import (
    JobOutcomeUnknown,
    LabelDataError,
    PrinterError,
    StatusTimeout,
    UnknownJob,
)
from edge.drivers.printer.journal import UNSETTLED, JobJournal, JobState
from edge.drivers.printer.status import (
    HOST_STATUS_QUERY,
    PrinterStatus,
    host_status_complete,
    parse_host_status,
)
from edge.drivers.printer.transport import PrinterTransport

__all__ = ["JobResult", "LabelPrinter"]

_READ_CHUNK = 1024


@dataclass(frozen=True)
class JobResult:
    """How a job (or one reprint of it) ended."""

    job_id: str
    state: JobState
    detail: str
    duplicate: bool = False
    """True when nothing was sent now: this is the outcome of an earlier submission."""
    reprint: int | None = None
    """The reprint's number (1 for the first) when this result is for a reprint."""
    status: PrinterStatus | None = None
    """The printer's status after the send, where it can be read."""


class LabelPrinter:
    """Prints ZPL jobs through one transport, journalling every job id.

    Jobs run one at a time. The transport is opened on first use and re-opened after it
    drops, so one object serves a station for its whole life.
    """

    def __init__(
        self,
        transport: PrinterTransport,
        journal: JobJournal,
        *,
        status_timeout: float = 2.0,
        on_connect: Sequence[str] = (),
    ) -> None:
        if status_timeout <= 0:
            raise ValueError(f"status_timeout must be positive, got {status_timeout}")
        if isinstance(on_connect, str):
            raise TypeError("on_connect must be a sequence of ZPL strings, not one string")
        self._transport = transport
        self._journal = journal
        self._status_timeout = status_timeout
        self._on_connect = tuple(zpl.encode("utf-8") for zpl in on_connect)
        self._lock = asyncio.Lock()
        self._connected = False

    @property
    def description(self) -> str:
        """The transport's description, e.g. ``tcp://10.0.0.5:9100``."""
        return self._transport.description

    async def __aenter__(self) -> LabelPrinter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the transport (the journal belongs to the caller)."""
        self._connected = False
        await self._transport.close()

    @property
    def can_report_status(self) -> bool:
        """Whether `status` can ask the printer (not over CUPS or a write-only USB endpoint)."""
        return self._transport.can_read

    async def status(self) -> PrinterStatus:
        """Ask `~HS` and return the parsed answer; raise `StatusTimeout` if none comes."""
        async with self._lock:
            return await self._query_status()

    async def print_label(self, job_id: str, zpl: str) -> JobResult:
        """Print `zpl` as job `job_id`, at most once no matter how often it is submitted."""
        if not job_id.strip():
            raise LabelDataError("print job id is empty (expected a unique id per label)")
        async with self._lock:
            earlier = self._earlier_outcome(job_id)
            if earlier is not None:
                return earlier
            try:
                await self._check_ready()
            except PrinterError as error:
                self._journal.record_attempt(job_id, zpl, JobState.NOT_SENT, str(error))
                raise
            self._journal.record_attempt(job_id, zpl, JobState.SENDING)
            try:
                state, detail, status = await self._send(zpl)
            except PrinterError as error:
                self._journal.record_outcome(job_id, JobState.UNKNOWN, str(error))
                raise JobOutcomeUnknown(job_id, str(error)) from error
            self._journal.record_outcome(job_id, state, detail)
            return JobResult(job_id, state, detail, status=status)

    async def reprint(self, job_id: str, reason: str) -> JobResult:
        """Send a journalled job again on purpose; the reprint and its reason are recorded."""
        if not reason.strip():
            raise LabelDataError(f"reprint of {job_id!r} needs a reason (it is recorded)")
        async with self._lock:
            record = self._journal.get(job_id)
            if record is None:
                raise UnknownJob(job_id)
            try:
                await self._check_ready()
            except PrinterError as error:
                self._journal.record_reprint(job_id, reason, JobState.NOT_SENT, str(error))
                raise
            number = self._journal.record_reprint(job_id, reason, JobState.SENDING)
            try:
                state, detail, status = await self._send(record.zpl)
            except PrinterError as error:
                self._journal.record_reprint_outcome(job_id, number, JobState.UNKNOWN, str(error))
                raise JobOutcomeUnknown(job_id, f"reprint {number}: {error}") from error
            self._journal.record_reprint_outcome(job_id, number, state, detail)
            return JobResult(job_id, state, detail, reprint=number, status=status)

    def _earlier_outcome(self, job_id: str) -> JobResult | None:
        """The result to return instead of sending, or None when the job may be sent."""
        record = self._journal.get(job_id)
        if record is None:
            return None
        settled = [r for r in record.reprints if r.state not in {*UNSETTLED, JobState.NOT_SENT}]
        if record.state in UNSETTLED and settled:
            last = settled[-1]
            number = record.reprints.index(last) + 1
            return JobResult(job_id, last.state, last.detail, duplicate=True, reprint=number)
        if record.state in UNSETTLED:
            raise JobOutcomeUnknown(job_id, record.detail or "a send was interrupted")
        if record.state is JobState.NOT_SENT:
            return None
        return JobResult(job_id, record.state, record.detail, duplicate=True)

    async def _ensure_open(self) -> None:
        if not self._connected:
            await self._transport.open()
            for setup in self._on_connect:
                await self._transport.write(setup)
            self._connected = True

    async def _drop(self) -> None:
        self._connected = False
        await self._transport.close()

    async def _check_ready(self) -> None:
        try:
            await self._ensure_open()
        except PrinterError:
            await self._drop()
            raise
        if self._transport.can_read:
            status = await self._query_status()
            status.raise_for_fault(self.description)

    async def _send(self, zpl: str) -> tuple[JobState, str, PrinterStatus | None]:
        try:
            await self._transport.write(zpl.encode("utf-8"))
        except PrinterError:
            await self._drop()
            raise
        if not self._transport.can_read:
            return JobState.SPOOLED, f"handed to {self.description}", None
        status = await self._query_status()
        if status.idle:
            return JobState.PRINTED, "printer reports nothing left to print", status
        faults = ", ".join(status.faults) or "none"
        detail = f"{status.labels_remaining} label(s) waiting in the printer; faults: {faults}"
        return JobState.QUEUED, detail, status

    async def _query_status(self) -> PrinterStatus:
        if not self._transport.can_read:
            raise PrinterError(f"printer {self.description} cannot report its status")
        try:
            await self._ensure_open()
            await self._transport.write(HOST_STATUS_QUERY)
            return parse_host_status(await self._read_host_status())
        except PrinterError:
            await self._drop()
            raise

    async def _read_host_status(self) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._status_timeout
        reply = b""
        while not host_status_complete(reply):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise StatusTimeout(
                    f"printer {self.description}: no complete ~HS reply within "
                    f"{self._status_timeout} s (got {reply!r}); an unanswered status is a fault"
                )
            reply += await self._transport.read(_READ_CHUNK, remaining)
        return reply
