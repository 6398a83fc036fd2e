"""Fixtures shared by every test: a real Mosquitto for the session, and topics of one's own.

Each test gets its own site id, so tests sharing the session's broker never see each other's
retained state or messages, as aiomqtt's own suite does with a unique topic per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from edge.contract import StationId
from firmware_sim.broker import MosquittoBroker


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MosquittoBroker]:
    """A private Mosquitto on a free loopback port, anonymous, for the whole session."""
    with MosquittoBroker() as broker:
        yield broker


@pytest.fixture
def unique_topic_prefix() -> str:
    """A topic prefix no other test uses, for tests that publish outside the Packline tree."""
    return f"packline-test/{uuid.uuid4().hex}"


@pytest.fixture
def unique_site() -> str:
    """A site id no other test uses, so station topics are this test's alone."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def station_id(unique_site: str) -> StationId:
    """A station in this test's own site."""
    return StationId(site=unique_site, station="st01")
