"""The topic tree: builders and parser agree, ids that would break topics or ACLs are refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.contract import (
    TOPIC_SPECS,
    InvalidIdError,
    StationId,
    TopicError,
    TopicKind,
    parse_topic,
    station_subscription,
    station_topic,
    subscription_for_all_stations,
)

ids = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"),
    min_size=1,
    max_size=32,
).filter(lambda text: text[0] not in "_-")


def test_station_topic_puts_the_whole_station_id_in_one_level() -> None:
    topic = station_topic(StationId("ams1", "st07"), TopicKind.EVENT)

    assert topic == "packline/v1/station/ams1.st07/event"


@settings(deadline=None)
@given(site=ids, station=ids, kind=st.sampled_from(TopicKind))
def test_parse_topic_returns_the_site_station_and_kind_a_topic_was_built_from(
    site: str, station: str, kind: TopicKind
) -> None:
    address = parse_topic(station_topic(StationId(site, station), kind))

    assert (address.site, address.station, address.kind) == (site, station, kind)


def test_every_topic_kind_has_a_spec_with_qos_1() -> None:
    assert set(TOPIC_SPECS) == set(TopicKind)
    assert all(spec.qos == 1 for spec in TOPIC_SPECS.values())


def test_presence_and_desired_state_topics_are_retained_and_events_are_not() -> None:
    retained = {kind for kind, spec in TOPIC_SPECS.items() if spec.retain}

    assert retained == {
        TopicKind.STATE,
        TopicKind.INVENTORY,
        TopicKind.STATUS,
        TopicKind.ACK,
        TopicKind.CONFIG,
        TopicKind.UPDATE,
        TopicKind.FLEET,
    }


def test_subscription_filters_cover_one_station_or_one_kind_across_stations() -> None:
    station_id = StationId("ams1", "st07")

    assert station_subscription(station_id) == "packline/v1/station/ams1.st07/#"
    assert subscription_for_all_stations(TopicKind.STATE) == "packline/v1/station/+/state"


@pytest.mark.parametrize(
    ("topic", "complaint"),
    [
        ("sparkplug/v1/station/ams1.st07/event", "not a Packline station topic"),
        ("packline/v2/station/ams1.st07/event", "not a Packline station topic"),
        ("packline/v1/station/ams1/event", "expected '<site>.<station>'"),
        ("packline/v1/station/ams1.st07/telemetry", "unknown kind 'telemetry'"),
        ("packline/v1/station/ams1.st07/event/extra", "expected '<site>.<station>/<kind>'"),
        ("packline/v1/station/ams1.st.07/event", "'.' separates the site"),
        ("packline/v1/station/.st07/event", "site id is empty"),
    ],
)
def test_parse_topic_rejects_a_foreign_topic_saying_what_is_wrong(
    topic: str, complaint: str
) -> None:
    with pytest.raises(TopicError, match=complaint):
        parse_topic(topic)


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("", "empty"),
        ("a/b", "'/' separates topic levels"),
        ("a+", "single-level wildcard"),
        ("a#", "multi-level wildcard"),
        ("a\x00b", "NUL"),
        ("a.b", "'.' separates the site"),
        ("x" * 33, "at most 32"),
        ("ünï", "ASCII letters"),
        ("-lead", "starting with a letter or digit"),
        ("with space", "ASCII letters"),
    ],
)
def test_station_ids_that_would_break_a_topic_or_acl_are_refused(
    value: str, complaint: str
) -> None:
    with pytest.raises(InvalidIdError, match=complaint):
        StationId(site="ams1", station=value)
    with pytest.raises(InvalidIdError, match=complaint):
        StationId(site=value, station="st07")


def test_invalid_ids_are_value_errors_for_callers_that_know_only_the_standard_library() -> None:
    with pytest.raises(ValueError, match="empty"):
        StationId(site="", station="st07")


def test_client_id_round_trips_to_the_station_id() -> None:
    station_id = StationId("ams1", "st07")

    assert StationId.from_client_id(station_id.client_id) == station_id
