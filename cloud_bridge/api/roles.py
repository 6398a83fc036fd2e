"""Who may call what: the API's roles and the one table that gives every route its permission.

A token carries one role. A role grants a set of permissions, and every route needs exactly one
permission, looked up here by its method and path template. `create_app` refuses to build an
app with a route missing from the table, so a new endpoint cannot go out unguarded; a test
walks the routes as well.

- ``viewer`` reads everything the API serves, except the audit trail.
- ``operator`` runs the floor: creates orders, changes line quantities, cancels, runs
  allocation, receives and adjusts stock, corrects shipments.
- ``credit_controller`` owns credit: debtors, their credit lines and what they owe, payments
  (which decide whether a prepayment order may be picked), the credit settings including
  *Check credit line*; and reads the audit trail, since most of it records credit decisions.
- ``admin`` may do everything: also accounts, their links and linked-stock flags, products.

The audit trail is not for viewers: it names who did what and shows credit figures before and
after, which is more than a read-only dashboard needs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = [
    "ROLE_PERMISSIONS",
    "ROUTE_PERMISSIONS",
    "Permission",
    "Role",
    "RouteKey",
    "roles_with",
]


class Role(enum.StrEnum):
    """The role a token carries."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    CREDIT_CONTROLLER = "credit_controller"
    ADMIN = "admin"


class Permission(enum.StrEnum):
    """What a route needs."""

    READ = "read"
    """Read orders, accounts, products, stock, debtors, settings, reports, shipments."""
    OPERATE = "operate"
    """Orders, quantities, cancellations, allocation runs, stock movements, shipment actions."""
    CREDIT = "credit"
    """Debtors, credit lines, outstanding amounts, payments, the credit settings."""
    READ_AUDIT = "read_audit"
    """The audit trail."""
    ADMINISTER = "administer"
    """Accounts, their links and flags, products."""


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.OPERATOR: frozenset({Permission.READ, Permission.OPERATE}),
    Role.CREDIT_CONTROLLER: frozenset({Permission.READ, Permission.CREDIT, Permission.READ_AUDIT}),
    Role.ADMIN: frozenset(Permission),
}

RouteKey = tuple[str, str]
"""(HTTP method, path template as the route declares it), e.g. ``("PUT", "/settings/credit")``."""

ROUTE_PERMISSIONS: Mapping[RouteKey, Permission] = {
    # orders
    ("GET", "/orders"): Permission.READ,
    ("GET", "/orders/{order_no}"): Permission.READ,
    ("POST", "/orders"): Permission.OPERATE,
    ("PATCH", "/orders/{order_no}/lines/{line_id}"): Permission.OPERATE,
    ("POST", "/orders/{order_no}/cancel"): Permission.OPERATE,
    ("POST", "/allocation/run"): Permission.OPERATE,
    # stock
    ("GET", "/stock"): Permission.READ,
    ("POST", "/stock/receipts"): Permission.OPERATE,
    ("POST", "/stock/adjustments"): Permission.OPERATE,
    # shipments
    ("GET", "/shipments/{shipment_id}"): Permission.READ,
    ("POST", "/shipments/{shipment_id}/corrections"): Permission.OPERATE,
    # reports
    ("GET", "/reports/errors"): Permission.READ,
    ("GET", "/reports/auto-queue"): Permission.READ,
    # credit
    ("GET", "/debtors/{debtor_no}"): Permission.READ,
    ("POST", "/debtors"): Permission.CREDIT,
    ("PUT", "/debtors/{debtor_no}/credit-line"): Permission.CREDIT,
    ("PUT", "/debtors/{debtor_no}/outstanding"): Permission.CREDIT,
    ("POST", "/debtors/{debtor_no}/payments"): Permission.CREDIT,
    ("GET", "/settings/credit"): Permission.READ,
    ("PUT", "/settings/credit"): Permission.CREDIT,
    # accounts and products
    ("GET", "/accounts/{account_id}"): Permission.READ,
    ("POST", "/accounts"): Permission.ADMINISTER,
    ("PUT", "/accounts/{account_id}/flags"): Permission.ADMINISTER,
    ("POST", "/accounts/{account_id}/links"): Permission.ADMINISTER,
    ("DELETE", "/accounts/{account_id}/links/{linked_id}"): Permission.ADMINISTER,
    ("POST", "/products"): Permission.ADMINISTER,
    # the audit trail
    ("GET", "/audit"): Permission.READ_AUDIT,
    # the manager's dashboard (its page is static and holds no data; see cloud_bridge.dashboard)
    ("GET", "/dashboard/api/stations"): Permission.READ,
    ("GET", "/dashboard/api/orders/by-state"): Permission.READ,
    ("GET", "/dashboard/api/orders"): Permission.READ,
    ("GET", "/dashboard/api/despatches/today"): Permission.READ,
    ("GET", "/dashboard/api/charts/orders-per-hour"): Permission.READ,
    ("GET", "/dashboard/api/charts/picks-per-station"): Permission.READ,
    ("GET", "/dashboard/api/credit-errors"): Permission.READ,
    ("GET", "/dashboard/api/auto-queue"): Permission.READ,
    ("GET", "/dashboard/api/inventory"): Permission.READ,
    ("GET", "/dashboard/api/sage"): Permission.READ,
    ("GET", "/dashboard/api/sage/rejected"): Permission.READ,
    ("GET", "/dashboard/api/fleet"): Permission.READ,
    # Prometheus metrics
    ("GET", "/metrics"): Permission.READ,
    # the OpenAPI document
    ("GET", "/openapi.json"): Permission.READ,
}


def roles_with(permission: Permission) -> tuple[Role, ...]:
    """The roles that grant ``permission``, in declaration order (for error messages)."""
    return tuple(role for role in Role if permission in ROLE_PERMISSIONS[role])
