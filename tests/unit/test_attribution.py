"""Where each donation went: payouts take the oldest money first, payee refunds give back the last lots first."""

from __future__ import annotations

from typing import Any, cast

import pytest

from tests.ledger_fixtures import LedgerUnderTest


@pytest.fixture
def books() -> LedgerUnderTest:
    ledger = LedgerUnderTest()
    ledger.setup_project()
    ledger.donate("DN1", "500.00", donor_id="D1", day=2)
    ledger.donate("DN2", "3000.00", donor_id="D2", day=3)
    ledger.donate("DN3", "200.00", donor_id="D1", day=4)
    return ledger


def trail(books: LedgerUnderTest, donor_id: str) -> dict[str, Any]:
    return {
        donation["donation_id"]: (
            donation["unspent"],
            donation["refunded"],
            [(spent["disbursement_id"], spent["amount"]) for spent in donation["spent"]],
        )
        for donation in books.report("donor", donor_id)["donations"]
    }


def test_a_payout_spends_the_oldest_unspent_money_first(books: LedgerUnderTest) -> None:
    books.paid_disbursement("DS1", "2000.00")
    assert {"DN1": ("0.00", "0.00", [("DS1", "500.00")]), "DN3": ("200.00", "0.00", [])} == trail(books, "D1")
    assert {"DN2": ("1500.00", "0.00", [("DS1", "1500.00")])} == trail(books, "D2")


def test_the_allocation_is_stored_in_the_payout_event(books: LedgerUnderTest) -> None:
    books.paid_disbursement("DS1", "2000.00")
    payouts = [
        books.application.mapper.to_domain_event(notification)
        for notification in books.application.recorder.select_notifications(start=1, limit=100)
        if notification.topic.endswith("PayoutSent")
    ]
    assert [[["DN1", 50000], ["DN2", 150000]]] == [cast(Any, payout).allocations for payout in payouts]


def test_a_payee_refund_gives_back_to_the_last_lot_first(books: LedgerUnderTest) -> None:
    books.paid_disbursement("DS1", "2000.00")
    books.payee_refund("RF1", "DS1", "1600.00")
    # As if the payout had been 400.00: all of it from DN1, nothing from DN2.
    assert {"DN1": ("100.00", "0.00", [("DS1", "400.00")]), "DN3": ("200.00", "0.00", [])} == trail(books, "D1")
    assert {"DN2": ("3000.00", "0.00", [])} == trail(books, "D2")


def test_returned_money_is_spent_again_oldest_first(books: LedgerUnderTest) -> None:
    books.paid_disbursement("DS1", "2000.00")
    books.payee_refund("RF1", "DS1", "300.00")
    books.paid_disbursement("DS2", "1000.00", payee_id="H2")
    assert {"DN2": ("800.00", "0.00", [("DS1", "1200.00"), ("DS2", "1000.00")])} == trail(books, "D2")


def test_a_donor_refund_takes_from_that_donations_own_unspent_amount(books: LedgerUnderTest) -> None:
    books.donor_refund("RD1", "DN3", "150.00")
    books.paid_disbursement("DS1", "600.00")
    assert {"DN1": ("0.00", "0.00", [("DS1", "500.00")]), "DN3": ("50.00", "150.00", [])} == trail(books, "D1")


def test_a_fully_returned_payout_is_left_out_of_the_trail(books: LedgerUnderTest) -> None:
    books.paid_disbursement("DS1", "400.00")
    books.payee_refund("RF1", "DS1", "400.00")
    assert {"DN1": ("500.00", "0.00", []), "DN3": ("200.00", "0.00", [])} == trail(books, "D1")


def test_several_payee_refunds_walk_back_across_lots(books: LedgerUnderTest) -> None:
    books.paid_disbursement("DS1", "3600.00")  # DN1 500, DN2 3000, DN3 100
    books.payee_refund("RF1", "DS1", "50.00")
    books.payee_refund("RF2", "DS1", "100.00")  # 50 from DN3, then 50 from DN2
    assert {"DN1": ("0.00", "0.00", [("DS1", "500.00")]), "DN3": ("200.00", "0.00", [])} == trail(books, "D1")
    assert {"DN2": ("50.00", "0.00", [("DS1", "2950.00")])} == trail(books, "D2")


def test_as_of_counts_only_what_happened_by_then(books: LedgerUnderTest) -> None:
    from projections.facts import instant_micros

    books.paid_disbursement("DS1", "2000.00")  # paid on day 6
    books.payee_refund("RF1", "DS1", "300.00", day=20)
    before_refund = instant_micros("2026-03-10T00:00:00+08:00")
    assert ("0.00", "2000.00", "1700.00") == tuple(
        books.report("project", "P", before_refund)[key] for key in ("returned_by_payees", "paid_out", "balance")
    )
    before_everything = instant_micros("2026-03-01T00:00:00+08:00")
    assert (0, "0.00") == tuple(
        books.report("project", "P", before_everything)[key] for key in ("donation_count", "balance")
    )
