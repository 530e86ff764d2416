"""Command scripts for property and concurrency tests, and the checks that the books add up."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from domain.identity import aggregate_id
from domain.money import format_amount, parse_amount
from domain.project import Project
from infra.database import SQLiteDatabase
from infra.read_model import ReadModel
from projections.reports import all_reports
from services.read_side import catch_up
from tests.ledger_fixtures import LedgerUnderTest, at

PROJECTS = ["P", "Q"]
# Weighted by repetition, so that most sequences pay, return and refund real money.
OPERATIONS = (
    ["donate"] * 4
    + ["request"] * 3
    + ["approve"] * 3
    + ["pay"] * 3
    + ["payee_refund"] * 2
    + ["donor_refund"] * 2
    + ["reject", "close", "resend"]
)
steps = st.tuples(
    st.sampled_from(OPERATIONS),
    st.integers(min_value=0, max_value=10_000),  # picks a project, an earlier id, a payee...
    st.integers(min_value=1, max_value=200_000),  # an amount in minor units
    st.integers(min_value=2, max_value=27),  # a day of March
)


def build_commands(script: list[tuple[str, int, int, int]], prefix: str = "") -> list[dict[str, Any]]:
    """Turn abstract steps into commands that mostly name ids created earlier in the same script."""
    made: list[dict[str, Any]] = []
    donations: list[str] = []
    disbursements: list[str] = []
    approved: list[str] = []
    paid: list[str] = []
    for operation, pick, amount_minor, day in script:
        if operation in ("approve", "reject", "pay", "payee_refund") and not disbursements:
            operation = "request"
        if operation in ("donor_refund", "request") and not donations:
            operation = "donate"
        project = PROJECTS[pick % 2]
        earlier_donation = donations[pick % len(donations)] if donations else "DN-none"
        # Decisions mostly follow the newest request, payouts the newest approval: realistic, and
        # it makes most sequences move money instead of being refused.
        newest = disbursements[-1 - pick % min(3, len(disbursements))] if disbursements else "DS-none"
        earlier_disbursement = {
            "approve": newest,
            "reject": newest,
            "pay": approved[-1 - pick % len(approved)] if approved else newest,
            "payee_refund": paid[-1 - pick % len(paid)] if paid else newest,
        }.get(operation, newest)
        if operation == "donate":
            donations.append(f"{prefix}DN{len(made)}")
            command = {
                "type": "record_donation",
                "donation_id": donations[-1],
                "donor_id": ["D1", "D2"][pick % 2],
                "project_id": project,
                "amount": format_amount(amount_minor + 50_000, "CNY"),
                "currency": "CNY",
                "channel": "online",
                "received_at": at(day),
            }
        elif operation == "request":
            disbursements.append(f"{prefix}DS{len(made)}")
            command = {
                "type": "request_disbursement",
                "disbursement_id": disbursements[-1],
                "project_id": project,
                "payee_id": ["H1", "H2", "H1", "TX", "H2", "H1"][pick % 6],
                "amount": format_amount(amount_minor // 8 + 1, "CNY"),
                "purpose": "care",
                "requested_by": "caseworker",
                "requested_at": at(day),
            }
        elif operation == "approve":
            command = {
                "type": "approve_disbursement",
                "disbursement_id": earlier_disbursement,
                "approved_by": ["treasurer", "caseworker", "treasurer"][pick % 3],
                "approved_at": at(day),
            }
            approved.append(earlier_disbursement)
        elif operation == "reject":
            command = {
                "type": "reject_disbursement",
                "disbursement_id": earlier_disbursement,
                "rejected_by": "treasurer",
                "reason": "no invoice",
                "rejected_at": at(day),
            }
        elif operation == "pay":
            command = {"type": "record_payout", "disbursement_id": earlier_disbursement, "paid_at": at(day)}
            paid.append(earlier_disbursement)
        elif operation == "payee_refund":
            command = {
                "type": "record_payee_refund",
                "refund_id": f"{prefix}R{len(made)}",
                "disbursement_id": earlier_disbursement,
                "amount": format_amount(amount_minor // 4 + 1, "CNY"),
                "received_at": at(day),
            }
        elif operation == "donor_refund":
            command = {
                "type": "refund_donation",
                "refund_id": f"{prefix}R{len(made)}",
                "donation_id": earlier_donation,
                "amount": format_amount(amount_minor // 4 + 1, "CNY"),
                "reason": "asked",
                "refunded_at": at(day),
            }
        elif operation == "close":
            command = {"type": "close_project", "project_id": project, "closed_at": at(day)}
        else:
            command = dict(made[pick % len(made)]) if made else {"type": "close_project"}
        made.append(command)
    return made


def minor(text: str) -> int:
    return parse_amount(text, "CNY") if text != "0.00" else 0


def check_books(books: LedgerUnderTest, reports: dict[str, dict[str, Any]]) -> None:
    unspent_by_project = dict.fromkeys(PROJECTS, 0)
    for donor in reports["donor"].values():
        for donation in donor["donations"]:
            spent = sum(minor(item["amount"]) for item in donation["spent"])
            assert minor(donation["amount"]) == minor(donation["unspent"]) + minor(donation["refunded"]) + spent
            unspent_by_project[donation["project_id"]] += minor(donation["unspent"])
    custody = 0
    for project_id, project in reports["project"].items():
        assert unspent_by_project[project_id] == minor(project["balance"])
        assert minor(project["balance"]) >= minor(project["reserved"])
        aggregate: object = books.application.repository.get(aggregate_id("project", project_id))
        assert isinstance(aggregate, Project)
        assert aggregate.balance_minor == minor(project["balance"])
        assert aggregate.reserved_minor == minor(project["reserved"])
        custody += minor(project["balance"])
    assert custody == minor(reports["foundation"]["F"]["custody"]["CNY"])


def check_any_script(books: LedgerUnderTest, script: list[tuple[str, int, int, int]], batch_size: int) -> None:
    """Run the script in batches, check the books, and check that a rebuild gives the same reports."""
    sequence = build_commands(script)
    books.setup_project("P")
    books.open_project("Q")
    for start in range(0, len(sequence), batch_size):
        books.ledger.execute_batch(sequence[start : start + batch_size])
        catch_up(books.application, books.read_model)
    catch_up(books.application, books.read_model)
    live = all_reports(books.read_model)
    check_books(books, live)

    rebuilt = ReadModel(SQLiteDatabase(":memory:"))
    rebuilt.create_tables()
    catch_up(books.application, rebuilt, page_max=7)
    assert live == all_reports(rebuilt)
