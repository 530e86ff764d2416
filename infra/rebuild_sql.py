"""A full rebuild inside the database: each kind of read-model row inserted from the stored events by one statement.

The reports' projection (projections/facts.py) turns events into rows in Python, one event at
a time; that is how catch-ups, the import's follower and the Kafka workers apply new events.
A full rebuild reads every event, and there the same rows come several times faster from SQL
over the stored JSON (SQLite's JSON functions, PostgreSQL's jsonb): no row passes through
Python. The statements below mirror facts.py field by field; tests hold the two ways to the
same tables on both stores, for every kind of event.

This way is taken only when the store holds nothing it does not know: every event class in
it is one listed here (or one that adds no rows), at version 1 (no upcasting), and stored
neither encrypted nor compressed. Otherwise `rebuild_in_sql` returns None and the caller
rebuilds the Python way. Events stored after the rebuild's snapshot are left to the usual
catch-up.
"""

from __future__ import annotations

import re
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Final, TypeVar
from uuid import UUID

import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import OperationalError
from eventsourcing.utils import get_topic

from domain.project import Project
from domain.registry import IdentifierClaim
from infra.database import PostgresDatabase, PostgresSession, SQLiteDatabase, Writer
from infra.helper_process import read_request, start_helper_process, stop_helper_process
from infra.limits import (
    parallel_rebuild_events_min,
    rebuild_donations_aside_share,
    rebuild_donations_aside_share_postgresql,
    rebuild_row_micros,
)
from infra.read_model import (
    UPDATES,
    PrimaryKeys,
    ReadModel,
    insert_target,
    positional_write,
    restore_primary_keys,
    set_aside_primary_keys,
    table_form,
    update_target,
)
from infra.store import EVENTS_TABLE
from projections.facts import NO_FACTS, instant_micros
from services.read_side import is_first_version

log = structlog.get_logger()
_T = TypeVar("_T")

# A column's value, in the words of projections/facts.py: "text:F", "integer:F", "boolean:F"
# and "micros:F" read the event's field F (a missing field is NULL, as getattr(event, F, None)
# gives None); "sequence" is the event's position in the store (facts.py is given the stored
# event's id); "allocation:index", "allocation:donation" and "allocation:amount" read each
# [donation_id, amount_minor] pair of the event's allocations, one row per pair; "null" and
# quoted literals are themselves.
Column = str


def _movement(
    name: str,
    kind: str,
    at: str,
    allocation: tuple[Column, Column, Column] = ("allocation:index", "allocation:donation", "allocation:amount"),
) -> tuple[str, tuple[Column, ...]]:
    """A movement row of each allocation of an event: position, donation and amount from `allocation`."""
    index, donation, amount = allocation
    return (
        name,
        (
            "sequence",
            index,
            "text:project_id",
            f"'{kind}'",
            donation,
            "text:disbursement_id",
            "text:payee_id",
            "text:currency",
            amount,
            f"micros:{at}",
        ),
    )


# Each kind of row: the events it comes from, and its columns in the order of infra/read_model.py's writes.
SOURCES: Final[dict[str, list[tuple[str, tuple[Column, ...]]]]] = {
    "foundation": [("FoundationRegistered", ("text:foundation_id", "text:name"))],
    "partner": [("PartnerRegistered", ("text:partner_id", "text:name"))],
    "payee": [("PayeeRegistered", ("text:payee_id", "text:name", "text:payee_kind"))],
    "donor": [("DonorRegistered", ("text:donor_id", "null", "boolean:anonymous"))],
    "project": [
        (
            "ProjectOpened",
            (
                "text:project_id",
                "text:foundation_id",
                "text:partner_id",
                "text:name",
                "text:currency",
                "micros:opened_at",
            ),
        )
    ],
    "donation": [
        (
            "DonationReceived",
            (
                "text:donation_id",
                "sequence",
                "text:project_id",
                "text:donor_id",
                "text:currency",
                "integer:amount_minor",
                "micros:received_at",
            ),
        )
    ],
    "disbursement": [
        (
            "DisbursementRequested",
            (
                "text:disbursement_id",
                "sequence",
                "text:project_id",
                "text:payee_id",
                "text:currency",
                "integer:amount_minor",
            ),
        )
    ],
    "movement": [
        _movement("PayoutSent", "payout", "paid_at"),
        _movement("PayeeRefundReceived", "payee_refund", "received_at"),
        # A donor refund moves one donation's money: the event's own donation and amount.
        _movement("DonationRefunded", "donor_refund", "refunded_at", ("0", "text:donation_id", "integer:amount_minor")),
    ],
    # Updates of rows inserted above: applied in ledger order, as a catch-up applies them.
    "project_closed": [("ProjectClosed", ("micros:closed_at", "text:project_id"))],
    "disbursement_approved": [("DisbursementApproved", ("micros:approved_at", "text:disbursement_id"))],
    "disbursement_paid": [("PayoutSent", ("micros:paid_at", "sequence", "text:disbursement_id"))],
}
# Most events are donations (and, in stores that recorded claims as events, the identifier
# claims beside them). Donations are read by one pass over the store and claims (which add no
# rows) not at all; the other events, a few per cent, through a list of their positions made
# by one pass.
SCANNED: Final = (get_topic(Project.DonationReceived), get_topic(IdentifierClaim.IdentifierClaimed))


# The largest tables: on PostgreSQL their primary keys are dropped while they are filled and
# built again at the end, which costs a fraction of keeping them up row by row (full size:
# 0.96 s to insert the donations without the key and 0.63 s to build it, against 3.4 s with
# it). SQLite cannot drop a primary key.
KEYS_SET_ASIDE: Final = ("ft_donations", "ft_movements")
UNIQUE_VIOLATION: Final = "23505"


class SqlDialect:
    """How one database reads the stored events and a field of their JSON state `e.s`."""

    def __init__(self, dialect: str) -> None:
        self.name = dialect
        self.table, self.position = EVENTS_TABLE[dialect]
        # The schema of this connection's temporary tables.
        self.temporary = "temp" if dialect == "sqlite" else "pg_temp"

    def field(self, type_name: str, name: str) -> str:
        if self.name == "sqlite":
            value = f"json_extract(e.s, '$.{name}')"
            return self.micros(value) if type_name == "micros" else value
        value = f"(e.s ->> '{name}')"
        casts = {"text": value, "integer": f"{value}::bigint", "boolean": f"{value}::boolean"}
        return self.micros(value) if type_name == "micros" else casts[type_name]

    def micros(self, value: str) -> str:
        """projections.facts.instant_micros of an ISO 8601 time with an offset, in SQL."""
        if self.name == "postgresql":
            # isoformat() writes the local time (with microseconds when there are any), then
            # the offset, which may have seconds and microseconds too: PostgreSQL's own
            # timestamptz refuses those, so the offset is read by hand.
            length = f"(CASE WHEN substr({value}, 20, 1) = '.' THEN 26 ELSE 19 END)"
            local, offset = f"substr({value}, 1, {length})", f"substr({value}, {length} + 1)"
            offset_micros = (
                f"(substr({offset}, 2, 2)::bigint * 3600000000 + substr({offset}, 5, 2)::bigint * 60000000 "
                f"+ COALESCE((NULLIF(substr({offset}, 8), '')::numeric * 1000000)::bigint, 0))"
            )
            by_hand = (
                f"((extract(epoch FROM ({local})::timestamp) * 1000000)::bigint "
                f"- CASE WHEN left({offset}, 1) = '-' THEN -1 ELSE 1 END * {offset_micros})"
            )
            # The two shapes isoformat() writes with an offset in hours and minutes (without and
            # with microseconds) are timestamptz's own where its offsets reach (under 15 hours):
            # read directly, they cost a tenth of the reading by hand (full size: 0.1 s against
            # 2.7 s for the donations).
            return (
                f"(CASE WHEN length({value}) IN (25, 32) AND substr({value}, length({value}) - 4, 2) < '15' "
                f"THEN (extract(epoch FROM ({value})::timestamptz) * 1000000)::bigint ELSE {by_hand} END)"
            )
        # The two shapes isoformat() writes (without and with microseconds, an offset in hours
        # and minutes) where SQLite reads them (it refuses offsets beyond 14 hours, say); any
        # other goes to the Python function itself.
        fast = (
            f"CASE WHEN length({value}) = 25 THEN unixepoch({value}) * 1000000 "
            f"WHEN length({value}) = 32 AND substr({value}, 20, 1) = '.' "
            f"THEN unixepoch(substr({value}, 1, 19) || substr({value}, 27)) * 1000000 "
            f"+ CAST(substr({value}, 21, 6) AS INTEGER) END"
        )
        return f"COALESCE({fast}, ft_instant_micros({value}))"

    def json_field(self, name: str) -> str:
        """A field as JSON (an array stays an array)."""
        return f"json_extract(e.s, '$.{name}')" if self.name == "sqlite" else f"(e.s -> '{name}')"

    def allocation(self, part: str) -> str:
        if self.name == "sqlite":
            parts = {
                "index": "a.key",
                "donation": "json_extract(a.value, '$[0]')",
                "amount": "json_extract(a.value, '$[1]')",
            }
        else:
            parts = {"index": "(a.number - 1)", "donation": "(a.value ->> 0)", "amount": "(a.value ->> 1)::bigint"}
        return parts[part]

    def allocations(self) -> str:
        """Each [donation_id, amount_minor] pair of the event's allocations (`e.allocations`), as `a`."""
        if self.name == "sqlite":
            return "json_each(e.allocations) a"
        return "LATERAL jsonb_array_elements(e.allocations) WITH ORDINALITY AS a(value, number)"

    def events(self, scanned: bool, text: bool = False) -> str:
        """The events of topic :topic up to the snapshot's position: `sequence` and the state as JSON, `s`.

        A scanned topic is read by one pass over the store; any other through the list of
        positions (ft_rebuild_events) that one pass made for all of them. `text`: PostgreSQL's
        state as text, `t`, not parsed (_text_fields_select).
        """
        table, position = self.table, f"{self.table}.{self.position}"
        if self.name == "sqlite":
            state = f"CAST({table}.state AS TEXT) AS s"
        else:
            state = f"convert_from({table}.state, 'UTF8')" + (" AS t" if text else "::jsonb AS s")
        if scanned:
            # From :after on SQLite, where DonationsAside reads the later positions, and for
            # PostgreSQL's text, read on one core with the second connection reading the later
            # positions (OtherRowsAside). Parsed as jsonb on both cores, PostgreSQL would read a
            # range of positions through their index, one core alone (full size: 6.8 s against
            # 3.4 s on both cores for the donations).
            after = f" AND {position} > :after" if self.name == "sqlite" or text else ""
            source, where = table, f"{table}.topic = :topic{after} AND {position} <= :until"
        else:
            source, where = f"ft_rebuild_events r JOIN {table} ON {position} = r.position", "r.topic = :topic"
        # OFFSET 0 keeps PostgreSQL from folding this into the outer query, which would parse
        # the state once for every field read instead of once per event.
        fence = " OFFSET 0" if self.name == "postgresql" else ""
        return f"SELECT {position} AS sequence, {state} FROM {source} WHERE {where}{fence}"


def select_statement(dialect: SqlDialect, columns: tuple[Column, ...], events: str, ordered: bool = False) -> str:
    """The SELECT that gives one topic's rows of one kind, columns in write order (named c0, c1, ...).

    `ordered`: in ledger order (for updates; inserts need no order, since every id is unique).
    """
    values = []
    for column in columns:
        type_name, _, name = column.partition(":")
        if column == "sequence":
            values.append("e.sequence")
        elif name and type_name != "allocation":
            values.append(dialect.field(type_name, name))
        else:
            values.append(column)
    if not any(column.startswith("allocation:") for column in columns):
        # "+e.sequence", an expression rather than the column: ordering by the store's own
        # position, SQLite would walk the whole store in position order and look each event up
        # in the list, instead of walking the list and sorting its few rows (0.6-0.7 s a topic
        # at full size, against under 0.1 s).
        order = " ORDER BY +e.sequence" if ordered else ""
        if dialect.name == "sqlite":
            return _fields_read_once(dialect, columns, events) + order
        return f"SELECT {_aliased(values)} FROM ({events}) e{order}"
    # One row per allocation: the event's own fields are read once per event (into a
    # materialised table), not once per allocation from a state that holds thousands of them.
    per_event = [value for value in values if not value.startswith("allocation:")]
    allocations = dialect.json_field("allocations")
    outer = [
        dialect.allocation(value.partition(":")[2])
        if value.startswith("allocation:")
        else f"e.v{per_event.index(value)}"
        for value in values
    ]
    inner = ", ".join(f"{value} AS v{number}" for number, value in enumerate(per_event))
    return (
        f"WITH e AS MATERIALIZED (SELECT {inner}, {allocations} AS allocations FROM ({events}) e) "
        f"SELECT {_aliased(outer)} FROM e CROSS JOIN {dialect.allocations()}"
    )


def _fields_read_once(dialect: SqlDialect, columns: tuple[Column, ...], events: str) -> str:
    """SQLite: each field read from the JSON once, in a subquery, and a time turned into microseconds outside it.

    The microseconds' expression names its value up to six times, and SQLite would read the
    field from the JSON for each (full size: the donations' rows 3.5 s read that way, 2.8-3.1 s
    read once). OFFSET 0 keeps SQLite from folding the subquery into this one.
    """
    inner, outer = ["e.sequence AS sequence"], []
    for column in columns:
        type_name, _, name = column.partition(":")
        if column == "sequence":
            outer.append("e.sequence")
        elif name:
            inner.append(f"{dialect.field('text' if type_name == 'micros' else type_name, name)} AS f{len(inner)}")
            field = f"e.f{len(inner) - 1}"
            outer.append(dialect.micros(field) if type_name == "micros" else field)
        else:
            outer.append(column)
    return f"SELECT {_aliased(outer)} FROM (SELECT {', '.join(inner)} FROM ({events}) e LIMIT -1 OFFSET 0) e"


def _update(kind: str, select: str) -> str:
    """PostgreSQL: one UPDATE of `kind` from `select`, whose last column is each event's position.

    Where several events update one row, the last of them wins, as when they are applied one by
    one in ledger order (full size: 1.11 s, against 1.87 s sending the rows through this process).
    """
    return _update_from(kind, _last_updates(kind, select))


def _last_updates(kind: str, select: str) -> str:
    """Of the rows of `select` (the last column each event's position), the last for each row it updates."""
    _, columns, _ = update_target(kind)
    key_value, position = f"c{len(columns)}", f"c{len(columns) + 1}"
    return f"SELECT DISTINCT ON ({key_value}) * FROM ({select}) rows ORDER BY {key_value}, {position} DESC"


def _update_from(kind: str, last: str) -> str:
    """The UPDATE of `kind` from `last`, one row for each row it updates (see _last_updates)."""
    table, columns, key = update_target(kind)
    settings = ", ".join(f"{column} = u.c{number}" for number, column in enumerate(columns))
    return f"UPDATE {table} SET {settings} FROM ({last}) u WHERE {table}.{key} = u.c{len(columns)}"


def _aliased(values: list[str]) -> str:
    return ", ".join(f"{value} AS c{number}" for number, value in enumerate(values))


def insert_statement(kind: str, select: str, into: str | None = None) -> str:
    """The INSERT of `kind`'s rows from `select`: into its table, or into the table named `into` (of its columns)."""
    table, columns = insert_target(kind)
    table = into or table
    # (WHERE true: SQLite's parser would take ON CONFLICT for a join's ON.)
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM ({select}) rows WHERE true ON CONFLICT DO NOTHING"


def unknown_topics(topics: list[str], application: Application[UUID]) -> list[str]:
    """The stored topics this module has no statements for (then the rebuild goes the Python way)."""
    if application.mapper.cipher is not None or application.mapper.compressor is not None:
        return topics
    covered = {name for sources in SOURCES.values() for name, _ in sources} | NO_FACTS
    return [topic for topic in topics if topic.rpartition(".")[2] not in covered or not is_first_version(topic)]


def rebuild_in_sql(
    application: Application[UUID],
    target: ReadModel,
    aside_events_min: int = parallel_rebuild_events_min,
    aside_share: float | None = None,
) -> int | None:
    """Empty `target` and fill it from the events stored in its own database; None when this way does not apply.

    A store of at least `aside_events_min` events is read on two cores. On SQLite a second
    process reads the donations in the last `aside_share` of its positions (DonationsAside,
    which chooses the share when none is given) while this one reads the rest; on PostgreSQL a
    second connection reads every other kind of row while this one reads the donations, then
    the donations of the store's last positions (OtherRowsAside). There the two largest tables
    are made whole and put in the read-model tables' place, not copied in (_put_in_place).
    """
    database = target.database
    dialect = SqlDialect(database.dialect)
    aside: DonationsAside | OtherRowsAside | None = None
    if isinstance(database, SQLiteDatabase):
        database.create_function("ft_instant_micros", instant_micros)
    if not unknown_topics(list(SCANNED), application):
        if isinstance(database, SQLiteDatabase):
            aside = DonationsAside.start(database, aside_events_min, aside_share)
        elif isinstance(database, PostgresDatabase):
            aside = OtherRowsAside.start(database, aside_events_min)
    try:
        if isinstance(aside, DonationsAside):
            # The report tables' file alone: the second process writes the aside file meanwhile.
            transaction = aside.database.transaction("reports")
        else:
            transaction = database.transaction()
        with transaction as writer:
            events = _rebuild(writer, dialect, application, target, aside)
            writer.execute(f"DROP TABLE IF EXISTS {dialect.temporary}.ft_rebuild_events")
            return events
    except Exception as error:
        # Two events with one id: the primary key restored at the end refuses them, everything
        # is rolled back, and the Python projection (which keeps the first) rebuilds instead.
        if getattr(error, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
        log.info("rebuild_in_sql_declined", reason="an id recorded twice")
        return None
    finally:
        if aside is not None:
            aside.close()


def _rebuild(
    writer: Writer,
    dialect: SqlDialect,
    application: Application[UUID],
    target: ReadModel,
    aside: DonationsAside | OtherRowsAside | None,
) -> int | None:
    # The snapshot: every event up to `until` is committed (PostgreSQL's inserts take a table
    # lock, so positions are given in commit order); later ones are left to a catch-up. With a
    # second process or connection at work, the snapshot is the one it was given.
    if aside is not None:
        until = aside.until
    else:
        last = writer.query(f"SELECT MAX({dialect.position}) AS last FROM {dialect.table}")[0]["last"]
        until = int(last or 0)
    # Counting reads every event: on PostgreSQL on a connection of its own, while this one lists
    # and reads them (full size: the count takes 0.36 s). Every event up to `until` is committed.
    counted = target.database.query_aside(
        f"SELECT COUNT(*) AS events FROM {dialect.table} WHERE {dialect.position} <= :until", {"until": until}
    )
    others = aside if isinstance(aside, OtherRowsAside) else None
    donations_read = others is not None
    listed: list[str] | None = None
    if others is not None:
        # The donations first, while the second connection lists and reads the rest on the other
        # core: read as text, the donations are no faster on both cores than on one (full size:
        # 6.0 s against 5.9 s), and parallel workers would take the second connection's core.
        writer.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        # Up to the second connection's share, which it reads once it has read the rest.
        mine = _donations_params(until if others.donations_after is None else others.donations_after)
        # Into a table of ft_donations' form, which takes its place below (where a copy wrote every row again).
        writer.execute(_created_as(_DONATIONS_MADE, "donation", _donations(dialect)), mine)
        writer.execute(table_form("ft_donations").not_null(_DONATIONS_MADE))
        writer.execute("SET LOCAL max_parallel_workers_per_gather TO DEFAULT")
        listed = others.topics()
    if listed is None:
        others = None
        listed = _list_events(writer, dialect, until)
    unknown = unknown_topics([*listed, *SCANNED], application)
    if unknown:
        log.info("rebuild_in_sql_declined", topics=unknown[:5])
        if donations_read:
            writer.execute(f"DROP TABLE {_DONATIONS_MADE}")
        return None
    target.empty(writer)
    keys = set_aside_primary_keys(writer, dialect.name, KEYS_SET_ASIDE)
    # The second connection makes the movements' table whole: it takes ft_movements' place at the end.
    movements_aside = others
    if donations_read:
        _put_in_place(writer, _DONATIONS_MADE, "ft_donations")
    for kind, _, columns, topic in of_each_kind([*listed, *SCANNED]):
        scanned = topic in SCANNED
        select = select_statement(dialect, columns, dialect.events(scanned), ordered=kind in UPDATES)
        params = {"topic": topic, "after": 0, "until": until}
        if scanned and donations_read:
            continue  # the donations, written above
        if kind == "movement" and movements_aside is not None:
            continue
        read_aside = None
        if others is not None and not scanned:
            # Each of the second connection's tables as soon as it is done, in the order it makes them.
            read_aside = others.table(kind, topic)
            if read_aside is None:
                # It failed: this connection reads what it did not (through its own list of events).
                others = None
                _list_events(writer, dialect, until)
        if read_aside is not None:
            read = f"SELECT * FROM {read_aside}"
            writer.execute(_update_from(kind, read) if kind in UPDATES else insert_statement(kind, read))
        elif kind in UPDATES and dialect.name == "postgresql":
            writer.execute(
                _update(kind, select_statement(dialect, (*columns, "sequence"), dialect.events(scanned))), params
            )
        elif kind in UPDATES:
            # Few rows, and a later update of the same row wins: applied one by one, in order.
            rows = writer.query(select, params)
            writer.executemany_values(positional_write(kind), [tuple(row.values()) for row in rows])
        elif scanned and dialect.name == "postgresql":
            # PostgreSQL reads for CREATE TABLE AS in parallel, never for INSERT ... SELECT:
            # the donations' JSON read into a temporary table on both cores, then copied
            # (full size: 3.0 s and 1 s, against 6.0 s for the one INSERT). Workers cannot
            # read temporary tables, so the listed topics gain nothing from this.
            writer.execute(f"CREATE TEMP TABLE ft_rebuild_rows AS {select}", params)
            writer.execute(insert_statement(kind, "SELECT * FROM ft_rebuild_rows"))
            writer.execute("DROP TABLE ft_rebuild_rows")
        elif isinstance(aside, DonationsAside) and topic == aside.topic:
            # This process reads the donations up to the second process's share.
            writer.execute(insert_statement(kind, select), params | {"until": aside.after})
        else:
            writer.execute(insert_statement(kind, select), params)
    if isinstance(aside, DonationsAside):
        aside.add_its_rows(writer)
    if movements_aside is not None:
        keys = _put_movements_in_place(writer, dialect, movements_aside, keys, listed if others is None else None)
    if donations_read and isinstance(aside, OtherRowsAside) and aside.donations_after is not None:
        _add_later_donations(writer, dialect, aside, aside.donations_after)
    restore_primary_keys(writer, keys)
    events = int(counted()[0]["events"])
    target.track(writer, until, events)
    return events


def _put_movements_in_place(
    writer: Writer, dialect: SqlDialect, aside: OtherRowsAside, keys: PrimaryKeys, listed: list[str] | None
) -> PrimaryKeys:
    """The second connection's table of movements in ft_movements' place, with its key; the keys left to restore.

    If it failed, this connection reads the movements itself: through its own list of the
    events (`listed`, its topics) if it made one when a table before failed, else one made here.
    """
    table = aside.movements()
    if table is None:
        if listed is None:
            listed = _list_events(writer, dialect, aside.until)
        for kind, _, columns, topic in of_each_kind(listed):
            if kind == "movement":
                select = select_statement(dialect, columns, dialect.events(False))
                writer.execute(insert_statement(kind, select), {"topic": topic, "after": 0, "until": aside.until})
        return keys
    _put_in_place(writer, table, "ft_movements", f"{table}{MOVEMENTS_KEY}")
    return [key for key in keys if key[0] != "ft_movements"]


# This connection's donations, in a table of ft_donations' form made inside its transaction.
_DONATIONS_MADE: Final = "ft_rebuild_donations"


def _created_as(named: str, kind: str, select: str) -> str:
    """CREATE TABLE `named` AS the rows of `kind` that `select` gives, in its table's form but its NOT NULLs and key.

    CREATE TABLE AS writes its rows faster than INSERT .. SELECT (and its SELECT may have
    parallel workers): full size, the movements in 1.6-2.0 s with their NOT NULLs set, against
    1.8-2.4 s inserted into a table made with them.
    """
    table, columns = insert_target(kind)
    selected = f"SELECT {table_form(table).select_list(columns)} FROM ({select}) rows"
    return f"CREATE TABLE {named} AS {selected}"


def _put_in_place(writer: Writer, made: str, table: str, key: str | None = None) -> None:
    """The table `made` (in `table`'s form) in the place of `table`, which this transaction emptied (target.empty).

    `key`, the name of `made`'s primary key if it has one, takes the name the schema gives it.
    Readers wait for the transaction, as they do for the emptied table.
    """
    writer.execute(f"DROP TABLE {table}")
    writer.execute(f"ALTER TABLE {made} RENAME TO {table}")
    if key is not None:
        writer.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {key} TO {table}_pkey")


def _add_later_donations(writer: Writer, dialect: SqlDialect, aside: OtherRowsAside, after: int) -> None:
    """The donations after position `after`: the second connection's table, or read here if it failed."""
    table = aside.donations()
    if table is not None:
        writer.execute(insert_statement("donation", f"SELECT * FROM {table}"))
    else:
        params = _donations_params(aside.until, after)
        writer.execute(insert_statement("donation", _donations(dialect)), params)


def of_each_kind(topics: list[str]) -> list[tuple[str, str, tuple[Column, ...], str]]:
    """(kind, name, columns, topic) for each kind of row each of `topics` gives, in the order they are written."""
    return [
        (kind, name, columns, topic)
        for kind, sources in SOURCES.items()
        for name, columns in sources
        for topic in topics
        if topic.rpartition(".")[2] == name
    ]


class OtherRowsAside:
    """PostgreSQL: a second connection reading every kind of row but the donations, while this one reads those.

    This connection reads the donations on one core, found in their text, and would then have
    the rest to read alone before its transaction can commit: the list of the other events'
    positions, the movements, the updates (full size: 3.3 s with the other core idle). The
    second connection reads them meanwhile, each topic into a table of its own, and this one
    copies them in; but the movements, most of those rows, go into one logged table of
    ft_movements' form with its key, which takes ft_movements' place (changes 121 and 122).
    Then it reads the donations of the store's last positions (from `donations_after` on),
    which this one copies in last. Other connections cannot read a temporary table, so these
    are tables in the read model's schema (unlogged, but for the movements'), named after the
    server process that made them; this connection drops them at the end, and a rebuild drops
    those that a rebuild which died left behind (whose server process is gone). If the second
    connection fails, this one reads what it did not, as without it.
    """

    def __init__(self, database: PostgresDatabase, until: int, donations_after: int | None = None) -> None:
        self.database, self.until = database, until
        # This connection reads the donations up to it; the second one those after it (None: none).
        self.donations_after = donations_after
        self.made: list[str] = []
        self._topics: Future[list[str]] = Future()
        self._donations: Future[str] = Future()
        self._movements: Future[str] = Future()
        # One for each (kind, topic) of the listed topics but the movements', made before those are given.
        self._tables: dict[tuple[str, str], Future[str]] = {}
        self._failure_logged = False
        self.session = database.session()
        self.thread = threading.Thread(target=self._read, name="fundtrail-rebuild-aside", daemon=True)
        self.thread.start()

    @classmethod
    def start(cls, database: PostgresDatabase, events_min: int) -> OtherRowsAside | None:
        """A second connection for a store of at least `events_min` events; None for fewer, or when none opens.

        It reads the donations of the store's last positions (rebuild_donations_aside_share_postgresql).
        """
        table, position = EVENTS_TABLE["postgresql"]
        until = int(database.query(f"SELECT MAX({position}) AS last FROM {table}")[0]["last"] or 0)
        if until < max(events_min, 1):
            return None
        later = round(until * rebuild_donations_aside_share_postgresql)
        try:
            return cls(database, until, until - later if later > 0 else None)
        except OperationalError as error:
            # The server's connections all taken, say: this connection reads everything itself.
            log.warning("rebuild_aside_failed", error=type(error).__name__)
            return None

    def topics(self) -> list[str] | None:
        """The topics of the events it listed (those not scanned); None if it failed before it listed them."""
        return self._result(self._topics)

    def table(self, kind: str, topic: str) -> str | None:
        """The table of rows it read for (kind, topic), once that one is done; None if it failed first.

        This connection copies each table in while the second one reads the next (full size:
        0.5 s less than waiting for all of them, which ended with the payouts' updates).
        """
        future = self._tables.get((kind, topic))
        return None if future is None else self._result(future)

    def donations(self) -> str | None:
        """The table of the donations after `donations_after`, once it is done; None if it failed first."""
        return self._result(self._donations)

    def movements(self) -> str | None:
        """Every movement, in a logged table like ft_movements, with its key; None if it failed first.

        This connection puts it in ft_movements' place (_put_movements_in_place) rather than
        copying its rows in: a copy wrote them and their WAL a second time, and built their key,
        on the connection that sets the pace.
        """
        return self._result(self._movements)

    def _result(self, future: Future[_T]) -> _T | None:
        """What `future` holds; None if the second connection failed first (logged once)."""
        try:
            return future.result()
        except Exception as error:  # noqa: BLE001 - this connection reads the rest itself
            if not self._failure_logged:
                self._failure_logged = True
                log.warning("rebuild_aside_failed", error=type(error).__name__)
            return None

    def _named(self, session: PostgresSession) -> str:
        table = f"{_ASIDE_PREFIX}{session.pid}_{len(self.made)}"
        self.made.append(table)
        return table

    def _made_table(self, session: PostgresSession, select: str, params: dict[str, object]) -> str:
        table = self._named(session)
        session.execute(f"CREATE UNLOGGED TABLE {table} AS {select}", params)
        return table

    def _made_movements(
        self, session: PostgresSession, dialect: SqlDialect, topics: list[tuple[tuple[Column, ...], str]]
    ) -> str:
        """The movements of `topics` ((columns, topic) each) in a table ready to take ft_movements' place."""
        table = self._named(session)
        form = table_form("ft_movements")
        selects = [(select_statement(dialect, columns, dialect.events(False)), topic) for columns, topic in topics]
        # The first topic's rows (the payouts', most of them) make the table; the others are inserted.
        first, first_topic = selects[0] if selects else (_NO_MOVEMENT, None)
        session.execute(_created_as(table, "movement", first), {"topic": first_topic})
        for select, topic in selects[1:]:
            session.execute(insert_statement("movement", select, into=table), {"topic": topic})
        session.execute(form.not_null(table))
        session.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}{MOVEMENTS_KEY} {form.key}")
        return table

    def _read(self) -> None:
        session = self.session
        try:
            _drop_abandoned(session)
            dialect = SqlDialect("postgresql")
            session.execute(_list_statement(dialect), _list_params(self.until))
            listed = sorted(row["topic"] for row in session.query("SELECT DISTINCT topic FROM ft_rebuild_events"))
            self._tables = {(kind, topic): Future() for kind, _, _, topic in of_each_kind(listed) if kind != "movement"}
            self._topics.set_result(listed)
            movements = []
            for kind, _, columns, topic in of_each_kind(listed):
                if kind == "movement":
                    movements.append((columns, topic))
                    continue
                if kind in UPDATES:
                    select = _last_updates(
                        kind, select_statement(dialect, (*columns, "sequence"), dialect.events(False))
                    )
                else:
                    select = select_statement(dialect, columns, dialect.events(False))
                self._tables[kind, topic].set_result(self._made_table(session, select, {"topic": topic}))
            # After the small tables, which this connection copies in while this one is made.
            self._movements.set_result(self._made_movements(session, dialect, movements))
            if self.donations_after is not None:
                # As this connection reads its own share: on one core, found in the text.
                session.execute("SET max_parallel_workers_per_gather = 0")
                params = _donations_params(self.until, self.donations_after)
                self._donations.set_result(self._made_table(session, _donations(dialect), params))
        except BaseException as error:  # noqa: BLE001 - raised to whoever waits for its results
            futures: list[Future[Any]] = [self._topics, *self._tables.values(), self._movements, self._donations]
            for future in futures:
                if not future.done():
                    future.set_exception(error)

    def close(self) -> None:
        """Stop it if it is still at work, and drop the tables it made."""
        if self.thread.is_alive():
            self.session.cancel()
        self.thread.join()
        self.session.close()
        if self.made:
            try:
                self.database.query(f"DROP TABLE IF EXISTS {', '.join(self.made)}")
            except Exception as error:  # noqa: BLE001 - the next rebuild drops them
                log.warning("rebuild_aside_tables_left", error=type(error).__name__)


_ASIDE_PREFIX: Final = "ft_rebuild_aside_"
# The primary key of the second connection's table of movements: its table's name and this.
MOVEMENTS_KEY: Final = "_pkey"
# A store with no movement yet: their table made from no row.
_NO_MOVEMENT: Final = (
    "SELECT " + ", ".join(f"NULL AS c{number}" for number in range(len(insert_target("movement")[1]))) + " WHERE false"
)


def _drop_abandoned(session: PostgresSession) -> None:
    """Drop the tables of second connections whose server process is gone (a rebuild that died)."""
    made = session.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND starts_with(tablename, :prefix)",
        {"prefix": _ASIDE_PREFIX},
    )
    alive = {row["pid"] for row in session.query("SELECT pid FROM pg_stat_activity")}
    for row in made:
        found = re.fullmatch(rf"{_ASIDE_PREFIX}(\d+)_\d+", row["tablename"])
        if found is not None and int(found.group(1)) not in alive:
            session.execute(f"DROP TABLE IF EXISTS {row['tablename']}")


class DonationsAside:
    """SQLite: a second process reading the donations after `after` into a database file of its own.

    SQLite has one writer, and a replay's SQL runs on one core: the donations' rows are most
    of it (full size: 2.8-3.3 s of the rows' 5-6 s). The second process reads the later
    donations from the store into a file of its own while this one reads the first ones and
    every other kind; this one then copies its rows in (full size: 0.8-1.0 s), after its own
    donations, so the table holds them in ledger order, as one statement would have written them. If the
    second process fails, this one reads that share itself. The file is attached before this
    one's transaction begins (SQLite attaches no file inside one), and that transaction
    locks the report tables' file alone.
    """

    topic: Final = get_topic(Project.DonationReceived)

    def __init__(self, database: SQLiteDatabase, store: str, after: int, until: int) -> None:
        self.database, self.after, self.until = database, after, until
        self.folder = tempfile.TemporaryDirectory(prefix="fundtrail-rebuild-")
        self.path = str(Path(self.folder.name) / "donations.db")
        database.connection.execute("ATTACH DATABASE :path AS ft_aside", {"path": self.path})
        request = {"store": store, "path": self.path, "after": after, "until": until}
        try:
            self.child = start_helper_process("infra.rebuild_sql", request)
        except BaseException:
            self._detach()
            raise

    @classmethod
    def start(cls, database: SQLiteDatabase, events_min: int, share: float | None) -> DonationsAside | None:
        """A second process for the last `share` of the store's positions; None when too few to be worth one."""
        table, position = EVENTS_TABLE["sqlite"]
        until = int(database.query(f"SELECT MAX({position}) AS last FROM {table}")[0]["last"] or 0)
        store = database.query("PRAGMA database_list")[0]["file"]
        if until < max(events_min, 1) or not store:
            return None
        if share is None:
            rows = database.query(
                "SELECT (SELECT COUNT(*) FROM ft_donations) AS donations, "
                "(SELECT COUNT(*) FROM ft_movements) AS movements"
            )[0]
            share = aside_share(int(rows["donations"]), int(rows["movements"]))
        return cls(database, store, int(until * (1 - share)), until)

    def add_its_rows(self, writer: Writer) -> None:
        """Copy the second process's rows in, once it is done; read its share here when it failed."""
        exitcode = self.child.wait()
        table, columns = insert_target("donation")
        if exitcode == 0:
            writer.execute(f"INSERT INTO {table} ({', '.join(columns)}) {_ASIDE_ROWS}")
            return
        log.warning("rebuild_aside_failed", exitcode=exitcode)
        writer.execute(insert_statement("donation", _donations()), _donations_params(self.until, self.after))

    def close(self) -> None:
        stop_helper_process(self.child)
        self._detach()

    def _detach(self) -> None:
        self.database.connection.execute("DETACH DATABASE ft_aside")
        self.folder.cleanup()


def aside_share(donations: int, movements: int) -> float:
    """The share of the donations that leaves both processes about as much to do, from the rows the books last held.

    The second process reads its donations; this one reads the others and every movement,
    then copies the second process's rows in. With the costs per row in infra/limits.py, the
    two finish together at this share (kept between a half and all of them); the books before
    the replay tell how many rows of each there will be, about. A ledger of donations alone
    gives the second process about two thirds of them; the benchmark's, with as many movements
    as donations, all of them.
    """
    if donations == 0:
        return rebuild_donations_aside_share
    read, copy, movement = (rebuild_row_micros[name] for name in ("donation", "copy", "movement"))
    balanced = (donations * read + movements * movement) / (donations * (2 * read - copy))
    return min(1.0, max(0.5, balanced))


# (WHERE true: SQLite's parser would take ON CONFLICT for a join's ON.) A donation id recorded
# twice keeps its first row, as one statement over the whole store would.
_ASIDE_ROWS: Final = "SELECT * FROM ft_aside.ft_rebuild_rows WHERE true ON CONFLICT DO NOTHING"


def _donations(dialect: SqlDialect | None = None) -> str:
    """The donations' rows up to :until (on SQLite, of the positions after :after)."""
    dialect = dialect or SqlDialect("sqlite")
    if dialect.name == "postgresql":
        return _text_fields_select(dialect, SOURCES["donation"][0][1], dialect.events(scanned=True, text=True))
    return select_statement(dialect, SOURCES["donation"][0][1], dialect.events(scanned=True))


def _text_fields_select(dialect: SqlDialect, columns: tuple[Column, ...], events: str) -> str:
    """PostgreSQL: select_statement's rows, each field found in the stored text instead of parsing it as jsonb.

    Parsing the JSON is most of a donation's cost (full size, one core: 9.1 s for the donations'
    rows through jsonb, 5.9 s this way). The ledger stores compact JSON (orjson's, or the
    library's with the same separators): a top-level text field is what follows `"name":"` up
    to the next quote, and an integer what follows `"name":` up to the next comma or brace.
    Inside a JSON string every quote is escaped, so `"name":"` can only be a key, and these
    events nest no object holding their own field names. A row whose value is missing (null,
    or the JSON written with spaces), holds a backslash (an escape, which this reading would not
    decode) or is not a plain integer is read through jsonb, as select_statement reads every row; ids,
    currencies and times never hold one, so none is in the ledger's own stores.
    """
    found: list[str] = []
    checks: list[str] = []
    values: list[str] = []
    for column in columns:
        type_name, _, name = column.partition(":")
        if column == "sequence":
            values.append("e.sequence")
            continue
        field = f"e.f{len(found)}"
        if type_name == "integer":
            found.append(f"split_part(split_part(split_part(e.t, '\"{name}\":', 2), ',', 1), '}}', 1)")
            digits_left = f"translate({field}, '0123456789', '')"
            checks.append(
                f"length({field}) BETWEEN 1 AND 18 AND ({digits_left} = '' "
                f"OR ({digits_left} = '-' AND left({field}, 1) = '-' AND length({field}) > 1))"
            )
            values.append(f"(CASE WHEN e.plain THEN {field}::bigint ELSE (e.t::jsonb ->> '{name}')::bigint END)")
        elif type_name in ("text", "micros"):
            found.append(f"split_part(split_part(e.t, '\"{name}\":\"', 2), '\"', 1)")
            checks.append(f"{field} <> '' AND strpos({field}, E'\\\\') = 0")
            value = f"(CASE WHEN e.plain THEN {field} ELSE (e.t::jsonb ->> '{name}') END)"
            values.append(dialect.micros(value) if type_name == "micros" else value)
        else:
            raise ValueError(f"no text reading of column {column!r}")
    fields = ", ".join(f"{expression} AS f{number}" for number, expression in enumerate(found))
    plain = " AND ".join(f"({check})" for check in checks)
    # OFFSET 0 each time: the fields are found once, and checked once, per event.
    return (
        f"SELECT {_aliased(values)} FROM (SELECT e.*, ({plain}) AS plain FROM "
        f"(SELECT e.sequence, e.t, {fields} FROM ({events}) e OFFSET 0) e OFFSET 0) e"
    )


def _donations_params(until: int, after: int = 0) -> dict[str, object]:
    """_donations()' parameters: the donations of positions `after` < p <= `until`."""
    return {"topic": DonationsAside.topic, "after": after, "until": until}


def read_donations_aside(store: str, path: str, after: int, until: int) -> None:
    """In the second process: the donations' rows of positions `after` < p <= `until`, into the file at `path`."""
    from infra.collector import collect_less_often
    from infra.logging import bind_correlation_id, configure_logging

    configure_logging()
    collect_less_often()
    bind_correlation_id("rebuild")
    database = SQLiteDatabase(store)
    try:
        database.create_function("ft_instant_micros", instant_micros)
        database.connection.execute("ATTACH DATABASE :path AS ft_aside", {"path": path})
        database.connection.execute(
            f"CREATE TABLE ft_aside.ft_rebuild_rows AS {_donations()}",
            _donations_params(until, after),
        )
    finally:
        database.close()


def _list_events(writer: Writer, dialect: SqlDialect, until: int) -> list[str]:
    """List the position and topic of every event not of a scanned topic; returns the topics listed."""
    # Named with its schema: looking for a table that is not there, SQLite would read (and
    # lock, until the transaction ends) every attached file, DonationsAside's among them.
    writer.execute(f"DROP TABLE IF EXISTS {dialect.temporary}.ft_rebuild_events")
    writer.execute(_list_statement(dialect), _list_params(until))
    return sorted(row["topic"] for row in writer.query("SELECT DISTINCT topic FROM ft_rebuild_events"))


def _list_statement(dialect: SqlDialect) -> str:
    """The list of the position and topic of every event up to :until that is not of a scanned topic."""
    excluded = ", ".join(f":scanned{number}" for number in range(len(SCANNED)))
    # CREATE TABLE AS, which PostgreSQL reads on both cores (INSERT ... SELECT it reads on one),
    # and no key: each topic's positions are read by scanning the list.
    return (
        f"CREATE TEMP TABLE ft_rebuild_events AS SELECT {dialect.position} AS position, topic FROM {dialect.table} "
        f"WHERE {dialect.position} <= :until AND topic NOT IN ({excluded})"
    )


def _list_params(until: int) -> dict[str, object]:
    return {"until": until} | {f"scanned{number}": topic for number, topic in enumerate(SCANNED)}


if __name__ == "__main__":
    # DonationsAside's second process: its request is one JSON object on stdin.
    asked = read_request()
    read_donations_aside(asked["store"], asked["path"], int(asked["after"]), int(asked["until"]))
