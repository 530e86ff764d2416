"""The ledger service: applies commands one by one and saves them in batches, atomically."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import InterfaceError, Mapper, OperationalError, RecordConflictError, Transcoder

from domain.commands import COMMAND_MODELS, Command, parse_command
from domain.errors import DomainError, Duplicate
from domain.identity import aggregate_id
from services.access import Principal, may_execute, signed_by_caller
from services.claims import claim_key
from services.codec import LedgerMapper, OrjsonTranscoder
from services.handlers import CommandHandlers
from services.limits import (
    conflict_backoff_seconds_max,
    conflict_retries_max,
    store_backoff_seconds_max,
    store_retries_max,
)
from services.personal_data import PersonalDataVault
from services.prepared import PreparedDonation
from services.unit_of_work import SnapshotStore, UnitOfWork

log = structlog.get_logger()


class LedgerApplication(Application[UUID]):
    """The event-sourced application whose store holds every event of the ledger."""

    name = "fundtrail"
    # In memory unless a store is named: the library's recorder, with identifier claims (services.claims).
    env: ClassVar[dict[str, str]] = {"PERSISTENCE_MODULE": "services.claims:ClaimingPOPOFactory"}

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON format, encoded and decoded by orjson (services/codec.py)."""
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_mapper(self) -> Mapper[UUID]:
        """LedgerMapper (services/codec.py), unless the environment names another mapper."""
        if self.factory.env.get(self.factory.MAPPER_TOPIC):
            return super().construct_mapper()
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=LedgerMapper)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one command: applied, duplicate, or rejected with a contract code."""

    status: str
    code: str | None = None
    message: str | None = None


APPLIED = Outcome("applied")
DUPLICATE = Outcome("duplicate")


ExistingIds = Callable[[set[UUID]], set[UUID]]
Progress = Callable[[UnitOfWork, list["Outcome"]], None]

# The id fields of a command and the kind of aggregate each one names.
_NAMED_KINDS = {
    "project_id": "project",
    "donor_id": "donor",
    "payee_id": "payee",
    "foundation_id": "foundation",
    "partner_id": "partner",
}
# The id fields that name a claim (services.claims) rather than an aggregate.
_CLAIMED_KINDS = {"donation_id": "donation", "disbursement_id": "disbursement", "refund_id": "refund"}


def _fields(model_fields: Collection[str], kinds: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((field, kinds[field]) for field in kinds if field in model_fields)


# The id fields each type of command has (a donation: a project, a donor and a claim), from its model.
_NAMED_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    kind: _fields(model.model_fields, _NAMED_KINDS) for kind, model in COMMAND_MODELS.items()
}
_CLAIMED_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    kind: _fields(model.model_fields, _CLAIMED_KINDS) for kind, model in COMMAND_MODELS.items()
}
_ALL_NAMED_FIELDS = tuple(_NAMED_KINDS.items())
_ALL_CLAIMED_FIELDS = tuple(_CLAIMED_KINDS.items())


# The id field whose claim each type of command makes (services.handlers: `_claim`); its other
# claimed fields name claims that must exist already.
_CLAIM_MADE: dict[str, str] = {
    "record_donation": "donation_id",
    "request_disbursement": "disbursement_id",
    "record_payee_refund": "refund_id",
    "refund_donation": "refund_id",
}
_NAMED, _REFERENCED, _MADE = 0, 1, 2

# Each type's id fields in one table: (field, kind, whether the id names an aggregate, a claim
# that must exist, or the claim the command makes).
_NAMES: dict[str, tuple[tuple[str, str, int], ...]] = {
    kind: tuple((field, name, _NAMED) for field, name in _NAMED_FIELDS[kind])
    + tuple(
        (field, name, _MADE if _CLAIM_MADE.get(kind) == field else _REFERENCED) for field, name in _CLAIMED_FIELDS[kind]
    )
    for kind in COMMAND_MODELS
}
_ALL_NAMES = tuple((field, kind, _NAMED) for field, kind in _ALL_NAMED_FIELDS) + tuple(
    (field, kind, _REFERENCED) for field, kind in _ALL_CLAIMED_FIELDS
)


def names_of(commands: Iterable[object]) -> tuple[set[UUID], set[str], set[str]]:
    """The aggregate ids and the claim keys a batch's raw commands may need: cheap, before they are validated.

    The third set holds the keys of claims that a command makes (a donation's id, say) and no
    command of the batch names as a claim that must exist; a subset of the second.

    A prepared donation (services.prepared) names its project and donor, and makes its claim.
    A command of a known type is read only for its own id fields; one of another type, which
    will be refused, for all of them (none of them a claim it makes). Each command is read once
    for all, and each (kind, id) pair is made a UUID once: a batch names the same projects and
    donors again and again, and a UUID's hash is Python code where a pair of strings' is not.
    """
    pairs: set[tuple[str, str]] = set()
    referenced: set[str] = set()
    made: set[str] = set()
    add_pair, add_referenced, add_made = pairs.add, referenced.add, made.add
    for command in commands:
        if type(command) is PreparedDonation:
            add_pair(("project", command.project_id))
            add_pair(("donor", command.donor_id))
            add_made(claim_key("donation", command.donation_id))
            continue
        if not isinstance(command, dict):
            continue
        command_type = command.get("type")
        fields = _NAMES.get(command_type, _ALL_NAMES) if type(command_type) is str else _ALL_NAMES
        for field, kind, role in fields:
            if isinstance(value := command.get(field), str) and len(value) <= 100:
                if role == _NAMED:
                    add_pair((kind, value))
                elif role == _MADE:
                    add_made(claim_key(kind, value))
                else:
                    add_referenced(claim_key(kind, value))
    return {aggregate_id(kind, value) for kind, value in pairs}, referenced | made, made - referenced


class Forbidden(Exception):
    """The caller's role does not allow this command; nothing was decided or recorded."""


class StoreUnavailable(Exception):
    """The store stopped answering; what was acknowledged is recorded, the rest may be sent again."""


class ConcurrentWriters(Exception):
    """Other writers kept saving first; the batch was not recorded and may be sent again."""


class Ledger:
    """Decides commands in memory and records each batch in a single transaction."""

    def __init__(
        self,
        application: Application[UUID],
        existing: ExistingIds | None = None,
        vault: PersonalDataVault | None = None,
        snapshots: SnapshotStore | None = None,
    ) -> None:
        self.application = application
        self.existing = existing
        self.vault = vault
        self.work = UnitOfWork(application, snapshots=snapshots)
        self.handlers = CommandHandlers(self.work, vault)
        # The last ledger position this process knows its cached aggregates include.
        self._known_position: int | None = None
        # Whether a new id's claim is taken to be free without asking the store (see presuming_claims_free).
        self._presuming_claims_free = False

    @contextmanager
    def presuming_claims_free(self) -> Iterator[None]:
        """Within this block, decide a command that claims a new id without asking the store whether it is taken.

        For an import, whose ids are nearly all new: the batch's lookup of its claims was a
        sixteenth of a full-size import into PostgreSQL, most of it waiting for the server
        (docs/PERFORMANCE.md, change 88). Nothing goes unchecked: the claims table's key
        refuses a taken id when the batch is recorded, the whole batch with it, as a
        conflict; the batch is then decided again on fresh state, asking the store, and so
        is every later one (the first conflict ends the presumption). A batch whose deciding
        fails outright (a repeated refund applied twice breaks its lot's invariant before the
        store is asked) is decided again in the same way. A claim that must exist already (a
        payout's disbursement) is always asked for.
        """
        self._presuming_claims_free = True
        try:
            yield
        finally:
            self._presuming_claims_free = False

    def execute_batch(self, commands: Sequence[object], progress: Progress | None = None) -> list[Outcome]:
        """Decide each command on its own and save the applied ones together, in one transaction.

        When another writer saved to the same aggregates first, everything loaded is
        forgotten and the batch is decided again on fresh state, so no rule is ever checked
        against stale figures. A batch that keeps meeting conflicts is split in halves, so
        that busy writers make progress with smaller transactions.
        """
        for attempt in range(conflict_retries_max):
            outcomes = self._try_batch_while_the_store_answers(commands, progress)
            if outcomes is not None:
                return outcomes
            if len(commands) > 1 and attempt >= 1 and progress is None:
                middle = len(commands) // 2
                return self.execute_batch(commands[:middle]) + self.execute_batch(commands[middle:])
            time.sleep(random.uniform(0, conflict_backoff_seconds_max * (attempt + 1) / conflict_retries_max))  # noqa: S311
        raise ConcurrentWriters(f"other writers kept saving first; gave up after {conflict_retries_max} attempts")

    def _try_batch_while_the_store_answers(
        self, commands: Sequence[object], progress: Progress | None
    ) -> list[Outcome] | None:
        """A batch whose store went away (a restart) is decided again once it answers: ids make that safe.

        If the lost connection had in fact committed the batch, deciding it again finds
        every command a duplicate; nothing is lost and nothing is recorded twice.
        """
        for attempt in range(store_retries_max):
            try:
                return self._try_batch(commands, progress)
            except (OperationalError, InterfaceError) as error:
                self.work.discard()
                self._known_position = None
                log.warning("store_unavailable", attempt=attempt + 1, error=type(error).__name__)
                time.sleep(min(store_backoff_seconds_max, 0.2 * 2**attempt))
        raise StoreUnavailable(f"the store did not answer after {store_retries_max} attempts")

    def _try_batch(self, commands: Sequence[object], progress: Progress | None = None) -> list[Outcome] | None:
        self._forget_if_others_wrote()
        self._prefetch(commands)
        try:
            outcomes = [self._decide(command) for command in commands]
        except Exception:
            if not self._presuming_claims_free:
                raise
            # A command decided on a claim presumed free that was taken (a repeated refund, say)
            # can break a project's own invariants before the store could refuse the claim:
            # the batch is decided again asking the store, and so is every later one.
            log.info("batch_redecided", commands=len(commands), presumed_claims_free=True)
            self._presuming_claims_free = False
            self.work.discard()
            return self._try_batch(commands, progress)
        if progress is not None:
            # Recorded in the same transaction as the batch's events: an import resumes exactly here.
            progress(self.work, outcomes)
        try:
            positions = self.work.commit()
        except RecordConflictError:
            log.info("batch_conflicted", commands=len(commands), presumed_claims_free=self._presuming_claims_free)
            self._presuming_claims_free = False
            self.work.discard()
            self._known_position = None
            return None
        self._note_own_positions(positions)
        return outcomes

    def _forget_if_others_wrote(self) -> None:
        """Drop cached aggregates when another writer recorded events since this process last did.

        A rejection decided on stale state would never meet a version conflict, so freshness
        is checked once per batch: one cheap query, and the cache survives a single writer.
        """
        current = self.application.recorder.max_notification_id() or 0
        if current != self._known_position:
            self.work.discard()
        self._known_position = current

    def _prefetch(self, commands: Sequence[object]) -> None:
        """Ask the store once which of the ids and claims a batch names exist, instead of once per command."""
        ids, claims, made = names_of(commands)
        keys = self.work.unknown_claims(claims)
        if keys and self._presuming_claims_free:
            presumed = keys & made
            self.work.presume_claims_free(presumed)
            keys -= presumed
        if keys:
            self.work.note_claims(self.work.recorder.find_claims(keys), keys)
        if self.existing is None:
            return
        wanted = self.work.unknown(ids)
        if wanted:
            self.work.note_missing(wanted - self.existing(wanted))

    def _note_own_positions(self, positions: list[int]) -> None:
        """Keep the cache only when this commit directly followed what the cache already held."""
        if not positions:
            return
        directly_after = self._known_position is not None and positions[0] == self._known_position + 1
        contiguous = positions == list(range(positions[0], positions[0] + len(positions)))
        self._known_position = positions[-1] if directly_after and contiguous else None

    def execute(self, command: object) -> Outcome:
        """Decide and save one command."""
        return self.execute_batch([command])[0]

    def forget_donor(self, donor_id: str) -> Outcome:
        """Record that a donor asked to be forgotten, then destroy the key that seals the donor's name."""
        self._forget_if_others_wrote()
        try:
            self.handlers.forget_donor(donor_id)
        except Duplicate:
            outcome = DUPLICATE
        except DomainError as error:
            return Outcome("rejected", error.code, error.message)
        else:
            self.work.commit()
            outcome = APPLIED
        if self.vault is not None:
            self.vault.forget(donor_id)
        return outcome

    def execute_as(self, data: object, principal: Principal) -> Outcome:
        """Decide and save one command sent by `principal`; Forbidden when the role does not allow it."""
        try:
            command = parse_command(data)
        except DomainError as error:
            return Outcome("rejected", error.code, error.message)
        self._forget_if_others_wrote()
        if not may_execute(principal, command, self.handlers.project_named_by(command)):
            raise Forbidden(f"a {principal.role} token may not send {command.type}")
        return self.execute(signed_by_caller(command, principal))

    def _decide(self, data: object) -> Outcome:
        try:
            if type(data) is PreparedDonation:
                self.handlers.record_prepared_donation(data)
            else:
                self.handlers.handle(data if isinstance(data, Command) else parse_command(data))
        except Duplicate:
            return DUPLICATE
        except DomainError as error:
            return Outcome("rejected", error.code, error.message)
        return APPLIED
