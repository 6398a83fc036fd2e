"""``GET /metrics``: the bridge's Prometheus metrics, behind a token like every other route."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["metrics_router"]

_DESCRIPTION = """\
The bridge's metrics in the Prometheus text format: ingest, allocation cycle time, Sage postings
by state and those waiting for a retry, attempts to post to Sage and failed attempts by reason
(counted by the running bridge's poster), credit holds, open error reports, the auto queue,
stations online, refused publishes. The database figures are read without taking its write
lock, so a scrape never waits behind ingest or allocation.

Like every route it needs a token; make one with the viewer role for Prometheus, store it in a
file readable only by Prometheus, and point the scrape job at it:

```yaml
scrape_configs:
  - job_name: packline-bridge
    scheme: https
    authorization:
      credentials_file: /etc/prometheus/packline-bridge.token
    static_configs:
      - targets: ["bridge.example:8080"]
```

A database that fails during a scrape leaves its figures out and raises
`packline_bridge_scrape_errors_total` instead of failing the scrape."""


def metrics_router(registry: CollectorRegistry) -> APIRouter:
    """A router serving ``registry``; one per app, as each bridge has a registry of its own."""
    router = APIRouter(tags=["metrics"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        description=_DESCRIPTION,
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "The metrics."}},
    )
    def get_metrics() -> Response:
        # A plain def: FastAPI runs it in its thread pool, so the collectors' database reads
        # never hold up the event loop.
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
