"""The composition root of the bridge's HTTP API.

Every route needs ``Authorization: Bearer <token>``. The OpenAPI document (``/openapi.json``)
and the interactive docs (``/docs``) are public: they describe the API, which the source code
describes anyway, and hold no data; keeping them open lets client generators and the docs page
fetch the schema, while every call that reads or changes data still needs the token.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.api import (
    routes_accounts,
    routes_debtors,
    routes_orders,
    routes_products,
    routes_reports,
    routes_settings,
    routes_shipments,
    routes_stock,
)
from cloud_bridge.api.auth import TokenCheck, require_token
from cloud_bridge.api.error_handlers import errors_documented, install_error_handlers
from cloud_bridge.api.errors import ApiConfigurationError
from cloud_bridge.api.transaction import Publish, Transactions
from cloud_bridge.services.release import SlotMaps

__all__ = ["API_VERSION", "create_app"]

API_VERSION = "1.0.0"

_DESCRIPTION = """\
The cloud bridge's API: orders, accounts and their links, products, stock, invoice debtors,
the credit gate's settings, the error report and auto queue monitor, and shipments with their
corrections and Sage postings.

* **Authentication**: every endpoint needs `Authorization: Bearer <token>`; without it, or with
  a wrong token, the answer is 401. This document and `/docs` are public; they hold no data.
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
    token: str,
    slot_maps: SlotMaps,
    publish: Publish | None = None,
    wake_poster: Callable[[], None] | None = None,
) -> FastAPI:
    """The API over ``sessions``, guarded by ``token``; ``publish`` sends station messages.

    ``wake_poster`` is called after a shipment correction commits, so Sage hears of it now.

    ``slot_maps`` tells which slot holds each SKU at each station, for the message a station
    gets when an order it holds changes.
    """
    if not token.strip():
        raise ApiConfigurationError("the API token is empty; expected a secret of some length")
    app = FastAPI(
        title="Packline cloud bridge",
        version=API_VERSION,
        description=_DESCRIPTION,
        dependencies=[Depends(require_token)],
        responses=errors_documented(401, 422),
    )
    app.state.token_check = TokenCheck(token)
    app.state.transactions = Transactions(sessions, publish)
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
    ):
        app.include_router(module.router)
    return app
