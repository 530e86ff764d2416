"""The projection read from stored state gives exactly the rows of the one built from event objects."""

from __future__ import annotations

from infra.bench.generator import commands
from projections.facts import facts_for
from services.read_side import report_facts
from tests.ledger_fixtures import LedgerUnderTest, at


def test_rows_from_stored_state_equal_rows_from_event_objects() -> None:
    books = LedgerUnderTest()
    outcomes = books.ledger.execute_batch(list(commands(0.0005, seed=7)))
    assert sum(outcome.status == "applied" for outcome in outcomes) > 150
    books.send(
        type="request_disbursement",
        disbursement_id="X1",
        project_id="P0000",
        payee_id="H000",
        amount="1.00",
        purpose="药费",
        requested_by="caseworker",
        requested_at=at(28),
    )
    books.send(
        type="reject_disbursement", disbursement_id="X1", rejected_by="treasurer", reason="重复", rejected_at=at(28)
    )
    books.send(type="close_project", project_id="P0001", closed_at=at(29))
    fast = report_facts(books.application)
    notifications = books.application.recorder.select_notifications(start=1, limit=10**6)
    kinds = {notification.topic.rpartition(".")[2] for notification in notifications}
    assert {"PayoutSent", "PayeeRefundReceived", "DonationRefunded", "ProjectClosed"} <= kinds
    for notification in notifications:
        slow = facts_for(books.application.mapper.to_domain_event(notification), notification.id)
        assert fast(notification, notification.id) == slow, notification.topic
