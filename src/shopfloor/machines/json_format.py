"""The plain-JSON message format, for machines and gateways that cannot speak Sparkplug.

Over MQTT the topic is `shopfloor/json/<address>` (the address may contain slashes, e.g.
`plant1/line2/press3`); over HTTP (`POST /api/v1/machine-signals`) each message carries
its `address`. The message:

    {"ts": "2026-03-02T06:00:00.120Z",            # or epoch milliseconds; optional
     "metrics": {"state": "running", "good": 1234}}  # name → value, all at `ts`

or, when values have their own times or are sent late on purpose:

    {"metrics": [{"name": "good", "value": 1234, "ts": 1772431200120,
                  "historical": false}]}

A value is a number, a boolean, a string or null. A message without any time is stamped
with the server's receipt time (the device has no clock). A malformed message is refused
as a whole with a reason; it never stops the stream.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shopfloor.kernel.errors import RuleViolation
from shopfloor.machines.ingest import Reading

TOPIC_PREFIX = "shopfloor/json/"
SOURCE = "json"


def address_of(topic: str) -> str | None:
    """The address in a JSON topic, or None for another topic."""
    if not topic.startswith(TOPIC_PREFIX) or len(topic) == len(TOPIC_PREFIX):
        return None
    return topic[len(TOPIC_PREFIX) :]


def parse_time(value: Any, default: datetime) -> datetime:
    if value is None:
        return default
    if isinstance(value, bool):
        raise RuleViolation("a time must be ISO 8601 text or epoch milliseconds, not a boolean")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise RuleViolation(f"'{value}' is not an ISO 8601 time") from exc
        if moment.tzinfo is None:
            raise RuleViolation(f"'{value}' has no UTC offset; add 'Z' or '+01:00'")
        return moment.astimezone(UTC)
    raise RuleViolation(f"{value!r} is not a time")


def _value(name: str, value: Any) -> float | int | bool | str | None:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise RuleViolation(f"metric '{name}': a value must be a number, boolean, string or null")


def readings_from(address: str, message: Mapping[str, Any], received_at: datetime) -> list[Reading]:
    """The readings of one JSON message (already parsed) from `address`."""
    if not isinstance(message, Mapping):
        raise RuleViolation("a message must be a JSON object")
    default = parse_time(message.get("ts"), received_at)
    metrics = message.get("metrics")
    readings = []
    if isinstance(metrics, Mapping):
        for name, value in metrics.items():
            readings.append(
                Reading(SOURCE, address, str(name), default, _value(name, value), received_at)
            )
    elif isinstance(metrics, list):
        for entry in metrics:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                raise RuleViolation("each metric must be an object with a 'name'")
            name = entry["name"]
            readings.append(
                Reading(
                    SOURCE,
                    address,
                    name,
                    parse_time(entry.get("ts"), default),
                    _value(name, entry.get("value")),
                    received_at,
                    bool(entry.get("historical", False)),
                )
            )
    else:
        raise RuleViolation("'metrics' must be an object (name → value) or a list")
    return readings


def readings_from_payload(topic: str, payload: bytes, received_at: datetime) -> list[Reading]:
    """The readings of one MQTT message on a `shopfloor/json/…` topic."""
    address = address_of(topic)
    if address is None:
        raise RuleViolation(f"'{topic}' is not a shopfloor JSON topic")
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RuleViolation(f"not JSON: {exc}") from exc
    return readings_from(address, message, received_at)
