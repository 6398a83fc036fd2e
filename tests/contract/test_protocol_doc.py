"""docs/protocol.md stays true: every example decodes on its topic, and every message is shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.contract import MESSAGE_TYPES, TOPIC_SPECS, decode, encode

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
EXAMPLE = re.compile(
    r"Example on `(?P<topic>[^`]+)` \(QoS (?P<qos>\d), (?P<retain>retained|not retained)\):"
    r"\n\n```json\n(?P<body>.*?)\n```",
    flags=re.DOTALL,
)


def examples() -> list[re.Match[str]]:
    return list(EXAMPLE.finditer(PROTOCOL_DOC.read_text()))


@pytest.mark.parametrize("example", examples(), ids=lambda match: match["body"][:60])
def test_each_documented_example_decodes_on_its_topic_with_the_stated_qos_and_retain(
    example: re.Match[str],
) -> None:
    decoded = decode(example["topic"], example["body"].encode())

    spec = TOPIC_SPECS[decoded.address.kind]
    assert int(example["qos"]) == spec.qos
    assert (example["retain"] == "retained") == spec.retain
    assert decode(example["topic"], encode(decoded.message)).message == decoded.message


def test_every_message_type_has_a_documented_example() -> None:
    documented = {
        type(decode(example["topic"], example["body"].encode()).message) for example in examples()
    }
    carried = {model for models in MESSAGE_TYPES.values() for model in models.values()}

    assert carried - documented == set()
