"""One method per command of the contract: load what it names, let the domain decide, note the change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.commands import (
    ApproveDisbursement,
    CloseProject,
    Command,
    OpenProject,
    RecordDonation,
    RecordPayeeRefund,
    RecordPayout,
    RefundDonation,
    RegisterDonor,
    RegisterFoundation,
    RegisterPartner,
    RegisterPayee,
    RejectDisbursement,
    RequestDisbursement,
    command_digest,
)
from domain.errors import DomainError, Duplicate
from domain.identity import aggregate_id
from domain.instants import isoformat
from domain.money import check_currency, parse_amount
from domain.project import Project
from domain.registry import Donor, Foundation, Partner, Payee, Registered, refuse_reuse
from services.personal_data import NoVault, PersonalDataVault
from services.prepared import PreparedDonation, prepared_donation
from services.unit_of_work import UnitOfWork


def _iso(command: Any, name: str) -> str:
    return isoformat(getattr(command, name))


class CommandHandlers:
    """Applies commands to aggregates in a unit of work; raises DomainError or Duplicate."""

    def __init__(self, work: UnitOfWork, vault: PersonalDataVault | None = None) -> None:
        self.work = work
        self.vault = vault or NoVault()
        self._handlers: dict[type[Command], Callable[[Any], None]] = {
            RegisterFoundation: self.register_foundation,
            RegisterPartner: self.register_partner,
            RegisterPayee: self.register_payee,
            RegisterDonor: self.register_donor,
            OpenProject: self.open_project,
            RecordDonation: self.record_donation,
            RequestDisbursement: self.request_disbursement,
            ApproveDisbursement: self.approve_disbursement,
            RejectDisbursement: self.reject_disbursement,
            RecordPayout: self.record_payout,
            RecordPayeeRefund: self.record_payee_refund,
            RefundDonation: self.refund_donation,
            CloseProject: self.close_project,
        }

    def handle(self, command: Command) -> None:
        self._handlers[type(command)](command)

    def project_named_by(self, command: Command) -> Project | None:
        """The project a command acts on, when the ledger knows it (for access decisions)."""
        try:
            if isinstance(command, OpenProject | RecordDonation | RequestDisbursement | CloseProject):
                return self._project(command.project_id)
            if isinstance(command, ApproveDisbursement | RejectDisbursement | RecordPayout | RecordPayeeRefund):
                return self._claimed_project("disbursement", command.disbursement_id)
            if isinstance(command, RefundDonation):
                return self._claimed_project("donation", command.donation_id)
        except DomainError:
            return None
        return None

    # Loading, with the contract's error for what the ledger does not know.

    def _existing(self, kind: type[Registered], business_id: str, command: Command) -> None:
        """Refuse to register a second time: a duplicate when identical, id_conflict otherwise."""
        found = self.work.get(kind, aggregate_id(kind.kind, business_id))
        if found is not None:
            found.check_same_command(command_digest(command), business_id)

    def _claim(self, kind: str, identifier: str, command: Command) -> str:
        """Check that `identifier` of `kind` is new (or this very command again); returns the digest."""
        digest = command_digest(command)
        self._check_new(kind, identifier, digest)
        return digest

    def _check_new(self, kind: str, identifier: str, digest: str) -> None:
        """Check that `identifier` of `kind` is new, or claimed by a command of this `digest` (a duplicate)."""
        found = self.work.claim_on_new_id(kind, identifier)
        if found is not None:
            refuse_reuse(kind, identifier, found.command_digest, digest)

    def _claimed_project(self, kind: str, identifier: str) -> Project:
        claim = self.work.claim(kind, identifier)
        if claim is None:
            raise DomainError(f"unknown_{kind}", f"no {kind} {identifier!r} in the ledger")
        return self._project(claim.project_id)

    def _project(self, project_id: str) -> Project:
        project = self.work.get(Project, aggregate_id("project", project_id))
        if project is None:
            raise DomainError("unknown_project", f"no project {project_id!r} in the ledger")
        return project

    def _require(self, kind: type[Registered], business_id: str) -> None:
        if self.work.get(kind, aggregate_id(kind.kind, business_id)) is None:
            raise DomainError(f"unknown_{kind.kind}", f"no {kind.kind} {business_id!r} is registered")

    def _record_claim(self, kind: str, identifier: str, project: Project, digest: str) -> None:
        self.work.changed(project)
        self.work.record_claim(kind, identifier, project.project_id, digest)

    # Registrations.

    def register_foundation(self, command: RegisterFoundation) -> None:
        self._existing(Foundation, command.foundation_id, command)
        self.work.changed(
            Foundation(
                foundation_id=command.foundation_id,
                name=command.name,
                public_fundraising=command.public_fundraising,
                command_digest=command_digest(command),
            )
        )

    def register_partner(self, command: RegisterPartner) -> None:
        self._existing(Partner, command.partner_id, command)
        self.work.changed(
            Partner(partner_id=command.partner_id, name=command.name, command_digest=command_digest(command))
        )

    def register_payee(self, command: RegisterPayee) -> None:
        self._existing(Payee, command.payee_id, command)
        self.work.changed(
            Payee(
                payee_id=command.payee_id,
                name=command.name,
                payee_kind=command.kind,
                command_digest=command_digest(command),
            )
        )

    def register_donor(self, command: RegisterDonor) -> None:
        """The display name is sealed under the donor's own key; the digest holds only a keyed hash of it."""
        name = command.display_name
        blinded = (
            command
            if name is None
            else command.model_copy(update={"display_name": "blind:" + self.vault.blind(command.donor_id, name)})
        )
        existing = self.work.get(Donor, aggregate_id("donor", command.donor_id))
        if existing is not None:
            existing.check_not_forgotten()
            existing.check_same_command(command_digest(blinded), command.donor_id)
        self.work.changed(
            Donor(
                donor_id=command.donor_id,
                sealed_display_name=None if name is None else self.vault.seal(command.donor_id, name),
                anonymous=command.anonymous,
                command_digest=command_digest(blinded),
            )
        )

    def forget_donor(self, donor_id: str) -> None:
        """Record the erasure request; the caller then destroys the donor's key."""
        donor = self.work.get(Donor, aggregate_id("donor", donor_id))
        if donor is None:
            raise DomainError("unknown_donor", f"no donor {donor_id!r} is registered")
        donor.forget()
        self.work.changed(donor)

    def open_project(self, command: OpenProject) -> None:
        check_currency(command.currency)
        existing = self.work.get(Project, aggregate_id("project", command.project_id))
        if existing is not None:
            if existing.command_digest == command_digest(command):
                raise Duplicate(command.project_id)
            raise DomainError("id_conflict", f"project {command.project_id!r} already exists with other content")
        self._require(Foundation, command.foundation_id)
        self._require(Partner, command.partner_id)
        self.work.changed(
            Project(
                project_id=command.project_id,
                foundation_id=command.foundation_id,
                partner_id=command.partner_id,
                name=command.name,
                currency=command.currency,
                opened_at=_iso(command, "opened_at"),
                command_digest=command_digest(command),
            )
        )

    # Money.

    def record_donation(self, command: RecordDonation) -> None:
        self.record_prepared_donation(prepared_donation(command))

    def record_prepared_donation(self, donation: PreparedDonation) -> None:
        """A donation validated, digested and encoded beforehand (services.prepared): what reads the books."""
        self._check_new("donation", donation.donation_id, donation.digest)
        project = self._project(donation.project_id)
        self._require(Donor, donation.donor_id)
        event = project.receive_donation(
            donation_id=donation.donation_id,
            donor_id=donation.donor_id,
            amount_minor=donation.amount_minor,
            currency=donation.currency,
            channel=donation.channel,
            received_at=donation.received_at,
            external_ref=donation.external_ref,
        )
        self.work.note_encoded(event, donation.encoded)
        self._record_claim("donation", donation.donation_id, project, donation.digest)

    def request_disbursement(self, command: RequestDisbursement) -> None:
        digest = self._claim("disbursement", command.disbursement_id, command)
        project = self._project(command.project_id)
        amount_minor = parse_amount(command.amount, project.currency)
        project.check_payee_is_not_partner(command.payee_id)
        self._require(Payee, command.payee_id)
        project.request_disbursement(
            disbursement_id=command.disbursement_id,
            payee_id=command.payee_id,
            amount_minor=amount_minor,
            purpose=command.purpose,
            requested_by=command.requested_by,
            requested_at=_iso(command, "requested_at"),
        )
        self._record_claim("disbursement", command.disbursement_id, project, digest)

    def approve_disbursement(self, command: ApproveDisbursement) -> None:
        project = self._claimed_project("disbursement", command.disbursement_id)
        project.approve_disbursement(command.disbursement_id, command.approved_by, _iso(command, "approved_at"))
        self.work.changed(project)

    def reject_disbursement(self, command: RejectDisbursement) -> None:
        project = self._claimed_project("disbursement", command.disbursement_id)
        project.reject_disbursement(
            command.disbursement_id, command.rejected_by, command.reason, _iso(command, "rejected_at")
        )
        self.work.changed(project)

    def record_payout(self, command: RecordPayout) -> None:
        project = self._claimed_project("disbursement", command.disbursement_id)
        project.record_payout(command.disbursement_id, _iso(command, "paid_at"), command.bank_ref)
        self.work.changed(project)

    def record_payee_refund(self, command: RecordPayeeRefund) -> None:
        digest = self._claim("refund", command.refund_id, command)
        project = self._claimed_project("disbursement", command.disbursement_id)
        amount_minor = parse_amount(command.amount, project.currency)
        project.record_payee_refund(
            command.refund_id, command.disbursement_id, amount_minor, _iso(command, "received_at"), command.bank_ref
        )
        self._record_claim("refund", command.refund_id, project, digest)

    def refund_donation(self, command: RefundDonation) -> None:
        digest = self._claim("refund", command.refund_id, command)
        project = self._claimed_project("donation", command.donation_id)
        amount_minor = parse_amount(command.amount, project.currency)
        project.refund_donation(
            command.refund_id, command.donation_id, amount_minor, command.reason, _iso(command, "refunded_at")
        )
        self._record_claim("refund", command.refund_id, project, digest)

    def close_project(self, command: CloseProject) -> None:
        project = self._project(command.project_id)
        project.close(_iso(command, "closed_at"))
        self.work.changed(project)
