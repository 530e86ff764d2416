"""The transparency log's leaves: each stored event, exactly as stored, in RFC 8785 canonical JSON."""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import Notification

from projections.canonical import canonical_json
from projections.facts import Fact
from projections.merkle import leaf_hash


class MalformedEvent(ValueError):
    """A stored event whose bytes are not the JSON the store writes: it was altered outside the ledger."""


def leaf_object(sequence: int, notification: Notification) -> dict[str, Any]:
    """The leaf of one event: its ledger sequence, type, aggregate, version, recorded time and payload.

    The payload is the stored state as it is (personal data stays encrypted where it was
    stored encrypted), so a leaf can be recomputed from the store without any key.
    """
    try:
        state = orjson.loads(notification.state)
        recorded_at = state.pop("timestamp")["_data_"]
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise MalformedEvent(f"stored state is not a recorded event: {error}") from None
    return {
        "sequence": sequence,
        "type": notification.topic.rsplit(".", 1)[-1],
        "topic": notification.topic,
        "aggregate_id": str(notification.originator_id),
        "version": notification.originator_version,
        "recorded_at": recorded_at,
        "payload": state,
    }


def leaf_bytes(leaf: dict[str, Any]) -> bytes:
    return canonical_json(leaf)


def hashed_leaf(leaf: dict[str, Any]) -> bytes:
    return leaf_hash(leaf_bytes(leaf))


def log_facts(notification: Notification, sequence: int) -> list[Fact]:
    """The log row of one event: which stored event holds ledger sequence `sequence`, and its leaf hash."""
    leaf = leaf_object(sequence, notification)
    return [("leaf", {"sequence": sequence, "position": notification.id, "leaf_hash": hashed_leaf(leaf).hex()})]
