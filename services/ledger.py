"""The ledger service: applies commands one by one and saves them in batches, atomically."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import RecordConflictError

from domain.commands import parse_command
from domain.errors import DomainError, Duplicate
from services.handlers import CommandHandlers
from services.limits import conflict_retries_max
from services.unit_of_work import UnitOfWork


class LedgerApplication(Application[UUID]):
    """The event-sourced application whose store holds every event of the ledger."""

    name = "fundtrail"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one command: applied, duplicate, or rejected with a contract code."""

    status: str
    code: str | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, str]:
        if self.status == "rejected":
            return {"status": self.status, "code": str(self.code), "message": str(self.message)}
        return {"status": self.status}


APPLIED = Outcome("applied")
DUPLICATE = Outcome("duplicate")


class ConcurrentWriters(Exception):
    """Other writers kept saving first; the batch was not recorded and may be sent again."""


class Ledger:
    """Decides commands in memory and records each batch in a single transaction."""

    def __init__(self, application: Application[UUID]) -> None:
        self.application = application
        self.work = UnitOfWork(application)
        self.handlers = CommandHandlers(self.work)

    def execute_batch(self, commands: Sequence[object]) -> list[Outcome]:
        """Decide each command on its own and save the applied ones together.

        When another writer saved to the same aggregates first, everything loaded is
        forgotten and the batch is decided again on fresh state, so no rule is ever
        checked against stale figures.
        """
        for _ in range(conflict_retries_max):
            outcomes = [self._decide(command) for command in commands]
            try:
                self.work.commit()
            except RecordConflictError:
                self.work.discard()
                continue
            return outcomes
        raise ConcurrentWriters(f"gave up after {conflict_retries_max} conflicting attempts")

    def execute(self, command: object) -> Outcome:
        """Decide and save one command."""
        return self.execute_batch([command])[0]

    def _decide(self, data: object) -> Outcome:
        try:
            command = parse_command(data)
            self.handlers.handle(command)
        except Duplicate:
            return DUPLICATE
        except DomainError as error:
            return Outcome("rejected", error.code, error.message)
        return APPLIED


def count_outcomes(outcomes: Iterable[Outcome]) -> dict[str, int]:
    counts = {"applied": 0, "duplicate": 0, "rejected": 0}
    for outcome in outcomes:
        counts[outcome.status] += 1
    return counts
