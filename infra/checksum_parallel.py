"""The reports' checksum on both cores: a second process encodes part of the donor trails.

Donor trails are most of a checksum's work at scale. The canonical JSON is hashed in one
order, so the second process writes its entries to a file (canonical JSON never holds a raw
newline, so one entry a line), and this process hashes them after its own part, reading the
file as the helper writes it. The second process first checks that it sees the same read
model (the same tracking position); if it does not, or fails, or the read model moved on
while it worked, this process computes the whole checksum again (it may have hashed some of
the helper's entries by then).

A replay starts the helper as soon as the rows are in place, before the secondary indexes and
running totals are built (donor trails need neither), and gives it the larger share of the
donors, since this process still has the indexes to build. When the helper takes every donor
(on PostgreSQL), a thread of this process hashes its entries as it writes them, while this
process waits for the server to build the indexes: the donors' bytes come first in the
checksum, so they need nothing else (docs/PERFORMANCE.md, change 94).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import structlog

from infra.helper_process import read_request, send_request, spawn_helper_process, stop_helper_process
from infra.limits import helper_poll_seconds, helper_read_bytes, parallel_checksum_donors_min
from infra.read_model import ReadModel
from projections.checksum import canonical_reports_through_donors, entries, reports_checksum
from projections.reports import REPORTS

log = structlog.get_logger()


class HelperFailed(Exception):
    """The helper's entries cannot be used: it failed, wrote a partial line, or saw other books."""


class ChecksumHelper:
    """A second process (infra.helper_process) encoding the donor entries from `first` on, for the books at `tracked`.

    `child` is its process (spawn_checksum_helper), given its request here.
    """

    def __init__(
        self, url: str, tracked: tuple[int, int], first: str, child: subprocess.Popen[bytes], every_donor: bool = False
    ) -> None:
        self.tracked, self.first = tracked, first
        self.folder = tempfile.TemporaryDirectory(prefix="fundtrail-checksum-")
        self.path = Path(self.folder.name) / "donors"
        # There from the start, so that this process can read it while the helper writes it.
        self.path.touch()
        request = {"url": url, "tracked": list(tracked), "first": first, "path": str(self.path)}
        self.child = child
        send_request(child, request)
        self._partial = False
        # With every donor the helper's, the checksum's bytes through the donors are its entries
        # alone: a thread hashes them as they come (hashlib lets go of the interpreter meanwhile).
        self._hashed: hashlib._Hash | None = None
        self._hashing: threading.Thread | None = None
        if every_donor:
            self._hashing = threading.Thread(target=self._hash_through_donors, name="checksum-donors", daemon=True)
            self._hashing.start()

    def _lines(self) -> Iterator[bytes]:
        """The helper's entries, read as it writes them, until it has exited and every line is read."""
        pending = b""
        with self.path.open("rb") as written:
            while True:
                # Asked before reading: once it has exited, one more read finds every line it wrote.
                done = self.child.poll() is not None
                chunk = written.read(helper_read_bytes)
                if chunk:
                    *lines, pending = (pending + chunk).split(b"\n")
                    yield from lines
                elif done:
                    break
                else:
                    time.sleep(helper_poll_seconds)
        self._partial = bool(pending)

    def _usable(self, source: ReadModel) -> bool:
        """Whether the helper ended well, wrote whole lines, and `source` is still at the books it encoded."""
        if self.child.returncode != 0 or self._partial or source.tracked() != self.tracked:
            log.warning("checksum_helper_failed", exitcode=self.child.returncode)
            return False
        return True

    def entries(self, source: ReadModel) -> Iterator[bytes]:
        """The helper's entries, read as it writes them (HelperFailed at the end when they cannot be used).

        Hashing them as they come, rather than once the helper is done, keeps the reading and
        hashing of its share (full size: 140 MB) off the end of a replay.
        """
        yield from self._lines()
        if not self._usable(source):
            raise HelperFailed

    @property
    def hashing(self) -> bool:
        """Whether a thread hashes the helper's entries as the checksum's first bytes (it takes every donor)."""
        return self._hashing is not None

    def _hash_through_donors(self) -> None:
        digest = hashlib.sha256()
        try:
            for piece in canonical_reports_through_donors(self._lines()):
                digest.update(piece)
        except OSError as error:  # the file could not be read: this process hashes every donor itself
            log.warning("checksum_helper_unread", error=type(error).__name__)
            return
        self._hashed = digest

    def hashed_through_donors(self, source: ReadModel) -> hashlib._Hash | None:
        """The thread's digest through every donor's entry, once it is done; None without one, or when unusable."""
        if self._hashing is None:
            return None
        self._hashing.join()
        return self._hashed if self._hashed is not None and self._usable(source) else None

    def close(self) -> None:
        stop_helper_process(self.child)
        if self._hashing is not None:
            self._hashing.join()  # it reads to the end of what the stopped helper wrote, and ends
        self.folder.cleanup()


def spawn_checksum_helper(dialect: str) -> subprocess.Popen[bytes]:
    """A helper process started ahead of its request, for a store of `dialect` ("sqlite" or "postgresql").

    It imports the read model and the logging (0.15 s on a fast machine, 0.45 s on a slow one;
    PostgreSQL's client library 0.17 s more there) before it reads its request. A replay starts
    it before it rebuilds, so that this is not between the rebuild and the checksum.
    """
    return spawn_helper_process("infra.checksum_parallel", dialect)


def start_helper(
    url: str,
    source: ReadModel,
    share: float = 0.5,
    donors_min: int = parallel_checksum_donors_min,
    spawned: subprocess.Popen[bytes] | None = None,
) -> ChecksumHelper | None:
    """A helper for the last `share` of the donors; None when they are too few to be worth a process.

    `spawned` (spawn_checksum_helper) is the helper's process if one is needed, and is stopped otherwise.
    """
    donor_ids = sorted(source.ids("donor"))
    if len(donor_ids) < max(donors_min, 2) or not all(donor_id.isascii() for donor_id in donor_ids):
        if spawned is not None:
            stop_helper_process(spawned)
        return None
    first = donor_ids[min(len(donor_ids) - 1, round(len(donor_ids) * (1 - share)))]
    child = spawned or spawn_checksum_helper(source.database.dialect)
    return ChecksumHelper(url, source.tracked(), first, child, every_donor=first == donor_ids[0])


def reports_checksum_in_parallel(
    url: str,
    source: ReadModel,
    donors_min: int = parallel_checksum_donors_min,
    helper: ChecksumHelper | None = None,
    spawned: subprocess.Popen[bytes] | None = None,
) -> str:
    """reports_checksum(source), with a share of the donors encoded by a process reading `url`.

    `helper`, when given, was started earlier (start_helper); otherwise one is started here for half of them,
    in `spawned` when given (spawn_checksum_helper), which is stopped if it is not needed.
    """
    helper = helper or start_helper(url, source, donors_min=donors_min, spawned=spawned)
    if helper is None:
        return reports_checksum(source)
    if helper.hashing:
        try:
            # The other kinds' entries while the helper finishes, hashed after the donors'.
            encoded = {kind: list(entries(source, kind)) for kind in REPORTS if kind != "donor"}
            hashed = helper.hashed_through_donors(source)
            # Unusable (the helper failed, or the books moved on): every donor's entry again, here.
            return reports_checksum(source, encoded=encoded, through_donors=hashed)
        finally:
            helper.close()
    others: dict[str, list[bytes]] = {}

    def donor_entries() -> Iterator[bytes]:
        yield from entries(source, "donor", (None, helper.first))
        # While the helper finishes its share: the other kinds' entries, hashed after the donors'.
        others.update((kind, list(entries(source, kind))) for kind in REPORTS if kind != "donor")
        yield from helper.entries(source)

    try:
        return reports_checksum(source, donor_entries(), others)
    except HelperFailed:
        # Some of its entries may be hashed already: every donor's again, in this process (the
        # other kinds' entries were encoded before the helper's were read).
        return reports_checksum(source, None, others)
    finally:
        helper.close()


def write_entries(url: str, tracked: tuple[int, int], first: str, path: str) -> None:
    """In the second process: the donor entries from `first` on, if this read model is at `tracked`."""
    from infra.collector import collect_less_often
    from infra.logging import bind_correlation_id, configure_logging
    from infra.store_url import open_read_only

    configure_logging()
    collect_less_often()
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


if __name__ == "__main__":
    # The helper's side of ChecksumHelper: its request is one JSON object on stdin. Started
    # ahead of it (spawn_checksum_helper), it imports what write_entries needs while it waits.
    import infra.collector
    import infra.logging
    import infra.store_url  # noqa: F401

    if sys.argv[1:] == ["postgresql"]:
        import psycopg  # noqa: F401
    asked = read_request()
    write_entries(asked["url"], tuple(asked["tracked"]), asked["first"], asked["path"])
