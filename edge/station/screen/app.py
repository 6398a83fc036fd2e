"""The screen's HTTP face: the page, its static files, the snapshot, a live stream and actions.

The actions need no login (the kiosk browser is on the station itself, and the server listens
on loopback only), so two checks stand in for one against other web pages the browser may have
open: a request must name a loopback Host (a page that rebinds its own domain to 127.0.0.1 still
sends its domain), and a POST must be JSON from this page's own origin (a cross-site form cannot
send `application/json`, and a cross-site `fetch` carries its foreign `Origin`).

Every response carries a Content-Security-Policy that lets the page load and connect only to
the station itself, so "nothing from a CDN" is enforced by the browser too, not only by review.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.resources import files
from typing import TYPE_CHECKING, Annotated, Final

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.station.screen.actions import (
    AbortRequest,
    ActionNotRecorded,
    ActionRefused,
    FinaliseRequest,
    ReprintRequest,
    ShortageRequest,
    VoidRequest,
    perform,
)
from edge.station.screen.audit import AuditRow
from edge.station.screen.snapshot import Snapshot, build_snapshot

if TYPE_CHECKING:
    from edge.station.runtime import Station

__all__ = ["CONTENT_SECURITY_POLICY", "KEEP_ALIVE_S", "ScreenFeed", "create_app"]

KEEP_ALIVE_S = 15.0
"""A comment this often keeps an idle event stream open through proxies and lets the page see
the station is still there."""

_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",  # the page's script, style and any image: the station's files
        "connect-src 'self'",  # the event stream and the actions
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",  # no other page can frame the actions to trick a touch
    )
)

_SECURITY_HEADERS: Final = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class _SecurityHeaders:
    """Adds `_SECURITY_HEADERS` to every HTTP response, errors and the event stream included.

    Plain ASGI, so the long-lived event stream passes straight through (Starlette's
    `BaseHTTPMiddleware` would re-wrap each streamed body).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ScreenFeed:
    """Wakes every open event stream on a station change, and ends them all at shutdown.

    The uplink has no change hook, so `watch_link` polls the link and the outbox depth and
    announces a change when they differ from what the streams were last sent; comparing with
    what was sent, not with the previous poll, catches a link that came and went between polls.
    """

    def __init__(self, station: Station) -> None:
        self.station = station
        self.closing = False
        self._sent_link: tuple[bool, bool, int] | None = None

    def close(self) -> None:
        """End every stream (the server is stopping), so no connection holds shutdown up."""
        self.closing = True
        self.station.notify_change()

    async def events(self) -> AsyncIterator[str]:
        """A `snapshot` event now and after every change; a keep-alive comment when idle."""
        seen = -1
        while not self.closing:
            if seen != self.station.revision:
                snapshot = build_snapshot(self.station)
                seen = snapshot.revision
                self._sent_link = _link_of(snapshot)
                yield f"event: snapshot\ndata: {snapshot.model_dump_json()}\n\n"
                continue
            try:
                await asyncio.wait_for(self.station.wait_for_change(seen), KEEP_ALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"

    async def watch_link(self, every: float) -> None:
        """Announce a change when the link or the outbox depth is not what was last sent."""
        while True:
            uplink = self.station.uplink
            now = (
                uplink is not None and uplink.connected,
                uplink is not None and uplink.online,
                self.station.outbox.stats().depth,
            )
            if now != self._sent_link:
                self._sent_link = now
                self.station.notify_change()
            await asyncio.sleep(every)


def _link_of(snapshot: Snapshot) -> tuple[bool, bool, int]:
    return snapshot.link.connected, snapshot.link.online, snapshot.link.outbox_depth


def _host_name(request: Request) -> str:
    host = request.headers.get("host", "")
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


async def _loopback_host(request: Request) -> None:
    if _host_name(request) not in _LOOPBACK_NAMES:
        raise HTTPException(
            status_code=421,
            detail=f"Host {request.headers.get('host', '')!r} is not this station's loopback "
            "address: the screen is only for the browser on the station",
        )


async def _same_origin_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HTTPException(
            status_code=415,
            detail=f"actions take a JSON body (Content-Type: application/json), "
            f"got {content_type or 'none'!r}",
        )
    origin = request.headers.get("origin")
    if origin is None:
        # Browsers send Origin with every POST; tools on the station itself may not.
        site = request.headers.get("sec-fetch-site", "none")
        if site not in {"same-origin", "none"}:
            raise HTTPException(status_code=403, detail=f"{site} request refused")
        return
    expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin != expected:
        raise HTTPException(
            status_code=403,
            detail=f"Origin {origin!r} refused: actions are taken only from this screen "
            f"({expected})",
        )


def create_app(station: Station, feed: ScreenFeed) -> FastAPI:
    """The screen's app for one station."""
    app = FastAPI(
        title="Packline packer's screen",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(_loopback_host)],
    )
    app.add_middleware(_SecurityHeaders)
    static = files("edge.station.screen") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    page = (static / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/api/state")
    async def state() -> Snapshot:
        return build_snapshot(station)

    @app.get("/api/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(
            feed.events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.get("/api/audit")
    async def audit(limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[AuditRow]:
        return station.screen_audit.recent(limit)

    guarded = [Depends(_same_origin_json)]

    @app.post("/api/actions/reprint", dependencies=guarded)
    async def reprint(body: ReprintRequest) -> JSONResponse:
        return await _act(station, lambda: perform(station, body))

    @app.post("/api/actions/void", dependencies=guarded)
    async def void(body: VoidRequest) -> JSONResponse:
        return await _act(station, lambda: perform(station, body))

    @app.post("/api/actions/shortage", dependencies=guarded)
    async def shortage(body: ShortageRequest) -> JSONResponse:
        return await _act(station, lambda: perform(station, body))

    @app.post("/api/actions/finalise", dependencies=guarded)
    async def finalise(body: FinaliseRequest) -> JSONResponse:
        return await _act(station, lambda: perform(station, body))

    @app.post("/api/actions/abort", dependencies=guarded)
    async def abort(body: AbortRequest) -> JSONResponse:
        return await _act(station, lambda: perform(station, body))

    return app


async def _act(station: Station, run: Callable[[], Awaitable[AuditRow]]) -> JSONResponse:
    """Run an action; answer with the new snapshot, or a 409/503 whose detail says why not."""
    try:
        await run()
    except ActionRefused as refused:
        return JSONResponse({"detail": str(refused), "audit": refused.row}, status_code=409)
    except ActionNotRecorded as error:
        return JSONResponse({"detail": str(error)}, status_code=503)
    return JSONResponse(build_snapshot(station).model_dump(mode="json"))
