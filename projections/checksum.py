"""One SHA-256 over every report, in RFC 8785 canonical JSON: equal books give equal checksums anywhere."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping

from projections.canonical import canonical_json, canonical_text_json
from projections.reports import REPORTS, DonorRange, ReportSource, each_report


def entries(source: ReportSource, kind: str, donors: DonorRange = (None, None)) -> Iterator[bytes]:
    """`"id":report` in canonical JSON for each report of `kind`, in canonical key order."""
    encode = canonical_text_json if kind == "donor" else canonical_json
    for business_id, report in each_report(source, kind, donors):
        yield canonical_json(business_id) + b":" + encode(report)


def canonical_reports(
    source: ReportSource,
    donor_entries: Iterable[bytes] | None = None,
    encoded: Mapping[str, Iterable[bytes]] | None = None,
) -> Iterator[bytes]:
    """The canonical JSON of `all_reports(source)`, byte for byte, in pieces of one report each.

    The whole value at a million events is gigabytes of Python objects; its bytes, report by
    report, need memory for one report at a time. The kinds are ASCII, so sorted() is their
    canonical order; each_report gives the ids in canonical order. `donor_entries`, when
    given, are the donors' entries already encoded (by several processes, say); `encoded`,
    the entries of other kinds, looked up when their turn comes (after the donors').
    """
    yield b"{"
    for kind_number, kind in enumerate(sorted(REPORTS)):
        yield (b"," if kind_number else b"") + canonical_json(kind) + b":{"
        if kind == "donor" and donor_entries is not None:
            pieces = donor_entries
        elif encoded is not None and kind in encoded:
            pieces = encoded[kind]
        else:
            pieces = entries(source, kind)
        for number, piece in enumerate(pieces):
            yield (b"," if number else b"") + piece
        yield b"}"
    yield b"}"


def reports_checksum(
    source: ReportSource,
    donor_entries: Iterable[bytes] | None = None,
    encoded: Mapping[str, Iterable[bytes]] | None = None,
) -> str:
    """`sha256:<hex>` over the canonical JSON of all projects, donors, payees and foundations, sorted by id."""
    digest = hashlib.sha256()
    for piece in canonical_reports(source, donor_entries, encoded):
        digest.update(piece)
    return "sha256:" + digest.hexdigest()
