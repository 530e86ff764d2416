"""datetime.isoformat(), faster for the times the ledger writes on every command and event."""

from __future__ import annotations

from datetime import UTC, datetime, timezone

import orjson


def isoformat(moment: datetime) -> str:
    """Exactly `moment.isoformat()`, written by orjson where the two agree.

    CPython 3.11's isoformat() took 1.24-1.30 µs for a UTC time here and 1.19-2.37 µs for
    +08:00 (timeit, several runs); this function 0.59-0.60 µs and 0.76-0.86 µs. A donation
    writes three such times: its event's timestamp, when it was received, and
    its digest's UTC time. orjson writes offsets in hours and minutes only, so a time whose
    offset has seconds, whose tzinfo is not a fixed offset, or that is a subclass, is left to
    isoformat().
    """
    zone = moment.tzinfo
    if type(moment) is datetime and (zone is UTC or (type(zone) is timezone and _whole_minutes(zone))):
        return orjson.dumps(moment).decode()[1:-1]
    return moment.isoformat()


def _whole_minutes(zone: timezone) -> bool:
    offset = zone.utcoffset(None)
    return not (offset.seconds % 60 or offset.microseconds)
