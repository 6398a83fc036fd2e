"""The credit gate's settings: Check credit line, Credit line risk control, RetryInMinutes."""

from __future__ import annotations

from fastapi import APIRouter

from cloud_bridge.api.audit_trail import record_change
from cloud_bridge.api.auth import PrincipalDep
from cloud_bridge.api.dependencies import TransactionsDep
from cloud_bridge.api.schemas_credit import CreditSettingsBody
from cloud_bridge.api.transaction import Unit
from cloud_bridge.services.settings import BridgeSettings, load_settings, save_settings

__all__ = ["router"]

router = APIRouter(tags=["settings"])


def _body(settings: BridgeSettings) -> CreditSettingsBody:
    return CreditSettingsBody(
        check_credit_line=settings.check_credit_line,
        risk_control=sorted(settings.risk_control),
        retry_in_minutes=settings.retry_in_minutes,
    )


@router.get(
    "/settings/credit",
    summary="Read the credit settings",
    description="Whether the credit and prepayment checks run, which outstanding amounts count "
    "against a credit line, and how long the auto queue waits before a retry.",
)
async def get_credit_settings(transactions: TransactionsDep) -> CreditSettingsBody:
    def work(unit: Unit) -> CreditSettingsBody:
        return _body(load_settings(unit.session))

    return await transactions.run(work)


@router.put(
    "/settings/credit",
    summary="Change the credit settings",
    description="Replaces all three settings. Turning 'Check credit line' off is the only way, "
    "besides raising the limit, to let an order through that fails the checks.",
)
async def put_credit_settings(
    body: CreditSettingsBody, transactions: TransactionsDep, who: PrincipalDep
) -> CreditSettingsBody:
    def work(unit: Unit) -> CreditSettingsBody:
        before = _body(load_settings(unit.session))
        settings = BridgeSettings(
            check_credit_line=body.check_credit_line,
            risk_control=frozenset(body.risk_control),
            retry_in_minutes=body.retry_in_minutes,
        )
        save_settings(unit.session, settings)
        after = _body(settings)
        record_change(
            unit,
            who,
            action="settings.credit.set",
            subject="settings:credit",
            before=before.model_dump(mode="json"),
            after=after.model_dump(mode="json"),
        )
        return after

    return await transactions.run(work)
