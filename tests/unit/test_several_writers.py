"""Two ledgers on one store: decisions are never taken on figures another writer has changed."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from services.ledger import Ledger
from tests.ledger_fixtures import LedgerUnderTest, at


def donation(donation_id: str, amount: str) -> dict[str, str]:
    return {
        "type": "record_donation",
        "donation_id": donation_id,
        "donor_id": "D1",
        "project_id": "P",
        "amount": amount,
        "currency": "CNY",
        "channel": "online",
        "received_at": at(2),
    }


def approval(disbursement_id: str) -> dict[str, str]:
    return {
        "type": "approve_disbursement",
        "disbursement_id": disbursement_id,
        "approved_by": "treasurer",
        "approved_at": at(5, 15),
    }


@pytest.fixture
def books() -> LedgerUnderTest:
    ledger = LedgerUnderTest()
    ledger.setup_project()
    ledger.donate("DN1", "100.00")
    ledger.request("DS1", "300.00")
    return ledger


def test_a_writer_sees_what_another_writer_recorded_since_its_last_batch(books: LedgerUnderTest) -> None:
    other = Ledger(books.application)
    assert "insufficient_available" == other.execute(approval("DS1")).code  # caches the project at 100.00
    assert "applied" == books.ledger.execute(donation("DN2", "500.00")).status
    assert "applied" == other.execute(approval("DS1")).status


def test_a_conflict_on_save_is_decided_again_on_fresh_state_and_loses_nothing(
    books: LedgerUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Ledger(books.application)
    other.execute(donation("DN2", "400.00"))  # the other writer now holds the project in its cache
    books.ledger.execute(donation("DN3", "7.00"))
    # Simulate the race the freshness check cannot see: the write lands just after the check.
    monkeypatch.setattr(other, "_forget_if_others_wrote", lambda: None)
    with capture_logs() as logs:
        assert "applied" == other.execute(approval("DS1")).status
    assert ["batch_conflicted"] == [entry["event"] for entry in logs]
    assert ("507.00", "300.00") == tuple(books.report("project", "P")[key] for key in ("donated", "reserved"))
    approvals = [
        n
        for n in books.application.recorder.select_notifications(start=1, limit=1000)
        if n.topic.endswith("DisbursementApproved")
    ]
    assert 1 == len(approvals)
