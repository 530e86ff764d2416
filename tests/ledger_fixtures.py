"""Builders shared by the tests: a ledger on an in-memory store, and commands with sensible defaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.application import Application

from infra.database import SQLiteDatabase
from infra.donor_keys import DonorKeyVault
from infra.read_model import ReadModel
from infra.store import Stores, open_stores
from projections import reports
from services.ledger import Ledger, LedgerApplication, Outcome
from services.read_side import catch_up


def at(day: int, hour: int = 10) -> str:
    return f"2026-03-{day:02d}T{hour:02d}:00:00+08:00"


class LedgerUnderTest:
    """An in-memory ledger with its read model, and short ways to send the contract's commands."""

    def __init__(self, application: Application[Any] | None = None, read_model: ReadModel | None = None) -> None:
        self.application = application or LedgerApplication()
        self.vault = DonorKeyVault(SQLiteDatabase(":memory:"))
        self.ledger = Ledger(self.application, vault=self.vault)
        self.read_model = read_model or ReadModel(SQLiteDatabase(":memory:"))
        self.read_model.create_tables()

    def send(self, **command: Any) -> Outcome:
        return self.ledger.execute(command)

    def code(self, **command: Any) -> str | None:
        """The rejection code of one command (None when it was applied or a duplicate)."""
        return self.send(**command).code

    def event_count(self) -> int:
        return self.application.recorder.max_notification_id() or 0

    def report(self, kind: str, business_id: str, as_of: int = reports.END_OF_TIME) -> dict[str, Any]:
        catch_up(self.application, self.read_model)
        return reports.REPORTS[kind](self.read_model, business_id, as_of)

    # The parties and a project, registered once.

    def setup_project(self, project_id: str = "P", currency: str = "CNY") -> None:
        for command in [
            {"type": "register_foundation", "foundation_id": "F", "name": "基金会", "public_fundraising": True},
            {"type": "register_partner", "partner_id": "TX", "name": "社工中心"},
            {"type": "register_payee", "payee_id": "H1", "name": "医院", "kind": "hospital"},
            {"type": "register_payee", "payee_id": "H2", "name": "医院二", "kind": "hospital"},
            {"type": "register_donor", "donor_id": "D1", "display_name": "张女士", "anonymous": False},
            {"type": "register_donor", "donor_id": "D2", "anonymous": True},
        ]:
            self.ledger.execute(command)
        self.open_project(project_id, currency)

    def open_project(self, project_id: str, currency: str = "CNY") -> Outcome:
        return self.send(
            type="open_project",
            project_id=project_id,
            foundation_id="F",
            partner_id="TX",
            name="项目",
            currency=currency,
            opened_at=at(1),
        )

    def donate(
        self,
        donation_id: str,
        amount: str,
        donor_id: str = "D1",
        project_id: str = "P",
        day: int = 2,
        currency: str = "CNY",
    ) -> Outcome:
        return self.send(
            type="record_donation",
            donation_id=donation_id,
            donor_id=donor_id,
            project_id=project_id,
            amount=amount,
            currency=currency,
            channel="online",
            received_at=at(day),
        )

    def request(
        self,
        disbursement_id: str,
        amount: str,
        payee_id: str = "H1",
        project_id: str = "P",
        requested_by: str = "caseworker",
        day: int = 5,
    ) -> Outcome:
        return self.send(
            type="request_disbursement",
            disbursement_id=disbursement_id,
            project_id=project_id,
            payee_id=payee_id,
            amount=amount,
            purpose="treatment",
            requested_by=requested_by,
            requested_at=at(day),
        )

    def approve(self, disbursement_id: str, approved_by: str = "treasurer", day: int = 5) -> Outcome:
        return self.send(
            type="approve_disbursement",
            disbursement_id=disbursement_id,
            approved_by=approved_by,
            approved_at=at(day, 15),
        )

    def reject(self, disbursement_id: str, rejected_by: str = "treasurer", day: int = 5) -> Outcome:
        return self.send(
            type="reject_disbursement",
            disbursement_id=disbursement_id,
            rejected_by=rejected_by,
            reason="no invoice",
            rejected_at=at(day, 16),
        )

    def pay(self, disbursement_id: str, day: int = 6, bank_ref: str | None = None) -> Outcome:
        return self.send(type="record_payout", disbursement_id=disbursement_id, paid_at=at(day), bank_ref=bank_ref)

    def payee_refund(self, refund_id: str, disbursement_id: str, amount: str, day: int = 20) -> Outcome:
        return self.send(
            type="record_payee_refund",
            refund_id=refund_id,
            disbursement_id=disbursement_id,
            amount=amount,
            received_at=at(day),
        )

    def donor_refund(self, refund_id: str, donation_id: str, amount: str, day: int = 21) -> Outcome:
        return self.send(
            type="refund_donation",
            refund_id=refund_id,
            donation_id=donation_id,
            amount=amount,
            reason="asked",
            refunded_at=at(day),
        )

    def close(self, project_id: str = "P", day: int = 28) -> Outcome:
        return self.send(type="close_project", project_id=project_id, closed_at=at(day))

    def paid_disbursement(self, disbursement_id: str, amount: str, payee_id: str = "H1") -> None:
        for outcome in (
            self.request(disbursement_id, amount, payee_id),
            self.approve(disbursement_id),
            self.pay(disbursement_id),
        ):
            assert outcome.status == "applied", outcome


def on_store(url: str, check: Callable[[Stores], None]) -> None:
    """Run `check` on the store that `url` names, opened for it and closed afterwards."""
    stores = open_stores(url)
    try:
        check(stores)
    finally:
        stores.close()
