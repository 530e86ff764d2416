"""Each rule of the contract, and each error code: a refused command gets its code and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import ERROR_CODES
from tests.ledger_fixtures import LedgerUnderTest, at


@pytest.fixture
def books() -> LedgerUnderTest:
    ledger = LedgerUnderTest()
    ledger.setup_project()
    return ledger


def refused(books: LedgerUnderTest, code: str, send: object) -> None:
    """Assert that `send()` is refused with `code` and that no event was recorded."""
    before = books.event_count()
    outcome = send()  # type: ignore[operator]
    assert ("rejected", code) == (outcome.status, outcome.code), outcome
    assert outcome.message
    assert before == books.event_count()


def test_a_donation_to_an_open_project_is_recorded(books: LedgerUnderTest) -> None:
    assert "applied" == books.donate("DN1", "500.00").status
    assert "500.00" == books.report("project", "P")["donated"]


def test_a_donation_to_an_unknown_project_is_unknown_project(books: LedgerUnderTest) -> None:
    refused(books, "unknown_project", lambda: books.donate("DN1", "5.00", project_id="NOPE"))


def test_a_donation_from_an_unregistered_donor_is_unknown_donor(books: LedgerUnderTest) -> None:
    refused(books, "unknown_donor", lambda: books.donate("DN1", "5.00", donor_id="D9"))


def test_a_donation_in_another_currency_is_currency_mismatch(books: LedgerUnderTest) -> None:
    refused(books, "currency_mismatch", lambda: books.donate("DN1", "5.00", currency="USD"))


def test_an_amount_with_too_many_places_is_invalid_amount_never_rounded(books: LedgerUnderTest) -> None:
    refused(books, "invalid_amount", lambda: books.donate("DN1", "10.001"))


@pytest.mark.parametrize("amount", ["0", "0.00", "-5.00", "abc", ""])
def test_zero_negative_and_malformed_amounts_are_invalid_amount(books: LedgerUnderTest, amount: str) -> None:
    refused(books, "invalid_amount", lambda: books.donate("DN1", amount))


def test_a_closed_project_takes_no_donation(books: LedgerUnderTest) -> None:
    books.close()
    refused(books, "project_closed", lambda: books.donate("DN1", "5.00"))


def test_a_closed_project_takes_no_new_disbursement_request(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.close()
    refused(books, "project_closed", lambda: books.request("DS1", "100.00"))


def test_a_request_made_before_closing_can_still_be_approved_paid_and_refunded(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.request("DS1", "100.00")
    books.close()
    assert "applied" == books.approve("DS1").status
    assert "applied" == books.pay("DS1").status
    assert "applied" == books.payee_refund("RF1", "DS1", "40.00").status
    assert "applied" == books.donor_refund("RD1", "DN1", "50.00").status
    assert "closed" == books.report("project", "P")["status"]


def test_the_partner_is_never_a_payee_of_its_own_project(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    refused(books, "payee_is_partner", lambda: books.request("DS1", "100.00", payee_id="TX"))


def test_a_disbursement_to_an_unregistered_payee_is_unknown_payee(books: LedgerUnderTest) -> None:
    refused(books, "unknown_payee", lambda: books.request("DS1", "100.00", payee_id="H9"))


def test_the_approver_must_differ_from_the_requester(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.request("DS1", "100.00", requested_by="alice")
    refused(books, "same_approver", lambda: books.approve("DS1", approved_by="alice"))


def test_approval_needs_available_to_cover_the_amount(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.request("DS1", "300.00")
    books.request("DS2", "300.00")
    assert "applied" == books.approve("DS1").status
    refused(books, "insufficient_available", lambda: books.approve("DS2"))
    assert {"reserved": "300.00", "available": "200.00"} == {
        key: books.report("project", "P")[key] for key in ("reserved", "available")
    }


def test_approval_of_exactly_the_available_amount_is_allowed(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.request("DS1", "500.00")
    assert "applied" == books.approve("DS1").status
    assert "0.00" == books.report("project", "P")["available"]


def test_a_payout_before_approval_is_not_approved(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.request("DS1", "100.00")
    refused(books, "not_approved", lambda: books.pay("DS1"))


def test_a_rejected_disbursement_cannot_be_paid(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.request("DS1", "100.00")
    books.reject("DS1")
    refused(books, "not_approved", lambda: books.pay("DS1"))


def test_a_second_decision_with_other_content_is_already_decided(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.request("DS1", "100.00")
    books.approve("DS1")
    refused(books, "already_decided", lambda: books.reject("DS1"))
    refused(books, "already_decided", lambda: books.approve("DS1", approved_by="someone-else"))


def test_the_same_approval_sent_twice_is_a_duplicate(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.request("DS1", "100.00")
    books.approve("DS1")
    before = books.event_count()
    assert "duplicate" == books.approve("DS1").status
    assert before == books.event_count()


def test_a_payout_pays_exactly_once(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.paid_disbursement("DS1", "100.00")
    assert "duplicate" == books.pay("DS1").status
    refused(books, "already_paid", lambda: books.pay("DS1", day=9))
    assert "100.00" == books.report("project", "P")["paid_out"]


def test_a_payout_releases_the_reservation(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.paid_disbursement("DS1", "100.00")
    assert ("0.00", "400.00", "400.00") == tuple(
        books.report("project", "P")[key] for key in ("reserved", "balance", "available")
    )


def test_an_unknown_disbursement_is_unknown_disbursement(books: LedgerUnderTest) -> None:
    refused(books, "unknown_disbursement", lambda: books.approve("DS9"))
    refused(books, "unknown_disbursement", lambda: books.pay("DS9"))
    refused(books, "unknown_disbursement", lambda: books.payee_refund("RF1", "DS9", "1.00"))


def test_a_payee_refund_of_an_unpaid_disbursement_exceeds_what_was_paid(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.request("DS1", "100.00")
    books.approve("DS1")
    refused(books, "refund_exceeds_paid", lambda: books.payee_refund("RF1", "DS1", "1.00"))


def test_payee_refunds_return_at_most_what_was_paid_minus_returned(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.paid_disbursement("DS1", "100.00")
    assert "applied" == books.payee_refund("RF1", "DS1", "60.00").status
    refused(books, "refund_exceeds_paid", lambda: books.payee_refund("RF2", "DS1", "40.01"))
    assert "applied" == books.payee_refund("RF2", "DS1", "40.00").status


def test_a_donor_refund_returns_at_most_the_unspent_amount(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.paid_disbursement("DS1", "400.00")
    refused(books, "refund_exceeds_unspent", lambda: books.donor_refund("RD1", "DN1", "100.01"))
    assert "applied" == books.donor_refund("RD1", "DN1", "100.00").status


def test_a_donor_refund_never_leaves_the_balance_below_reserved(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.request("DS1", "400.00")
    books.approve("DS1")
    refused(books, "insufficient_available", lambda: books.donor_refund("RD1", "DN1", "100.01"))
    assert "applied" == books.donor_refund("RD1", "DN1", "100.00").status


def test_a_refund_of_an_unknown_donation_is_unknown_donation(books: LedgerUnderTest) -> None:
    refused(books, "unknown_donation", lambda: books.donor_refund("RD1", "DN9", "1.00"))


def test_opening_a_project_needs_a_registered_foundation_and_partner(books: LedgerUnderTest) -> None:
    refused(
        books,
        "unknown_foundation",
        lambda: books.send(
            type="open_project",
            project_id="P2",
            foundation_id="F9",
            partner_id="TX",
            name="n",
            currency="CNY",
            opened_at=at(1),
        ),
    )
    refused(
        books,
        "unknown_partner",
        lambda: books.send(
            type="open_project",
            project_id="P2",
            foundation_id="F",
            partner_id="X9",
            name="n",
            currency="CNY",
            opened_at=at(1),
        ),
    )


def test_the_same_id_with_other_content_is_id_conflict(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    refused(books, "id_conflict", lambda: books.donate("DN1", "600.00"))
    refused(books, "id_conflict", lambda: books.open_project("P", currency="USD"))
    refused(
        books,
        "id_conflict",
        lambda: books.send(type="register_donor", donor_id="D1", display_name="someone else", anonymous=False),
    )


def test_the_same_command_sent_again_is_a_duplicate_and_changes_nothing(books: LedgerUnderTest) -> None:
    assert "applied" == books.donate("DN1", "500.00").status
    before = books.event_count()
    assert "duplicate" == books.donate("DN1", "500.00").status
    assert "duplicate" == books.open_project("P").status
    assert before == books.event_count()
    assert 1 == books.report("project", "P")["donation_count"]


def test_a_duplicate_is_recognised_when_the_same_instant_and_amount_are_written_differently(
    books: LedgerUnderTest,
) -> None:
    books.donate("DN1", "500.00")
    again = books.send(
        type="record_donation",
        donation_id="DN1",
        donor_id="D1",
        project_id="P",
        amount="500.0",
        currency="CNY",
        channel="online",
        received_at="2026-03-02T02:00:00Z",
    )
    assert "duplicate" == again.status


def test_payee_refunds_and_donor_refunds_share_one_id_kind(books: LedgerUnderTest) -> None:
    books.donate("DN1", "500.00")
    books.paid_disbursement("DS1", "100.00")
    books.payee_refund("R1", "DS1", "10.00")
    refused(books, "id_conflict", lambda: books.donor_refund("R1", "DN1", "10.00"))


def test_closing_twice_at_another_time_is_id_conflict(books: LedgerUnderTest) -> None:
    books.close(day=20)
    assert "duplicate" == books.close(day=20).status
    refused(books, "id_conflict", lambda: books.close(day=21))


def test_an_unknown_command_type_is_invalid_command(books: LedgerUnderTest) -> None:
    refused(books, "invalid_command", lambda: books.send(type="transfer_everything"))


def test_every_error_code_of_the_contract_is_exercised_by_these_tests() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    assert set() == {code for code in ERROR_CODES if f'"{code}"' not in source}
