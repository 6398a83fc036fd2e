"""Mosquitto in secure mode, as production runs it: TLS only, a certificate per station, the
client id bound to the certificate's name, and the ACL generated from the contract.

Every client here presents a certificate from a throwaway site PKI. Under MQTT 5 a refused
publish is visible only as the PUBACK's reason code (0x87), and Mosquitto never refuses a
SUBSCRIBE but filters each message, so "nothing delivered" is shown by a marker: a message the
observer may receive, sent only after the forbidden one was refused. Had the forbidden one been
delivered, it would have arrived first.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tls_clients import (
    NOT_AUTHORIZED,
    TIMEOUT,
    PahoSession,
    connected,
    probe_connect,
    publish_with_reason,
)

from cloud_bridge.pki import BRIDGE_CERT_NAME, ClientCredentials, SitePki
from edge.contract import TOPIC_SPECS, StationId, TopicKind, station_topic
from firmware_sim.broker import BrokerError, MosquittoBroker

pytestmark = pytest.mark.broker

STATION_KINDS = [kind for kind, spec in TOPIC_SPECS.items() if spec.publisher == "station"]


@pytest.fixture(scope="module")
def site_pki(tmp_path_factory: pytest.TempPathFactory) -> SitePki:
    return SitePki.init(tmp_path_factory.mktemp("pki") / "site")


@pytest.fixture(scope="module")
def secure_broker(site_pki: SitePki) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(pki=site_pki, plain_listener=False) as broker:
        yield broker


@pytest.fixture(scope="module")
def bridge(site_pki: SitePki) -> ClientCredentials:
    return site_pki.issue(BRIDGE_CERT_NAME, kind="bridge")


class Station:
    """A station of this test: its id and the files of its certificate."""

    def __init__(self, pki: SitePki, station_id: StationId) -> None:
        self.id = station_id
        self.credentials = pki.issue(station_id.client_id)

    def topic(self, kind: TopicKind) -> str:
        return station_topic(self.id, kind)


@pytest.fixture
def station_a(site_pki: SitePki, unique_site: str) -> Station:
    return Station(site_pki, StationId(unique_site, "st01"))


@pytest.fixture
def station_b(site_pki: SitePki, unique_site: str) -> Station:
    return Station(site_pki, StationId(unique_site, "st02"))


def wait_until_refused(broker: MosquittoBroker, context: ssl.SSLContext) -> bool:
    """Mosquitto rereads its CRL shortly after SIGHUP; poll until the certificate is refused."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if not probe_connect(broker, context).accepted:
            return True
        time.sleep(0.1)
    return False


# --- publishing -------------------------------------------------------------------------------


def test_a_station_may_publish_its_own_events_over_tls(
    secure_broker: MosquittoBroker, station_a: Station
) -> None:
    reason = publish_with_reason(
        secure_broker, station_a.credentials, station_a.topic(TopicKind.EVENT)
    )

    assert not reason.is_failure


@pytest.mark.parametrize("kind", STATION_KINDS)
async def test_a_station_cannot_publish_on_another_stations_topics_and_nothing_is_delivered(
    secure_broker: MosquittoBroker,
    bridge: ClientCredentials,
    station_a: Station,
    station_b: Station,
    kind: TopicKind,
) -> None:
    async with connected(secure_broker, bridge) as observer:
        await observer.subscribe(station_b.topic(kind), qos=1)

        reason = publish_with_reason(
            secure_broker, station_a.credentials, station_b.topic(kind), b"forged", retain=True
        )
        await observer.publish(station_b.topic(kind), b"marker", qos=1)
        first = await asyncio.wait_for(anext(observer.messages), TIMEOUT)

    assert reason.value == NOT_AUTHORIZED
    assert first.payload == b"marker"


# --- receiving --------------------------------------------------------------------------------


async def test_a_station_subscribed_to_everything_receives_none_of_another_stations_messages(
    secure_broker: MosquittoBroker,
    bridge: ClientCredentials,
    station_a: Station,
    station_b: Station,
) -> None:
    async with (
        connected(secure_broker, station_a.credentials) as eavesdropper,
        connected(secure_broker, bridge) as sender,
    ):
        await eavesdropper.subscribe("#", qos=1)
        for kind in (TopicKind.COMMAND, TopicKind.ALLOCATION, TopicKind.FLEET):
            await sender.publish(station_b.topic(kind), f"for B: {kind}".encode(), qos=1)
        await sender.publish(station_a.topic(TopicKind.COMMAND), b"for A", qos=1)

        first = await asyncio.wait_for(anext(eavesdropper.messages), TIMEOUT)

    assert (str(first.topic), first.payload) == (station_a.topic(TopicKind.COMMAND), b"for A")


# --- sessions ---------------------------------------------------------------------------------


async def test_a_station_using_another_stations_client_id_connects_as_itself(
    secure_broker: MosquittoBroker,
    bridge: ClientCredentials,
    station_a: Station,
    station_b: Station,
) -> None:
    a_first = PahoSession(secure_broker, station_a.credentials, client_id=station_a.id.client_id)
    try:
        async with connected(
            secure_broker, station_b.credentials, client_id=station_b.id.client_id
        ) as b:
            await b.subscribe(station_b.topic(TopicKind.COMMAND), qos=1)

            impostor = PahoSession(
                secure_broker, station_a.credentials, client_id=station_b.id.client_id
            )
            impostor.close()
            assert a_first.disconnected.wait(TIMEOUT), "A's own session was not taken over"
            async with connected(secure_broker, bridge) as sender:
                await sender.publish(station_b.topic(TopicKind.COMMAND), b"still B's", qos=1)
            received = await asyncio.wait_for(anext(b.messages), TIMEOUT)
    finally:
        a_first.close()

    # The impostor became A: it took over A's own session, and B's was left alone.
    log = secure_broker.log_text()
    assert f"Client {station_a.id.client_id} already connected, closing old connection" in log
    assert f"Client {station_b.id.client_id} already connected" not in log
    assert received.payload == b"still B's"


# --- refused at connect -----------------------------------------------------------------------


def test_a_current_certificate_from_the_site_ca_is_accepted(
    secure_broker: MosquittoBroker, station_a: Station
) -> None:
    outcome = probe_connect(secure_broker, station_a.credentials.tls_context())

    assert outcome.accepted, outcome


def test_a_revoked_certificate_is_refused(
    site_pki: SitePki, secure_broker: MosquittoBroker, station_a: Station
) -> None:
    site_pki.revoke(station_a.id.client_id)
    secure_broker.reload()

    assert wait_until_refused(secure_broker, station_a.credentials.tls_context())


def test_a_revocation_survives_a_broker_restart(site_pki: SitePki, station_a: Station) -> None:
    site_pki.revoke(station_a.id.client_id)
    with MosquittoBroker(pki=site_pki, plain_listener=False) as broker:
        broker.kill()
        broker.start()

        outcome = probe_connect(broker, station_a.credentials.tls_context())

    assert not outcome.accepted
    assert outcome.connack_reason is None


def test_an_expired_certificate_is_refused(
    site_pki: SitePki, secure_broker: MosquittoBroker, unique_site: str
) -> None:
    now = datetime.now(UTC)
    expired = site_pki.issue(
        f"{unique_site}.st09",
        not_before=now - timedelta(days=30),
        not_after=now - timedelta(days=1),
    )

    outcome = probe_connect(secure_broker, expired.tls_context())

    assert not outcome.accepted
    assert outcome.connack_reason is None


def test_a_certificate_from_another_ca_is_refused(
    site_pki: SitePki, secure_broker: MosquittoBroker, tmp_path: Path, unique_site: str
) -> None:
    stranger = SitePki.init(tmp_path / "other-ca").issue(f"{unique_site}.st01")
    context = ssl.create_default_context(cafile=str(site_pki.ca_file))
    context.load_cert_chain(stranger.cert_file, stranger.key_file)

    outcome = probe_connect(secure_broker, context)

    assert not outcome.accepted
    assert outcome.refusal is not None


def test_a_client_without_a_certificate_is_refused(
    site_pki: SitePki, secure_broker: MosquittoBroker
) -> None:
    context = ssl.create_default_context(cafile=str(site_pki.ca_file))

    outcome = probe_connect(secure_broker, context)

    assert not outcome.accepted
    assert outcome.refusal is not None


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_newer_are_accepted(
    secure_broker: MosquittoBroker, station_a: Station, version: ssl.TLSVersion
) -> None:
    context = station_a.credentials.tls_context()
    context.minimum_version = context.maximum_version = version

    assert probe_connect(secure_broker, context).accepted


# --- the bridge -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(TopicKind))
def test_the_bridge_may_publish_on_every_stations_topics(
    secure_broker: MosquittoBroker,
    bridge: ClientCredentials,
    station_a: Station,
    station_b: Station,
    kind: TopicKind,
) -> None:
    reasons = [
        publish_with_reason(secure_broker, bridge, station.topic(kind))
        for station in (station_a, station_b)
    ]

    assert not any(reason.is_failure for reason in reasons)


async def test_the_bridge_receives_what_every_station_publishes(
    secure_broker: MosquittoBroker,
    bridge: ClientCredentials,
    station_a: Station,
    station_b: Station,
) -> None:
    async with connected(secure_broker, bridge) as listener:
        await listener.subscribe("packline/v1/station/+/event", qos=1)
        for station in (station_a, station_b):
            async with connected(secure_broker, station.credentials) as client:
                await client.publish(station.topic(TopicKind.EVENT), b"hello", qos=1)
        topics = [
            str((await asyncio.wait_for(anext(listener.messages), TIMEOUT)).topic) for _ in range(2)
        ]

    assert topics == [station_a.topic(TopicKind.EVENT), station_b.topic(TopicKind.EVENT)]


# --- the test rig's broker in secure mode ---------------------------------------------------------


def test_a_secure_broker_keeps_both_its_ports_across_a_crash_and_restart(
    site_pki: SitePki, station_a: Station
) -> None:
    with MosquittoBroker(pki=site_pki) as broker:
        ports = (broker.port, broker.tls_port)
        broker.kill()
        broker.start()

        assert (broker.port, broker.tls_port) == ports
        assert broker.tls_url == f"mqtts://127.0.0.1:{broker.tls_port}"
        assert probe_connect(broker, station_a.credentials.tls_context()).accepted


def test_a_broker_without_its_plain_listener_has_no_plain_port(
    secure_broker: MosquittoBroker,
) -> None:
    with pytest.raises(BrokerError, match="no plain listener; use tls_port"):
        _ = secure_broker.port


def test_a_broker_without_a_plain_listener_needs_a_pki() -> None:
    with pytest.raises(BrokerError, match="needs a pki"):
        MosquittoBroker(plain_listener=False)
