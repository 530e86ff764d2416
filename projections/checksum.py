"""One SHA-256 over every report, in RFC 8785 canonical JSON: equal books give equal checksums anywhere."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from projections.canonical import canonical_json
from projections.reports import REPORTS, ReportSource, each_report


def canonical_reports(source: ReportSource) -> Iterator[bytes]:
    """The canonical JSON of `all_reports(source)`, byte for byte, in pieces of one report each.

    The whole value at a million events is gigabytes of Python objects; its bytes, report by
    report, need memory for one report at a time. The kinds are ASCII, so sorted() is their
    canonical order; each_report gives the ids in canonical order.
    """
    yield b"{"
    for kind_number, kind in enumerate(sorted(REPORTS)):
        yield (b"," if kind_number else b"") + canonical_json(kind) + b":{"
        for number, (business_id, report) in enumerate(each_report(source, kind)):
            yield (b"," if number else b"") + canonical_json(business_id) + b":" + canonical_json(report)
        yield b"}"
    yield b"}"


def reports_checksum(source: ReportSource) -> str:
    """`sha256:<hex>` over the canonical JSON of all projects, donors, payees and foundations, sorted by id."""
    digest = hashlib.sha256()
    for piece in canonical_reports(source):
        digest.update(piece)
    return "sha256:" + digest.hexdigest()
