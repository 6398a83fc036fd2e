"""Request and response bodies for debtors, payments, the credit settings and the reports."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator

from cloud_bridge.api.fields import Amount, Money, MoneyOut, Name, PositiveAmount
from cloud_bridge.api.schemas_base import ApiModel, RequestModel, unique
from cloud_bridge.credit import OutstandingKind
from cloud_bridge.db.models import ReleaseStep

__all__ = [
    "AutoQueueOut",
    "AutoQueueReport",
    "CreditLineIn",
    "CreditSettingsBody",
    "DebtorIn",
    "DebtorOut",
    "ErrorReportOut",
    "ErrorReportPage",
    "OutstandingIn",
    "PaymentIn",
    "PaymentOut",
]


# --- debtors and settings ---------------------------------------------------------------------


class DebtorIn(RequestModel):
    """A new invoice debtor."""

    debtor_no: Name = Field(description="The debtor's number; unique.")
    name: StrictStr = Field(min_length=1, max_length=200, description="The debtor's name.")
    credit_line: Amount | None = Field(
        default=None, description="Credit limit; null is no limit, and 0 is a real limit."
    )
    open_invoices: Money = Field(default=Decimal(0), description="Invoiced and not yet paid.")
    shipped_not_invoiced: Amount = Field(
        default=Decimal(0), description="Despatched but not yet invoiced."
    )


class DebtorOut(ApiModel):
    """An invoice debtor and what it owes."""

    debtor_no: str = Field(description="The debtor's number.")
    name: str = Field(description="The debtor's name.")
    credit_line: MoneyOut | None = Field(description="Credit limit; null is no limit.")
    open_invoices: MoneyOut = Field(description="Invoiced and not yet paid.")
    shipped_not_invoiced: MoneyOut = Field(description="Despatched but not yet invoiced.")


class CreditLineIn(RequestModel):
    """A debtor's new credit line; the key is required so that no limit is said explicitly."""

    credit_line: Amount | None = Field(description="Credit limit; null is no limit, 0 a real one.")


class OutstandingIn(RequestModel):
    """What the debtor owes, as the accounting system holds it."""

    open_invoices: Money = Field(
        description="Invoiced and not yet paid (negative when credit notes exceed invoices)."
    )
    shipped_not_invoiced: Amount = Field(description="Despatched but not yet invoiced.")


class PaymentIn(RequestModel):
    """Money received from the debtor, optionally against one of its orders."""

    amount: PositiveAmount = Field(description="Amount received, above zero.")
    order_no: Name | None = Field(
        default=None, description="The order paid for; its amount paid goes up by `amount`."
    )


class PaymentOut(ApiModel):
    """A recorded payment."""

    id: int = Field(description="The payment's id.")
    debtor_no: str = Field(description="Who paid.")
    order_no: str | None = Field(description="The order paid for, if any.")
    amount: MoneyOut = Field(description="Amount received.")
    received_at: datetime = Field(description="When it was recorded (UTC).")
    order_amount_paid: MoneyOut | None = Field(
        description="The order's amount paid after this payment, if it was for an order."
    )


class CreditSettingsBody(RequestModel):
    """The credit gate's settings, shared by every bridge instance."""

    check_credit_line: StrictBool = Field(
        description="The 'Check credit line' setting: with it off, neither check runs."
    )
    risk_control: list[OutstandingKind] = Field(
        description="The 'Credit line risk control': which outstanding amounts count."
    )
    retry_in_minutes: StrictInt = Field(
        ge=1, le=10_080, description="The auto queue's RetryInMinutes: wait before a retry."
    )

    @field_validator("risk_control")
    @classmethod
    def _kinds_once_each(cls, values: list[OutstandingKind]) -> list[OutstandingKind]:
        unique([value.value for value in values], "risk control kind")
        return values


# --- reports ----------------------------------------------------------------------------------


class ErrorReportOut(ApiModel):
    """One line of the error report."""

    id: int = Field(description="The report line's id.")
    order_no: str = Field(description="The order that did not progress.")
    step: ReleaseStep = Field(description="The step it was stopped at.")
    message: str = Field(description="The exact message, such as 'Credit line exceeded.'.")
    created_at: datetime = Field(description="When it was reported (UTC).")
    resolved_at: datetime | None = Field(description="When the order passed again; null if open.")


class ErrorReportPage(ApiModel):
    """The error report, oldest first."""

    items: list[ErrorReportOut] = Field(description="Report lines matching the filter.")


class AutoQueueOut(ApiModel):
    """An order waiting in the auto queue for its retry."""

    order_no: str = Field(description="The order waiting.")
    step: ReleaseStep = Field(description="The step it failed at.")
    message: str = Field(description="Why, one message per line.")
    failed_at: datetime = Field(description="When it last failed (UTC).")
    next_retry_at: datetime = Field(description="When it is tried again (UTC).")
    attempts: int = Field(description="Failed tries so far.")


class AutoQueueReport(ApiModel):
    """The auto queue, next retry first."""

    items: list[AutoQueueOut] = Field(description="Orders waiting.")
