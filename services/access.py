"""Who may do what: the roles of the HTTP API and the rules that decide each request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from domain.commands import ApproveDisbursement, Command, OpenProject, RejectDisbursement, RequestDisbursement
from domain.project import Project

ROLES: Final = ("treasurer", "partner", "donor", "auditor", "public")
# The party a token of each role speaks for (None: the role is not tied to a party).
ROLE_SUBJECT: Final = {
    "treasurer": "foundation",
    "partner": "partner",
    "donor": "donor",
    "auditor": None,
    "public": None,
}
REGISTRATIONS: Final = frozenset({"register_foundation", "register_partner", "register_payee", "register_donor"})


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a role, the party it speaks for, and the person's name for the record."""

    role: str
    subject: str | None
    name: str


def may_execute(principal: Principal, command: Command, project: Project | None) -> bool:
    """Whether `principal` may send `command`; `project` is the project it acts on, when one is known.

    Treasurers run their foundation's projects (and register parties); partners only request
    disbursements on their own projects; donors, auditors and the public send no command.
    """
    kind = getattr(command, "type", "")
    if principal.role == "treasurer":
        if kind in REGISTRATIONS:
            return True
        if isinstance(command, OpenProject):
            return command.foundation_id == principal.subject
        return project is None or project.foundation_id == principal.subject
    if principal.role == "partner":
        return (
            isinstance(command, RequestDisbursement) and project is not None and project.partner_id == principal.subject
        )
    return False


def signed_by_caller(command: Command, principal: Principal) -> Command:
    """The command with its actor fields taken from the token, never from the request body."""
    if isinstance(command, ApproveDisbursement):
        return command.model_copy(update={"approved_by": principal.name})
    if isinstance(command, RejectDisbursement):
        return command.model_copy(update={"rejected_by": principal.name})
    if isinstance(command, RequestDisbursement):
        return command.model_copy(update={"requested_by": principal.name})
    return command


def may_read(
    principal: Principal, kind: str, business_id: str, foundation_of_project: str | None, partner_of_project: str | None
) -> bool:
    """Whether `principal` may read the report `kind`/`business_id` (project facts given for project reports)."""
    if principal.role == "auditor":
        return True
    if principal.role == "treasurer":
        if kind == "project":
            return foundation_of_project == principal.subject
        return kind in ("foundation", "payee", "donor") and (kind != "foundation" or business_id == principal.subject)
    if principal.role == "partner":
        return kind == "project" and partner_of_project == principal.subject
    if principal.role == "donor":
        return kind == "donor" and business_id == principal.subject
    return principal.role == "public" and kind == "project"
