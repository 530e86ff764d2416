"""Lots and disbursements inside a project, and the attribution rules that move money between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# One allocation: [donation_id, amount_minor], as stored in PayoutSent and PayeeRefundReceived.
Allocation = list[Any]


class InvariantViolated(AssertionError):
    """Raised explicitly (so that `python -O` keeps the check) when the books stop adding up."""


def check_invariant(holds: bool, what: str) -> None:
    if not holds:
        raise InvariantViolated(what)


@dataclass(slots=True)
class Lot:
    """One donation's money inside the project: amount = unspent + refunded + spent."""

    donation_id: str
    donor_id: str
    position: int
    amount_minor: int
    unspent_minor: int
    refunded_minor: int = 0
    spent_minor: int = 0


@dataclass(slots=True)
class Disbursement:
    """A payment to a payee, from request through decision to payout and returns."""

    disbursement_id: str
    payee_id: str
    amount_minor: int
    requested_by: str
    status: str = "requested"  # requested, approved, rejected, paid
    decision: tuple[str, ...] = ()
    payout: tuple[str, str | None] | None = None
    allocations: list[Allocation] = field(default_factory=list)
    returned_minor: int = 0


def allocate_oldest_first(
    lot_order: list[Lot], reopened: list[int], first_unspent_position: int, amount_minor: int
) -> list[Allocation]:
    """Take from the lots in ledger order, each lot's unspent amount in turn.

    Lots before `first_unspent_position` are spent, except those a payee refund gave money
    back to, whose positions are in `reopened` (perhaps with stale or repeated entries). Taking
    from those first, in ledger order, and then from the position on, is ledger order itself.
    """
    allocations: list[Allocation] = []
    remaining = amount_minor
    for position in sorted(set(reopened)):
        if remaining == 0:
            break
        lot = lot_order[position]
        taken = min(lot.unspent_minor, remaining)
        if taken > 0:
            allocations.append([lot.donation_id, taken])
            remaining -= taken
    position = first_unspent_position
    while remaining > 0:
        lot = lot_order[position]
        taken = min(lot.unspent_minor, remaining)
        if taken > 0:
            allocations.append([lot.donation_id, taken])
            remaining -= taken
        position += 1
    return allocations


def give_back_last_first(disbursement: Disbursement, amount_minor: int) -> list[Allocation]:
    """Give back to the lots the payout took from, starting with the last one it took from."""
    allocations: list[Allocation] = []
    remaining = amount_minor
    for donation_id, net_minor in reversed(disbursement.allocations):
        if remaining == 0:
            break
        given = min(net_minor, remaining)
        if given > 0:
            allocations.append([donation_id, given])
            remaining -= given
    return allocations
