"""Reads a JSON Lines command file and applies it batch by batch, each line accepted or refused on its own."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from infra.limits import import_line_length_max
from services.ledger import ConcurrentWriters, Ledger, Outcome, StoreUnavailable
from services.limits import import_batch_max

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


def decode_line(raw: bytes) -> object | Outcome:
    """One line's JSON value, or the rejection that says why it is not one."""
    if len(raw) > import_line_length_max:
        return Outcome("rejected", "invalid_command", f"line is longer than {import_line_length_max} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Outcome("rejected", "invalid_command", "line is not valid UTF-8")
    try:
        value: object = json.loads(text)
        return value
    except (ValueError, RecursionError) as error:
        return Outcome("rejected", "invalid_command", f"line is not valid JSON: {str(error)[:120]}")


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based numbers in the file."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            stripped = raw.strip()
            if stripped:
                yield number, stripped


def import_file(
    ledger: Ledger, path: Path, batch_size: int = import_batch_max, progress: Callable[[int], None] | None = None
) -> ImportSummary:
    """Apply every command of `path`; each batch is recorded in one transaction before the next is read."""
    summary = ImportSummary()
    batch: list[tuple[int, object | Outcome]] = []
    for number, raw in numbered_lines(path):
        batch.append((number, decode_line(raw)))
        if len(batch) >= batch_size:
            _apply(ledger, batch, summary, progress)
            batch = []
    _apply(ledger, batch, summary, progress)
    log.info("import_finished", applied=summary.applied, duplicates=summary.duplicates, rejected=len(summary.rejected))
    return summary


def _apply(
    ledger: Ledger,
    batch: list[tuple[int, object | Outcome]],
    summary: ImportSummary,
    progress: Callable[[int], None] | None,
) -> None:
    if not batch:
        return
    commands = [value for _, value in batch if not isinstance(value, Outcome)]
    try:
        decided = iter(ledger.execute_batch(commands))
    except (ConcurrentWriters, StoreUnavailable) as error:
        raise ImportInterrupted(summary, batch[0][0], str(error)) from None
    for number, value in batch:
        summary.count(number, value if isinstance(value, Outcome) else next(decided))
    if progress is not None:
        progress(len(batch))
