"""The bridge's operating settings, kept in the database so every instance sees one value.

*Check credit line*, the *Credit line risk control* (which outstanding items count) and the auto
queue's *RetryInMinutes* are changed through the API by a credit controller, not by editing a file
on one machine, so they live in the `settings` table; a missing key means the default.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from cloud_bridge.credit import OutstandingKind, validate_retry_in_minutes
from cloud_bridge.db.models import Setting
from cloud_bridge.errors import BridgeError

__all__ = ["BridgeSettings", "SettingError", "load_settings", "save_settings"]

_CHECK = "check_credit_line"
_RISK = "credit_line_risk_control"
_RETRY = "retry_in_minutes"


class SettingError(BridgeError, ValueError):
    """A stored or submitted setting is not valid; the message names it."""


@dataclass(frozen=True)
class BridgeSettings:
    check_credit_line: bool = True
    risk_control: frozenset[OutstandingKind] = frozenset(OutstandingKind)
    retry_in_minutes: int = 15


def load_settings(session: Session) -> BridgeSettings:
    """The settings as stored, with defaults for any key never set."""
    stored = {row.key: row.value for row in session.query(Setting).all()}
    defaults = BridgeSettings()
    try:
        check = stored.get(_CHECK)
        risk = stored.get(_RISK)
        retry = stored.get(_RETRY)
        return BridgeSettings(
            check_credit_line=defaults.check_credit_line if check is None else check == "true",
            risk_control=(
                defaults.risk_control
                if risk is None
                else frozenset(OutstandingKind(kind) for kind in risk.split(",") if kind)
            ),
            retry_in_minutes=(
                defaults.retry_in_minutes
                if retry is None
                else validate_retry_in_minutes(int(retry))
            ),
        )
    except ValueError as error:
        raise SettingError(f"stored bridge setting is invalid: {error}") from error


def save_settings(session: Session, settings: BridgeSettings) -> None:
    """Store every setting (in the caller's transaction)."""
    validate_retry_in_minutes(settings.retry_in_minutes)
    values = {
        _CHECK: "true" if settings.check_credit_line else "false",
        _RISK: ",".join(sorted(kind.value for kind in settings.risk_control)),
        _RETRY: str(settings.retry_in_minutes),
    }
    for key, value in values.items():
        row = session.get(Setting, key)
        if row is None:
            session.add(Setting(key=key, value=value))
        else:
            row.value = value
