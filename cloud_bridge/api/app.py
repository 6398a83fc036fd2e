"""The composition root of the bridge's HTTP API.

Every route needs ``Authorization: Bearer <token>`` with a role that grants the route's
permission (`cloud_bridge.api.roles`); the app refuses to build if a route has none. That
includes the OpenAPI document (``/openapi.json``), which any token may read: nothing on the
bridge answers a caller without one. There is no interactive docs page, since a browser page
cannot send the bearer header when it fetches the document.

The one exception is the manager's dashboard page under ``/dashboard/`` (`cloud_bridge.dashboard`):
static files holding no data, mounted rather than routed; the JSON they fetch from
``/dashboard/api`` needs a token like every other route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge import dashboard
from cloud_bridge.api import (
    routes_accounts,
    routes_audit,
    routes_debtors,
    routes_orders,
    routes_products,
    routes_reports,
    routes_settings,
    routes_shipments,
    routes_stock,
)
from cloud_bridge.api.auth import Authorizer, authorize
from cloud_bridge.api.error_handlers import errors_documented, install_error_handlers
from cloud_bridge.api.errors import ApiConfigurationError
from cloud_bridge.api.roles import ROUTE_PERMISSIONS, RouteKey, roles_with
from cloud_bridge.api.routes_metrics import metrics_router
from cloud_bridge.api.transaction import Publish, Transactions
from cloud_bridge.metrics import database_registry
from cloud_bridge.services.release import SlotMaps

__all__ = ["API_VERSION", "api_routes", "check_route_permissions", "create_app"]

API_VERSION = "1.0.0"

_DESCRIPTION = """\
The cloud bridge's API: orders, accounts and their links, products, stock, invoice debtors,
the credit gate's settings, the error report and auto queue monitor, and shipments with their
corrections and Sage postings.

* **Authentication**: every endpoint needs `Authorization: Bearer <token>`; without it, or with
  an unknown or revoked token, the answer is 401. Tokens carry a role (viewer, operator,
  credit_controller, admin); each endpoint's description names the roles it accepts, and any
  other role gets 403. `packline bridge token create` makes tokens. This document and `/docs`
  are public; they hold no data.
* **Audit**: changes to credit settings, debtors, accounts' links and flags, order quantities
  and cancellations are recorded with the token's name in the audit trail (`GET /audit`),
  which nothing can edit.
* **Transactions**: each request is one database transaction. If anything fails, nothing is
  changed. Messages to stations are sent only after the change has committed.
* **Money** is a decimal string such as `"12.50"` (at most four decimal places), never a JSON
  number; responses give four places, such as `"12.5000"`. Times are UTC, ISO 8601.
* **Errors** all have the body `{"error": {"field", "rule", "message"}, "errors": [...]}`:
  422 for a malformed request (every invalid field listed), 404 for an unknown id, 409 for a
  rule the request would break given what is stored.
"""


def create_app(
    *,
    sessions: sessionmaker[Session],
    slot_maps: SlotMaps,
    publish: Publish | None = None,
    wake_poster: Callable[[], None] | None = None,
    metrics: CollectorRegistry | None = None,
    dashboard_settings: dashboard.DashboardSettings | None = None,
) -> FastAPI:
    """The API over ``sessions``, guarded by the tokens stored there; ``publish`` sends station
    messages.

    ``wake_poster`` is called after a shipment correction commits, so Sage hears of it now.

    ``slot_maps`` tells which slot holds each SKU at each station, for the message a station
    gets when an order it holds changes.

    ``metrics`` is served at ``GET /metrics``: the running bridge passes its own registry;
    without one, the figures the database holds are served.
    """
    app = FastAPI(
        title="Packline cloud bridge",
        version=API_VERSION,
        description=_DESCRIPTION,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(authorize)],
        responses=errors_documented(401, 403, 422),
    )
    transactions = Transactions(sessions, publish)
    app.state.authorizer = Authorizer(transactions.read_session)
    app.state.transactions = transactions
    app.state.slot_maps = slot_maps
    app.state.wake_poster = wake_poster
    install_error_handlers(app)
    for module in (
        routes_orders,
        routes_accounts,
        routes_products,
        routes_stock,
        routes_debtors,
        routes_settings,
        routes_reports,
        routes_shipments,
        routes_audit,
    ):
        app.include_router(module.router)
    app.include_router(dashboard.router)
    app.include_router(
        metrics_router(metrics if metrics is not None else database_registry(sessions))
    )

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document() -> dict[str, Any]:
        """The OpenAPI document: what every operation takes, answers and needs."""
        return app.openapi()

    dashboard.mount_shell(app)
    if dashboard_settings is not None:
        dashboard.use_settings(app, dashboard_settings)
    check_route_permissions(app)
    _document_roles(app)
    return app


def api_routes(app: FastAPI) -> Iterator[tuple[APIRoute, RouteKey]]:
    """Every API route of ``app`` with each (method, path) it answers, as the table is keyed."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            for method in sorted(route.methods or ()):
                yield route, (method, route.path)


def check_route_permissions(app: FastAPI) -> None:
    """Refuse an app with a route missing from the permission table.

    Checked when the app is built, so a new endpoint without a permission fails every test and
    every start instead of going out open.
    """
    missing = [
        f"{method} {path}"
        for _, (method, path) in api_routes(app)
        if (method, path) not in ROUTE_PERMISSIONS
    ]
    if missing:
        raise ApiConfigurationError(
            f"route(s) {', '.join(missing)} have no permission in "
            "cloud_bridge.api.roles.ROUTE_PERMISSIONS; add one for each"
        )


_ROLES_HEADING = "\n\n**Roles:** "


def _document_roles(app: FastAPI) -> None:
    """Name the roles each route accepts at the end of its description in the OpenAPI document."""
    roles: dict[int, list[str]] = {}
    routes: dict[int, APIRoute] = {}
    for route, key in api_routes(app):
        named = roles.setdefault(id(route), [])
        routes[id(route)] = route
        named += [
            role.value for role in roles_with(ROUTE_PERMISSIONS[key]) if role.value not in named
        ]
    for identity, route in routes.items():
        listed = ", ".join(f"`{name}`" for name in roles[identity])
        # Routers are module-level and shared by every app built in a process: replace, not add.
        described = route.description.split(_ROLES_HEADING)[0]
        route.description = f"{described}{_ROLES_HEADING}{listed}."
