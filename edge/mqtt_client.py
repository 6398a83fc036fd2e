"""An `aiomqtt.Client` that reads the broker's MQTT 5 reason codes instead of ignoring them.

Mosquitto's ACL answers a publish the client may not make with PUBACK reason 0x87 (not
authorized) and simply drops the message. aiomqtt 2.x treats every PUBACK as success, so without
this a station whose certificate does not match its topics, or a bridge missing from the ACL,
would believe its events were delivered. `ReasonCheckedClient.publish` raises
`PublishRefusedError` naming the topic and the reason instead; `check_subscriptions` does the same
for a SUBACK entry of 0x80 or above.

The mid of each publish is captured by wrapping paho's own ``publish`` (the message id is not
returned by aiomqtt), through a context variable so concurrent publishes on one client never see
each other's ids.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Sequence
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.types import PayloadType
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import EdgeError

__all__ = [
    "MqttRefusalError",
    "PublishRefusedError",
    "ReasonCheckedClient",
    "SubscribeRefusedError",
    "check_subscriptions",
    "reason_value",
]

_FAILURE = 0x80
_CAPTURE: contextvars.ContextVar[list[paho.MQTTMessageInfo] | None] = contextvars.ContextVar(
    "packline_publish_capture", default=None
)


class MqttRefusalError(EdgeError, PermissionError):
    """The broker refused an operation; the message names the topic and the reason code."""

    def __init__(self, operation: str, topic: str, reason: int | ReasonCode) -> None:
        code = reason_value(reason)
        name = reason if isinstance(reason, ReasonCode) else f"reason {code}"
        super().__init__(
            f"the broker refused the {operation} on {topic!r}: 0x{code:02X} ({name}); "
            "check the client's certificate name and the broker's ACL"
        )
        self.topic = topic
        self.reason = code


class PublishRefusedError(MqttRefusalError):
    """A QoS 1 publish was answered with a failure PUBACK (0x87 under an ACL)."""

    def __init__(self, topic: str, reason: int | ReasonCode) -> None:
        super().__init__("publish", topic, reason)


class SubscribeRefusedError(MqttRefusalError):
    """A SUBACK entry carried a failure reason code."""

    def __init__(self, topic: str, reason: int | ReasonCode) -> None:
        super().__init__("subscription", topic, reason)


def reason_value(reason: int | ReasonCode) -> int:
    """The numeric value of a reason code (paho gives `ReasonCode` under MQTT 5, int before)."""
    return reason if isinstance(reason, int) else int(reason.value)


def check_subscriptions(topics: Iterable[str], reasons: Sequence[int | ReasonCode]) -> None:
    """Raise `SubscribeRefusedError` for the first refused topic of a SUBACK."""
    for topic, reason in zip(topics, reasons, strict=False):
        if reason_value(reason) >= _FAILURE:
            raise SubscribeRefusedError(topic, reason)


class ReasonCheckedClient(aiomqtt.Client):
    """`aiomqtt.Client` whose ``publish`` raises on a refused PUBACK instead of returning."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refusals: dict[int, ReasonCode] = {}
        paho_publish = self._client.publish

        def capturing_publish(*p_args: Any, **p_kwargs: Any) -> paho.MQTTMessageInfo:
            info = paho_publish(*p_args, **p_kwargs)
            box = _CAPTURE.get()
            if box is not None:
                box.append(info)
            return info

        self._client.publish = capturing_publish  # type: ignore[method-assign]

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        # A success clears any stale entry for a reused mid, so a refusal is only ever
        # attributed to the publish it answered.
        if reason_value(reason_code) >= _FAILURE:
            self._refusals[mid] = reason_code
        else:
            self._refusals.pop(mid, None)
        super()._on_publish(client, userdata, mid, reason_code, properties)

    async def publish(
        self,
        /,
        topic: str,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        *args: Any,
        timeout: float | None = None,  # noqa: ASYNC109 (aiomqtt's own signature)
        **kwargs: Any,
    ) -> None:
        """Publish as aiomqtt does, then raise `PublishRefusedError` if the PUBACK refused it."""
        box: list[paho.MQTTMessageInfo] = []
        token = _CAPTURE.set(box)
        try:
            await super().publish(
                topic, payload, qos, retain, properties, *args, timeout=timeout, **kwargs
            )
        finally:
            _CAPTURE.reset(token)
        if qos == 0 or not box:
            return
        refusal = self._refusals.pop(box[0].mid, None)
        if refusal is not None:
            raise PublishRefusedError(topic, refusal)
