"""The bridge's posting loop: plan what shipped into postings, then send what is due.

Posting immediately (`interval_minutes = 0`) makes each posting due when it is planned, and the
loop is woken when a shipment is recorded or corrected. Batched posting makes postings due at
the end of the current N-minute interval (counted from midnight UTC), so a batch goes out
together at predictable times. Either way the loop also runs every `poll_seconds`, which is what
retries a paused queue.

Each pass first records the configured environment as the one in use (`select_environment`). A
switch from test to live that has to wait for the old environment's postings stops the pass
with the reason, and the loop keeps trying on every poll, so it goes on by itself once a person
has drained or dismissed them.
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
from cloud_bridge.posting.environment import select_environment
from cloud_bridge.posting.planner import PlanResult, plan_postings
from cloud_bridge.posting.poster import AttemptObserver, Poster, PostingRound
from cloud_bridge.posting.settings import SageSettings
from cloud_bridge.posting.sync import sync_from_sage
from cloud_bridge.sage.client import SageClient, Sleep
from cloud_bridge.sage.errors import SageAuthError, SageEnvironmentMismatch

__all__ = ["BRIDGE_ACTOR", "PostingPass", "PostingService", "due_time"]

log = logging.getLogger(__name__)

BRIDGE_ACTOR = "bridge"
"""The audit actor of what the posting loop does by itself (the first environment selection)."""


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
        actor: str = BRIDGE_ACTOR,
        observer: AttemptObserver | None = None,
    ) -> None:
        """``observer``, if given, is told of each send to Sage and each failure (metrics)."""
        self._sessions = sessions
        self._actor = actor
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
            observer=observer,
        )
        self.reconnect_required: str | None = None
        self.refused: str | None = None
        """Why the last pass could not use the configured environment, if it could not."""

    @property
    def business_id(self) -> str:
        return self.client.business_id

    @property
    def environment(self) -> str:
        return self.client.environment

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

    def select(self) -> bool:
        """Record the configured environment as the one in use; see `select_environment`."""
        with self._sessions.begin() as session:
            return select_environment(
                session,
                environment=self.environment,
                business_id=self.business_id,
                actor=self._actor,
                now=self._clock(),
            )

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
                    environment=self.environment,
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
        """Select the environment, plan, then send until nothing due is left or the queue pauses.

        `SageEnvironmentMismatch` when the environment cannot be switched yet.
        """
        await asyncio.to_thread(self.select)
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
                self.refused = None
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
            except SageEnvironmentMismatch as error:
                # Logged once per reason, not on every poll while a person sorts it out.
                if str(error) != self.refused:
                    log.error("sage environment=%s: %s", self.environment, error)  # noqa: TRY400
                self.refused = str(error)
            except Exception:
                log.exception("sage posting pass failed; retrying in %.0f s", poll_seconds)
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=poll_seconds)
