"""A `SageClient` for the environment `bridge.toml` selects, built in one place."""

from __future__ import annotations

from typing import Literal

import httpx

from cloud_bridge.posting.settings import SageSettings
from cloud_bridge.sage.client import Clock, SageClient, Sleep
from cloud_bridge.sage.tokens import TokenStore

__all__ = ["open_client"]


def open_client(
    settings: SageSettings,
    *,
    environment: Literal["test", "live"] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep | None = None,
    clock: Clock | None = None,
    requests_per_minute: float | None = None,
    max_attempts: int = 5,
) -> SageClient:
    """A client bound to one business: the configured environment's, or `environment`'s.

    Use it as `async with open_client(settings) as sage:`. Binding happens here and only here,
    so the business a client posts to is always the one its environment names, and its token
    store accepts only tokens stamped with that environment.
    """
    name = environment or settings.environment
    chosen = settings.test if name == "test" else settings.live
    if chosen is None:
        raise ValueError(f"[sage.{name}] is not configured; add its business_id and token_file")
    return SageClient(
        base_url=settings.base_url,
        business_id=chosen.business_id,
        client_id=settings.client_id,
        client_secret=settings.read_client_secret(),
        tokens=TokenStore(chosen.token_file, environment=name),
        transport=transport,
        timeout_s=settings.timeout_seconds,
        token_url=settings.token_url,
        sleep=sleep,
        clock=clock,
        max_attempts=max_attempts,
        requests_per_minute=(
            settings.requests_per_minute if requests_per_minute is None else requests_per_minute
        ),
    )
