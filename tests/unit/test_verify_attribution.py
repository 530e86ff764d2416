"""`verify` replays the attribution rules: an allocation the rules would not give is found and named."""

from __future__ import annotations

from typing import Any

from domain.identity import aggregate_id
from domain.project import Project
from services.trust import stored_events, verify_history
from tests.ledger_fixtures import LedgerUnderTest


class EmptyLog:
    """No logged leaves and no checkpoints: only the attribution replay has anything to say."""

    def leaves(self) -> list[dict[str, Any]]:
        return []

    def leaf_hashes(self) -> list[str]:
        return []

    def add_checkpoint(self, tree_size: int, note: str) -> None:
        raise AssertionError("verify never writes")

    def checkpoints(self) -> list[dict[str, Any]]:
        return []


def books_with_two_donations() -> LedgerUnderTest:
    books = LedgerUnderTest()
    books.setup_project()
    books.donate("DN1", "100.00")
    books.donate("DN2", "100.00")
    books.request("DS1", "150.00")
    books.approve("DS1")
    return books


def test_allocations_made_by_the_rules_verify() -> None:
    books = books_with_two_donations()
    books.pay("DS1")
    books.payee_refund("RF1", "DS1", "70.00")
    result = verify_history(books.application, EmptyLog(), lambda note: note)
    assert (None, 2) == (result.first_problem, result.allocations)


def test_a_payout_that_spent_the_newest_money_first_is_named() -> None:
    books = books_with_two_donations()
    project: object = books.application.repository.get(aggregate_id("project", "P"))
    assert isinstance(project, Project)
    # Record a payout whose allocation breaks oldest-first spending, as a faulty writer might.
    project.trigger_event(
        Project.PayoutSent,
        project_id="P",
        disbursement_id="DS1",
        payee_id="H1",
        amount_minor=15000,
        currency="CNY",
        paid_at="2026-03-06T10:00:00+08:00",
        bank_ref=None,
        allocations=[["DN2", 10000], ["DN1", 5000]],
    )
    books.application.save(project)
    sequence = len(list(stored_events(books.application)))
    result = verify_history(books.application, EmptyLog(), lambda note: note)
    assert (sequence, "payout DS1 allocations differ from oldest-first spending") == result.first_problem
