"""Fixtures shared by every test: a real Mosquitto and PostgreSQL for the session, and topics of
one's own.

Each test gets its own site id, so tests sharing the session's broker never see each other's
retained state or messages, as aiomqtt's own suite does with a unique topic per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from cloud_bridge.broker_settings import DEFAULT_INSTANCE, bridge_cert_names
from cloud_bridge.db import make_engine
from edge.contract import StationId
from firmware_sim.broker import MosquittoBroker
from firmware_sim.postgres import PostgresNotInstalledError, PostgresServer
from firmware_sim.secure_site import SiteCredentials

POSTGRES_URL_VARIABLE = "PACKLINE_TEST_POSTGRES_URL"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs a real PostgreSQL server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that asks for ``postgres_url``, so ``-m "not postgres"`` deselects them."""
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


TEST_BRIDGE_INSTANCE = "test"
"""The bridge instance whose certificates the session broker's ACL knows, besides ``main``."""


@pytest.fixture(scope="session")
def site_credentials(tmp_path_factory: pytest.TempPathFactory) -> SiteCredentials:
    """The session's throwaway site PKI: a CA, the broker's certificate, and clients on demand."""
    return SiteCredentials.create(tmp_path_factory.mktemp("site-pki") / "pki")


@pytest.fixture(scope="session")
def mosquitto(site_credentials: SiteCredentials) -> Iterator[MosquittoBroker]:
    """A private Mosquitto for the whole session: its TLS listener (``tls_port``) has the
    production settings and ACL; the anonymous loopback listener (``port``) serves the tests of
    mechanics below the security layer."""
    bridges = [
        name
        for instance in (DEFAULT_INSTANCE, TEST_BRIDGE_INSTANCE)
        for name in bridge_cert_names(instance)
    ]
    with MosquittoBroker(pki=site_credentials.pki, bridge_names=bridges) as broker:
        yield broker


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The SQLAlchemy URL of a private PostgreSQL database, one cluster for the whole session.

    While it is up the URL is also in ``PACKLINE_TEST_POSTGRES_URL``, for code that reads its
    database from the environment. Without PostgreSQL installed the test is skipped, except in
    CI, where `make test` installs it and a skip would hide a broken install step.
    """
    try:
        server = PostgresServer()
    except PostgresNotInstalledError as error:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"PostgreSQL is required in CI: {error}")
        pytest.skip(f"PostgreSQL is not installed: {error}")
    with server, pytest.MonkeyPatch.context() as patch:
        patch.setenv(POSTGRES_URL_VARIABLE, server.url)
        yield server.url


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


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections work in a fresh, private schema of the session's PostgreSQL."""
    schema = f"packline_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    yield (
        make_url(postgres_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    with admin.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()
