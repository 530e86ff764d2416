"""Times in the read model are exact integer microseconds since the epoch, whatever the offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.instants import isoformat
from projections.facts import instant_micros


def _by_fields(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets))
def test_microseconds_since_the_epoch_for_any_offset(moment: datetime) -> None:
    assert instant_micros(moment.isoformat()) == _by_fields(moment)


def test_known_instants() -> None:
    assert instant_micros("1970-01-01T08:00:00+08:00") == 0
    assert instant_micros("1969-12-31T23:59:59.999999Z") == -1
    assert instant_micros("2026-03-02T10:00:00.000001+08:00") == 1_772_416_800_000_001


class _Moment(datetime):
    """A datetime subclass: isoformat() is left to it."""


zones = (
    st.none()
    | st.just(UTC)
    | st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)).map(
        timezone
    )
    | st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
    | st.timezones()
)


@settings(max_examples=500)
@given(st.datetimes(timezones=zones))
def test_isoformat_writes_what_the_standard_library_writes(moment: datetime) -> None:
    """Any time: naive, UTC, offsets with seconds and microseconds, named zones, years 1 to 9999."""
    assert isoformat(moment) == moment.isoformat()


def test_isoformat_known_shapes() -> None:
    eight = timezone(timedelta(hours=8))
    assert isoformat(datetime(2026, 4, 1, 8, tzinfo=eight)) == "2026-04-01T08:00:00+08:00"
    assert isoformat(datetime(2026, 4, 1, 8, 0, 0, 5, tzinfo=UTC)) == "2026-04-01T08:00:00.000005+00:00"
    assert isoformat(datetime(1, 1, 1, tzinfo=timezone(timedelta(seconds=-30)))) == "0001-01-01T00:00:00-00:00:30"
    assert isoformat(_Moment(2026, 4, 1, tzinfo=UTC)) == "2026-04-01T00:00:00+00:00"
