"""Two ledgers on one store: decisions are never taken on figures another writer has changed."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.application import Application
from structlog.testing import capture_logs

from services.ledger import Ledger, LedgerApplication
from tests.ledger_fixtures import LedgerUnderTest, at, on_store


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


def claim_race(application: Application[UUID]) -> None:
    """Two writers claim one donation id for two projects, the second on a stale view: the store refuses it.

    The projects differ, so no aggregate's version conflicts; only the claim's unique key can
    catch it. The loser's batch is decided again and finds the id claimed.
    """
    books = LedgerUnderTest(application)
    books.setup_project("P")
    books.open_project("Q")
    other = Ledger(application)
    # The other writer asks about DN9 before anyone claimed it, and remembers it as missing.
    refund = {"type": "refund_donation", "refund_id": "RF9", "donation_id": "DN9", "amount": "1.00"}
    assert "unknown_donation" == other.execute({**refund, "reason": "test", "refunded_at": at(3)}).code
    assert "applied" == books.ledger.execute(donation("DN9", "10.00")).status
    other._forget_if_others_wrote = lambda: None  # type: ignore[method-assign]  # the race the check cannot see
    with capture_logs() as logs:
        outcome = other.execute({**donation("DN9", "10.00"), "project_id": "Q"})
    assert ("rejected", "id_conflict") == (outcome.status, outcome.code)
    assert ["batch_conflicted"] == [entry["event"] for entry in logs if entry["event"] == "batch_conflicted"]
    received = [
        n
        for n in application.recorder.select_notifications(start=1, limit=1000)
        if n.topic.endswith("DonationReceived")
    ]
    assert 1 == len(received)
    assert books.report("project", "Q")["donated"] == "0.00"


def test_a_claim_race_in_memory() -> None:
    claim_race(LedgerApplication())


def test_a_claim_race_on_sqlite(tmp_path: Path) -> None:
    on_store(f"sqlite:///{tmp_path / 'ledger.db'}", lambda stores: claim_race(stores.application))
