"""The reports' fast paths give what the plain queries give: running totals, and donor trails in bulk."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from infra.bench.generator import commands
from infra.database import SQLiteDatabase, sqlite_reports_file
from infra.read_model import ReadModel
from infra.rebuild_sql import rebuild_in_sql
from infra.store import Stores
from projections.checksum import KINDS, canonical_reports, canonical_reports_through_donors, entries, reports_checksum
from projections.reports import END_OF_TIME, all_reports, donor_report, donor_trail, payee_report, project_report
from services.read_side import catch_up, rebuild
from tests.ledger_fixtures import LedgerUnderTest, on_store


def _figures_agree(read_model: ReadModel) -> int:
    projects = read_model.ids("project")
    for project_id in projects:
        reserved = read_model.project_figures(project_id, END_OF_TIME)["reserved"]
        assert read_model.project_figures(project_id, END_OF_TIME) == read_model.summed_figures(
            project_id, END_OF_TIME, reserved
        ), project_id
    return len(projects)


def test_totals_kept_page_by_page_equal_the_sums() -> None:
    books = LedgerUnderTest()
    stream = list(commands(0.0008, seed=11))
    for start in range(0, len(stream), 97):
        books.ledger.execute_batch(stream[start : start + 97])
        catch_up(books.application, books.read_model, page_max=53)
    assert _figures_agree(books.read_model) >= 2
    totals = books.read_model.database.query(
        "SELECT SUM(donation_count) AS n, SUM(donor_count) AS d FROM ft_project_totals"
    )
    assert totals[0]["n"] == len(books.read_model.database.query("SELECT donation_id FROM ft_donations"))
    assert totals[0]["d"] == len(
        books.read_model.database.query("SELECT DISTINCT project_id, donor_id FROM ft_donations")
    )


def check_totals_replayed_and_backfilled(stores: Stores) -> None:
    """The running totals and each project's donors: kept page by page, summed by a replay, backfilled."""
    stores.ledger.execute_batch(list(commands(0.0008, seed=12)))
    stores.catch_up()
    read_model = stores.read_model
    queries = {
        table: f"SELECT * FROM {table} ORDER BY {order}"
        for table, order in (("ft_project_totals", "project_id"), ("ft_project_donors", "project_id, donor_id"))
    }

    def current() -> dict[str, list[dict[str, Any]]]:
        return {table: read_model.database.query(query) for table, query in queries.items()}

    live = current()
    rows = live["ft_project_totals"]
    assert any(row["payout"] > 0 for row in rows) and any(row["donor_refund"] > 0 for row in rows)
    assert len(live["ft_project_donors"]) == sum(row["donor_count"] for row in rows) > len(rows)

    replayed = ReadModel(SQLiteDatabase(":memory:"))
    replayed.create_tables()
    rebuild(stores.application, replayed)
    assert {table: replayed.database.query(query) for table, query in queries.items()} == live

    # A full rebuild sums the totals once, at the end, instead of page by page (on PostgreSQL,
    # the donors of each project are written without their primary key, which is built after).
    with read_model.rebuilding():
        rebuild(stores.application, read_model, select=stores.select_notifications)
        assert not read_model.database.query("SELECT * FROM ft_project_totals")
    assert current() == live
    with read_model.rebuilding():
        assert rebuild_in_sql(stores.application, read_model) is not None
    assert current() == live

    # A read model from before the totals existed: its rows are there, the totals are not.
    with read_model.database.transaction() as writer:
        writer.execute("DELETE FROM ft_project_totals")
        writer.execute("DELETE FROM ft_project_donors")
    read_model.create_tables()
    assert current() == live
    if read_model.database.dialect == "postgresql":
        keys = read_model.database.query(
            "SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint "
            "WHERE contype = 'p' AND conrelid = CAST('ft_project_donors' AS regclass)"
        )
        assert keys == [{"definition": "PRIMARY KEY (project_id, donor_id)"}]
    with pytest.raises(Exception, match=r"(?i)unique"), read_model.database.transaction() as writer:
        row = live["ft_project_donors"][0]
        writer.execute("INSERT INTO ft_project_donors (project_id, donor_id) VALUES (:project_id, :donor_id)", row)


@pytest.mark.parametrize("made_before_change_111", [False, True])
def test_a_replay_and_a_backfill_give_the_same_totals(tmp_path: Path, made_before_change_111: bool) -> None:
    path = tmp_path / "ledger.db"
    on_store(f"sqlite:///{path}", lambda stores: None)
    with sqlite3.connect(sqlite_reports_file(path)) as connection:
        [(without_rowid,)] = connection.execute("SELECT wr FROM pragma_table_list('ft_project_donors')").fetchall()
        # The donors of each project in one B-tree, their key's (change 111).
        assert without_rowid == 1
        if made_before_change_111:
            # A store made before keeps its table with a rowid, and is kept up the same way.
            connection.execute("DROP TABLE ft_project_donors")
            connection.execute(
                "CREATE TABLE ft_project_donors (project_id TEXT NOT NULL, donor_id TEXT NOT NULL, "
                "PRIMARY KEY (project_id, donor_id))"
            )
    on_store(f"sqlite:///{path}", check_totals_replayed_and_backfilled)
    with sqlite3.connect(sqlite_reports_file(path)) as connection:
        [(without_rowid,)] = connection.execute("SELECT wr FROM pragma_table_list('ft_project_donors')").fetchall()
    assert without_rowid == (0 if made_before_change_111 else 1)


def test_donor_trails_built_in_bulk_equal_each_donor_trail() -> None:
    books = LedgerUnderTest()
    books.ledger.execute_batch(list(commands(0.0008, seed=13)))
    catch_up(books.application, books.read_model)
    bulk = all_reports(books.read_model)["donor"]
    assert sorted(bulk) == sorted(books.read_model.ids("donor"))
    assert any(trail["donations"] and trail["donations"][0]["spent"] for trail in bulk.values())
    # Returns netted against payouts, and donor refunds, are summed by the bulk way too.
    kinds = {row["kind"] for row in books.read_model.database.query("SELECT DISTINCT kind FROM ft_movements")}
    assert kinds == {"payout", "payee_refund", "donor_refund"}
    for donor_id, trail in bulk.items():
        assert trail == donor_report(books.read_model, donor_id)
        # What lets the checksum encode trails with canonical_text_json: text and null alone, ASCII keys.
        assert _text_alone(trail), donor_id


def test_a_trail_of_movements_as_they_are_equals_the_trail_of_their_sums() -> None:
    """The bulk way gives each movement, donor_spending their sums: donor_trail sums the former the same way."""
    donations = [("DN-1", "P", "CNY", 10_000), ("DN-2", "P", "CNY", 5_000)]
    movements = [
        ("DN-1", "payout", "DB-1", "H1", 4_000),
        ("DN-2", "payout", "DB-1", "H1", 5_000),
        ("DN-1", "payout", "DB-2", "H2", 3_000),
        ("DN-1", "payee_refund", "DB-1", "H1", 1_500),
        ("DN-1", "donor_refund", None, None, 500),
        ("DN-2", "payee_refund", "DB-1", "H1", 5_000),
        ("DN-1", "donor_refund", None, None, 200),
    ]
    # donor_spending's rows: per donation, disbursement and payee, in the order of their first movement.
    summed = [
        ("DN-1", "payout", "DB-1", "H1", 2_500),
        ("DN-2", "payout", "DB-1", "H1", 0),
        ("DN-1", "payout", "DB-2", "H2", 3_000),
        ("DN-1", "donor_refund", None, None, 700),
    ]
    trail = donor_trail("D", donations, movements)
    assert trail == donor_trail("D", donations, summed)
    first, second = trail["donations"]
    assert first["spent"] == [
        {"disbursement_id": "DB-1", "payee_id": "H1", "amount": "25.00"},
        {"disbursement_id": "DB-2", "payee_id": "H2", "amount": "30.00"},
    ]
    assert (first["refunded"], first["unspent"]) == ("7.00", "38.00")
    # Paid and returned in full: nothing spent, all of it unspent.
    assert (second["spent"], second["unspent"]) == ([], "50.00")


def test_payee_reports_built_in_bulk_equal_each_payee_report(tmp_path: Path) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check_payee_reports_in_bulk)


def check_payee_reports_in_bulk(stores: Stores) -> None:
    books = LedgerUnderTest(stores.application, stores.read_model)
    books.ledger.execute_batch(list(commands(0.0008, seed=15)))
    # H1 paid and nothing returned; H2 never paid.
    books.setup_project("P")
    assert books.donate("DN-P", "500.00").status == "applied"
    books.paid_disbursement("DB-P", "120.00")
    catch_up(books.application, books.read_model)
    bulk = all_reports(books.read_model)["payee"]
    assert sorted(bulk) == sorted(books.read_model.ids("payee"))
    totals = [total for report in bulk.values() for total in report["totals"].values()]
    # Paid, and paid then partly returned, among them; and a payee never paid (no totals).
    assert any(total["returned"] != "0.00" for total in totals)
    assert any(total["returned"] == "0.00" and total["paid"] != "0.00" for total in totals)
    assert any(not report["totals"] for report in bulk.values())
    for payee_id, report in bulk.items():
        assert report == payee_report(books.read_model, payee_id)


def _text_alone(value: Any) -> bool:
    if isinstance(value, dict):
        return all(key.isascii() and _text_alone(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_text_alone(item) for item in value)
    return value is None or type(value) is str


def test_the_streamed_checksum_hashes_exactly_the_canonical_json_of_all_reports() -> None:
    books = LedgerUnderTest()
    books.ledger.execute_batch(list(commands(0.0008, seed=14)))
    catch_up(books.application, books.read_model)
    whole = rfc8785.dumps(all_reports(books.read_model))
    assert b"".join(canonical_reports(books.read_model)) == whole
    assert reports_checksum(books.read_model) == "sha256:" + hashlib.sha256(whole).hexdigest()

    # In two parts, the donors' first, given as their encoded entries: the same bytes and checksum.
    donors = list(entries(books.read_model, "donor"))
    assert len(donors) > 1
    through_donors = b"".join(canonical_reports_through_donors(donors))
    rest = b"".join(canonical_reports(books.read_model, kinds=(KINDS.index("donor") + 1, len(KINDS))))
    assert through_donors + rest == whole
    hashed = hashlib.sha256(through_donors)
    assert reports_checksum(books.read_model, through_donors=hashed) == "sha256:" + hashlib.sha256(whole).hexdigest()


def test_ids_outside_ascii_are_streamed_in_canonical_order() -> None:
    """Commands only accept ASCII ids; rows written by other means still hash in RFC 8785's key order.

    U+FF01 sorts after U+1F600 by code point but before it by UTF-16 unit, which RFC 8785 uses.
    """
    books = LedgerUnderTest()
    books.ledger.execute_batch(list(commands(0.0008, seed=15)))
    catch_up(books.application, books.read_model)
    project_id = books.read_model.ids("project")[0]
    with books.read_model.database.transaction() as writer:
        for number, donor_id in enumerate(["\uff01", "\U0001f600", "é", "zz-unknown"]):
            if donor_id != "zz-unknown":
                writer.execute(
                    "INSERT INTO ft_donors (donor_id, display_name, anonymous) VALUES (:id, NULL, false)",
                    {"id": donor_id},
                )
            writer.execute(
                "INSERT INTO ft_donations (donation_id, sequence, project_id, donor_id, currency, amount_minor, "
                "received_at) VALUES (:donation, :sequence, :project, :id, 'CNY', 100, 0)",
                {"donation": f"odd-{number}", "sequence": 10**9 + number, "project": project_id, "id": donor_id},
            )
    reports = all_reports(books.read_model)
    assert reports["donor"]["\U0001f600"]["donations"][0]["amount"] == "1.00"
    assert "zz-unknown" not in reports["donor"]
    assert b"".join(canonical_reports(books.read_model)) == rfc8785.dumps(reports)


def check_donor_counts(read_model: ReadModel) -> None:
    """Each project's donor count, kept page by page, equals its distinct donors.

    Many donors, several projects in one page, donors who give to two projects, and donors
    seen again in a later page or twice within one.
    """
    many = 1_500

    def opened(project_id: str) -> tuple[str, dict[str, object]]:
        row = {"project_id": project_id, "foundation_id": "F1", "partner_id": "O1", "name": project_id}
        return "project", row | {"currency": "CNY", "opened_at": 0}

    sequence = iter(range(1, 10_000))

    def donation(donor: int, project_id: str = "P-MANY") -> tuple[str, dict[str, object]]:
        number = next(sequence)
        row = {"donation_id": f"DN{number:05d}", "sequence": number, "project_id": project_id}
        return "donation", row | {"donor_id": f"D{donor:05d}", "currency": "CNY", "amount_minor": 100, "received_at": 1}

    first = [donation(donor % (many * 2 // 3 + 7)) for donor in range(many)]
    read_model.write([opened("P-MANY"), opened("P-FEW"), *first], position=many, events=many)
    # The second page: some donors seen in the first, some new, some twice within the page,
    # and a second project whose donors also gave to the first.
    again = range(many // 3, many // 3 + 20)
    second = [donation(donor) for donor in [*range(many // 3, many + 50), *again]]
    second += [donation(donor, "P-FEW") for donor in (*range(0, 40), 3, 7, 7_000)]
    read_model.write(second, position=many + len(second), events=many + len(second))

    for project_id, expected in (("P-MANY", many + 50), ("P-FEW", 41)):
        distinct = {row["donor_id"] for _, row in first + second if row["project_id"] == project_id}
        figures = read_model.project_figures(project_id, END_OF_TIME)
        assert figures["donor_count"] == len(distinct) == expected
        assert figures == read_model.summed_figures(project_id, END_OF_TIME, figures["reserved"])


def test_donor_counts_page_by_page() -> None:
    read_model = ReadModel(SQLiteDatabase(":memory:"))
    read_model.create_tables()
    check_donor_counts(read_model)


class _Recorder(SQLiteDatabase):
    """An SQLite read model that keeps the SQL of every query and stream it is asked for."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.statements: list[str] = []

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.statements.append(sql)
        return super().query(sql, params)

    def stream(self, sql: str, params: dict[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
        self.statements.append(sql)
        return super().stream(sql, params)


def _plans(database: _Recorder, business_id: str, chosen: Callable[[str], bool]) -> list[str]:
    """SQLite's query plan, on one line, of each statement the database ran that `chosen` picks."""
    return [
        " ".join(
            str(row[3])
            for row in database.connection.execute(f"EXPLAIN QUERY PLAN {sql}", {"id": business_id, "as_of": 0})
        )
        for sql in database.statements
        if chosen(sql)
    ]


def _books_with_an_old_index(index: str, seed: int) -> tuple[_Recorder, LedgerUnderTest]:
    """A read model made before a change of its indexes (it has `index`), opened again and caught up."""
    database = _Recorder()
    books = LedgerUnderTest(read_model=ReadModel(database))
    database.connection.execute(index)
    books.read_model.create_tables()
    books.ledger.execute_batch(list(commands(0.0003, seed=seed)))
    catch_up(books.application, books.read_model)
    return database, books


def _indexes(database: _Recorder) -> set[str]:
    return {row[0] for row in database.connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_donor_trails_read_donations_from_the_covering_index_alone() -> None:
    # A read model from before the covering index: its old index goes when the tables are opened.
    database, books = _books_with_an_old_index(
        "CREATE INDEX ft_donations_by_donor ON ft_donations (donor_id, sequence)", seed=12
    )
    donor_id = books.read_model.ids("donor")[0]
    database.statements.clear()
    donor_report(books.read_model, donor_id)
    list(books.read_model.every_donor_donations())
    plans = _plans(database, donor_id, lambda sql: "FROM ft_donations " in sql and "JOIN" not in sql)
    assert len(plans) == 2
    assert all("COVERING INDEX ft_donations_by_donor_covering" in plan for plan in plans), plans
    assert "ft_donations_by_donor" not in _indexes(database)


def test_a_project_report_as_of_a_time_reads_a_range_of_its_movements() -> None:
    """Through (project_id, at), which replaced (project_id, kind, at): that one built slower and gave no range."""
    database, books = _books_with_an_old_index(
        "CREATE INDEX ft_movements_by_project ON ft_movements (project_id, kind, at)", seed=13
    )
    project_id = books.read_model.ids("project")[0]
    whole = project_report(books.read_model, project_id)
    database.statements.clear()
    assert project_report(books.read_model, project_id, as_of=END_OF_TIME - 1) == whole
    plans = _plans(database, project_id, lambda sql: "FROM ft_movements " in sql)
    assert len(plans) == 1, plans
    assert plans[0].startswith("SEARCH ft_movements USING INDEX ft_movements_by_project_at (project_id=? AND at<?)")
    assert "ft_movements_by_project" not in _indexes(database)


def test_donor_trails_in_bulk_read_the_movements_in_one_pass() -> None:
    """Not donation by donation through an index: at full size that took three times as long."""
    database = _Recorder()
    books = LedgerUnderTest(read_model=ReadModel(database))
    books.ledger.execute_batch(list(commands(0.0003, seed=12)))
    catch_up(books.application, books.read_model)
    donors = books.read_model.ids("donor")
    plans = []
    for first, until in ((None, None), (donors[1], None), (None, donors[1]), (donors[1], donors[-1])):
        database.statements.clear()
        assert list(books.read_model.every_donor_spending(first, until))
        (sql,) = database.statements
        params = {"first": first, "until": until}
        plans.append(" ".join(str(row[3]) for row in database.connection.execute(f"EXPLAIN QUERY PLAN {sql}", params)))
    assert all(plan.startswith("SCAN m") and "ft_movements_by" not in plan for plan in plans), plans
