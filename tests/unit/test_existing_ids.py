"""The batch existence query (which aggregate ids have events) and the one-query check for unapplied events."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from uuid import UUID, uuid4

from domain.identity import aggregate_id
from infra.bench.generator import commands
from infra.store import Stores, existing_ids
from projections.reports import END_OF_TIME
from services.ledger import named_ids
from tests.ledger_fixtures import LedgerUnderTest, on_store


def check_existing_ids(stores: Stores) -> None:
    """Shared by the SQLite test here and the PostgreSQL one in tests/integration."""
    books = LedgerUnderTest(application=stores.application)
    books.setup_project("P")
    assert {books.donate(f"DN{number}", "1.00").status for number in range(30)} == {"applied"}
    project, donor, claim = aggregate_id("project", "P"), aggregate_id("donor", "D1"), aggregate_id("donation", "DN7")
    missing = {uuid4(), aggregate_id("project", "nowhere")}
    # The project has 31 events, the donor and the claim one each: each is found once.
    assert existing_ids(stores.database)({project, donor, claim} | missing) == {project, donor, claim}
    assert existing_ids(stores.database)(missing) == set()
    # A batch names thousands of ids, asked for in one statement.
    many = {uuid4() for _ in range(1_200)}
    assert existing_ids(stores.database)(many | {claim, donor}) == {claim, donor}


def test_existing_ids_on_sqlite(tmp_path: Path) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check_existing_ids)


def check_behind(stores: Stores) -> None:
    """`behind` sees an event that the log or the reports have not applied, and nothing once both have."""
    assert not stores.behind()  # an empty store
    books = LedgerUnderTest(application=stores.application)
    books.setup_project("P")
    assert stores.behind()
    stores.catch_up_log()
    assert stores.behind(), "the reports have not applied the events yet"
    assert stores.catch_up() > 0
    assert not stores.behind()
    assert stores.catch_up() == 0
    assert books.donate("DN1", "1.00").status == "applied"
    assert stores.behind()
    assert stores.catch_up() == 2  # the donation and its identifier claim
    assert not stores.behind()
    assert stores.read_model.project_figures("P", END_OF_TIME)["donation_count"] == 1


def test_behind_on_sqlite(tmp_path: Path) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check_behind)


def _every_named_id(command: Mapping[str, object]) -> set[UUID]:
    """named_ids as it was: every one of the eight id fields tried on every command."""
    kinds = ("donation", "disbursement", "refund", "project", "donor", "payee", "foundation", "partner")
    return {aggregate_id(kind, value) for kind in kinds if isinstance(value := command.get(f"{kind}_id"), str)}


def test_named_ids_reads_each_type_of_command_for_its_own_id_fields() -> None:
    stream = list(commands(0.002, seed=7))
    assert len({command["type"] for command in stream}) >= 8
    for command in stream:
        assert named_ids(command) == _every_named_id(command), command
    # A type the contract does not know (or that is no text) is read for every id field.
    odd = {"donation_id": "DN1", "payee_id": "H1", "partner_id": "PA"}
    for kind in ("no_such_command", ["record_donation"], None):
        assert named_ids({"type": kind, **odd}) == _every_named_id(odd)
    # A known type with a field it does not have: the command will be refused, nothing is read for it.
    assert named_ids({"type": "register_donor", "donor_id": "D1", "payee_id": "H1"}) == {aggregate_id("donor", "D1")}
