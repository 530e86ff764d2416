"""The batch existence queries (aggregate ids with events, claimed ids) and the check for unapplied events."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import cast
from uuid import UUID, uuid4

from domain.identity import aggregate_id
from infra.bench.generator import commands
from infra.store import Stores, existing_ids
from projections.reports import END_OF_TIME
from services.claims import Claim, ClaimingRecorder
from services.ledger import names_of
from tests.ledger_fixtures import LedgerUnderTest, on_store


def check_existing_ids(stores: Stores) -> None:
    """Shared by the SQLite test here and the PostgreSQL one in tests/integration."""
    books = LedgerUnderTest(application=stores.application)
    books.setup_project("P")
    assert {books.donate(f"DN{number}", "1.00").status for number in range(30)} == {"applied"}
    project, donor, payee = aggregate_id("project", "P"), aggregate_id("donor", "D1"), aggregate_id("payee", "H1")
    missing = {uuid4(), aggregate_id("project", "nowhere"), aggregate_id("donation", "DN7")}
    # The project has 31 events, the donor and the payee one each: each is found once. A
    # donation's id is a claim, not an aggregate.
    assert existing_ids(stores.database)({project, donor, payee} | missing) == {project, donor, payee}
    assert existing_ids(stores.database)(missing) == set()
    # A batch names thousands of ids, asked for in one statement.
    many = {uuid4() for _ in range(1_200)}
    assert existing_ids(stores.database)(many | {payee, donor}) == {payee, donor}
    # And thousands of claims.
    recorder = cast(ClaimingRecorder, stores.application.recorder)
    keys = {f"donation:DN{number}" for number in range(3_000)} | {"refund:DN7", "donation:"}
    found = recorder.find_claims(keys)
    assert set(found) == {f"donation:DN{number}" for number in range(30)}
    assert found["donation:DN7"] == Claim("P", found["donation:DN7"].command_digest)
    assert len({claim.command_digest for claim in found.values()}) == 30
    assert recorder.has_claims()


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
    assert stores.catch_up() == 1  # the donation (its id's claim is a row beside it, not an event)
    assert not stores.behind()
    assert stores.read_model.project_figures("P", END_OF_TIME)["donation_count"] == 1


def test_behind_on_sqlite(tmp_path: Path) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", check_behind)


def _every_named_id(command: Mapping[str, object]) -> set[UUID]:
    """The ids as names_of read them first: every one of the five aggregates' id fields tried on every command."""
    kinds = ("project", "donor", "payee", "foundation", "partner")
    return {aggregate_id(kind, value) for kind in kinds if isinstance(value := command.get(f"{kind}_id"), str)}


def _every_named_claim(command: Mapping[str, object]) -> set[str]:
    kinds = ("donation", "disbursement", "refund")
    return {f"{kind}:{value}" for kind in kinds if isinstance(value := command.get(f"{kind}_id"), str)}


def named_ids(command: object) -> set[UUID]:
    return names_of([command])[0]


def named_claims(command: object) -> set[str]:
    return names_of([command])[1]


def claims_made(command: object) -> set[str]:
    return names_of([command])[2]


# The claim each type of command makes, read from services.handlers: the kind its `_claim` call checks.
_MADE_BY = {
    "record_donation": "donation",
    "request_disbursement": "disbursement",
    "record_payee_refund": "refund",
    "refund_donation": "refund",
}


def test_each_type_of_command_is_read_for_its_own_id_fields() -> None:
    stream = list(commands(0.002, seed=7))
    assert len({command["type"] for command in stream}) >= 8
    for command in stream:
        assert named_ids(command) == _every_named_id(command), command
        assert named_claims(command) == _every_named_claim(command), command
        made = _MADE_BY.get(command["type"])
        assert claims_made(command) == ({f"{made}:{command[f'{made}_id']}"} if made else set()), command
    # A type the contract does not know (or that is no text) is read for every id field.
    odd = {"donation_id": "DN1", "payee_id": "H1", "partner_id": "PA", "refund_id": "R1"}
    for kind in ("no_such_command", ["record_donation"], None):
        assert named_ids({"type": kind, **odd}) == _every_named_id(odd)
        assert named_claims({"type": kind, **odd}) == {"donation:DN1", "refund:R1"}
        assert claims_made({"type": kind, **odd}) == set()
    # A refund of a donation looks up both claims; a payout only its disbursement's.
    assert named_claims({"type": "refund_donation", "refund_id": "R1", "donation_id": "DN1"}) == {
        "refund:R1",
        "donation:DN1",
    }
    assert named_claims({"type": "record_payout", "disbursement_id": "DS1", "refund_id": "R1"}) == {"disbursement:DS1"}
    # A known type with a field it does not have: the command will be refused, nothing is read for it.
    assert named_ids({"type": "register_donor", "donor_id": "D1", "payee_id": "H1"}) == {aggregate_id("donor", "D1")}
    # Ids past 100 characters, or not text, are not looked up.
    assert names_of([{"type": "record_donation", "project_id": "P" * 101, "donor_id": 7, "donation_id": "D"}]) == (
        set(),
        {"donation:D"},
        {"donation:D"},
    )
    # A claim that one command makes and another names as existing is never presumed free.
    made_and_named = [
        {"type": "record_payout", "disbursement_id": "DS1"},
        {"type": "request_disbursement", "disbursement_id": "DS1"},
        {"type": "request_disbursement", "disbursement_id": "DS2"},
    ]
    assert names_of(made_and_named)[1:] == ({"disbursement:DS1", "disbursement:DS2"}, {"disbursement:DS2"})


def test_a_batchs_names_are_those_of_its_commands_together() -> None:
    odd = {"donation_id": "DN1", "payee_id": "H1", "partner_id": "PA", "refund_id": "R1", "project_id": "P" * 101}
    stream: list[object] = [*commands(0.002, seed=7), "not an object", {"type": None, **odd}, {"type": 3, **odd}]
    stream += [{"type": "refund_donation", "refund_id": "R2", "donation_id": 5}, {"type": "no_such_command", **odd}]
    ids, claims, made = names_of(stream)
    assert ids == set().union(*(named_ids(command) for command in stream))
    assert claims == set().union(*(named_claims(command) for command in stream))
    # Made by a command and named as existing by none: a disbursement requested and then paid
    # in the same batch is asked for.
    made_by_one = set().union(*(claims_made(command) for command in stream))
    named_as_existing = set().union(*(named_claims(command) - claims_made(command) for command in stream))
    assert made == made_by_one - named_as_existing
    assert made_by_one & named_as_existing and len(made) > 100
    assert {"donation:DN1", "refund:R1", "refund:R2"} <= claims
    assert len(ids) > 50 and len(claims) > 100
    assert names_of([]) == (set(), set(), set())
