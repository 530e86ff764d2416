"""Reads a JSON Lines command file and applies it batch by batch, each line accepted or refused on its own."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from domain.identity import aggregate_id
from domain.imports import ImportRun
from infra.line_reader import lines_prepared_by_helper, prepared_lines
from services.ledger import ConcurrentWriters, Ledger, Outcome, Progress, StoreUnavailable
from services.limits import import_batch_max
from services.unit_of_work import UnitOfWork

log = structlog.get_logger()


@dataclass
class ImportSummary:
    """The contract's summary: how many lines were applied, duplicates, and each rejection."""

    applied: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def count(self, line: int, outcome: Outcome) -> None:
        if outcome.status == "applied":
            self.applied += 1
        elif outcome.status == "duplicate":
            self.duplicates += 1
        else:
            self.rejected.append({"line": line, "code": outcome.code, "message": outcome.message})

    def as_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "duplicates": self.duplicates, "rejected": self.rejected}


class ImportInterrupted(Exception):
    """Other writers kept winning; what was applied before is kept and counted in `summary`."""

    def __init__(self, summary: ImportSummary, line: int, reason: str) -> None:
        super().__init__(reason)
        self.summary = summary
        self.line = line


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Resumable:
    """The file's ImportRun: where an interrupted import of this very file stopped, and what it decided."""

    def __init__(self, ledger: Ledger, path: Path) -> None:
        self.digest = file_digest(path)
        self.run_id = aggregate_id("import", self.digest)
        found = ledger.work.get(ImportRun, self.run_id)
        self.resume_after = found.last_line if found is not None and not found.complete else 0
        self.summary = ImportSummary()
        if found is not None and self.resume_after:
            self.summary = ImportSummary(found.applied, found.duplicates, [dict(item) for item in found.rejected])
            log.info("import_resumed", after_line=self.resume_after)
        self.restart = found is not None and found.complete

    def recorder(self, batch: list[tuple[int, object | Outcome]]) -> Progress:
        """The batch's progress, recorded on the ImportRun in the batch's own transaction."""

        def record(work: UnitOfWork, outcomes: list[Outcome]) -> None:
            decided = iter(outcomes)
            counted = ImportSummary()
            for number, value in batch:
                counted.count(number, value if isinstance(value, Outcome) else next(decided))
            if counted.applied == 0:
                # A batch that recorded nothing needs no progress: deciding it again after a crash
                # meets the very same books, so it decides the same.
                return
            run = work.get(ImportRun, self.run_id)
            if run is None:
                run = ImportRun(file_digest=self.digest)
            elif run.complete:
                run.restart()
            run.record_batch(batch[-1][0], counted.applied, counted.duplicates, counted.rejected)
            work.changed(run)

        return record

    def finish(self, ledger: Ledger) -> None:
        def finished(work: UnitOfWork, outcomes: list[Outcome]) -> None:
            run = work.get(ImportRun, self.run_id)
            if run is not None and not run.complete:
                run.finish()
                work.changed(run)

        ledger.execute_batch([], finished)


def import_file(
    ledger: Ledger,
    path: Path,
    batch_size: int = import_batch_max,
    progress: Callable[[int], None] | None = None,
    prepare_in_helper: bool = False,
    recorded: Callable[[], None] | None = None,
) -> ImportSummary:
    """Apply every command of `path`; each batch is recorded in one transaction before the next is read.

    An import of the same file that was interrupted (a crash, a kill) resumes after its last
    recorded batch, so the books and the summary end as one uninterrupted import would. With
    `prepare_in_helper`, a second process reads and prepares the lines (infra.line_reader).
    `recorded` is called once every batch is recorded, before the snapshots deferred to the
    end are taken: the import's followers finish their work meanwhile (change 101).
    """
    resumable = Resumable(ledger, path)
    summary = resumable.summary
    batch: list[tuple[int, object | Outcome]] = []
    with (
        _read(path, resumable.resume_after, prepare_in_helper) as lines,
        ledger.work.snapshots_deferred(),
        ledger.presuming_claims_free(),
    ):
        for number, value in lines:
            batch.append((number, value))
            if len(batch) >= batch_size:
                _apply(ledger, batch, summary, progress, resumable)
                batch = []
        _apply(ledger, batch, summary, progress, resumable)
        resumable.finish(ledger)
        if recorded is not None:
            recorded()
    log.info("import_finished", applied=summary.applied, duplicates=summary.duplicates, rejected=len(summary.rejected))
    return summary


@contextmanager
def _read(path: Path, after: int, in_helper: bool) -> Iterator[Iterator[tuple[int, object | Outcome]]]:
    if in_helper:
        with lines_prepared_by_helper(path, after) as lines:
            yield lines
    else:
        yield prepared_lines(path, after)


def _apply(
    ledger: Ledger,
    batch: list[tuple[int, object | Outcome]],
    summary: ImportSummary,
    progress: Callable[[int], None] | None,
    resumable: Resumable,
) -> None:
    if not batch:
        return
    commands = [value for _, value in batch if not isinstance(value, Outcome)]
    try:
        decided = iter(ledger.execute_batch(commands, resumable.recorder(batch)))
    except ConcurrentWriters as error:
        if len(batch) == 1:
            raise ImportInterrupted(summary, batch[0][0], str(error)) from None
        # Busy writers: smaller transactions, each with its own progress, get through.
        middle = len(batch) // 2
        _apply(ledger, batch[:middle], summary, progress, resumable)
        _apply(ledger, batch[middle:], summary, progress, resumable)
        return
    except StoreUnavailable as error:
        raise ImportInterrupted(summary, batch[0][0], str(error)) from None
    for number, value in batch:
        summary.count(number, value if isinstance(value, Outcome) else next(decided))
    if progress is not None:
        progress(len(batch))
