"""Reconciling a foundation's custody account: ledger entries from the events, matching, and the record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from domain.identity import aggregate_id
from domain.money import format_amount
from domain.reconciliation import BankLine, LedgerEntry, Matching, Reconciliation, match
from projections.facts import instant_micros
from projections.reports import ReportSource, foundation_report
from services.trust import stored_events

# Events that move money in (+1) or out (-1) of custody, with their time and reference fields.
MOVEMENTS = {
    "DonationReceived": (1, "donation", "donation_id", "received_at", "external_ref"),
    "PayeeRefundReceived": (1, "payee_refund", "refund_id", "received_at", "bank_ref"),
    "PayoutSent": (-1, "payout", "disbursement_id", "paid_at", "bank_ref"),
    "DonationRefunded": (-1, "donor_refund", "refund_id", "refunded_at", None),
}


@dataclass(frozen=True)
class StatementFacts:
    """What the statement says, independent of its file format."""

    digest: str
    format: str
    account: str
    currency: str
    opening_minor: int | None
    closing_minor: int | None
    period_start: date
    period_end: date
    lines: list[BankLine]


def ledger_entries(application: Application[UUID], projects: set[str], currency: str) -> list[LedgerEntry]:
    """Every custody movement of the given projects, in ledger order."""
    entries = []
    for _, notification in stored_events(application):
        kind = notification.topic.rsplit(".", 1)[-1]
        if kind not in MOVEMENTS:
            continue
        event: Any = application.mapper.to_domain_event(notification)
        if event.project_id not in projects or event.currency != currency:
            continue
        sign, name, id_field, time_field, reference_field = MOVEMENTS[kind]
        entries.append(
            LedgerEntry(
                kind=name,
                entry_id=getattr(event, id_field),
                on=datetime.fromisoformat(getattr(event, time_field)).date(),
                amount_minor=sign * event.amount_minor,
                currency=event.currency,
                reference=getattr(event, reference_field) if reference_field else None,
            )
        )
    return entries


def _end_of_day(day: date) -> int:
    """The last microsecond of `day` in China Standard Time, the custody accounts' banking day."""
    return instant_micros(f"{day.isoformat()}T23:59:59.999999+08:00")


def reconcile(
    application: Application[UUID],
    source: ReportSource,
    foundation_id: str,
    statement: StatementFacts,
    window_days: int,
) -> tuple[dict[str, Any], Reconciliation | None]:
    """Match the statement; returns the result, and the new record (None when this statement was reconciled before)."""
    projects = {row["project_id"] for row in source.foundation_projects(foundation_id)}
    matching = match(statement.lines, ledger_entries(application, projects, statement.currency), window_days)
    matching.unmatched_ledger = [
        entry for entry in matching.unmatched_ledger if statement.period_start <= entry.on <= statement.period_end
    ]
    custody = foundation_report(source, foundation_id, _end_of_day(statement.period_end))["custody"]
    ledger_closing = _minor(custody.get(statement.currency, "0"))
    difference = None if statement.closing_minor is None else statement.closing_minor - ledger_closing
    result = _result(matching, statement, ledger_closing, difference)
    try:
        application.repository.get(aggregate_id("reconciliation", f"{foundation_id}:{statement.digest}"))
        return {**result, "already_reconciled": True}, None
    except AggregateNotFoundError:
        pass
    record = Reconciliation(
        foundation_id=foundation_id,
        statement_digest=statement.digest,
        statement_format=statement.format,
        account=statement.account,
        currency=statement.currency,
        period_start=statement.period_start.isoformat(),
        period_end=statement.period_end.isoformat(),
        opening_minor=statement.opening_minor,
        closing_minor=statement.closing_minor,
        lines=len(statement.lines),
    )
    for line, entry, how in matching.matches:
        record.line_matched(line=line.where, entry_kind=entry.kind, entry_id=entry.entry_id, how=how)
    record.difference_noted(
        statement_closing_minor=statement.closing_minor,
        ledger_closing_minor=ledger_closing,
        difference_minor=difference,
        unmatched_bank=[line.where for line, _ in matching.unmatched_bank],
        unmatched_ledger=[f"{entry.kind}:{entry.entry_id}" for entry in matching.unmatched_ledger],
    )
    return {**result, "already_reconciled": False}, record


def _minor(text: str) -> int:
    negative = text.startswith("-")
    digits = text.lstrip("-").replace(".", "")
    return -int(digits) if negative else int(digits)


def _result(
    matching: Matching, statement: StatementFacts, ledger_closing: int, difference: int | None
) -> dict[str, Any]:
    currency = statement.currency

    def money(amount_minor: int | None) -> str | None:
        return None if amount_minor is None else format_amount(amount_minor, currency)

    return {
        "matched": len(matching.matches),
        "matches": [
            {"line": line.where, "kind": entry.kind, "id": entry.entry_id, "how": how}
            for line, entry, how in matching.matches
        ],
        "unmatched_bank": [
            {
                "line": line.where,
                "date": line.booked_on.isoformat(),
                "amount": money(line.amount_minor),
                "reference": line.references[0] if line.references else None,
                "reason": reason,
            }
            for line, reason in matching.unmatched_bank
        ],
        "unmatched_ledger": [
            {
                "kind": entry.kind,
                "id": entry.entry_id,
                "date": entry.on.isoformat(),
                "amount": money(entry.amount_minor),
                "reference": entry.reference,
            }
            for entry in matching.unmatched_ledger
        ],
        "currency": currency,
        "period": [statement.period_start.isoformat(), statement.period_end.isoformat()],
        "statement_opening": money(statement.opening_minor),
        "statement_closing": money(statement.closing_minor),
        "ledger_closing": money(ledger_closing),
        "difference": money(difference),
    }
