"""Log in to the sandbox and store the tokens where the bridge reads them, as `sage connect` does.

The demo, the Sage benchmark and the tests all start from a connected bridge; this is the one
place that turns a sandbox login into a stamped token file.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cloud_bridge.sage.tokens import Environment, OAuthTokens, TokenStore
from firmware_sim.sage.state import SageSandbox, TokenPair

__all__ = ["save_sandbox_login"]


def save_sandbox_login(sandbox: SageSandbox, path: Path, environment: Environment) -> TokenPair:
    """Log in to `sandbox`, save the pair to `path` stamped for `environment`; return the pair."""
    pair = sandbox.login()
    now = sandbox.clock()
    TokenStore(path, environment=environment).save(
        OAuthTokens(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            access_expires_at=now + timedelta(seconds=pair.expires_in),
            refresh_expires_at=now + timedelta(seconds=pair.refresh_token_expires_in),
        )
    )
    return pair
