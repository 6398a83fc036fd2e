"""A Sage Accounting v3.1 sandbox: the far side of the cloud bridge's Sage posting seam.

It keeps Sage's documented behaviour (rotating refresh tokens, X-Business per request, error
arrays, idempotency_id inside the resource, last-page-past-the-end pagination, stock moved by
invoice lines) so a client proven here is proven against the documented contract.
"""

from firmware_sim.sage.app import API_PREFIX, SimulatedConnectionDrop, create_sandbox
from firmware_sim.sage.faults import Fault, FaultKind, FaultQueue
from firmware_sim.sage.server import SageSandboxServer
from firmware_sim.sage.state import (
    IDEMPOTENCY_WINDOW,
    ManualClock,
    SageApiError,
    SageSandbox,
    TokenPair,
    WriteRecord,
)

__all__ = [
    "API_PREFIX",
    "IDEMPOTENCY_WINDOW",
    "Fault",
    "FaultKind",
    "FaultQueue",
    "ManualClock",
    "SageApiError",
    "SageSandbox",
    "SageSandboxServer",
    "SimulatedConnectionDrop",
    "TokenPair",
    "WriteRecord",
    "create_sandbox",
]
