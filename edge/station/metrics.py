"""The station's Prometheus endpoint: what it scanned, picked and printed, and how its link fares.

Every figure except one is read from the station at scrape time, by a custom collector, so there
is no second set of counters to keep in step: the workflow's counts come from the durable
workflow state (they survive a restart), the outbox figures from the outbox itself, the rest from
the live station and its uplink. The one live metric is the event round trip histogram, which the
uplink feeds as acks arrive.

Each `StationMetrics` has a registry of its own, never prometheus-client's global one, so two
stations in one process (tests, the demo) keep their figures apart.

The endpoint is off unless ``[metrics] enabled = true``: a station on a kiosk opens no port
nobody scrapes, and two stations on one machine do not fight over the default port. It serves
read-only counters with no secrets, so binding it to the site network (``host = "0.0.0.0"`` or
the station's address) for the site's Prometheus to scrape is fine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, get_args

import uvicorn
from prometheus_client import CollectorRegistry, Histogram, make_asgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from pydantic import Field

from edge.config import StrictConfig
from edge.contract import StationStatus
from edge.station.http_server import StationOwnedServer, bind_listener

if TYPE_CHECKING:
    from edge.station.runtime import Station
    from edge.station.uplink import Uplink

__all__ = [
    "ROUND_TRIP_BUCKETS",
    "StationCollector",
    "StationMetrics",
    "StationMetricsSettings",
    "serve_metrics",
]

log = logging.getLogger("packline.station.metrics")

ROUND_TRIP_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""From a LAN round trip (a few ms) to a broker outage riding on the outbox (a minute and up)."""

_PRINTER_STATES: Final = get_args(StationStatus.model_fields["printer"].annotation)
_WORKFLOW_COUNTS: Final = {
    "picks": "Order lines picked in full and confirmed at their slot, one per line whatever its "
    "quantity (a line closed by a shortage counts under shorts instead).",
    "shorts": "Shortages reported.",
    "wrong_scans": "Scans refused as the wrong item or an unknown barcode.",
    "wrong_slots": "Slot buttons pressed for a slot the item does not go to.",
    "orders_completed": "Orders packed and labelled.",
    "reprints": "Labels reprinted.",
    "voids": "Labels voided.",
    "aborts": "Orders aborted.",
}
_OUTBOX_GAUGES: Final = {
    "outbox_depth": "Events awaiting the bridge's ack.",
    "outbox_bytes": "Bytes of the events awaiting the bridge's ack.",
    "outbox_max_events": "The outbox's bound in events.",
    "outbox_max_bytes": "The outbox's bound in bytes.",
    "outbox_oldest_age_seconds": "Age of the oldest event awaiting its ack (0 when none is).",
    "outbox_alarm": "1 when the outbox is full enough to need a look.",
    "outbox_highest_seq": "The highest event sequence handed out.",
    "outbox_acknowledged_seq": "The highest event sequence the bridge acknowledged.",
    "storage_fault": "1 while the station refuses work because its storage is full.",
}
_LINK_FAMILIES: Final = {
    "reconnects": (
        "counter",
        "Connections to the broker after the first one since the station started.",
    ),
    "rejected_messages": (
        "counter",
        "Messages from the bridge refused, each logged with its reason.",
    ),
    "connected": ("gauge", "1 while connected and subscribed to the broker."),
    "online": ("gauge", "1 while connected and born: the bridge sees the station online."),
}
_LABELS_HELP: Final = (
    'Labels printed. kind="first": the label that completes an order; the workflow emits it in '
    "the same step that counts the order completed, so it equals orders_completed (a label that "
    'failed to print is not counted). kind="reprint": reprints that printed.'
)
_SCAN_KINDS: Final = ("order", "item", "command", "bad")
_SHUTDOWN_S: Final = 5.0


class StationMetricsSettings(StrictConfig):
    """`[metrics]`: the Prometheus endpoint; off unless enabled (see the module docstring)."""

    enabled: bool = False
    host: str = Field(default="127.0.0.1", min_length=1)
    """The address to listen on; the site network's address lets Prometheus scrape it."""
    port: int = Field(default=9108, ge=0, le=65535)
    """9108 by default; 0 takes any free port (tests), readable as `StationMetrics.port`."""


def _described() -> Iterator[Metric]:
    """Every family the collector yields, with no samples: what `describe` hands the registry."""
    yield Metric("packline_station_scans", "", "counter")
    for name in _WORKFLOW_COUNTS:
        yield Metric(f"packline_station_{name}", "", "counter")
    yield Metric("packline_station_labels_printed", "", "counter")
    yield Metric("packline_station_printer_faults", "", "counter")
    yield Metric("packline_station_printer_state", "", "gauge")
    for name in _OUTBOX_GAUGES:
        yield Metric(f"packline_station_{name}", "", "gauge")
    for name, (kind, _) in _LINK_FAMILIES.items():
        yield Metric(f"packline_station_{name}", "", kind)
    yield Metric("packline_station", "", "info")


class StationCollector(Collector):
    """Reads the station's figures at scrape time (on the event loop, where the station lives)."""

    def __init__(self, station: Station, uplink: Callable[[], Uplink | None]) -> None:
        self._station = station
        self._uplink = uplink

    def describe(self) -> Iterable[Metric]:
        """The families without reading the station, so registering reads nothing."""
        return list(_described())

    def collect(self) -> Iterable[Metric]:
        yield from self._scans()
        yield from self._workflow()
        yield from self._printer()
        yield from self._outbox()
        yield from self._link()
        info = InfoMetricFamily("packline_station", "Which station this is and what it runs.")
        config = self._station.config.station
        info.add_metric(
            [],
            {
                "site": config.site,
                "station": config.id,
                "version": self._station.software_version,
            },
        )
        yield info

    def _scans(self) -> Iterable[Metric]:
        scans = CounterMetricFamily(
            "packline_station_scans",
            "Scans since the station started, by what they read as.",
            labels=["kind"],
        )
        counts = self._station.scan_counts
        for kind in sorted({*_SCAN_KINDS, *counts}):
            scans.add_metric([kind], counts[kind])
        yield scans

    def _workflow(self) -> Iterable[Metric]:
        counts = self._station.state.counts
        for name, help_text in _WORKFLOW_COUNTS.items():
            yield CounterMetricFamily(
                f"packline_station_{name}",
                f"{help_text} Kept in the workflow state, so it survives restarts.",
                value=getattr(counts, name),
            )
        labels = CounterMetricFamily(
            "packline_station_labels_printed", _LABELS_HELP, labels=["kind"]
        )
        labels.add_metric(["first"], counts.orders_completed)
        labels.add_metric(["reprint"], counts.reprints)
        yield labels

    def _printer(self) -> Iterable[Metric]:
        station = self._station
        yield CounterMetricFamily(
            "packline_station_printer_faults",
            "Times the printer went from working to fault or offline since the station started.",
            value=station.printer_faults,
        )
        state = GaugeMetricFamily(
            "packline_station_printer_state",
            "1 for the printer's current state (ok, fault, offline, unknown), 0 for the others.",
            labels=["state"],
        )
        current = station.printer_state[0]
        for name in sorted({*_PRINTER_STATES, current}):
            state.add_metric([name], 1.0 if name == current else 0.0)
        yield state

    def _outbox(self) -> Iterable[Metric]:
        stats = self._station.outbox.stats()
        age = 0.0
        if stats.oldest_at is not None:
            age = max(0.0, (datetime.now(UTC) - stats.oldest_at).total_seconds())
        values = {
            "outbox_depth": stats.depth,
            "outbox_bytes": stats.bytes,
            "outbox_max_events": stats.max_events,
            "outbox_max_bytes": stats.max_bytes,
            "outbox_oldest_age_seconds": age,
            "outbox_alarm": stats.alarm,
            "outbox_highest_seq": stats.highest_seq,
            "outbox_acknowledged_seq": stats.acknowledged_seq,
            "storage_fault": self._station.storage_alert is not None,
        }
        for name, help_text in _OUTBOX_GAUGES.items():
            yield GaugeMetricFamily(
                f"packline_station_{name}", help_text, value=float(values[name])
            )

    def _link(self) -> Iterable[Metric]:
        uplink = self._uplink()
        values = {
            "reconnects": uplink.reconnects if uplink is not None else 0,
            "rejected_messages": self._station.rejected_messages,
            "connected": uplink is not None and uplink.connected,
            "online": uplink is not None and uplink.online,
        }
        for name, (kind, help_text) in _LINK_FAMILIES.items():
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(f"packline_station_{name}", help_text, value=float(values[name]))


class StationMetrics:
    """One station's registry: the collector over it and the round trip histogram.

    Wiring: create it with the station, hand it each uplink (`attach_uplink`), and run `serve`
    with the `[metrics]` settings alongside the station's other tasks.
    """

    def __init__(self, station: Station) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.round_trip = Histogram(
            "packline_station_event_round_trip_seconds",
            "From an event's append to the outbox to the bridge's ack of it; a replayed event "
            "counts its whole wait.",
            buckets=ROUND_TRIP_BUCKETS,
            registry=self.registry,
        )
        self._uplink: Uplink | None = None
        self.registry.register(StationCollector(station, lambda: self._uplink))
        self.port: int | None = None
        """The port the endpoint listens on, once `serve` has bound it."""

    def attach_uplink(self, uplink: Uplink) -> None:
        """Read the link's figures from `uplink` and time its acks into the histogram."""
        uplink.on_round_trip = self.round_trip.observe
        self._uplink = uplink

    async def serve(self, settings: StationMetricsSettings) -> None:
        """Serve `GET /metrics` per `settings` until cancelled; returns at once if disabled."""
        if settings.enabled:
            await serve_metrics(self.registry, settings, on_listening=self._listening)

    def _listening(self, port: int) -> None:
        self.port = port


async def serve_metrics(
    registry: CollectorRegistry,
    settings: StationMetricsSettings,
    *,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Serve `registry` as `GET /metrics` in the Prometheus text format until cancelled.

    Runs uvicorn in the caller's event loop, so the collector reads the station on the thread
    that owns it. A port that cannot be bound is logged and the endpoint stays off: metrics are
    never a reason for a pack station to stop.
    """
    try:
        listener = bind_listener(settings.host, settings.port)
    except OSError as error:
        log.error(  # noqa: TRY400 - the reason is the message; a traceback adds nothing
            "metrics endpoint off: cannot listen on %s:%d: %s", settings.host, settings.port, error
        )
        return
    port = int(listener.getsockname()[1])
    server = StationOwnedServer(
        uvicorn.Config(
            _metrics_only(make_asgi_app(registry)),
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[listener]), name="metrics-http")
    log.info("metrics endpoint on http://%s:%d/metrics", settings.host, port)
    if on_listening is not None:
        on_listening(port)
    try:
        await asyncio.shield(serving)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(serving, _SHUTDOWN_S)
        listener.close()


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


def _metrics_only(app: Asgi) -> Asgi:
    """prometheus-client's app answers on every path; only ``/metrics`` is meant to."""

    async def only_metrics(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/metrics":
            await app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        body = b"not found; the metrics are at /metrics\n"
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return only_metrics
