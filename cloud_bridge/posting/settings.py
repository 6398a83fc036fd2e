"""`[sage]` in bridge.toml: which Sage business to post to, how to reach it, how to post.

Why it is shaped this way:

* Test and live are two named environments, each with its own business id and token file, and
  `environment` picks one. A posting is stamped with the business it was meant for and only a
  client bound to that business sends it, so switching to live never replays test postings
  there, and a test posting can never reach live.
* The client secret and the OAuth tokens live in files readable only by the service user (mode
  0600), never in the config or a process listing. Test and live never share a token file, and
  each token file is stamped with its environment.
* Sage's rate limits are not firmly documented, so the client's pace is configurable.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from cloud_bridge.sage.client import DEFAULT_TOKEN_URL
from edge.config import StrictConfig
from edge.secret_files import read_secret_file

__all__ = [
    "DEFAULT_AUTHORIZE_URL",
    "DEFAULT_BASE_URL",
    "DocumentType",
    "Edition",
    "PostingPreferences",
    "SageEnvironmentSettings",
    "SageSettings",
    "read_secret_file",
]

DEFAULT_BASE_URL = "https://api.accounting.sage.com/v3.1"
DEFAULT_AUTHORIZE_URL = "https://www.sageone.com/oauth2/auth/central?filter=apiv3.1"


class Edition(enum.StrEnum):
    """The Sage product on the other side; it decides which documents exist there."""

    SAGE_ACCOUNTING = "sage_accounting"
    """Sage Business Cloud Accounting (v3.1 API): invoices and credit notes, no sales orders."""
    SAGE_200 = "sage_200"
    """Sage 200: sales orders, despatch and invoices (no poster yet)."""
    SAGE_50 = "sage_50"
    """Sage 50 Accounts (desktop SDK; no poster yet)."""


class DocumentType(enum.StrEnum):
    """What a shipment becomes in Sage."""

    INVOICE = "invoice"
    SALES_ORDER = "sales_order"


class SageEnvironmentSettings(StrictConfig):
    """`[sage.test]` or `[sage.live]`: one Sage business and the tokens for it."""

    business_id: str = Field(min_length=1, max_length=64)
    """Sage's id for the business, sent as X-Business on every request."""
    token_file: Path
    """Where the rotating OAuth tokens are kept (written 0600 by `packline sage connect`)."""


class PostingPreferences(StrictConfig):
    """`[sage.posting]`: the chart of accounts and tax choices, and when to post."""

    edition: Edition = Edition.SAGE_ACCOUNTING
    document_type: DocumentType = DocumentType.INVOICE
    interval_minutes: float = Field(default=0, ge=0, le=24 * 60)
    """0 posts each shipment as soon as it is recorded; N collects them and posts every N min."""
    sales_ledger_account: str = Field(default="4000", min_length=1)
    """The sales ledger account for invoice lines: a nominal code (4000) or a Sage id."""
    tax_rates: dict[str, str] = Field(
        default_factory=lambda: {"0.20": "GB_STANDARD", "0": "GB_ZERO"}, validate_default=True
    )
    """Our line tax rate, as a fraction ("0.20"), to the Sage tax rate id it posts with."""

    @field_validator("tax_rates")
    @classmethod
    def _rates_are_fractions(cls, value: dict[str, str]) -> dict[str, str]:
        normalised: dict[str, str] = {}
        for rate, sage_id in value.items():
            try:
                fraction = Decimal(rate)
            except ArithmeticError as error:
                raise ValueError(f"tax rate {rate!r} is not a number") from error
            if not Decimal(0) <= fraction < Decimal(1):
                raise ValueError(f"tax rate {rate!r} must be a fraction from 0 to below 1")
            if not sage_id:
                raise ValueError(f"tax rate {rate!r} maps to an empty Sage tax rate id")
            normalised[str(fraction.normalize())] = sage_id
        return normalised

    def tax_rate_id(self, rate: Decimal) -> str | None:
        """The Sage tax rate id for one of our line rates, or None if it is not mapped."""
        return self.tax_rates.get(str(rate.normalize()))


class SageSettings(StrictConfig):
    """`[sage]`: the Sage app, the environment to post to, and the posting preferences."""

    environment: Literal["test", "live"] = "test"
    client_id: str = Field(min_length=1)
    client_secret_file: Path
    base_url: str = DEFAULT_BASE_URL
    token_url: str = DEFAULT_TOKEN_URL
    authorize_url: str = DEFAULT_AUTHORIZE_URL
    redirect_uri: str = "http://127.0.0.1:8765/callback"
    """Registered with the Sage app; `packline sage connect` listens there for the code."""
    requests_per_minute: float = Field(default=100, ge=0)
    """The client's own pace per business; 0 turns it off (Sage's 429s are still honoured)."""
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    retry_initial_seconds: float = Field(default=30, gt=0, le=3600)
    """First pause of a business's queue after Sage stayed unavailable; it doubles, jittered."""
    retry_max_seconds: float = Field(default=3600, gt=0, le=24 * 3600)
    sync_minutes: float = Field(default=15, gt=0, le=24 * 60)
    """How often the running bridge reads what changed in Sage (contacts, items, accounts)."""
    test: SageEnvironmentSettings | None = None
    live: SageEnvironmentSettings | None = None
    posting: PostingPreferences = Field(default_factory=PostingPreferences)

    @model_validator(mode="after")
    def _environment_is_configured(self) -> SageSettings:
        if self.selected is None:
            raise ValueError(
                f"environment = {self.environment!r} but [sage.{self.environment}] is missing"
            )
        if self.test is not None and self.live is not None:
            if self.test.business_id == self.live.business_id:
                raise ValueError("[sage.test] and [sage.live] name the same business_id")
            if self.test.token_file == self.live.token_file:
                raise ValueError(
                    "[sage.test] and [sage.live] name the same token_file; each environment "
                    "keeps its own tokens, so a token obtained for one is never used for the other"
                )
        return self

    @property
    def selected(self) -> SageEnvironmentSettings | None:
        """The environment `environment` names."""
        return self.test if self.environment == "test" else self.live

    @property
    def business(self) -> SageEnvironmentSettings:
        """The environment being posted to; validated to exist."""
        selected = self.selected
        assert selected is not None
        return selected

    def read_client_secret(self) -> str:
        """The OAuth client secret, refusing a file other users can read."""
        return read_secret_file(self.client_secret_file, "sage.client_secret_file")
