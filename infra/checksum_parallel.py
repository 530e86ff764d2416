"""The reports' checksum on both cores: a second process encodes the second half of the donor trails.

Donor trails are most of a checksum's work at scale. The canonical JSON is hashed in one
order, so the second process writes its entries to a file (canonical JSON never holds a raw
newline, so one entry a line), and this process hashes them after its own half. The second
process first checks that it sees the same read model (the same tracking position); if it
does not, or fails, this process encodes that half itself.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from collections.abc import Iterator
from itertools import chain
from multiprocessing.process import BaseProcess
from pathlib import Path

import structlog

from infra.limits import parallel_checksum_donors_min
from infra.read_model import ReadModel
from projections.checksum import entries, reports_checksum

log = structlog.get_logger()


def reports_checksum_in_parallel(url: str, source: ReadModel, donors_min: int = parallel_checksum_donors_min) -> str:
    """reports_checksum(source), with the second half of the donors encoded by a process reading `url`."""
    donor_ids = sorted(source.ids("donor"))
    if len(donor_ids) < max(donors_min, 2) or not all(donor_id.isascii() for donor_id in donor_ids):
        return reports_checksum(source)
    middle = donor_ids[len(donor_ids) // 2]
    with tempfile.TemporaryDirectory(prefix="fundtrail-checksum-") as folder:
        path = Path(folder) / "donors"
        context = multiprocessing.get_context("spawn")
        child = context.Process(
            target=write_entries, args=(url, source.tracked(), middle, str(path)), name="fundtrail-checksum"
        )
        child.start()
        try:
            return reports_checksum(
                source, chain(entries(source, "donor", (None, middle)), _entries_of(child, path, source, middle))
            )
        finally:
            if child.is_alive():
                child.terminate()
            child.join()


def _entries_of(child: BaseProcess, path: Path, source: ReadModel, first: str) -> Iterator[bytes]:
    child.join()
    if child.exitcode != 0:
        log.warning("checksum_helper_failed", exitcode=child.exitcode)
        yield from entries(source, "donor", (first, None))
        return
    with path.open("rb") as lines:
        for line in lines:
            yield line.rstrip(b"\n")


def write_entries(url: str, tracked: tuple[int, int], first: str, path: str) -> None:
    """In the second process: the donor entries from `first` on, if this read model is at `tracked`."""
    from infra.logging import bind_correlation_id, configure_logging
    from infra.store import open_read_only

    configure_logging()
    bind_correlation_id("checksum")
    read_model = open_read_only(url)
    try:
        if read_model.tracked() != tuple(tracked):
            log.warning("checksum_helper_sees_other_books")
            raise SystemExit(1)
        with open(path, "wb") as output:
            for entry in entries(read_model, "donor", (first, None)):
                output.write(entry + b"\n")
    finally:
        read_model.database.close()
