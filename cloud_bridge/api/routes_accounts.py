"""Accounts: create, read, set the two linked-stock flags, link and unlink other accounts.

Links are an ordered fallback list: new ones are appended in the order given, after those
already there. Unlinking needs ``confirm=true``, as the source's "A message will prompt you to
confirm": without it the request is refused with a message asking for the confirmation.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.api.audit_trail import record_change
from cloud_bridge.api.auth import PrincipalDep
from cloud_bridge.api.dependencies import TransactionsDep
from cloud_bridge.api.error_handlers import errors_documented
from cloud_bridge.api.errors import ConflictError, NotFoundError
from cloud_bridge.api.lookups import require
from cloud_bridge.api.schemas import AccountIn, AccountOut, FlagsIn, LinksIn
from cloud_bridge.api.transaction import Unit
from cloud_bridge.api.views import account_view
from cloud_bridge.db.models import Account, AccountLink

__all__ = ["router"]

router = APIRouter(tags=["accounts"])

AccountId = Annotated[str, Path(description="The account's code.")]


def _flags(account: Account) -> dict[str, bool]:
    return {
        "order_from_linked": account.order_from_linked,
        "pick_from_linked_if_unavailable": account.pick_from_linked_if_unavailable,
    }


def _links(account: Account) -> dict[str, list[str]]:
    return {"links": [link.linked_account_id for link in account.links]}


def _account(session: Session, account_id: str) -> Account:
    """The account with its links loaded (fresh, so appended links are seen in order)."""
    account = session.scalar(
        select(Account)
        .options(selectinload(Account.links))
        .where(Account.id == account_id)
        .execution_options(populate_existing=True)
    )
    if account is None:
        raise NotFoundError(
            "account_id", "an existing account", f"account {account_id!r} does not exist"
        )
    return account


@router.post(
    "/accounts",
    status_code=status.HTTP_201_CREATED,
    summary="Create an account",
    description="Adds a stock-owning account with its two linked-stock flags (both off unless "
    "given). Links are added afterwards.",
    responses=errors_documented(409),
)
async def post_account(
    body: AccountIn, transactions: TransactionsDep, who: PrincipalDep
) -> AccountOut:
    def work(unit: Unit) -> AccountOut:
        if unit.session.get(Account, body.id) is not None:
            raise ConflictError("id", "a new account code", f"account {body.id!r} already exists")
        unit.session.add(Account(**body.model_dump()))
        unit.session.flush()
        account = _account(unit.session, body.id)
        record_change(
            unit,
            who,
            action="account.create",
            subject=f"account:{body.id}",
            after={"name": account.name, **_flags(account)},
        )
        return account_view(account)

    return await transactions.run(work)


@router.get(
    "/accounts/{account_id}",
    summary="Read an account",
    description="The account, its flags and its linked accounts in fallback order.",
    responses=errors_documented(404),
)
async def get_account(account_id: AccountId, transactions: TransactionsDep) -> AccountOut:
    def work(unit: Unit) -> AccountOut:
        return account_view(_account(unit.session, account_id))

    return await transactions.run(work)


@router.put(
    "/accounts/{account_id}/flags",
    summary="Set the linked-stock flags",
    description="'Order from Linked Accounts' and 'Pick from Linked Accounts if Stock is "
    "Unavailable'. Stock is borrowed from linked accounts only when both are on, and only "
    "once the account's own stock is short.",
    responses=errors_documented(404),
)
async def put_flags(
    account_id: AccountId, body: FlagsIn, transactions: TransactionsDep, who: PrincipalDep
) -> AccountOut:
    def work(unit: Unit) -> AccountOut:
        account = _account(unit.session, account_id)
        before = _flags(account)
        account.order_from_linked = body.order_from_linked
        account.pick_from_linked_if_unavailable = body.pick_from_linked_if_unavailable
        record_change(
            unit,
            who,
            action="account.flags.set",
            subject=f"account:{account_id}",
            before=before,
            after=_flags(account),
        )
        return account_view(account)

    return await transactions.run(work)


@router.post(
    "/accounts/{account_id}/links",
    summary="Link accounts",
    description="Links several accounts at once, appended to the fallback list in the order "
    "given. Each must exist, differ from the account and not be linked already; if any is "
    "refused, none is linked.",
    responses=errors_documented(404, 409),
)
async def post_links(
    account_id: AccountId, body: LinksIn, transactions: TransactionsDep, who: PrincipalDep
) -> AccountOut:
    def work(unit: Unit) -> AccountOut:
        session = unit.session
        account = _account(session, account_id)
        already = {link.linked_account_id for link in account.links}
        for index, linked in enumerate(body.linked_account_ids):
            field = f"linked_account_ids.{index}"
            require(session, Account, linked, field=field)
            if linked == account_id:
                raise ConflictError(
                    field, "another account", f"account {account_id!r} cannot be linked to itself"
                )
            if linked in already:
                raise ConflictError(
                    field,
                    "an account not linked yet",
                    f"account {linked!r} is already linked to account {account_id!r}",
                )
        before = _links(account)
        start = max((link.position for link in account.links), default=-1) + 1
        for offset, linked in enumerate(body.linked_account_ids):
            session.add(
                AccountLink(
                    account_id=account_id, linked_account_id=linked, position=start + offset
                )
            )
        session.flush()
        updated = _account(session, account_id)
        record_change(
            unit,
            who,
            action="account.links.add",
            subject=f"account:{account_id}",
            before=before,
            after=_links(updated),
        )
        return account_view(updated)

    return await transactions.run(work)


@router.delete(
    "/accounts/{account_id}/links/{linked_id}",
    summary="Unlink an account",
    description="Removes one account from the fallback list; its stock is no longer borrowed "
    "for new allocations (allocations already made stay). Needs `confirm=true`: without it "
    "the request is refused with 409 asking for confirmation.",
    responses=errors_documented(404, 409),
)
async def delete_link(
    account_id: AccountId,
    linked_id: Annotated[str, Path(description="The linked account to remove.")],
    transactions: TransactionsDep,
    who: PrincipalDep,
    confirm: Annotated[
        bool, Query(description="Must be true: the confirmation that the link should go.")
    ] = False,
) -> AccountOut:
    def work(unit: Unit) -> AccountOut:
        account = _account(unit.session, account_id)
        link = next((x for x in account.links if x.linked_account_id == linked_id), None)
        if link is None:
            raise NotFoundError(
                "linked_id",
                "an account linked to this one",
                f"account {linked_id!r} is not linked to account {account_id!r}",
            )
        if not confirm:
            raise ConflictError(
                "confirm",
                "true",
                f"unlinking account {linked_id!r} from account {account_id!r} stops its stock "
                "being used for this account's orders; confirm by repeating the request with "
                "confirm=true, or cancel by not sending it",
            )
        before = _links(account)
        account.links.remove(link)
        unit.session.flush()
        unlinked = _account(unit.session, account_id)
        record_change(
            unit,
            who,
            action="account.links.remove",
            subject=f"account:{account_id}",
            before=before,
            after=_links(unlinked),
        )
        return account_view(unlinked)

    return await transactions.run(work)
