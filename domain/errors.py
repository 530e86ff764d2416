"""The one domain error type, carrying a code from the ledger contract (LEDGER.md)."""

from __future__ import annotations

from typing import Final

# Every code the contract allows; a DomainError with any other code is a programming error.
ERROR_CODES: Final = frozenset(
    {
        "invalid_command",
        "invalid_amount",
        "currency_mismatch",
        "unknown_foundation",
        "unknown_partner",
        "unknown_payee",
        "unknown_donor",
        "unknown_project",
        "unknown_donation",
        "unknown_disbursement",
        "project_closed",
        "payee_is_partner",
        "same_approver",
        "not_approved",
        "already_decided",
        "already_paid",
        "insufficient_available",
        "refund_exceeds_paid",
        "refund_exceeds_unspent",
        "id_conflict",
    }
)


class DomainError(Exception):
    """A command broke a rule: nothing was recorded, and the code says which rule."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class Duplicate(Exception):
    """The same command was already applied: it changes nothing and is not an error."""
