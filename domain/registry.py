"""The parties of the ledger (foundations, partners, payees, donors) and identifier claims."""

from __future__ import annotations

from typing import Any, NoReturn
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, Duplicate
from domain.identity import aggregate_id


def refuse_reuse(kind: str, business_id: str, recorded_digest: str, command_digest: str) -> NoReturn:
    """An id is taken: Duplicate for the command that took it sent again, id_conflict for other content."""
    if command_digest == recorded_digest:
        raise Duplicate(business_id)
    raise DomainError("id_conflict", f"{kind} {business_id!r} already exists with other content")


class Registered(Aggregate):
    """A party or claim created once by one command, recognised again by that command's digest."""

    kind = ""
    command_digest = ""

    def check_same_command(self, command_digest: str, business_id: str) -> NoReturn:
        """Raise Duplicate for the same command sent again, id_conflict for other content."""
        refuse_reuse(self.kind, business_id, self.command_digest, command_digest)


class Foundation(Registered):
    kind = "foundation"

    @staticmethod
    def create_id(foundation_id: str, **_: Any) -> UUID:
        return aggregate_id("foundation", foundation_id)

    @event("FoundationRegistered")
    def __init__(self, foundation_id: str, name: str, public_fundraising: bool, command_digest: str) -> None:
        self.foundation_id = foundation_id
        self.name = name
        self.public_fundraising = public_fundraising
        self.command_digest = command_digest


class Partner(Registered):
    kind = "partner"

    @staticmethod
    def create_id(partner_id: str, **_: Any) -> UUID:
        return aggregate_id("partner", partner_id)

    @event("PartnerRegistered")
    def __init__(self, partner_id: str, name: str, command_digest: str) -> None:
        self.partner_id = partner_id
        self.name = name
        self.command_digest = command_digest


class Payee(Registered):
    kind = "payee"

    @staticmethod
    def create_id(payee_id: str, **_: Any) -> UUID:
        return aggregate_id("payee", payee_id)

    @event("PayeeRegistered")
    def __init__(self, payee_id: str, name: str, payee_kind: str, command_digest: str) -> None:
        self.payee_id = payee_id
        self.name = name
        self.payee_kind = payee_kind
        self.command_digest = command_digest


class Donor(Registered):
    kind = "donor"

    @staticmethod
    def create_id(donor_id: str, **_: Any) -> UUID:
        return aggregate_id("donor", donor_id)

    @event("DonorRegistered")
    def __init__(self, donor_id: str, sealed_display_name: str | None, anonymous: bool, command_digest: str) -> None:
        # The name is stored only sealed under the donor's own key (see services.personal_data).
        self.donor_id = donor_id
        self.sealed_display_name = sealed_display_name
        self.anonymous = anonymous
        self.command_digest = command_digest
        self.forgotten = False

    def check_not_forgotten(self) -> None:
        if self.forgotten:
            raise DomainError("id_conflict", f"donor {self.donor_id!r} asked to be forgotten; use a new donor id")

    def forget(self) -> None:
        if self.forgotten:
            raise Duplicate(self.donor_id)
        self._forgotten(donor_id=self.donor_id)

    @event("DonorForgotten")
    def _forgotten(self, donor_id: str) -> None:
        self.forgotten = True


class IdentifierClaim(Registered):
    """A donation, disbursement or refund id claimed for one project, as stores before round fourteen recorded it.

    Claims are now rows recorded beside the events (services.claims), at a quarter of a
    large import's time less; a store that holds them as these events has them copied into
    its claims once, and this class still reads them.
    """

    # An explicit created-event class (it was cheaper to trigger than @event on __init__ when
    # claims were recorded as events). Name, fields and their order are those the decorated
    # __init__ had, so stored claims of either kind read the same.
    class IdentifierClaimed(Aggregate.Created):
        kind: str
        identifier: str
        project_id: str
        command_digest: str

        def mutate(self, aggregate: Any) -> IdentifierClaim:  # type: ignore[override]  # the created aggregate
            # What the library's mutate does, without its per-event keyword filtering.
            claim = object.__new__(IdentifierClaim)
            claim.__base_init__(self.originator_id, self.originator_version, self.timestamp)
            IdentifierClaim.__init__(claim, self.kind, self.identifier, self.project_id, self.command_digest)
            return claim

    def __init__(self, kind: str, identifier: str, project_id: str, command_digest: str) -> None:
        self.kind = kind
        self.identifier = identifier
        self.project_id = project_id
        self.command_digest = command_digest
