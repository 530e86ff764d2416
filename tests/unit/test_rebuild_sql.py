"""A rebuild in SQL writes the very rows the Python projection writes, for every kind of event, on both stores."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import typing
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from domain.project import Project
from infra import rebuild_sql
from infra.bench.generator import commands
from infra.database import SQLiteDatabase
from infra.limits import rebuild_donations_aside_share
from infra.read_model import _COLUMNS, TABLES, ReadModel
from infra.rebuild_sql import (
    KEYS_SET_ASIDE,
    SOURCES,
    DonationsAside,
    SqlDialect,
    aside_share,
    rebuild_in_sql,
    unknown_topics,
)
from infra.store import EVENTS_TABLE, Stores
from projections.facts import NO_FACTS, PROJECTORS, instant_micros
from services.ledger import LedgerApplication
from services.read_side import rebuild
from tests.ledger_fixtures import LedgerUnderTest, on_store


def tables(read_model: ReadModel) -> dict[str, list[dict[str, Any]]]:
    return {table: read_model.database.query(f"SELECT * FROM {table} ORDER BY 1, 2") for table in TABLES}


def record_every_kind_of_event(stores: Stores) -> None:
    """The generated ledger, and a project that sees every other event, at times of every shape."""
    stores.ledger.execute_batch(list(commands(0.0008, seed=53)))
    books = LedgerUnderTest(stores.application, stores.read_model)
    books.setup_project("P")
    for donation_id, received_at in [
        ("DN-MICRO", "2026-03-02T10:00:00.000001-03:30"),
        ("DN-LATE", "2026-03-02T23:59:59.999999+14:00"),
        ("DN-SECONDS", "2026-03-02T10:00:00+05:45:30"),
        ("DN-UTC", "2026-03-02T10:00:00Z"),
    ]:
        outcome = books.send(
            type="record_donation",
            donation_id=donation_id,
            donor_id="D1",
            project_id="P",
            amount="100.00",
            currency="CNY",
            channel="online",
            received_at=received_at,
        )
        assert outcome.status == "applied", outcome
    books.paid_disbursement("DB-1", "250.00")
    for outcome in (
        books.request("DB-2", "10.00"),
        books.reject("DB-2"),
        books.payee_refund("RF-1", "DB-1", "30.00"),
        books.donor_refund("RD-1", "DN-UTC", "20.00"),
        books.close("P"),
    ):
        assert outcome.status == "applied", outcome


def check_same_rows_as_python(stores: Stores, **aside: Any) -> None:
    record_every_kind_of_event(stores)
    rebuild(stores.application, stores.read_model, select=stores.select_notifications)
    expected = tables(stores.read_model)
    assert [row["project_id"] for row in expected["ft_projects"] if row["closed_at"] is not None] == ["P"]
    assert {row["kind"] for row in expected["ft_movements"]} == {"payout", "payee_refund", "donor_refund"}

    with stores.read_model.rebuilding():
        events = rebuild_in_sql(stores.application, stores.read_model, **aside)
    assert events == expected["ft_tracking"][0]["events"]
    assert tables(stores.read_model) == expected


def record_a_gap_in_positions(stores: Stores) -> None:
    """Every kind of event, and a position missing among them (a transaction that lost a conflict used it)."""
    record_every_kind_of_event(stores)
    table, position = EVENTS_TABLE[stores.database.dialect]
    stores.database.query(
        f"DELETE FROM {table} WHERE {position} = (SELECT {position} FROM {table} "
        f"WHERE topic = :topic ORDER BY {position} LIMIT 1 OFFSET 3)",
        {"topic": "domain.project:Project.DonationReceived"},
    )
    span = stores.database.query(f"SELECT MAX({position}) AS last, COUNT(*) AS events FROM {table}")[0]
    assert span["last"] == span["events"] + 1


def check_gaps_in_positions(stores: Stores, **aside: Any) -> None:
    """Where a position is missing, the rows are still the same."""
    record_a_gap_in_positions(stores)
    rebuild(stores.application, stores.read_model, select=stores.select_notifications)
    expected = tables(stores.read_model)
    with stores.read_model.rebuilding():
        rebuild_in_sql(stores.application, stores.read_model, **aside)
    assert tables(stores.read_model) == expected


def record_an_id_twice(stores: Stores) -> None:
    """Every kind of event, and a donation recorded twice (written around the ledger's rules)."""
    record_every_kind_of_event(stores)
    dialect = stores.database.dialect
    table, position = EVENTS_TABLE[dialect]
    another_aggregate = "'0f0f0f0f-0f0f-0f0f-0f0f-0f0f0f0f0f0f'::uuid"
    if dialect == "sqlite":
        another_aggregate = "'0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f'"
    stores.database.query(
        f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
        f"SELECT {another_aggregate}, 1, topic, state FROM {table} WHERE topic = :topic ORDER BY {position} LIMIT 1",
        {"topic": get_topic(Project.DonationReceived)},
    )


def check_an_id_recorded_twice(stores: Stores, **aside: Any) -> None:
    """A donation recorded twice: the rows the Python projection writes.

    SQLite keeps the first, as the Python projection does; PostgreSQL, whose rebuild restores
    the primary key at the end, declines and leaves the tables and their keys as they were.
    """
    record_an_id_twice(stores)
    dialect = stores.database.dialect
    rebuild(stores.application, stores.read_model, select=stores.select_notifications)
    # Not the running totals: kept event by event, they count the second donation, whose row
    # is not written; summed from the rows after a rebuild, they do not.
    expected = tables(stores.read_model) | {"ft_project_totals": []}
    with stores.read_model.rebuilding():
        events = rebuild_in_sql(stores.application, stores.read_model, **aside)
    assert tables(stores.read_model) | {"ft_project_totals": []} == expected
    if dialect == "postgresql":
        assert events is None
        keys = stores.database.query(
            "SELECT conrelid::regclass::text AS name FROM pg_constraint WHERE contype = 'p' "
            "AND conrelid = ANY(CAST(:tables AS regclass[]))",
            {"tables": list(KEYS_SET_ASIDE)},
        )
        assert sorted(key["name"] for key in keys) == sorted(KEYS_SET_ASIDE)
    else:
        assert events == expected["ft_tracking"][0]["events"]


def record_donations_in_other_shapes(stores: Stores) -> list[str]:
    """Every kind of event, and donations whose stored JSON is not the ledger's own compact form; their ids.

    Each copies a stored donation under a new id (and aggregate), written around the ledger:
    with spaces after the separators, with an id escaped, with a value holding a quoted key of
    another field (escaped, as JSON has it) ahead of that field, and with the amount as the
    last field. PostgreSQL's rebuild finds fields in the text
    (_text_fields_select) and must read these through jsonb, or find the right field.
    """
    record_every_kind_of_event(stores)
    table, position = EVENTS_TABLE[stores.database.dialect]
    stored = stores.database.query(
        f"SELECT state FROM {table} WHERE topic = :topic ORDER BY {position} LIMIT 1",
        {"topic": get_topic(Project.DonationReceived)},
    )[0]["state"]
    state = json.loads(bytes(stored))
    amount = state.pop("amount_minor")
    shapes = {
        "DN-SPACED": json.dumps(state | {"donation_id": "DN-SPACED", "amount_minor": amount}),
        "DN-ESCAPED": json.dumps(
            state | {"donation_id": "DN-ESCAPED", "amount_minor": amount}, separators=(",", ":")
        ).replace("DN-ESCAPED", "DN-\\u0045SCAPED"),
        "DN-DECOY": json.dumps(
            {"channel": 'x","donor_id":"D-DECOY","amount_minor":7,"received_at":"1999-01-01T00:00:00+00:00'}
            | state
            | {"donation_id": "DN-DECOY", "amount_minor": amount},
            separators=(",", ":"),
        ),
        "DN-AMOUNT-LAST": json.dumps(
            state | {"donation_id": "DN-AMOUNT-LAST", "amount_minor": amount}, separators=(",", ":")
        ),
    }
    assert shapes["DN-AMOUNT-LAST"].endswith(f'"amount_minor":{amount}}}')
    for number, text in enumerate(shapes.values()):
        aggregate = f"{number + 1:08x}-0f0f-0f0f-0f0f-0f0f0f0f0f0f"
        stores.database.query(
            f"INSERT INTO {table} (originator_id, originator_version, topic, state) VALUES (:id, 1, :topic, :state)",
            {
                "id": aggregate if stores.database.dialect == "postgresql" else aggregate.replace("-", ""),
                "topic": get_topic(Project.DonationReceived),
                "state": text.encode(),
            },
        )
    return list(shapes)


def check_donations_in_other_shapes(stores: Stores, **aside: Any) -> None:
    """Donations stored in other JSON shapes: the rows the Python projection writes."""
    donation_ids = record_donations_in_other_shapes(stores)
    rebuild(stores.application, stores.read_model, select=stores.select_notifications)
    expected = tables(stores.read_model)
    rows = {row["donation_id"]: row for row in expected["ft_donations"]}
    assert set(donation_ids) <= set(rows)
    assert rows["DN-DECOY"]["donor_id"] == rows["DN-SPACED"]["donor_id"] != "D-DECOY"
    assert rows["DN-DECOY"]["amount_minor"] == rows["DN-SPACED"]["amount_minor"] != 7
    with stores.read_model.rebuilding():
        events = rebuild_in_sql(stores.application, stores.read_model, **aside)
    assert events == expected["ft_tracking"][0]["events"]
    assert tables(stores.read_model) == expected


def record_an_update_twice(stores: Stores) -> str:
    """Every kind of event, and project P closed twice (written around the ledger's rules); the later closing's time."""
    record_every_kind_of_event(stores)
    dialect = stores.database.dialect
    table, _ = EVENTS_TABLE[dialect]
    closed = stores.database.query(
        f"SELECT originator_id, originator_version, topic, state FROM {table} WHERE topic = :topic",
        {"topic": get_topic(Project.ProjectClosed)},
    )
    assert len(closed) == 1
    state = json.loads(bytes(closed[0]["state"]))
    state["closed_at"] = "2027-01-05T08:30:00.000250+08:00"
    stores.database.query(
        f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
        "VALUES (:originator_id, :version, :topic, :state)",
        {
            "originator_id": closed[0]["originator_id"],
            "version": closed[0]["originator_version"] + 100,
            "topic": closed[0]["topic"],
            "state": json.dumps(state).encode(),
        },
    )
    return str(state["closed_at"])


def check_an_update_recorded_twice(stores: Stores, **aside: Any) -> None:
    """A project closed twice: the later closing wins, as in Python."""
    closed_at = record_an_update_twice(stores)
    rebuild(stores.application, stores.read_model, select=stores.select_notifications)
    expected = tables(stores.read_model)
    assert [row["closed_at"] for row in expected["ft_projects"] if row["project_id"] == "P"] == [
        instant_micros(closed_at)
    ]
    with stores.read_model.rebuilding():
        rebuild_in_sql(stores.application, stores.read_model, **aside)
    assert tables(stores.read_model) == expected


@pytest.mark.parametrize(
    "aside", [pytest.param({}, id="one-process"), pytest.param({"aside_events_min": 1}, id="aside")]
)
def test_an_update_recorded_twice_gives_the_rows_of_the_python_projection(
    tmp_path: Path, aside: dict[str, Any]
) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", partial(check_an_update_recorded_twice, **aside))


# SQLite: one process alone; a second process reading the later donations (DonationsAside);
# and that process reading every donation, so that both of a donation recorded twice are its own.
ASIDE = [
    pytest.param({}, id="one-process"),
    pytest.param({"aside_events_min": 1}, id="donations-aside"),
    pytest.param({"aside_events_min": 1, "aside_share": 1.0}, id="every-donation-aside"),
]


@pytest.mark.parametrize("aside", ASIDE)
def test_donations_stored_in_other_json_shapes_give_the_rows_of_the_python_projection(
    tmp_path: Path, aside: dict[str, Any]
) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", partial(check_donations_in_other_shapes, **aside))


@pytest.mark.parametrize("aside", ASIDE)
def test_a_rebuild_in_sql_writes_the_rows_of_the_python_projection(tmp_path: Path, aside: dict[str, Any]) -> None:
    with capture_logs() as logs:
        on_store(f"sqlite:///{tmp_path / 'ledger.db'}", partial(check_same_rows_as_python, **aside))
    assert not [entry for entry in logs if entry["event"] == "rebuild_aside_failed"]


@pytest.mark.parametrize("aside", ASIDE)
def test_a_rebuild_in_sql_gives_the_same_rows_across_a_gap_in_positions(tmp_path: Path, aside: dict[str, Any]) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", partial(check_gaps_in_positions, **aside))


@pytest.mark.parametrize("aside", ASIDE)
def test_a_donation_recorded_twice_gives_the_rows_of_the_python_projection(
    tmp_path: Path, aside: dict[str, Any]
) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", partial(check_an_id_recorded_twice, **aside))


@given(st.integers(1, 10**8), st.integers(0, 10**8), st.integers(1, 10**8))
def test_the_second_process_takes_more_donations_the_more_movements_are_left_here(
    donations: int, movements: int, more: int
) -> None:
    share = aside_share(donations, movements)
    assert 0.5 <= share <= 1.0
    assert aside_share(donations, movements + more) >= share
    assert aside_share(donations, 0) < aside_share(donations, 2 * donations) == 1.0


def test_books_without_donations_give_the_second_process_the_default_share() -> None:
    assert aside_share(0, 5) == rebuild_donations_aside_share


def test_when_the_second_process_fails_the_rebuild_reads_its_share_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(module: str, request: dict[str, Any]) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], stdin=subprocess.DEVNULL)

    monkeypatch.setattr(rebuild_sql, "start_helper_process", failing)
    with capture_logs() as logs:
        on_store(f"sqlite:///{tmp_path / 'ledger.db'}", partial(check_same_rows_as_python, aside_events_min=1))
    assert [entry["exitcode"] for entry in logs if entry["event"] == "rebuild_aside_failed"] == [3]


def test_no_second_process_starts_for_events_that_sql_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(module: str, request: dict[str, Any]) -> subprocess.Popen[bytes]:
        raise AssertionError("a second process was started")

    monkeypatch.setattr(rebuild_sql, "start_helper_process", refused)
    compressed = LedgerApplication(env={"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"})

    def check(stores: Stores) -> None:
        record_every_kind_of_event(stores)
        assert rebuild_in_sql(compressed, stores.read_model, aside_events_min=1) is None

    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check)


def test_the_second_process_writes_its_file_while_the_rebuild_holds_the_store(tmp_path: Path) -> None:
    """Its rows arrive while this process's transaction is open: the report tables' file is locked for writing,
    the events' file and the second process's file are not."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"

    def check(stores: Stores) -> None:
        record_every_kind_of_event(stores)
        database = stores.read_model.database
        assert isinstance(database, SQLiteDatabase)
        aside = DonationsAside.start(database, 1, 1.0)
        assert aside is not None
        try:
            with database.transaction("reports") as writer:
                reports = sqlite3.connect(tmp_path / "ledger.db-reports", timeout=0)
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    reports.execute("BEGIN IMMEDIATE")
                reports.close()
                events = sqlite3.connect(tmp_path / "ledger.db", timeout=0, isolation_level=None)
                events.execute("BEGIN IMMEDIATE")
                events.execute("ROLLBACK")
                events.close()
                assert aside.child.wait(timeout=60) == 0
                rows = writer.query("SELECT COUNT(*) AS rows FROM ft_aside.ft_rebuild_rows")[0]["rows"]
                donations = writer.query(
                    "SELECT COUNT(*) AS events FROM stored_events WHERE topic = :topic", {"topic": aside.topic}
                )[0]["events"]
                assert rows == donations > 0
        finally:
            aside.close()

    on_store(url, check)


def check_an_unknown_event(stores: Stores, **aside: Any) -> None:
    """A store holding an event SQL cannot read is left to the Python projection, every time it is asked."""
    record_every_kind_of_event(stores)
    stores.catch_up()
    before = tables(stores.read_model)
    dialect = stores.database.dialect
    table, _ = EVENTS_TABLE[dialect]
    values = "'0f0f0f0f-0f0f-0f0f-0f0f-0f0f0f0f0f0f'::uuid, 1, 'elsewhere:Thing.Happened', '{}'::bytea"
    if dialect == "sqlite":
        values = "'0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f', 1, 'elsewhere:Thing.Happened', CAST('{}' AS BLOB)"
    stores.database.query(f"INSERT INTO {table} (originator_id, originator_version, topic, state) VALUES ({values})")
    # Twice on one connection: the first leaves nothing behind that the second trips over.
    for _ in range(2):
        assert rebuild_in_sql(stores.application, stores.read_model, **aside) is None
        assert tables(stores.read_model) == before


def test_a_store_holding_an_unknown_event_is_left_to_the_python_projection(tmp_path: Path) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check_an_unknown_event)


class DonationReceived(Aggregate.Event):
    """An event class of a later version under a known name: its stored states would need upcasting."""

    class_version = 2


def test_only_known_first_version_unencrypted_events_are_rebuilt_in_sql() -> None:
    plain = LedgerApplication()
    known = get_topic(Project.DonationReceived)
    later = get_topic(DonationReceived)
    assert unknown_topics([known, later, "elsewhere:Thing.Happened"], plain) == [later, "elsewhere:Thing.Happened"]
    compressed = LedgerApplication(env={"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"})
    assert unknown_topics([known], compressed) == [known]


def test_every_event_with_rows_has_statements_for_each_column_of_them() -> None:
    with_rows = {name for name in PROJECTORS if name not in NO_FACTS}
    assert {name for sources in SOURCES.values() for name, _ in sources} == with_rows
    for kind, sources in SOURCES.items():
        for name, columns in sources:
            assert len(columns) == len(_COLUMNS[kind]), (kind, name)
            event_class = next(
                cls for cls in _event_classes() if cls.__name__ == name and cls.__qualname__.count(".") == 1
            )
            hints = typing.get_type_hints(event_class)
            for column in columns:
                type_name, _, field = column.partition(":")
                if field and type_name != "allocation":
                    # Plain JSON values only: a typed value (a UUID, a Decimal) would be read as its JSON object.
                    assert hints.get(field, str | None) in (str, int, bool, str | None), (name, field)
                    assert (type_name == "integer") == (hints.get(field) is int), (name, field)


def _event_classes() -> list[type]:
    from domain import imports, project, reconciliation, registry

    return [
        value
        for module in (imports, project, reconciliation, registry)
        for holder in vars(module).values()
        if isinstance(holder, type)
        for value in vars(holder).values()
        if isinstance(value, type) and issubclass(value, Aggregate.Event)
    ]


moments = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(9998, 12, 31),
    timezones=st.builds(
        timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
    ),
)


def stored_time(moment: datetime) -> str:
    """A time as events hold it: parsed as the commands parse it, written with isoformat()."""
    return datetime.fromisoformat(moment.isoformat()).isoformat()


# Any aware time the commands accept: offsets up to a day either way, and UTC over all of datetime's years.
instants = moments | st.datetimes(timezones=st.just(UTC))


@settings(max_examples=300)
@given(moment=instants)
def test_instants_in_sqlite_sql_are_those_of_instant_micros(moment: datetime) -> None:
    text = stored_time(moment)
    connection = sqlite3.connect(":memory:")
    connection.create_function("ft_instant_micros", 1, instant_micros, deterministic=True)
    ((micros,),) = connection.execute(f"SELECT {SqlDialect('sqlite').micros(':t')}", {"t": text}).fetchall()
    assert micros == instant_micros(text)
