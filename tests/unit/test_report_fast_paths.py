"""The reports' fast paths give what the plain queries give: running totals, and donor trails in bulk."""

from __future__ import annotations

from infra.bench.generator import commands
from infra.database import SQLiteDatabase
from infra.read_model import ReadModel
from projections.reports import END_OF_TIME, all_reports, donor_report
from services.read_side import catch_up, rebuild
from tests.ledger_fixtures import LedgerUnderTest


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


def test_a_replay_and_a_backfill_give_the_same_totals() -> None:
    books = LedgerUnderTest()
    books.ledger.execute_batch(list(commands(0.0008, seed=12)))
    catch_up(books.application, books.read_model)
    live = books.read_model.database.query("SELECT * FROM ft_project_totals ORDER BY project_id")
    assert any(row["payout"] > 0 for row in live) and any(row["donor_refund"] > 0 for row in live)

    replayed = ReadModel(SQLiteDatabase(":memory:"))
    replayed.create_tables()
    rebuild(books.application, replayed)
    assert replayed.database.query("SELECT * FROM ft_project_totals ORDER BY project_id") == live

    # A read model from before the totals existed: its rows are there, the totals are not.
    with books.read_model.database.transaction() as writer:
        writer.execute("DELETE FROM ft_project_totals")
        writer.execute("DELETE FROM ft_project_donors")
    books.read_model.create_tables()
    assert books.read_model.database.query("SELECT * FROM ft_project_totals ORDER BY project_id") == live


def test_donor_trails_built_in_bulk_equal_each_donor_trail() -> None:
    books = LedgerUnderTest()
    books.ledger.execute_batch(list(commands(0.0008, seed=13)))
    catch_up(books.application, books.read_model)
    bulk = all_reports(books.read_model)["donor"]
    assert sorted(bulk) == sorted(books.read_model.ids("donor"))
    assert any(trail["donations"] and trail["donations"][0]["spent"] for trail in bulk.values())
    for donor_id, trail in bulk.items():
        assert trail == donor_report(books.read_model, donor_id)
