"""One SHA-256 over every report, in RFC 8785 canonical JSON: equal books give equal checksums anywhere."""

from __future__ import annotations

import hashlib

from projections.canonical import canonical_json
from projections.reports import ReportSource, all_reports


def reports_checksum(source: ReportSource) -> str:
    """`sha256:<hex>` over the canonical JSON of all projects, donors, payees and foundations, sorted by id."""
    return "sha256:" + hashlib.sha256(canonical_json(all_reports(source))).hexdigest()
