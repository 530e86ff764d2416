"""The message of one event on Kafka: key, headers and value, and the way back from a value to read-model facts."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, Final

from eventsourcing.persistence import Notification

from projections.facts import PROJECTORS, Fact
from projections.ledger_log import leaf_object

# Bumped when the message layout changes; consumers read it from the `schema_version` header.
SCHEMA_VERSION: Final = "1"


def event_message(notification: Notification, sequence: int) -> tuple[bytes, list[tuple[str, bytes]], bytes]:
    """(key, headers, value): key is the project id where the event has one, else its aggregate id."""
    leaf = leaf_object(sequence, notification)
    key = str(leaf["payload"].get("project_id") or leaf["aggregate_id"])
    headers = [
        ("event_type", leaf["type"].encode()),
        ("ledger_sequence", str(sequence).encode()),
        ("schema_version", SCHEMA_VERSION.encode()),
    ]
    return key.encode(), headers, json.dumps(leaf, ensure_ascii=False, separators=(",", ":")).encode()


def message_facts(value: bytes) -> tuple[int, list[Fact]]:
    """The ledger sequence of a message and the read-model facts of its event, from the message alone."""
    leaf: dict[str, Any] = json.loads(value)
    payload = SimpleNamespace(**leaf["payload"])
    projector = PROJECTORS.get(leaf["type"])
    return int(leaf["sequence"]), projector(payload, int(leaf["sequence"])) if projector else []
