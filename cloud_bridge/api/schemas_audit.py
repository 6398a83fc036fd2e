"""Response bodies of the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from cloud_bridge.api.schemas_base import ApiModel

__all__ = ["AuditEntryOut", "AuditPage"]


class AuditEntryOut(ApiModel):
    """One audited change."""

    id: int = Field(description="The entry's number; later entries have higher numbers.")
    at: datetime = Field(description="When the change was made (UTC).")
    actor: str = Field(description="The API token's name, or `station:<id>` for a station.")
    role: str = Field(description="The actor's role then: an API role, `station` or `system`.")
    action: str = Field(description="What was done, such as `debtor.credit_line.set`.")
    subject: str = Field(description="What it was done to, such as `debtor:D1`.")
    before: dict[str, Any] | None = Field(description="The changed fields before; null if new.")
    after: dict[str, Any] | None = Field(description="The changed fields after; null if removed.")


class AuditPage(ApiModel):
    """A page of audit entries matching the filters, newest first."""

    items: list[AuditEntryOut] = Field(description="The entries on this page.")
    total: int = Field(description="How many entries match the filters in all.")
    limit: int = Field(description="The page size asked for.")
    offset: int = Field(description="How many matching entries were skipped.")
