"""An import of one command file, recorded batch by batch, so that an interrupted import resumes exactly.

Re-sending a command is always safe (ids make it a duplicate), but re-deciding a line that
was refused is not: later lines may have changed the books since. So each batch records,
in the same transaction as its events, how far the file got and what became of its lines,
and an import of the same file that was interrupted carries on after the last batch.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.identity import aggregate_id


class ImportRun(Aggregate):
    """The progress of importing the file with this SHA-256, until it is complete."""

    @staticmethod
    def create_id(file_digest: str, **_: Any) -> UUID:
        return aggregate_id("import", file_digest)

    @event("ImportStarted")
    def __init__(self, file_digest: str) -> None:
        self.file_digest = file_digest
        self.last_line = 0
        self.applied = 0
        self.duplicates = 0
        self.rejected: list[dict[str, Any]] = []
        self.complete = False

    def record_batch(self, last_line: int, applied: int, duplicates: int, rejected: list[dict[str, Any]]) -> None:
        self._batch_imported(last_line=last_line, applied=applied, duplicates=duplicates, rejected=rejected)

    @event("ImportBatchRecorded")
    def _batch_imported(self, last_line: int, applied: int, duplicates: int, rejected: list[dict[str, Any]]) -> None:
        self.last_line = last_line
        self.applied += applied
        self.duplicates += duplicates
        self.rejected.extend(dict(item) for item in rejected)

    def restart(self) -> None:
        """The same file imported again after it was complete: every line is decided afresh."""
        self._import_restarted(file_digest=self.file_digest)

    @event("ImportRestarted")
    def _import_restarted(self, file_digest: str) -> None:
        self.last_line, self.applied, self.duplicates, self.rejected, self.complete = 0, 0, 0, [], False

    def finish(self) -> None:
        self._import_finished(last_line=self.last_line)

    @event("ImportFinished")
    def _import_finished(self, last_line: int) -> None:
        self.complete = True
