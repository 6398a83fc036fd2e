"""The bridge's posting loop: plan what shipped into postings, then send what is due.

Posting immediately (`interval_minutes = 0`) makes each posting due when it is planned, and the
loop is woken when a shipment is recorded or corrected. Batched posting makes postings due at
the end of the current N-minute interval (counted from midnight UTC), so a batch goes out
together at predictable times. Either way the loop also runs every `poll_seconds`, which is what
retries a paused queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

import httpx
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db.types import utc_now
from cloud_bridge.posting.connection import open_client
from cloud_bridge.posting.documents import DocumentStrategy, strategy_for
from cloud_bridge.posting.planner import PlanResult, plan_postings
from cloud_bridge.posting.poster import Poster, PostingRound
from cloud_bridge.posting.settings import SageSettings
from cloud_bridge.posting.sync import sync_from_sage
from cloud_bridge.sage.client import SageClient, Sleep
from cloud_bridge.sage.errors import SageAuthError

__all__ = ["PostingPass", "PostingService", "due_time"]

log = logging.getLogger(__name__)


def due_time(now: datetime, interval_minutes: float) -> datetime:
    """When a posting planned at `now` may go: now, or the end of the current interval."""
    if interval_minutes <= 0:
        return now
    interval = timedelta(minutes=interval_minutes)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = now - midnight
    return midnight + interval * (elapsed // interval + 1)


@dataclass(frozen=True)
class PostingPass:
    """One plan-then-post pass."""

    planned: PlanResult
    sent: PostingRound


class PostingService:
    """Planning and posting for the business `[sage]` selects; `async with` opens the client."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: SageSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Sleep | None = None,
        requests_per_minute: float | None = None,
        max_attempts: int = 5,
        retry_initial_s: float | None = None,
    ) -> None:
        self._sessions = sessions
        self.settings = settings
        self.strategy: DocumentStrategy = strategy_for(
            settings.posting.edition, settings.posting.document_type
        )
        self._clock = clock
        self.client: SageClient = open_client(
            settings,
            transport=transport,
            sleep=sleep,
            clock=clock,
            requests_per_minute=requests_per_minute,
            max_attempts=max_attempts,
        )
        self._poster = Poster(
            sessions,
            self.client,
            self.strategy,
            clock=clock,
            retry_initial_s=(
                settings.retry_initial_seconds if retry_initial_s is None else retry_initial_s
            ),
            retry_max_s=settings.retry_max_seconds,
        )
        self.reconnect_required: str | None = None

    @property
    def business_id(self) -> str:
        return self.client.business_id

    async def __aenter__(self) -> PostingService:
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.client.__aexit__(exc_type, exc, traceback)

    def plan(self) -> PlanResult:
        """Write postings for every shipment due; one transaction per batch of shipments."""
        total_shipments = 0
        postings: list[int] = []
        failed: list[int] = []
        while True:
            now = self._clock()
            with self._sessions.begin() as session:
                result = plan_postings(
                    session,
                    business_id=self.business_id,
                    strategy=self.strategy,
                    preferences=self.settings.posting,
                    now=now,
                    due_at=due_time(now, self.settings.posting.interval_minutes),
                )
            total_shipments += result.shipments
            postings.extend(result.postings)
            failed.extend(result.failed)
            if result.shipments == 0:
                return PlanResult(total_shipments, tuple(postings), tuple(failed))

    async def run_pass(self) -> PostingPass:
        """Plan, then send until nothing due is left or the queue pauses."""
        planned = await asyncio.to_thread(self.plan)
        sent = PostingRound()
        while True:
            batch = await self._poster.post_due()
            sent.posted += batch.posted
            sent.failed += batch.failed
            sent.waiting = batch.waiting
            if batch.halted is not None:
                sent.halted = batch.halted
                sent.reconnect_required = batch.reconnect_required
                break
            if not batch.posted and not batch.failed:
                break
        self.reconnect_required = sent.halted if sent.reconnect_required else None
        return PostingPass(planned, sent)

    async def sync(self) -> None:
        """Read what changed in Sage since the last sync (mappings follow)."""
        report = await sync_from_sage(self._sessions, self.client, now=self._clock())
        for line in report.lines():
            log.info("sage sync business=%s %s", self.business_id, line)

    async def run(self, wake: asyncio.Event, *, poll_seconds: float = 5.0) -> None:
        """Post until cancelled: on every wake, and at least every `poll_seconds`.

        What changed in Sage is read first and then every `sync_minutes`, so a customer or
        item added in Sage is mapped before the shipments that need it are planned.
        """
        synced_at: datetime | None = None
        sync_every = timedelta(minutes=self.settings.sync_minutes)
        while True:
            try:
                now = self._clock()
                if synced_at is None or now - synced_at >= sync_every:
                    await self.sync()
                    synced_at = now
                result = await self.run_pass()
                if result.sent.posted or result.sent.failed or result.planned.postings:
                    log.info(
                        "sage business=%s planned=%d posted=%d failed=%d%s",
                        self.business_id,
                        len(result.planned.postings),
                        len(result.sent.posted),
                        len(result.sent.failed),
                        f" halted: {result.sent.halted}" if result.sent.halted else "",
                    )
            except SageAuthError as error:
                self.reconnect_required = str(error)
                # No traceback: the message says what a person has to do.
                log.error("sage business=%s: %s", self.business_id, error)  # noqa: TRY400
            except Exception:
                log.exception("sage posting pass failed; retrying in %.0f s", poll_seconds)
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=poll_seconds)
