"""Every wire message model, on both ends' decode path, against hostile payloads.

Random bytes, truncated and oversize payloads, deep nesting, wrong-typed, missing and extra fields:
each is either a valid message or a `ContractError` whose reason names the field (or says the
payload is not JSON, not an object, or too big), never another exception.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from edge.contract import (
    MAX_PAYLOAD_BYTES,
    MESSAGE_TYPES,
    ContractError,
    TopicKind,
    decode_for,
    encode,
)
from firmware_sim.fuzz.strategies import FuzzPayload, payloads, sample_messages
from firmware_sim.fuzz.targets import check_decode

BOUNDED = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@BOUNDED
@given(payloads())
def test_any_payload_is_a_valid_message_or_a_contract_error_naming_the_field(
    example: FuzzPayload,
) -> None:
    check_decode(example)


def test_every_message_model_has_a_fuzz_sample_that_round_trips() -> None:
    samples = sample_messages()
    for kind, models in MESSAGE_TYPES.items():
        assert {type(message) for message in samples[kind]} == set(models.values())
        for message in samples[kind]:
            assert decode_for(kind, encode(message)) == message


@pytest.mark.parametrize(("opener", "closer"), [(b"[", b"]"), (b'{"a":', b"}")])
def test_deeply_nested_json_within_the_size_limit_is_a_contract_error(
    opener: bytes, closer: bytes
) -> None:
    depth = (MAX_PAYLOAD_BYTES - 1) // (len(opener) + len(closer))
    nested = opener * depth + b"1" + closer * depth
    assert len(nested) <= MAX_PAYLOAD_BYTES
    with pytest.raises(ContractError, match="nested too deeply"):
        decode_for(TopicKind.COMMAND, nested)


def test_a_payload_over_the_limit_is_refused_by_its_size_before_parsing() -> None:
    with pytest.raises(ContractError, match=f"at most {MAX_PAYLOAD_BYTES} allowed"):
        decode_for(TopicKind.EVENT, b"{" + b" " * MAX_PAYLOAD_BYTES + b"}")
