"""Donors' personal data: sealed under a key of each donor's own, so that deleting the key erases it."""

from __future__ import annotations

from typing import Protocol


class PersonalDataVault(Protocol):
    """Seals and opens one donor's personal data; `forget` destroys that donor's key for good."""

    def seal(self, donor_id: str, plaintext: str) -> str: ...

    def open(self, donor_id: str, sealed: str) -> str | None: ...

    def blind(self, donor_id: str, plaintext: str) -> str: ...

    def forget(self, donor_id: str) -> bool: ...


class NoVault:
    """For stores that keep no personal data at all: refuses to seal, so nothing is stored in the clear."""

    def seal(self, donor_id: str, plaintext: str) -> str:
        raise RuntimeError("this ledger has no vault for personal data")

    def open(self, donor_id: str, sealed: str) -> str | None:
        return None

    def blind(self, donor_id: str, plaintext: str) -> str:
        raise RuntimeError("this ledger has no vault for personal data")

    def forget(self, donor_id: str) -> bool:
        return False
