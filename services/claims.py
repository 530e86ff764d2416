"""Identifier claims: a donation, disbursement or refund id is used once, ledger-wide.

A claim is a row (its key, the project, the digest of the command that made it) recorded in
the same transaction as that command's events, under a unique key the store enforces, so a
concurrent writer that claims the same id has its whole batch refused, as a version conflict
would. Until round fourteen a claim was an aggregate with an event of its own, one per
donation: half of all events, and about a quarter of a full-size import's time (inserting
its row at a random place of the events' key, mapping and encoding it). Stores written before
keep those events; opening such a store copies them into its claims once (copy_claim_events,
below, called by infra.store), and they stay in the history as they were recorded.

The ids themselves are in the events that name them (a donation's, a disbursement's, a
refund's), so an auditor can check their uniqueness from the history alone; the digest is
what tells a command sent again (a duplicate) from other content under the same id.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, NamedTuple, Protocol, cast

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory
from eventsourcing.utils import get_topic

from domain.registry import IdentifierClaim


class Claim(NamedTuple):
    """A claimed id's project, and the digest of the command that claimed it."""

    project_id: str
    command_digest: str


class NewClaim(NamedTuple):
    """A claim to record with a batch's events: insert_events(..., claims=[NewClaim, ...])."""

    key: str
    project_id: str
    command_digest: str


def claim_key(kind: str, identifier: str) -> str:
    """The claim's unique key: kinds are single words, so the first colon ends the kind."""
    return f"{kind}:{identifier}"


class ClaimingRecorder(Protocol):
    """An application recorder that records claims with events and finds them again."""

    def find_claims(self, keys: Collection[str]) -> dict[str, Claim]:
        """Of these keys, the claims the store holds."""
        ...

    def has_claims(self) -> bool:
        """Whether the store holds any claim."""
        ...

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Record the events and kwargs' `claims` (NewClaim rows) in one transaction, or neither."""
        ...


class ClaimingPOPORecorder(POPOApplicationRecorder):
    """The library's in-memory recorder, with claims checked and kept under its one lock."""

    def __init__(self) -> None:
        super().__init__()
        self._claims: dict[str, Claim] = {}

    def find_claims(self, keys: Collection[str]) -> dict[str, Claim]:
        with self._database_lock:
            return {key: self._claims[key] for key in keys if key in self._claims}

    def has_claims(self) -> bool:
        return bool(self._claims)

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        keys = [claim.key for claim in kwargs.get("claims", ())]
        if len(set(keys)) < len(keys) or any(key in self._claims for key in keys):
            raise IntegrityError("an identifier is claimed already")

    def _update_table(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        for claim in kwargs.get("claims", ()):
            self._claims[claim.key] = Claim(claim.project_id, claim.command_digest)
        return super()._update_table(stored_events, **kwargs)


class ClaimingPOPOFactory(POPOFactory):
    """PERSISTENCE_MODULE=services.claims:ClaimingPOPOFactory, the ledger's in-memory store."""

    def application_recorder(self) -> ClaimingPOPORecorder:
        return ClaimingPOPORecorder()


def copy_claim_events(application: Application[Any], page_max: int = 10_000) -> int:
    """Copy the claims a store recorded as events (before round fourteen) into its claims; how many.

    Once per store: a store that holds any claim row has them all. All are inserted in one
    transaction, so a crash copies none; when another process copied them first, the insert
    meets its rows and this one stands down.
    """
    recorder = cast(ClaimingRecorder, application.recorder)
    if recorder.has_claims():
        return 0
    topic = get_topic(IdentifierClaim.IdentifierClaimed)
    claims: list[NewClaim] = []
    start = 1
    while page := application.recorder.select_notifications(start, page_max, topics=[topic]):
        for notification in page:
            event = cast(IdentifierClaim.IdentifierClaimed, application.mapper.to_domain_event(notification))
            claims.append(NewClaim(claim_key(event.kind, event.identifier), event.project_id, event.command_digest))
        start = page[-1].id + 1
    if claims:
        try:
            recorder.insert_events([], claims=claims)
        except IntegrityError:
            return 0
    return len(claims)
