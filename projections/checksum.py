"""One SHA-256 over every report, in RFC 8785 canonical JSON: equal books give equal checksums anywhere."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from projections.canonical import canonical_json, canonical_text_json
from projections.reports import REPORTS, DonorRange, ReportSource, each_report


def entries(source: ReportSource, kind: str, donors: DonorRange = (None, None)) -> Iterator[bytes]:
    """`"id":report` in canonical JSON for each report of `kind`, in canonical key order."""
    encode = canonical_text_json if kind == "donor" else canonical_json
    for business_id, report in each_report(source, kind, donors):
        yield canonical_json(business_id) + b":" + encode(report)


# The kinds are ASCII, so sorted() is their canonical order; the donors' come first.
KINDS: Final = tuple(sorted(REPORTS))
_THROUGH_DONORS: Final = KINDS.index("donor") + 1


def canonical_reports(
    source: ReportSource | None,
    donor_entries: Iterable[bytes] | None = None,
    encoded: Mapping[str, Iterable[bytes]] | None = None,
    kinds: tuple[int, int] = (0, len(KINDS)),
) -> Iterator[bytes]:
    """The canonical JSON of `all_reports(source)`, byte for byte, in pieces of one report each.

    The whole value at a million events is gigabytes of Python objects; its bytes, report by
    report, need memory for one report at a time. each_report gives the ids in canonical
    order. `donor_entries`, when given, are the donors' entries already encoded (by several
    processes, say); `encoded`, the entries of other kinds, looked up when their turn comes
    (after the donors'). `kinds`, a range of positions in KINDS, gives those kinds' part of
    the bytes alone: the parts of adjoining ranges, joined, are the whole.
    """
    first, end = kinds
    if first == 0:
        yield b"{"
    for kind_number in range(first, end):
        kind = KINDS[kind_number]
        yield (b"," if kind_number else b"") + canonical_json(kind) + b":{"
        if kind == "donor" and donor_entries is not None:
            pieces = donor_entries
        elif encoded is not None and kind in encoded:
            pieces = encoded[kind]
        elif source is not None:
            pieces = entries(source, kind)
        else:
            raise ValueError(f"the {kind} reports were neither given nor can be read")
        for number, piece in enumerate(pieces):
            yield (b"," if number else b"") + piece
        yield b"}"
    if end == len(KINDS):
        yield b"}"


def canonical_reports_through_donors(donor_entries: Iterable[bytes]) -> Iterator[bytes]:
    """canonical_reports()' first bytes, through the donors' given entries: no other kind comes before them."""
    return canonical_reports(None, donor_entries, kinds=(0, _THROUGH_DONORS))


def reports_checksum(
    source: ReportSource,
    donor_entries: Iterable[bytes] | None = None,
    encoded: Mapping[str, Iterable[bytes]] | None = None,
    through_donors: hashlib._Hash | None = None,
) -> str:
    """`sha256:<hex>` over the canonical JSON of all projects, donors, payees and foundations, sorted by id.

    `through_donors`, when given, is a SHA-256 fed canonical_reports_through_donors() already:
    the rest of the bytes are added to it.
    """
    if through_donors is None:
        digest, pieces = hashlib.sha256(), canonical_reports(source, donor_entries, encoded)
    else:
        digest, pieces = through_donors, canonical_reports(source, None, encoded, kinds=(_THROUGH_DONORS, len(KINDS)))
    for piece in pieces:
        digest.update(piece)
    return "sha256:" + digest.hexdigest()
