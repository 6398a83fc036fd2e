"""Recording an API change in the audit trail, in the request's own transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud_bridge.api.tokens import Principal
from cloud_bridge.api.transaction import Unit
from cloud_bridge.audit import record_audit

__all__ = ["record_change"]


def record_change(
    unit: Unit,
    who: Principal,
    *,
    action: str,
    subject: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Audit a change ``who`` made; it commits, or rolls back, with the change itself."""
    record_audit(
        unit.session,
        actor=who.name,
        role=who.role.value,
        action=action,
        subject=subject,
        before=before,
        after=after,
    )
