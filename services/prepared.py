"""Donations prepared before they are decided: what a donation needs that no books can change.

Nine in ten commands of a giving day are donations. Validating one, digesting it, reading its
amount and writing its event's fields depend on the command alone, never on the ledger's
state, so an import does them for the next lines while the ledger decides the lines before
(infra/line_reader.py), on the machine's other core. What the ledger still checks, in the
order record_donation() checks it, is everything that reads the books: the donation's id is
new, the project exists, is open and keeps the currency, the donor is registered.

A line whose donation fails validation is refused here with the very code and message the
ledger would give, since validation comes before anything the ledger reads.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from domain.commands import RecordDonation, command_digest, parse_command
from domain.instants import isoformat
from domain.money import parse_amount
from services.codec import fields_after_timestamp


class PreparedDonation(NamedTuple):
    """A valid record_donation command, with what deciding it needs worked out beforehand."""

    donation_id: str
    donor_id: str
    project_id: str
    amount_minor: int
    currency: str
    channel: str
    received_at: str
    external_ref: str | None
    # command_digest() of the command: how a repeated send is told from other content.
    digest: str
    # The DonationReceived event's fields after its timestamp, as LedgerMapper writes them.
    encoded: bytes


def prepare(data: object) -> object:
    """A donation as a PreparedDonation, anything else as it is; DomainError for a donation that is not valid."""
    if type(data) is not dict or data.get("type") != "record_donation":
        return data
    command: Any = parse_command(data)
    return prepared_donation(command)


def prepared_donation(command: RecordDonation) -> PreparedDonation:
    """What record_donation() works out before it reads the books, in its order: the amount, then the digest."""
    amount_minor = parse_amount(command.amount, command.currency)
    digest = command_digest(command)
    received_at = isoformat(command.received_at)
    # The order of Project.receive_donation()'s event fields (tests/unit/test_prepared.py).
    fields = {
        "project_id": command.project_id,
        "donation_id": command.donation_id,
        "donor_id": command.donor_id,
        "amount_minor": amount_minor,
        "currency": command.currency,
        "channel": command.channel,
        "received_at": received_at,
        "external_ref": command.external_ref,
    }
    return PreparedDonation(
        command.donation_id,
        command.donor_id,
        command.project_id,
        amount_minor,
        command.currency,
        command.channel,
        received_at,
        command.external_ref,
        digest,
        fields_after_timestamp(fields),
    )
