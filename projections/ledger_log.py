"""The transparency log's leaves: each stored event, exactly as stored, in RFC 8785 canonical JSON."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from eventsourcing.persistence import Notification

from projections.canonical import canonical_shallow_json
from projections.merkle import leaf_hash


class MalformedEvent(ValueError):
    """A stored event whose bytes are not the JSON the store writes: it was altered outside the ledger."""


def leaf_object(sequence: int, notification: Notification) -> dict[str, Any]:
    """The leaf of one event: its ledger sequence, type, aggregate, version, recorded time and payload.

    The payload is the stored state as it is (personal data stays encrypted where it was
    stored encrypted), so a leaf can be recomputed from the store without any key.
    """
    return stored_leaf(
        sequence,
        notification.topic,
        str(notification.originator_id),
        notification.originator_version,
        notification.state,
    )


def stored_leaf(sequence: int, topic: str, aggregate_id: str, version: int, state: bytes) -> dict[str, Any]:
    """leaf_object() of a stored event's columns (its aggregate id as text)."""
    try:
        payload = orjson.loads(state)
        recorded_at = payload.pop("timestamp")["_data_"]
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise MalformedEvent(f"stored state is not a recorded event: {error}") from None
    return {
        "sequence": sequence,
        "type": topic.rsplit(".", 1)[-1],
        "topic": topic,
        "aggregate_id": aggregate_id,
        "version": version,
        "recorded_at": recorded_at,
        "payload": payload,
    }


def leaf_bytes(leaf: dict[str, Any]) -> bytes:
    return canonical_shallow_json(leaf)


def hashed_leaf(leaf: dict[str, Any]) -> bytes:
    return leaf_hash(leaf_bytes(leaf))


# A stored event's columns: ledger position, aggregate id as text, version, topic, state.
StoredRow = tuple[int, str, int, str, bytes]


def logged_leaves(rows: Iterable[StoredRow], first_sequence: int) -> list[tuple[int, int, str]]:
    """The log's rows of stored events read in ledger order: (sequence, position, leaf hash in hex).

    Straight from the rows, without an object per event in between: the import's log follower
    does this for every event (docs/PERFORMANCE.md, change 103).
    """
    return [
        (sequence, position, hashed_leaf(stored_leaf(sequence, topic, aggregate, version, state)).hex())
        for sequence, (position, aggregate, version, topic, state) in enumerate(rows, first_sequence)
    ]
