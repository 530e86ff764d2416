"""Matching a bank statement of a foundation's custody account against the ledger, and its record.

The rules, in order: a line and its reversal (same reference, opposite amount) cancel and
match nothing; then a line matches the one ledger entry of the same amount and direction
whose reference it carries; then, by exact amount within a date window, where exactly
one entry fits the line and exactly one line fits the entry. Never one line to two
entries or the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.identity import aggregate_id

NO_REFERENCE = {"", "nonref", "none", "n/a"}


def normalised(reference: str | None) -> str:
    return (reference or "").strip().casefold()


@dataclass(frozen=True)
class BankLine:
    """One booked line of a statement; `where` names it in the file (line 12, Ntry[3])."""

    where: str
    booked_on: date
    amount_minor: int  # credits positive, debits negative
    currency: str
    references: tuple[str, ...] = ()
    counterparty: str = ""
    description: str = ""
    reversal: bool = False

    def carries(self, reference: str | None) -> bool:
        wanted = normalised(reference)
        if wanted in NO_REFERENCE:
            return False
        return any(normalised(own) == wanted for own in self.references) or wanted in normalised(self.description)


@dataclass(frozen=True)
class LedgerEntry:
    """A movement of the custody account: a donation or payee refund in, a payout or donor refund out."""

    kind: str
    entry_id: str
    on: date
    amount_minor: int  # into custody positive, out negative
    currency: str
    reference: str | None


@dataclass
class Matching:
    matches: list[tuple[BankLine, LedgerEntry, str]] = field(default_factory=list)
    unmatched_bank: list[tuple[BankLine, str]] = field(default_factory=list)
    unmatched_ledger: list[LedgerEntry] = field(default_factory=list)


def match(lines: list[BankLine], entries: list[LedgerEntry], window_days: int) -> Matching:
    """Pair statement lines with ledger entries one-to-one by the rules of this module."""
    result = Matching()
    open_lines = _cancel_reversals(lines, result)
    open_entries = list(entries)
    for line in list(open_lines):
        fitting = [entry for entry in open_entries if _same_money(line, entry) and line.carries(entry.reference)]
        if len(fitting) == 1:
            result.matches.append((line, fitting[0], "reference"))
            open_lines.remove(line)
            open_entries.remove(fitting[0])
    for line in list(open_lines):
        fitting = [entry for entry in open_entries if _same_money(line, entry) and _near(line, entry, window_days)]
        if len(fitting) != 1:
            continue
        rivals = [
            other for other in open_lines if _same_money(other, fitting[0]) and _near(other, fitting[0], window_days)
        ]
        if rivals == [line]:
            result.matches.append((line, fitting[0], "amount_and_date"))
            open_lines.remove(line)
            open_entries.remove(fitting[0])
    result.unmatched_bank.extend((line, "no ledger entry fits") for line in open_lines)
    result.unmatched_ledger.extend(open_entries)
    return result


def _cancel_reversals(lines: list[BankLine], result: Matching) -> list[BankLine]:
    remaining = list(lines)
    for reversal in [line for line in lines if line.reversal]:
        if reversal not in remaining:
            continue
        original = next(
            (
                line
                for line in remaining
                if line is not reversal
                and not line.reversal
                and line.amount_minor == -reversal.amount_minor
                and set(map(normalised, line.references)) & set(map(normalised, reversal.references))
            ),
            None,
        )
        remaining.remove(reversal)
        result.unmatched_bank.append((reversal, "reversal"))
        if original is not None:
            remaining.remove(original)
            result.unmatched_bank.append((original, f"reversed by {reversal.where}"))
    return remaining


def _same_money(line: BankLine, entry: LedgerEntry) -> bool:
    return line.amount_minor == entry.amount_minor and line.currency == entry.currency


def _near(line: BankLine, entry: LedgerEntry, window_days: int) -> bool:
    return abs((line.booked_on - entry.on).days) <= window_days


class Reconciliation(Aggregate):
    """One statement reconciled for one foundation: what was imported, matched, and left as a difference."""

    @staticmethod
    def create_id(foundation_id: str, statement_digest: str, **_: Any) -> UUID:
        return aggregate_id("reconciliation", f"{foundation_id}:{statement_digest}")

    @event("StatementImported")
    def __init__(
        self,
        foundation_id: str,
        statement_digest: str,
        statement_format: str,
        account: str,
        currency: str,
        period_start: str,
        period_end: str,
        opening_minor: int | None,
        closing_minor: int | None,
        lines: int,
    ) -> None:
        self.foundation_id = foundation_id
        self.statement_digest = statement_digest
        self.matched: list[tuple[str, str, str]] = []
        self.difference_minor: int | None = None

    @event("LineMatched")
    def line_matched(self, line: str, entry_kind: str, entry_id: str, how: str) -> None:
        self.matched.append((line, f"{entry_kind}:{entry_id}", how))

    @event("DifferenceNoted")
    def difference_noted(
        self,
        statement_closing_minor: int | None,
        ledger_closing_minor: int,
        difference_minor: int | None,
        unmatched_bank: list[str],
        unmatched_ledger: list[str],
    ) -> None:
        self.difference_minor = difference_minor
