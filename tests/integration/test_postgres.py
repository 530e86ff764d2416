"""The same ledger on a real PostgreSQL: scenarios, invariants, replay checksums equal to SQLite's."""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from collections.abc import Callable, Generator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

import infra.store
from infra.bench.generator import write_commands
from infra.follower import follow
from infra.importer import import_file
from infra.read_model import TABLES
from infra.store import Stores, open_stores
from tests.cli import fundtrail, output_json
from tests.integration.conftest import drop_schema, postgres_base
from tests.ledger_fixtures import LedgerUnderTest, on_store
from tests.scenario.test_scenarios import report_args
from tests.scripts import check_any_script, steps
from tests.unit.test_event_store import check_positions_and_conflicts
from tests.unit.test_existing_ids import check_behind, check_existing_ids
from tests.unit.test_insert_rows import check_insert_fresh_rows, check_insert_rows
from tests.unit.test_log_overlap import check_overlapping_log_catch_ups, check_overlapping_report_catch_ups
from tests.unit.test_rebuild_sql import (
    check_an_id_recorded_twice,
    check_an_unknown_event,
    check_an_update_recorded_twice,
    check_donations_in_other_shapes,
    check_gaps_in_positions,
    check_same_rows_as_python,
    instants,
    record_every_kind_of_event,
    stored_time,
)
from tests.unit.test_report_fast_paths import (
    check_donor_counts,
    check_payee_reports_in_bulk,
    check_totals_replayed_and_backfilled,
)
from tests.unit.test_several_writers import claim_race
from tests.unit.test_stored_events import check_claim_events_copied_on_open

XIAOLIN = Path(__file__).parents[1] / "scenario" / "xiaolin"


def test_the_xiaolin_scenario_gives_the_expected_reports_on_postgresql(postgres_url: str) -> None:
    done = fundtrail(postgres_url, "import", str(XIAOLIN / "commands.jsonl"))
    assert 3 == done.returncode, done.stderr
    assert 22 == output_json(done)["applied"]
    for path in sorted((XIAOLIN / "expected").glob("*.json")):
        if path.name != "import.json":
            assert json.loads(path.read_text()) == output_json(fundtrail(postgres_url, *report_args(path.name)))


def test_sqlite_and_postgresql_give_the_same_checksum_live_and_after_replay(postgres_url: str, tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'same.db'}"
    checksums = set()
    for store in (sqlite_url, postgres_url):
        fundtrail(store, "import", str(XIAOLIN / "commands.jsonl"))
        live = output_json(fundtrail(store, "checksum"))
        replayed = output_json(fundtrail(store, "replay"))
        assert live == replayed
        checksums.add(replayed["checksum"])
    assert 1 == len(checksums)


def test_a_replay_leaves_the_read_model_analyzed_on_postgresql(postgres_url: str) -> None:
    """The statistics are refreshed beside the checksum, and done when the replay returns."""
    schema = postgres_url.rsplit("schema=", 1)[1]
    analyzed = (
        "SELECT relname FROM pg_stat_user_tables WHERE schemaname = %s AND last_analyze IS NOT NULL ORDER BY relname"
    )
    fundtrail(postgres_url, "import", str(XIAOLIN / "commands.jsonl"))
    with psycopg.connect(postgres_base()) as connection:
        assert connection.execute(analyzed, (schema,)).fetchall() == []
    assert 0 == fundtrail(postgres_url, "replay").returncode
    with psycopg.connect(postgres_base()) as connection:
        assert sorted(row[0] for row in connection.execute(analyzed, (schema,))) == sorted(TABLES)


def test_replay_until_seq_shows_the_books_as_they_stood_then(postgres_url: str, tmp_path: Path) -> None:
    early = tmp_path / "early.jsonl"
    early.write_text("\n".join((XIAOLIN / "commands.jsonl").read_text().splitlines()[:11]) + "\n")
    fundtrail(postgres_url, "import", str(early))
    then = output_json(fundtrail(postgres_url, "checksum"))
    fundtrail(postgres_url, "import", str(XIAOLIN / "commands.jsonl"))
    assert then == output_json(fundtrail(postgres_url, "replay", "--until-seq", str(then["events"])))
    assert then != output_json(fundtrail(postgres_url, "checksum"))


def test_schema_set_up_is_automatic_and_idempotent(postgres_url: str) -> None:
    for _ in range(2):
        stores = open_stores(postgres_url)
        stores.close()
    schema = postgres_url.rsplit("schema=", 1)[1]
    with psycopg.connect(postgres_base()) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
            )
        }
    assert {"fundtrail_events", "ft_tracking", "ft_donations", "ft_movements"} <= tables


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(steps, min_size=5, max_size=60), st.integers(min_value=1, max_value=25))
def test_any_command_sequence_keeps_the_books_balanced_on_postgresql(
    postgres_server: str, script: list[tuple[str, int, int, int]], batch_size: int
) -> None:
    schema = f"ft_prop_{uuid.uuid4().hex[:12]}"
    stores = open_stores(f"{postgres_base()}?schema={schema}")
    try:
        check_any_script(LedgerUnderTest(stores.application, stores.read_model), script, batch_size)
    finally:
        stores.close()
        drop_schema(schema)


def test_project_snapshots_are_kept_and_used_on_postgresql(postgres_url: str) -> None:
    from domain.identity import aggregate_id
    from domain.project import Project
    from services.unit_of_work import UnitOfWork

    stores = open_stores(postgres_url)
    try:
        stores.ledger.work.snapshot_interval = 5
        lines = (XIAOLIN / "commands.jsonl").read_text().splitlines()
        for line in lines:
            stores.ledger.execute(json.loads(line))
        identity = aggregate_id("project", "P-XL")
        assert stores.ledger.work.snapshots is not None
        latest = stores.ledger.work.snapshots.latest(identity, Project.SNAPSHOT_SHAPE)
        assert latest is not None and latest[0] >= 5
        stores.ledger.work.snapshots.save(identity, Project.SNAPSHOT_SHAPE, latest[0] - 1, "older")
        assert stores.ledger.work.snapshots.latest(identity, Project.SNAPSHOT_SHAPE) == latest
        from_events = UnitOfWork(stores.application).get(Project, identity)
        from_snapshot = UnitOfWork(stores.application, snapshots=stores.ledger.work.snapshots).get(Project, identity)
        assert from_events is not None and from_snapshot is not None
        assert from_snapshot.snapshot_state() == from_events.snapshot_state()
        assert from_snapshot.version == from_events.version
    finally:
        stores.close()


def test_snapshots_are_compressed_with_lz4_on_postgresql(postgres_url: str) -> None:
    from infra.snapshots import SnapshotTable

    stores = open_stores(postgres_url)
    try:
        database = stores.database
        # A table made before (pglz, PostgreSQL's default) is switched when the store is opened.
        with database.transaction() as writer:
            writer.execute("ALTER TABLE ft_snapshots ALTER COLUMN state SET COMPRESSION pglz")
        method = "SELECT attcompression AS method FROM pg_attribute WHERE attrelid = 'ft_snapshots'::regclass "
        method += "AND attname = 'state'"
        assert database.query(method) == [{"method": "p"}]
        table = SnapshotTable(database)
        assert database.query(method) == [{"method": "l"}]
        identity = uuid.uuid4()
        state = json.dumps([[f"DN{number:08d}", number % 977, "CNY"] for number in range(5_000)])
        table.save(identity, 1, 7, state)
        assert table.latest(identity, 1) == (7, state)
        stored = database.query(
            "SELECT pg_column_compression(state) AS method, octet_length(state) AS size FROM ft_snapshots "
            "WHERE aggregate_id = :id",
            {"id": str(identity)},
        )
        assert stored == [{"method": "lz4", "size": len(state)}]
    finally:
        stores.close()


def test_the_checksum_on_two_processes_is_the_same_on_postgresql(postgres_url: str) -> None:
    from infra.bench.generator import commands
    from infra.checksum_parallel import reports_checksum_in_parallel
    from projections.checksum import reports_checksum

    stores = open_stores(postgres_url)
    try:
        stores.ledger.execute_batch(list(commands(0.0005, seed=42)))
        stores.catch_up()
        alone = reports_checksum(stores.read_model)
        assert reports_checksum_in_parallel(postgres_url, stores.read_model, donors_min=0) == alone
    finally:
        stores.close()


def check_streams_side_by_side(stores: Stores) -> None:
    """Streams are read side by side, each on a connection of its own, closed when it ends or is dropped."""
    from infra.limits import stream_page_rows

    database = stores.read_model.database
    connections = "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
    before = database.query(connections)[0]["n"]
    count = stream_page_rows * 2 + 17
    numbers = "SELECT n, :tag AS tag FROM generate_series(1, :count) AS n ORDER BY n"
    first = database.stream(numbers, {"count": count, "tag": "first"})
    second = database.stream(numbers, {"count": count, "tag": "second"})
    pairs = list(zip(first, second, strict=True))
    assert pairs == [((n, "first"), (n, "second")) for n in range(1, count + 1)]
    dropped = cast(Generator[tuple[Any, ...], None, None], database.stream(numbers, {"count": count, "tag": "dropped"}))
    assert next(dropped) == (1, "dropped")
    assert database.query(connections)[0]["n"] == before + 1
    dropped.close()
    # The server ends a backend shortly after its client closes: waited for, not timed.
    for _ in range(100):
        if database.query(connections)[0]["n"] == before:
            break
        time.sleep(0.05)
    assert database.query(connections)[0]["n"] == before


def check_query_aside(stores: Stores) -> None:
    """A query aside runs on another connection, sees only committed rows, and raises when its rows are asked for."""
    database = stores.read_model.database
    own = database.query("SELECT pg_backend_pid() AS pid")[0]["pid"]
    with database.transaction() as writer:
        writer.execute("INSERT INTO ft_foundations (foundation_id, name) VALUES ('F-ASIDE', 'not yet committed')")
        aside = database.query_aside(
            "SELECT pg_backend_pid() AS pid, COUNT(*) AS n FROM ft_foundations WHERE foundation_id = :id",
            {"id": "F-ASIDE"},
        )
        (row,) = aside()
        assert row["pid"] != own
        assert row["n"] == 0
    failing = database.query_aside("SELECT 1 / (SELECT COUNT(*) FROM ft_donations) AS n")
    with pytest.raises(psycopg.errors.DivisionByZero):
        failing()


def test_a_rebuild_read_by_a_second_process_is_the_same_on_postgresql(postgres_url: str) -> None:
    from infra.bench.generator import commands
    from infra.rebuild_parallel import rebuild_in_parallel
    from projections.checksum import reports_checksum

    stores = open_stores(postgres_url)
    try:
        stores.ledger.execute_batch(list(commands(0.0005, seed=52)))
        stores.catch_up()
        live = (stores.read_model.tracked(), reports_checksum(stores.read_model))
        with stores.read_model.rebuilding():
            rebuild_in_parallel(stores, stores.read_model, events_min=0)
        assert (stores.read_model.tracked(), reports_checksum(stores.read_model)) == live
    finally:
        stores.close()


@pytest.mark.parametrize(
    "check",
    [
        pytest.param(check_positions_and_conflicts, id="batch-positions-and-conflicts"),
        pytest.param(check_existing_ids, id="existing-ids"),
        pytest.param(lambda stores: claim_race(stores.application), id="claim-race"),
        pytest.param(check_insert_rows, id="insert-rows"),
        pytest.param(check_insert_fresh_rows, id="insert-fresh-rows"),
        pytest.param(lambda stores: check_donor_counts(stores.read_model), id="donor-counts-page-by-page"),
        pytest.param(check_behind, id="behind"),
        pytest.param(check_overlapping_log_catch_ups, id="overlapping-log-catch-ups"),
        pytest.param(check_overlapping_report_catch_ups, id="overlapping-report-catch-ups"),
        pytest.param(partial(check_overlapping_report_catch_ups, gap=5), id="overlapping-report-catch-ups-gap"),
        pytest.param(check_same_rows_as_python, id="rebuild-in-sql"),
        pytest.param(check_donations_in_other_shapes, id="rebuild-in-sql-of-other-json-shapes"),
        pytest.param(
            partial(check_donations_in_other_shapes, aside_events_min=1), id="two-connections-other-json-shapes"
        ),
        pytest.param(check_gaps_in_positions, id="rebuild-in-sql-across-a-gap"),
        pytest.param(check_an_id_recorded_twice, id="rebuild-in-sql-of-an-id-recorded-twice"),
        pytest.param(check_an_update_recorded_twice, id="rebuild-in-sql-of-an-update-recorded-twice"),
        pytest.param(check_totals_replayed_and_backfilled, id="totals-replayed-and-backfilled"),
        pytest.param(check_payee_reports_in_bulk, id="payee-reports-in-bulk"),
        pytest.param(partial(check_same_rows_as_python, aside_events_min=1), id="rebuild-in-sql-on-two-connections"),
        pytest.param(partial(check_gaps_in_positions, aside_events_min=1), id="two-connections-across-a-gap"),
        pytest.param(partial(check_an_id_recorded_twice, aside_events_min=1), id="two-connections-id-recorded-twice"),
        pytest.param(
            partial(check_an_update_recorded_twice, aside_events_min=1), id="two-connections-update-recorded-twice"
        ),
        pytest.param(check_an_unknown_event, id="rebuild-in-sql-of-an-unknown-event"),
        pytest.param(partial(check_an_unknown_event, aside_events_min=1), id="two-connections-unknown-event"),
    ],
)
def test_store_checks_shared_with_sqlite_on_postgresql(postgres_url: str, check: Callable[[Stores], None]) -> None:
    on_store(postgres_url, check)


@pytest.mark.parametrize(
    "check",
    [
        pytest.param(check_streams_side_by_side, id="streams-side-by-side"),
        pytest.param(check_query_aside, id="query-aside"),
    ],
)
def test_postgresql_connection_checks(postgres_url: str, check: Callable[[Stores], None]) -> None:
    on_store(postgres_url, check)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moment=instants)
def test_instants_in_postgresql_sql_are_those_of_instant_micros(postgres_server: str, moment: datetime) -> None:
    from infra.rebuild_sql import SqlDialect
    from projections.facts import instant_micros

    text = stored_time(moment)
    with psycopg.connect(postgres_server) as connection:
        ((micros,),) = connection.execute(f"SELECT {SqlDialect('postgresql').micros('%(t)s::text')}", {"t": text})
    assert micros == instant_micros(text)


def test_ids_in_the_read_model_compare_as_bytes_on_postgresql(postgres_url: str) -> None:
    """COLLATE "C", as SQLite compares: cheaper to index and sort than the database's locale."""
    stores = open_stores(postgres_url)
    try:
        columns = stores.database.query(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND right(column_name, 3) = '_id' "
            "AND data_type = 'text'"
        )
    finally:
        stores.close()
    read_model = [column for column in columns if column["table_name"] in TABLES]
    assert {column["table_name"] for column in read_model} == set(TABLES) - {"ft_tracking"}
    assert {column["collation_name"] for column in read_model} == {"C"}


def test_a_rebuild_on_postgresql_writes_into_emptied_tables_not_past_dead_rows(postgres_url: str) -> None:
    """TRUNCATE gives each table new storage; DELETE would keep the old rows' pages until a vacuum."""
    from infra.bench.generator import commands
    from infra.rebuild_sql import rebuild_in_sql

    stores = open_stores(postgres_url)
    try:
        stores.ledger.execute_batch(list(commands(0.0003, seed=54)))
        stores.catch_up()

        def storage() -> dict[str, int]:
            return {
                table: stores.database.query("SELECT pg_relation_filenode(:table) AS node", {"table": table})[0]["node"]
                for table in ("ft_donations", "ft_movements")
            }

        before = storage()
        with stores.read_model.rebuilding():
            assert rebuild_in_sql(stores.application, stores.read_model)
        after = storage()
        assert all(after[table] != before[table] for table in before), (before, after)
    finally:
        stores.close()


def aside_tables(stores: Stores) -> list[str]:
    from infra.rebuild_sql import _ASIDE_PREFIX

    rows = stores.database.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND starts_with(tablename, :prefix)",
        {"prefix": _ASIDE_PREFIX},
    )
    return sorted(row["tablename"] for row in rows)


def table_shape(stores: Stores, table: str) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """A table's persistence, columns (name, type, collation, nullable), and constraints with their indexes."""
    persistence = stores.database.query(
        "SELECT relpersistence FROM pg_class WHERE oid = CAST(:table AS regclass)", {"table": table}
    )
    columns = stores.database.query(
        "SELECT attnum, attname, format_type(atttypid, atttypmod) AS type, attnotnull, "
        "(SELECT collname FROM pg_collation WHERE oid = attcollation) AS collation FROM pg_attribute "
        "WHERE attrelid = CAST(:table AS regclass) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        {"table": table},
    )
    constraints = stores.database.query(
        "SELECT conname, pg_get_constraintdef(c.oid) AS definition, i.relname AS index FROM pg_constraint c "
        "LEFT JOIN pg_class i ON i.oid = c.conindid WHERE conrelid = CAST(:table AS regclass) ORDER BY conname",
        {"table": table},
    )
    return persistence[0]["relpersistence"], columns, constraints


PUT_IN_PLACE = ("ft_movements", "ft_donations")


def test_a_store_without_movements_replays_with_the_second_connection(postgres_url: str) -> None:
    """Donations alone: the second connection's table of movements holds none, and takes ft_movements' place."""
    from infra.rebuild_sql import rebuild_in_sql
    from services.read_side import rebuild

    def check(stores: Stores) -> None:
        books = LedgerUnderTest(stores.application, stores.read_model)
        books.setup_project("P")
        for number in range(3):
            assert books.donate(f"DN-{number}", "10.00").status == "applied"
        rebuild(stores.application, stores.read_model, select=stores.select_notifications)
        made_by_schema = [table_shape(stores, table) for table in PUT_IN_PLACE]
        before = {table: stores.database.query(f"SELECT * FROM {table} ORDER BY 1") for table in PUT_IN_PLACE}
        with capture_logs() as logs, stores.read_model.rebuilding():
            assert rebuild_in_sql(stores.application, stores.read_model, aside_events_min=1) == books.event_count()
        assert not [entry for entry in logs if entry["event"] == "rebuild_aside_failed"]
        assert {table: stores.database.query(f"SELECT * FROM {table} ORDER BY 1") for table in PUT_IN_PLACE} == before
        assert len(before["ft_donations"]) == 3 and before["ft_movements"] == []
        assert [table_shape(stores, table) for table in PUT_IN_PLACE] == made_by_schema
        assert aside_tables(stores) == []

    on_store(postgres_url, check)


def test_a_reader_with_prepared_statements_reads_the_tables_put_in_place(postgres_url: str) -> None:
    """Statements prepared on the old tables, and one waiting on them while the replay commits, read the new ones."""
    import threading

    from infra import rebuild_sql
    from services.read_side import rebuild

    sums = {table: f"SELECT COUNT(*) AS n, SUM(amount_minor) AS total FROM {table}" for table in PUT_IN_PLACE}
    put_in_place = rebuild_sql._put_in_place
    waited: dict[str, Any] = {}

    def check(stores: Stores) -> None:
        record_every_kind_of_event(stores)
        rebuild(stores.application, stores.read_model, select=stores.select_notifications)
        reader = open_stores(postgres_url)
        try:
            connection = reader.database.connection  # type: ignore[attr-defined]

            def read_sums() -> dict[str, Any]:
                return {table: connection.execute(sql, prepare=True).fetchone() for table, sql in sums.items()}

            expected = read_sums()
            assert all(row["n"] > 0 for row in expected.values()), expected

            def read_while_replaying() -> None:
                waited["rows"] = read_sums()

            def putting_in_place(writer: Any, made: str, table: str, key: str | None = None) -> None:
                put_in_place(writer, made, table, key)
                if table == "ft_movements":
                    # The replay's transaction holds both tables now: the reader waits for its commit.
                    connection.commit()
                    waited["thread"] = threading.Thread(target=read_while_replaying)
                    waited["thread"].start()
                    time.sleep(0.2)
                    assert waited["thread"].is_alive()

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(rebuild_sql, "_put_in_place", putting_in_place)
                with stores.read_model.rebuilding():
                    rebuild_sql.rebuild_in_sql(stores.application, stores.read_model, aside_events_min=1)
            waited["thread"].join()
            assert waited["rows"] == expected
            connection.commit()
            assert read_sums() == expected
        finally:
            reader.close()

    on_store(postgres_url, check)


def test_the_second_connection_reads_the_other_rows_and_leaves_no_table_behind(postgres_url: str) -> None:
    """Every kind but the donations comes from its tables; a dead rebuild's tables go, a live one's stay."""
    from infra import rebuild_sql
    from infra.database import PostgresSession

    made: list[str] = []
    logged: list[str] = []
    later_than: list[int] = []
    execute = PostgresSession.execute

    def noting(session: PostgresSession, sql: str, params: dict[str, Any] | None = None) -> None:
        if sql.startswith("CREATE UNLOGGED TABLE"):
            made.append(sql.split()[3])
            if params is not None and params.get("topic") == "domain.project:Project.DonationReceived":
                later_than.append(params["after"])
        elif sql.startswith(f"CREATE TABLE {rebuild_sql._ASIDE_PREFIX}"):
            logged.append(sql.split()[2])
        execute(session, sql, params)

    def check(stores: Stores) -> None:
        live_pid = stores.database.query("SELECT pg_backend_pid() AS pid")[0]["pid"]
        dead, live = f"{rebuild_sql._ASIDE_PREFIX}2147483646_0", f"{rebuild_sql._ASIDE_PREFIX}{live_pid}_0"
        for table in (dead, live):
            stores.database.query(f"CREATE UNLOGGED TABLE {table} (x int)")
        made_by_schema = [table_shape(stores, table) for table in PUT_IN_PLACE]
        with capture_logs() as logs:
            check_same_rows_as_python(stores, aside_events_min=1)
        assert not [entry for entry in logs if entry["event"] == "rebuild_aside_failed"]
        # The foundation, partner, payees, donors, project, disbursements and three kinds of
        # update: each topic's rows read on the second connection; then the donations of the
        # last positions, last of all. The three kinds of movement went into one logged table,
        # which took ft_movements' place, as this connection's donations took ft_donations':
        # the same columns, collations, persistence, key and key name as the schema makes.
        assert len(made) == 10, made
        assert len(logged) == 1 and logged[0] not in made
        assert [table_shape(stores, table) for table in PUT_IN_PLACE] == made_by_schema
        assert aside_tables(stores) == [live]
        # Each connection read some of the donations (the later ones include every shape of time).
        (after,) = later_than
        split = stores.database.query(
            "SELECT COUNT(*) FILTER (WHERE sequence <= :after) AS here, COUNT(*) FILTER (WHERE sequence > :after) AS "
            "there FROM ft_donations",
            {"after": after},
        )[0]
        assert split["here"] > 0 and split["there"] >= 4, split

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostgresSession, "execute", noting)
        on_store(postgres_url, check)


@pytest.mark.parametrize(
    "fails_at", ["CREATE TEMP TABLE ft_rebuild_events", "CREATE UNLOGGED TABLE", "ALTER TABLE", "donations"]
)
def test_when_the_second_connection_fails_the_rebuild_reads_its_rows_itself(postgres_url: str, fails_at: str) -> None:
    """Before it listed the events, after, at the movements' NOT NULLs, or at the later donations: the rows are the
    Python projection's, and its tables are gone.

    A table it finished before it failed is copied in; the rest this connection reads itself.
    """
    from infra.database import PostgresSession, _PostgresWriter
    from infra.rebuild_sql import _ASIDE_PREFIX

    execute, write = PostgresSession.execute, _PostgresWriter.execute
    seen: list[str] = []
    written: list[str] = []

    def failing(session: PostgresSession, sql: str, params: dict[str, Any] | None = None) -> None:
        if fails_at == "donations" and (params or {}).get("topic") == "domain.project:Project.DonationReceived":
            raise psycopg.errors.QueryCanceled("canceled by the test")
        if sql.startswith(fails_at):
            seen.append(sql)
            # Its list and the movements' NOT NULLs at once; its tables at the second, so that one is dropped.
            if not fails_at.startswith("CREATE UNLOGGED") or len(seen) == 2:
                raise psycopg.errors.QueryCanceled("canceled by the test")
        execute(session, sql, params)

    def noting(writer: _PostgresWriter, sql: str, params: dict[str, Any] | None = None) -> None:
        written.append(sql)
        write(writer, sql, params)

    def check(stores: Stores) -> None:
        with capture_logs() as logs:
            check_same_rows_as_python(stores, aside_events_min=1)
        assert [entry["error"] for entry in logs if entry["event"] == "rebuild_aside_failed"] == ["QueryCanceled"]
        assert aside_tables(stores) == []
        copied = [sql for sql in written if f"FROM {_ASIDE_PREFIX}" in sql]
        put_in_place = [sql for sql in written if sql.endswith(" RENAME TO ft_movements")]
        if fails_at.startswith("CREATE TEMP"):
            assert copied == [] and put_in_place == []
        elif fails_at == "ALTER TABLE":
            # Every table of the other rows but the movements', which this connection read.
            assert len(copied) == 9 and put_in_place == [], copied
            assert any(sql.startswith("INSERT INTO ft_movements") for sql in written)
        elif fails_at == "donations":
            # Every table of the other rows, and the movements' in its place; the later donations read here.
            assert len(copied) == 9 and len(put_in_place) == 1, copied
        else:
            finished = seen[0].split()[3]
            assert len(copied) == 1 and copied[0].endswith(f"FROM {finished}) rows WHERE true ON CONFLICT DO NOTHING")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostgresSession, "execute", failing)
        patch.setattr(_PostgresWriter, "execute", noting)
        on_store(postgres_url, check)


def test_when_no_second_connection_opens_the_rebuild_reads_every_row_itself(postgres_url: str) -> None:
    from eventsourcing.persistence import OperationalError

    from infra.database import PostgresDatabase, PostgresSession

    def refused(database: PostgresDatabase) -> PostgresSession:
        raise OperationalError("too many clients already")

    def check(stores: Stores) -> None:
        with capture_logs() as logs:
            check_same_rows_as_python(stores, aside_events_min=1)
        assert [entry["error"] for entry in logs if entry["event"] == "rebuild_aside_failed"] == ["OperationalError"]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostgresDatabase, "session", refused)
        on_store(postgres_url, check)


def test_claim_events_are_copied_on_open_on_postgresql(postgres_url: str) -> None:
    check_claim_events_copied_on_open(postgres_url)


def test_presumed_claims_on_postgresql(
    postgres_urls: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.test_presumed_claims import compare_presumed_with_asked

    compare_presumed_with_asked(postgres_urls, tmp_path, monkeypatch)


def test_an_import_into_postgresql_prepared_in_the_helper_records_what_one_prepared_here_records(
    postgres_urls: Callable[[str], str], tmp_path: Path
) -> None:
    from tests.unit.test_prepared import compare_helper_with_here

    compare_helper_with_here(postgres_urls, tmp_path)


def test_the_report_follower_loads_postgresqls_report_tables_without_their_secondary_indexes(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first load goes in with the primary keys alone, and the follower builds the rest at its end (change 108)."""
    commands = tmp_path / "commands.jsonl"
    write_commands(commands, 0.001)
    stores = open_stores(postgres_url)
    try:
        import_file(stores.ledger, commands)
        expected = _secondary_indexes(stores)
    finally:
        stores.close()
    assert len(expected) >= 5
    indexed_while_following: set[bool] = set()
    opened = infra.store.open_stores

    def open_and_watch(url: str) -> Stores:
        stores = opened(url)
        catch_up = stores.catch_up_reports_in_sql

        def catching_up(page_max: int) -> int:
            indexed_while_following.add(_secondary_indexes(stores) == expected)
            return catch_up(page_max=page_max)

        monkeypatch.setattr(stores, "catch_up_reports_in_sql", catching_up)
        return stores

    monkeypatch.setattr(infra.store, "open_stores", open_and_watch)
    done = multiprocessing.get_context("spawn").Event()
    done.set()  # the import is over: the follower catches the reports up and returns
    follow(postgres_url, done, "reports")
    assert indexed_while_following == {False}
    stores = opened(postgres_url)
    try:
        assert stores.read_model.tracked()[1] > 900  # 1,000 commands, one event each but for the refused
        assert _secondary_indexes(stores) == expected
        # The reports read through the indexes built at the end equal a replay's.
        checksum = json.loads(fundtrail(postgres_url, "checksum").stdout)["checksum"]
        assert checksum == json.loads(fundtrail(postgres_url, "replay").stdout)["checksum"]
    finally:
        stores.close()


def _secondary_indexes(stores: Stores) -> list[str]:
    """The names of the read model's indexes in this store's schema that back no primary key."""
    rows = stores.database.query(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND starts_with(indexname, 'ft_') "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = indexname) ORDER BY indexname"
    )
    return [row["indexname"] for row in rows]
