"""The log's leaves hashed from the stored rows (Stores.catch_up_log) are those of the reference: RFC 8785's bytes."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from infra.bench.generator import commands
from infra.store import Stores, open_stores
from projections.canonical import canonical_shallow_json
from projections.ledger_log import leaf_object
from projections.merkle import leaf_hash

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False)
)
keys = st.text(max_size=4) | st.sampled_from(["amount_minor", "payload", "é", "\U0001f600", "\ue000"])
# A leaf's shape: scalars and dicts of scalars, and now and then a list.
shallow = st.dictionaries(
    keys,
    scalars | st.dictionaries(keys, scalars, max_size=4) | st.lists(scalars, max_size=3),
    max_size=6,
)


def _written(encode: Any, value: Any) -> bytes | type[Exception]:
    try:
        written: bytes = encode(value)
    except ValueError as error:
        return type(error)
    return written


@given(shallow)
def test_the_shallow_check_gives_the_reference_bytes(value: dict[str, Any]) -> None:
    assert _written(canonical_shallow_json, value) == _written(rfc8785.dumps, value)


@pytest.mark.parametrize(
    "value",
    [
        {"payload": {"amount_minor": 2**53}},
        {"payload": {"ratio": 1.0}, "version": 1},
        {"payload": {"\U0001f600": 1, "\ue000": 2}},
        {"payload": {"purpose": "治疗费用"}, "version": 2},
        {"payload": {"lots": [1, 2]}},
    ],
    ids=["unsafe-integer", "float", "astral-key", "text-beyond-ascii", "list"],
)
def test_each_way_off_the_fast_path_still_gives_the_reference_bytes(value: dict[str, Any]) -> None:
    assert _written(canonical_shallow_json, value) == _written(rfc8785.dumps, value)


@pytest.mark.parametrize("made_before_change_112", [False, True])
def test_the_logged_leaves_are_the_reference_leaves_of_every_kind_of_event(
    tmp_path: Path, made_before_change_112: bool
) -> None:
    path = tmp_path / "ledger.db"
    open_stores(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as connection:
        # On SQLite the sequence is the rowid: one B-tree less for every leaf (change 112).
        assert _sequence_column(connection) == ("INTEGER", 1)
        if made_before_change_112:
            # A store made before keeps its table, with a key of its own, and is logged the same way.
            connection.execute("DROP TABLE ft_ledger_log")
            connection.execute(
                "CREATE TABLE ft_ledger_log (sequence BIGINT PRIMARY KEY, position BIGINT NOT NULL UNIQUE, "
                "leaf_hash TEXT NOT NULL)"
            )
            assert _sequence_column(connection) == ("BIGINT", 2)
    stores = open_stores(f"sqlite:///{path}")
    try:
        stores.ledger.execute_batch(list(commands(0.001, seed=5)))
        logged = stores.catch_up_log(page_max=97)
        notifications = stores.select_notifications(1, 100_000)
        assert logged == len(notifications)
        kinds = {notification.topic.rsplit(".", 1)[-1] for notification in notifications}
        assert {"DonationReceived", "PayoutSent", "PayeeRefundReceived", "DonationRefunded"} <= kinds
        expected = [
            (sequence, notification.id, leaf_hash(rfc8785.dumps(leaf_object(sequence, notification))).hex())
            for sequence, notification in enumerate(notifications, start=1)
        ]
        assert _log_rows(stores) == expected
    finally:
        stores.close()


def _sequence_column(connection: sqlite3.Connection) -> tuple[str, int]:
    """The sequence's declared type, and how many indexes the log's table has besides its rowid."""
    [(declared,)] = connection.execute("SELECT type FROM pragma_table_info('ft_ledger_log') WHERE name = 'sequence'")
    [(indexes,)] = connection.execute("SELECT COUNT(*) FROM pragma_index_list('ft_ledger_log')")
    return declared, indexes


def _log_rows(stores: Stores) -> list[tuple[int, int, str]]:
    return [(row["sequence"], row["position"], row["leaf_hash"]) for row in stores.log.leaves()]
