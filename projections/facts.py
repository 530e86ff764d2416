"""Turns each domain event into the read-model rows (facts) that the reports are queried from.

The projection keeps no state of its own: every event carries what its rows need (the
project, payee, currency and per-donation allocations), so any consumer, here or behind
Kafka, builds the same rows from the same events in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Final

# A fact is a (kind, row) pair; infra knows how to write each kind.
Fact = tuple[str, dict[str, Any]]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def instant_micros(iso_time: str) -> int:
    """Microseconds since the epoch (UTC) of an ISO 8601 time with an offset."""
    return (datetime.fromisoformat(iso_time) - _EPOCH) // _MICROSECOND


def _foundation(event: Any, sequence: int) -> list[Fact]:
    return [("foundation", {"foundation_id": event.foundation_id, "name": event.name})]


def _partner(event: Any, sequence: int) -> list[Fact]:
    return [("partner", {"partner_id": event.partner_id, "name": event.name})]


def _payee(event: Any, sequence: int) -> list[Fact]:
    return [("payee", {"payee_id": event.payee_id, "name": event.name, "kind": event.payee_kind})]


def _donor(event: Any, sequence: int) -> list[Fact]:
    # Names stay sealed in the events: the read model keeps no personal data to forget.
    return [("donor", {"donor_id": event.donor_id, "display_name": None, "anonymous": event.anonymous})]


def _project_opened(event: Any, sequence: int) -> list[Fact]:
    return [
        (
            "project",
            {
                "project_id": event.project_id,
                "foundation_id": event.foundation_id,
                "partner_id": event.partner_id,
                "name": event.name,
                "currency": event.currency,
                "opened_at": instant_micros(event.opened_at),
            },
        )
    ]


def _project_closed(event: Any, sequence: int) -> list[Fact]:
    return [("project_closed", {"project_id": event.project_id, "closed_at": instant_micros(event.closed_at)})]


def _donation(event: Any, sequence: int) -> list[Fact]:
    return [
        (
            "donation",
            {
                "donation_id": event.donation_id,
                "sequence": sequence,
                "project_id": event.project_id,
                "donor_id": event.donor_id,
                "currency": event.currency,
                "amount_minor": event.amount_minor,
                "received_at": instant_micros(event.received_at),
            },
        )
    ]


def _requested(event: Any, sequence: int) -> list[Fact]:
    return [
        (
            "disbursement",
            {
                "disbursement_id": event.disbursement_id,
                "sequence": sequence,
                "project_id": event.project_id,
                "payee_id": event.payee_id,
                "currency": event.currency,
                "amount_minor": event.amount_minor,
            },
        )
    ]


def _approved(event: Any, sequence: int) -> list[Fact]:
    return [
        (
            "disbursement_approved",
            {
                "disbursement_id": event.disbursement_id,
                "approved_at": instant_micros(event.approved_at),
            },
        )
    ]


def _movements(event: Any, sequence: int, kind: str, at: str, allocations: list[Any]) -> list[Fact]:
    moment = instant_micros(at)
    return [
        (
            "movement",
            {
                "sequence": sequence,
                "position": position,
                "project_id": event.project_id,
                "kind": kind,
                "donation_id": donation_id,
                "disbursement_id": getattr(event, "disbursement_id", None),
                "payee_id": getattr(event, "payee_id", None),
                "currency": event.currency,
                "amount_minor": amount_minor,
                "at": moment,
            },
        )
        for position, (donation_id, amount_minor) in enumerate(allocations)
    ]


def _payout(event: Any, sequence: int) -> list[Fact]:
    paid = (
        "disbursement_paid",
        {
            "disbursement_id": event.disbursement_id,
            "paid_at": instant_micros(event.paid_at),
            "paid_sequence": sequence,
        },
    )
    return [paid, *_movements(event, sequence, "payout", event.paid_at, event.allocations)]


def _payee_refund(event: Any, sequence: int) -> list[Fact]:
    return _movements(event, sequence, "payee_refund", event.received_at, event.allocations)


def _donor_refund(event: Any, sequence: int) -> list[Fact]:
    return _movements(event, sequence, "donor_refund", event.refunded_at, [[event.donation_id, event.amount_minor]])


def _nothing(event: Any, sequence: int) -> list[Fact]:
    return []


PROJECTORS: Final[dict[str, Callable[[Any, int], list[Fact]]]] = {
    "FoundationRegistered": _foundation,
    "PartnerRegistered": _partner,
    "PayeeRegistered": _payee,
    "DonorRegistered": _donor,
    "DonorForgotten": _nothing,
    "ProjectOpened": _project_opened,
    "ProjectClosed": _project_closed,
    "DonationReceived": _donation,
    "DisbursementRequested": _requested,
    "DisbursementApproved": _approved,
    # A rejected disbursement never reserved or moved money, so the reports need nothing.
    "DisbursementRejected": _nothing,
    "PayoutSent": _payout,
    "PayeeRefundReceived": _payee_refund,
    "DonationRefunded": _donor_refund,
    # Claims only route later commands to their project; no report reads them.
    "IdentifierClaimed": _nothing,
    # Reconciliations are read from the events by the auditor; the balances do not change.
    "StatementImported": _nothing,
    "LineMatched": _nothing,
    "DifferenceNoted": _nothing,
    # Import progress says which file lines were decided; the books are in the other events.
    "ImportStarted": _nothing,
    "ImportBatchRecorded": _nothing,
    "ImportRestarted": _nothing,
    "ImportFinished": _nothing,
}


# The events that add no rows: a projection need not even decode them.
NO_FACTS: Final = frozenset(name for name, projector in PROJECTORS.items() if projector is _nothing)


def facts_for(event: Any, sequence: int) -> list[Fact]:
    """The rows that `event`, recorded at ledger position `sequence`, adds to the read model."""
    return PROJECTORS[type(event).__name__](event, sequence)


def facts_for_state(name: str, state: dict[str, Any], sequence: int) -> list[Fact]:
    """The same rows, from the stored state of an event of class `name` (no event object built)."""
    return PROJECTORS[name](SimpleNamespace(**state), sequence)
