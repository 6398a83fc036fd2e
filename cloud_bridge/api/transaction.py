"""One database transaction per request, and station messages published only after it commits.

A handler hands its work to `Transactions.run`: the work runs on a worker thread (the database
driver blocks) inside one transaction, collects the station messages the services return, and
builds its response there, while every row it read is still current. Any exception rolls the
whole transaction back, so a request never half-applies; only after the commit are the collected
messages published, so a station never hears of a change that did not happen.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from cloud_bridge.services.release import Dispatch

__all__ = ["Publish", "Transactions", "Unit"]

log = logging.getLogger("packline.bridge.api")

Publish = Callable[[Dispatch], Awaitable[None]]
"""Sends one message to its station (after the commit)."""

_Result = TypeVar("_Result")


@dataclass
class Unit:
    """What a request's work gets: its session, one instant for the whole request, an outbox."""

    session: Session
    now: datetime
    outbox: list[Dispatch] = field(default_factory=list)

    def send(self, dispatch: Dispatch | None) -> None:
        """Queue a service's message for publishing once the transaction has committed."""
        if dispatch is not None:
            self.outbox.append(dispatch)


class Transactions:
    """Runs each request's work in its own transaction, then publishes what it queued."""

    def __init__(self, sessions: sessionmaker[Session], publish: Publish | None) -> None:
        self._sessions = sessions
        self._publish = publish

    async def run(self, work: Callable[[Unit], _Result]) -> _Result:
        """The work's result, committed; its queued messages are published afterwards."""
        result, outbox = await run_in_threadpool(self._in_transaction, work)
        if self._publish is not None:
            for dispatch in outbox:
                await self._deliver(self._publish, dispatch)
        return result

    def _in_transaction(self, work: Callable[[Unit], _Result]) -> tuple[_Result, list[Dispatch]]:
        with self._sessions() as session, session.begin():
            unit = Unit(session=session, now=datetime.now(UTC))
            result = work(unit)
            session.flush()
        return result, unit.outbox

    @staticmethod
    async def _deliver(publish: Publish, dispatch: Dispatch) -> None:
        """Publish one message; a failure is logged, not raised, as the change has committed.

        Stations receive their current allocations again whenever they come online, so a
        message lost here is resent from the database rather than by failing the request.
        """
        try:
            await publish(dispatch)
        except Exception:
            log.exception(
                "publish failed after commit: %s for order %s to station %s",
                dispatch.message.type,
                dispatch.message.order_id,
                dispatch.station_id,
            )
