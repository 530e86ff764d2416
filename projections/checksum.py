"""One SHA-256 over every report, in RFC 8785 canonical JSON: equal books give equal checksums anywhere."""

from __future__ import annotations

import hashlib

import rfc8785

from projections.reports import ReportSource, all_reports


def reports_checksum(source: ReportSource) -> str:
    """`sha256:<hex>` over the canonical JSON of all projects, donors, payees and foundations, sorted by id."""
    return "sha256:" + hashlib.sha256(rfc8785.dumps(all_reports(source))).hexdigest()
