"""The read-model tables: the facts the reports query, and the tracking position that keeps them exact."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import Any, Final

import orjson

from infra.database import Database, Part, Writer
from projections.facts import Fact
from projections.reports import END_OF_TIME

SCHEMA: Final = [
    """CREATE TABLE IF NOT EXISTS ft_tracking (
        projection TEXT PRIMARY KEY, position BIGINT NOT NULL, events BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ft_foundations (foundation_id TEXT PRIMARY KEY, name TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ft_partners (partner_id TEXT PRIMARY KEY, name TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ft_payees (payee_id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ft_donors (
        donor_id TEXT PRIMARY KEY, display_name TEXT, anonymous BOOLEAN NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ft_projects (
        project_id TEXT PRIMARY KEY, foundation_id TEXT NOT NULL, partner_id TEXT NOT NULL, name TEXT NOT NULL,
        currency TEXT NOT NULL, opened_at BIGINT NOT NULL, closed_at BIGINT)""",
    "CREATE INDEX IF NOT EXISTS ft_projects_by_foundation ON ft_projects (foundation_id, project_id)",
    """CREATE TABLE IF NOT EXISTS ft_donations (
        donation_id TEXT PRIMARY KEY, sequence BIGINT NOT NULL, project_id TEXT NOT NULL, donor_id TEXT NOT NULL,
        currency TEXT NOT NULL, amount_minor BIGINT NOT NULL, received_at BIGINT NOT NULL)""",
    # A donor's donations in order, with every column a trail reads, so that donor trails and
    # the checksum read the index alone instead of looking each row up in the table (at full
    # size, all donors' donations in 0.7 s instead of 2.5 s). It replaced ft_donations_by_donor.
    "DROP INDEX IF EXISTS ft_donations_by_donor",
    "CREATE INDEX IF NOT EXISTS ft_donations_by_donor_covering ON ft_donations "
    "(donor_id, sequence, donation_id, project_id, currency, amount_minor, received_at)",
    "CREATE INDEX IF NOT EXISTS ft_donations_by_project ON ft_donations (project_id, received_at)",
    """CREATE TABLE IF NOT EXISTS ft_disbursements (
        disbursement_id TEXT PRIMARY KEY, sequence BIGINT NOT NULL, project_id TEXT NOT NULL, payee_id TEXT NOT NULL,
        currency TEXT NOT NULL, amount_minor BIGINT NOT NULL, approved_at BIGINT, paid_at BIGINT,
        paid_sequence BIGINT)""",
    "CREATE INDEX IF NOT EXISTS ft_disbursements_by_project ON ft_disbursements (project_id)",
    """CREATE TABLE IF NOT EXISTS ft_movements (
        sequence BIGINT NOT NULL, position INTEGER NOT NULL, project_id TEXT NOT NULL, kind TEXT NOT NULL,
        donation_id TEXT NOT NULL, disbursement_id TEXT, payee_id TEXT, currency TEXT NOT NULL,
        amount_minor BIGINT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (sequence, position))""",
    # A project's movements up to a time (a report --as-of): a range of the index. It replaced
    # (project_id, kind, at), which read all the project's movements and built 1.7 times slower on
    # PostgreSQL (full size, round twenty-eight: 2.2 s against 1.3 s; SQLite 1.24 s against 0.98 s).
    "DROP INDEX IF EXISTS ft_movements_by_project",
    "CREATE INDEX IF NOT EXISTS ft_movements_by_project_at ON ft_movements (project_id, at)",
    "CREATE INDEX IF NOT EXISTS ft_movements_by_donation ON ft_movements (donation_id)",
    "CREATE INDEX IF NOT EXISTS ft_movements_by_payee ON ft_movements (payee_id, at)",
    # Ledger sequences applied from a message stream, where partitions arrive out of global order.
    "CREATE TABLE IF NOT EXISTS ft_applied (sequence BIGINT PRIMARY KEY)",
    # Running totals per project, kept in the same transaction as the rows they sum, so that a
    # project report today reads one row instead of summing every donation (--as-of still sums).
    """CREATE TABLE IF NOT EXISTS ft_project_totals (
        project_id TEXT PRIMARY KEY, donated BIGINT NOT NULL, donation_count BIGINT NOT NULL,
        donor_count BIGINT NOT NULL, payout BIGINT NOT NULL, payee_refund BIGINT NOT NULL,
        donor_refund BIGINT NOT NULL)""",
    # On SQLite one B-tree, its key's, where a table with a rowid keeps the rows and the key apart
    # and inserts into both (docs/PERFORMANCE.md, change 111). PostgreSQL has no such clause.
    """CREATE TABLE IF NOT EXISTS ft_project_donors (
        project_id TEXT NOT NULL, donor_id TEXT NOT NULL, PRIMARY KEY (project_id, donor_id)) WITHOUT ROWID""",
]


def _in_dialect(statement: str, dialect: str) -> str:
    """A schema statement as `dialect` runs it: on PostgreSQL, ids compare as bytes (COLLATE "C").

    SQLite compares text as bytes already. PostgreSQL would compare by the database's locale,
    which costs more on every insert into an index of ids, every sort and every join: at full
    size, inserting the donations (a primary key of ids) took 12.4 s, and 6.7 s as bytes.
    Bytes are also the order the reports' canonical JSON wants for ASCII ids. WITHOUT ROWID is
    SQLite's alone, and is left out on PostgreSQL.
    """
    if dialect == "postgresql":
        return re.sub(r"(\w+_id) TEXT", r'\1 TEXT COLLATE "C"', statement).removesuffix(" WITHOUT ROWID")
    return statement


@dataclass(frozen=True)
class TableForm:
    """PostgreSQL: a read-model table's columns as the schema makes them, for a table made by CREATE TABLE AS.

    A replay fills such a table and puts it in the read-model table's place (infra/rebuild_sql.py),
    where copying its rows in would write them twice: each column's type and collation come
    from the casts of `select_list`, its NOT NULL from `not_null`, and its key from `key`.
    """

    # Each column: its name, its type, its collation (a COLLATE clause, or none), and whether it is NOT NULL.
    columns: tuple[tuple[str, str, str, bool], ...]
    key: str

    def select_list(self, selected: tuple[str, ...]) -> str:
        """The columns in order, cast from a select of `selected` named c0, c1, ... (NULL for one it lacks)."""
        return ", ".join(
            f"CAST({f'c{selected.index(name)}' if name in selected else 'NULL'} AS {kind}){collation} AS {name}"
            for name, kind, collation, _ in self.columns
        )

    def not_null(self, table: str) -> str:
        """The ALTER TABLE that makes the columns of `table` NOT NULL where this form's are (one scan of its rows)."""
        return f"ALTER TABLE {table} " + ", ".join(
            f"ALTER COLUMN {name} SET NOT NULL" for name, _, _, required in self.columns if required
        )


_COLUMN_FORM: Final = re.compile(r'(\w+) (TEXT|BIGINT|INTEGER|BOOLEAN)( COLLATE "C")?( PRIMARY KEY)?( NOT NULL)?')


@cache
def table_form(table: str) -> TableForm:
    """The form of `table` on PostgreSQL (its key one column's, or a PRIMARY KEY clause of its own)."""
    statement = _in_dialect(
        next(s for s in SCHEMA if s.startswith(f"CREATE TABLE IF NOT EXISTS {table} (")), "postgresql"
    )
    body = statement.split("(", 1)[1].rsplit(")", 1)[0]
    columns, key = [], None
    for part in re.split(r",\s+(?![^()]*\))", body.strip()):
        if part.startswith("PRIMARY KEY"):
            key = part
            continue
        found = _COLUMN_FORM.fullmatch(part)
        if found is None:
            raise ValueError(f"{table}: a column of a form not known here: {part!r}")
        name, kind, collation, primary, required = found.groups()
        # A text column without a collation of its own has the database's: said so, since the cast
        # of an expression keeps the expression's (a field found by COLLATE "C", say).
        collation = collation or (' COLLATE "default"' if kind == "TEXT" else "")
        columns.append((name, kind, collation, bool(primary or required)))
        if primary:
            key = f"PRIMARY KEY ({name})"
    if key is None:
        raise ValueError(f"{table} has no primary key")
    return TableForm(tuple(columns), key)


_SECONDARY_INDEXES: Final = [
    statement.split(" ON ")[0].rsplit(" ", 1)[1] for statement in SCHEMA if statement.startswith("CREATE INDEX")
]


def _drop_secondary_indexes(writer: Writer) -> None:
    for name in _SECONDARY_INDEXES:
        writer.execute(f"DROP INDEX IF EXISTS {name}")


_TOTALS: Final = ("donated", "donation_count", "donor_count", "payout", "payee_refund", "donor_refund")
_ADD_TO_TOTALS: Final = (
    "UPDATE ft_project_totals SET "
    + ", ".join(f"{name} = {name} + :{name}" for name in _TOTALS)
    + " WHERE project_id = :project_id"
)
# A read model written before the running totals existed gets them from its rows, once (and a
# full rebuild, which sums them at the end). The donors of each project are every distinct pair
# of the donations, so they are written anew; on PostgreSQL without their primary key, which is
# built again afterwards (full size: 0.35-0.47 s to insert and 0.27-0.30 s to build the key, against 1.3-2.7 s
# to insert through it).
_BACKFILL_DONORS: Final = [
    "DELETE FROM ft_project_donors",
    "INSERT INTO ft_project_donors (project_id, donor_id) SELECT DISTINCT project_id, donor_id FROM ft_donations",
]
_BACKFILL_TOTALS: Final = (
    # Each table summed once, grouped by project, rather than once per project through its index:
    # on PostgreSQL 0.29 s against 0.65 s at full size (SQLite 0.28 s against 0.24 s).
    "INSERT INTO ft_project_totals (project_id, donated, donation_count, donor_count, payout, payee_refund, "
    "donor_refund) SELECT p.project_id, COALESCE(d.donated, 0), COALESCE(d.donations, 0), COALESCE(o.donors, 0), "
    "COALESCE(m.payout, 0), COALESCE(m.payee_refund, 0), COALESCE(m.donor_refund, 0) FROM ft_projects p "
    "LEFT JOIN (SELECT project_id, SUM(amount_minor) AS donated, COUNT(*) AS donations FROM ft_donations "
    "GROUP BY project_id) d ON d.project_id = p.project_id "
    "LEFT JOIN (SELECT project_id, COUNT(*) AS donors FROM ft_project_donors GROUP BY project_id) o "
    "ON o.project_id = p.project_id "
    "LEFT JOIN (SELECT project_id, "
    + ", ".join(
        f"SUM(CASE WHEN kind = '{kind}' THEN amount_minor ELSE 0 END) AS {kind}"
        for kind in ("payout", "payee_refund", "donor_refund")
    )
    + " FROM ft_movements GROUP BY project_id) m ON m.project_id = p.project_id WHERE true ON CONFLICT DO NOTHING"
)

TABLES: Final = [
    "ft_tracking",
    "ft_foundations",
    "ft_partners",
    "ft_payees",
    "ft_donors",
    "ft_projects",
    "ft_donations",
    "ft_disbursements",
    "ft_movements",
    "ft_project_totals",
    "ft_project_donors",
]

_WRITES: Final = {
    "foundation": "INSERT INTO ft_foundations (foundation_id, name) VALUES (:foundation_id, :name) "
    "ON CONFLICT DO NOTHING",
    "partner": "INSERT INTO ft_partners (partner_id, name) VALUES (:partner_id, :name) ON CONFLICT DO NOTHING",
    "payee": "INSERT INTO ft_payees (payee_id, name, kind) VALUES (:payee_id, :name, :kind) ON CONFLICT DO NOTHING",
    "donor": "INSERT INTO ft_donors (donor_id, display_name, anonymous) VALUES (:donor_id, :display_name, :anonymous) "
    "ON CONFLICT DO NOTHING",
    "project": "INSERT INTO ft_projects (project_id, foundation_id, partner_id, name, currency, opened_at) "
    "VALUES (:project_id, :foundation_id, :partner_id, :name, :currency, :opened_at) ON CONFLICT DO NOTHING",
    "project_closed": "UPDATE ft_projects SET closed_at = :closed_at WHERE project_id = :project_id",
    "donation": "INSERT INTO ft_donations (donation_id, sequence, project_id, donor_id, currency, amount_minor, "
    "received_at) VALUES (:donation_id, :sequence, :project_id, :donor_id, :currency, :amount_minor, :received_at) "
    "ON CONFLICT DO NOTHING",
    "disbursement": "INSERT INTO ft_disbursements (disbursement_id, sequence, project_id, payee_id, currency, "
    "amount_minor) VALUES (:disbursement_id, :sequence, :project_id, :payee_id, :currency, :amount_minor) "
    "ON CONFLICT DO NOTHING",
    "disbursement_approved": "UPDATE ft_disbursements SET approved_at = :approved_at "
    "WHERE disbursement_id = :disbursement_id",
    "disbursement_paid": "UPDATE ft_disbursements SET paid_at = :paid_at, paid_sequence = :paid_sequence "
    "WHERE disbursement_id = :disbursement_id",
    "movement": "INSERT INTO ft_movements (sequence, position, project_id, kind, donation_id, disbursement_id, "
    "payee_id, currency, amount_minor, at) VALUES (:sequence, :position, :project_id, :kind, :donation_id, "
    ":disbursement_id, :payee_id, :currency, :amount_minor, :at) ON CONFLICT DO NOTHING",
}

# The same writes with positional parameters, and the columns in their order: a full rebuild
# sends rows between processes as tuples, which pickle and bind cheaper than dictionaries.
_COLUMNS: Final = {kind: tuple(re.findall(r":(\w+)", sql)) for kind, sql in _WRITES.items()}
_WRITES_BY_POSITION: Final = {kind: re.sub(r":\w+", "?", sql) for kind, sql in _WRITES.items()}


def _values_of(columns: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A row's values in column order, as a tuple (itemgetter of one column gives the bare value)."""
    if len(columns) > 1:
        return itemgetter(*columns)
    (column,) = columns
    return lambda row: (row[column],)


_VALUES: Final = {kind: _values_of(columns) for kind, columns in _COLUMNS.items()}


_INSERTED_INTO: Final = {
    kind: inserted.group(1) for kind, sql in _WRITES.items() if (inserted := re.match(r"INSERT INTO (\w+)", sql))
}


def insert_target(kind: str) -> tuple[str, tuple[str, ...]]:
    """The table a kind of row is inserted into, and its columns in write order."""
    table = _INSERTED_INTO.get(kind)
    if table is None:
        raise ValueError(f"{kind!r} rows update a table; they are not inserted")
    return table, _COLUMNS[kind]


_UPDATED: Final = {
    kind: (updated.group(1), tuple(re.findall(r"(\w+) = :", updated.group(2))), updated.group(3))
    for kind, sql in _WRITES.items()
    if (updated := re.fullmatch(r"UPDATE (\w+) SET (.+) WHERE (\w+) = :\w+", sql))
}


def update_target(kind: str) -> tuple[str, tuple[str, ...], str]:
    """The table a kind of row updates, the columns it sets (in write order) and the key column that picks the row."""
    updated = _UPDATED.get(kind)
    if updated is None:
        raise ValueError(f"{kind!r} rows are inserted; they update nothing")
    return updated


# The inserted kinds whose rows carry their event's ledger position (as `sequence`).
_POSITIONED: Final = frozenset(("donation", "disbursement", "movement"))

# Updates change rows that inserts made; a page's updates are written after its inserts.
UPDATES: Final = frozenset(("project_closed", "disbursement_approved", "disbursement_paid"))
_WRITE_ORDER: Final = {kind: (kind in UPDATES, order) for order, kind in enumerate(_WRITES)}


def _write_rows(writer: Writer, kind: str, rows: list[dict[str, Any]]) -> None:
    if kind in _INSERTED_INTO:
        values = _VALUES[kind]
        writer.insert_rows(*insert_target(kind), [values(row) for row in rows], skip_existing=True)
    else:
        writer.executemany(_WRITES[kind], rows)


def positional_write(kind: str) -> str:
    """The write of a kind of row, with `?` parameters in the order of its columns."""
    return _WRITES_BY_POSITION[kind]


# A page of facts as tuples: segments that end at each update, each segment's rows by kind.
PackedFacts = list[dict[str, list[tuple[Any, ...]]]]


def pack_facts(facts: list[Fact]) -> PackedFacts:
    """The facts as ReadModel.write_packed takes them: written in the same order, to the same rows."""
    segments: PackedFacts = []
    segment: dict[str, list[tuple[Any, ...]]] = {}
    for kind, row in facts:
        segment.setdefault(kind, []).append(_VALUES[kind](row))
        if kind in UPDATES:
            segments.append(segment)
            segment = {}
    if segment:
        segments.append(segment)
    return segments


_IDS: Final = {
    "project": "SELECT project_id AS id FROM ft_projects",
    "donor": "SELECT donor_id AS id FROM ft_donors",
    "payee": "SELECT payee_id AS id FROM ft_payees",
    "foundation": "SELECT foundation_id AS id FROM ft_foundations",
}
_HAS: Final = {kind: f"SELECT 1 AS found FROM ({sql}) known WHERE id = :id" for kind, sql in _IDS.items()}


_PAYEE_TOTALS: Final = (
    "SELECT currency, kind, SUM(amount_minor) AS amount_minor FROM ft_movements "
    "WHERE payee_id = :id AND kind IN ('payout', 'payee_refund') AND at <= :as_of GROUP BY currency, kind"
)


PrimaryKeys = list[tuple[str, str, str]]


def set_aside_primary_keys(writer: Writer, dialect: str, tables: tuple[str, ...]) -> PrimaryKeys:
    """Drop the primary keys of `tables` before a bulk load (PostgreSQL only); restore_primary_keys builds them again.

    Building a key once over the loaded rows costs a fraction of keeping it up row by row.
    SQLite cannot drop a primary key, so there this gives nothing to restore.
    """
    if dialect != "postgresql":
        return []
    keys = writer.query(
        "SELECT conrelid::regclass::text AS table_name, conname AS name, pg_get_constraintdef(oid) AS definition "
        "FROM pg_constraint WHERE contype = 'p' AND conrelid = ANY(CAST(:tables AS regclass[]))",
        {"tables": list(tables)},
    )
    for key in keys:
        writer.execute(f"ALTER TABLE {key['table_name']} DROP CONSTRAINT {key['name']}")
    return [(key["table_name"], key["name"], key["definition"]) for key in keys]


def restore_primary_keys(writer: Writer, keys: PrimaryKeys) -> None:
    """Build again the keys set_aside_primary_keys dropped; a duplicate row makes this raise (SQLSTATE 23505)."""
    for table, name, definition in keys:
        writer.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


# Record (project, donor) pairs as givers, one statement for a page's pairs: each pair a probe
# of the primary key (INSERT .. ON CONFLICT DO NOTHING), whatever the planner's statistics say,
# and the new pairs returned. (Asking first with `donor_id IN (..)` let PostgreSQL, with
# statistics from when the project was small, scan every donor of the project for each chunk:
# half a second a batch for the largest project at full size. One statement a project and
# chunk of 500 took 4,201 statements and 1.0 s of the server's time at 300,000 commands:
# docs/PERFORMANCE.md, change 86.)
_ADD_PROJECT_DONORS: Final = {
    "postgresql": "INSERT INTO ft_project_donors (project_id, donor_id) "
    "SELECT * FROM unnest(CAST(:projects AS text[]), CAST(:donors AS text[])) "
    "ON CONFLICT DO NOTHING RETURNING project_id",
    "sqlite": "INSERT INTO ft_project_donors (project_id, donor_id) "
    "SELECT value ->> 0, value ->> 1 FROM json_each(:pairs) WHERE true "
    "ON CONFLICT DO NOTHING RETURNING project_id",
}


def _add_project_donors(writer: Writer, dialect: str, donors: dict[str, set[str]]) -> Counter[str]:
    """Record these donors as givers to their projects; how many, by project, had not given to it before."""
    pairs = sorted((project_id, donor_id) for project_id, donor_ids in donors.items() for donor_id in donor_ids)
    if not pairs:
        return Counter()
    if dialect == "postgresql":
        params: dict[str, Any] = {"projects": [pair[0] for pair in pairs], "donors": [pair[1] for pair in pairs]}
    else:
        params = {"pairs": orjson.dumps(pairs).decode()}
    return Counter(row["project_id"] for row in writer.query(_ADD_PROJECT_DONORS[dialect], params))


def _donor_range(column: str, first: str | None, until: str | None) -> tuple[str, dict[str, Any]]:
    """A WHERE clause for donor ids from `first` up to (not including) `until`, and its parameters."""
    conditions, params = [], {}
    if first is not None:
        conditions.append(f"{column} >= :first")
        params["first"] = first
    if until is not None:
        conditions.append(f"{column} < :until")
        params["until"] = until
    return ("WHERE " + " AND ".join(conditions) if conditions else ""), params


class ReadModel:
    """Writes facts with their tracking position in one transaction, and answers the report queries."""

    def __init__(self, database: Database, projection: str = "reports") -> None:
        self.database = database
        self.projection = projection
        # While rebuilding, the running totals are summed once at the end (create_tables), not per page.
        self._rebuilding = False

    def create_tables(self, locking: Part | None = None) -> None:
        """Create what is missing of the schema, and sum the totals of a read model that has none.

        `locking`, a part whose tracking table exists, has the transaction lock that part's file
        alone on SQLite (Database.transaction), where it would otherwise lock every file of the
        store: the import's report follower builds the report tables' indexes so, while the
        importing process records its snapshots in the events' file (change 123).
        """
        with self.database.transaction(locking) as writer:
            for statement in SCHEMA:
                writer.execute(self.database.placed("reports", _in_dialect(statement, self.database.dialect)))
            if writer.query("SELECT 1 AS found FROM ft_projects LIMIT 1") and not writer.query(
                "SELECT 1 AS found FROM ft_project_totals LIMIT 1"
            ):
                keys = set_aside_primary_keys(writer, self.database.dialect, ("ft_project_donors",))
                for statement in _BACKFILL_DONORS:
                    writer.execute(statement)
                restore_primary_keys(writer, keys)
                writer.execute(_BACKFILL_TOTALS)

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """Load without the secondary indexes and the running totals, and build both once at the end.

        That is much cheaper than row by row. If the process dies on the way, the next open
        builds them again (create_tables sums the totals of a read model that has none).
        """
        with self.database.transaction("reports") as writer:
            _drop_secondary_indexes(writer)
            # On PostgreSQL by TRUNCATE, where DELETE visited every row (full size: 0.4 s with its commit).
            self._empty_tables(writer, ["ft_project_totals", "ft_project_donors"])
        self._rebuilding = True
        try:
            yield
        finally:
            self._rebuilding = False
            self.create_tables()

    def set_indexes_aside_if_empty(self) -> bool:
        """Drop the secondary indexes if no event has been applied yet; True if they were.

        For a large first load (the report follower of an import into a new store): inserting
        into the tables alone and building each index once at the end costs much less than
        keeping them up row by row (docs/PERFORMANCE.md, change 97). The running totals are
        kept as usual, so the reports stay exact meanwhile, only slower. Any later
        create_tables (every open of the store, the follower's own at its end) builds them
        again, so a follower that dies leaves nothing to repair.
        """
        with self.database.transaction("reports") as writer:
            _, events = self.locked_tracking(writer)
            if events:
                return False
            _drop_secondary_indexes(writer)
        return True

    def reset(self) -> None:
        """Empty every table and move the tracking position back to the start, in one transaction."""
        with self.database.transaction("reports") as writer:
            self.empty(writer)

    def empty(self, writer: Writer) -> None:
        """reset(), inside the caller's transaction."""
        self.locked_tracking(writer)
        self._empty_tables(writer, TABLES[1:])
        writer.execute("DELETE FROM ft_tracking WHERE projection = :projection", {"projection": self.projection})

    def _empty_tables(self, writer: Writer, tables: list[str]) -> None:
        """Every row of `tables` gone: by TRUNCATE on PostgreSQL, by DELETE on SQLite.

        On PostgreSQL, DELETE would leave every old row behind, dead, for the new rows to be
        written past until a vacuum (full-size replay: 14.8 s to load the rows after TRUNCATE,
        18-22 s after DELETE). Readers wait for the transaction instead of seeing the old rows.
        """
        if self.database.dialect == "postgresql":
            writer.execute(f"TRUNCATE {', '.join(tables)}")
        else:
            for table in tables:
                writer.execute(f"DELETE FROM {table}")

    def analyze(self) -> None:
        """Refresh PostgreSQL's statistics of the read-model tables (SQLite plans well without them)."""
        self.analyze_aside()()

    def analyze_aside(self) -> Callable[[], object]:
        """analyze() on a connection of its own, while this one goes on; call the result to wait for it.

        After a replay the statistics are refreshed while the checksum is computed, which plans
        well without them (full size: the same time for the checksum with and without them).
        """
        if self.database.dialect != "postgresql":
            return lambda: None
        return self.database.query_aside(f"ANALYZE {', '.join(TABLES)}")

    def tracked(self) -> tuple[int, int]:
        """The last ledger position applied, and how many events that makes (positions may have gaps)."""
        rows = self.database.query(
            "SELECT position, events FROM ft_tracking WHERE projection = :projection", {"projection": self.projection}
        )
        return (int(rows[0]["position"]), int(rows[0]["events"])) if rows else (0, 0)

    def write(self, facts: list[Fact], position: int, events: int) -> None:
        """Apply `facts` and move the tracking position to `position` (`events` in all), all or nothing.

        The position only moves forward: a page that a concurrent catch-up applied whole is
        left out. A page that it applied in part (another page size) is applied again: its
        rows are written once (ON CONFLICT DO NOTHING), and only the events after the tracked
        ones are added to the running totals.
        """
        with self.database.transaction("reports") as writer:
            current, _ = self.locked_tracking(writer)
            if position <= current:
                return
            self._write_facts(writer, facts, applied=current)
            if not self._rebuilding:
                self._add_to_totals(writer, self.database.dialect, facts, current)
            self.track(writer, position, events)

    def write_packed(self, segments: PackedFacts, position: int, events: int) -> None:
        """write(), for facts that pack_facts turned into tuples."""
        with self.database.transaction("reports") as writer:
            current, _ = self.locked_tracking(writer)
            if position <= current:
                return
            for segment in segments:
                for kind, sql in _WRITES_BY_POSITION.items():
                    rows = segment.get(kind)
                    if rows and kind in _INSERTED_INTO:
                        writer.insert_rows(*insert_target(kind), rows, skip_existing=True)
                    elif rows:
                        writer.executemany_values(sql, rows)
            if not self._rebuilding:
                summed = ("project", "donation", "movement")
                facts = [
                    (kind, dict(zip(_COLUMNS[kind], row, strict=True)))
                    for segment in segments
                    for kind in summed
                    for row in segment.get(kind, ())
                ]
                self._add_to_totals(writer, self.database.dialect, facts, current)
            self.track(writer, position, events)

    def track(self, writer: Writer, position: int, events: int) -> None:
        """Move the tracking position to `position` (`events` in all), inside the caller's transaction."""
        writer.execute(
            "INSERT INTO ft_tracking (projection, position, events) VALUES (:projection, :position, :events) "
            "ON CONFLICT (projection) DO UPDATE SET position = excluded.position, events = excluded.events",
            {"projection": self.projection, "position": position, "events": events},
        )

    def apply_messages(self, messages: list[tuple[int, list[Fact]]]) -> int:
        """Apply each (ledger sequence, facts) not applied before, in one transaction; returns how many were new.

        Messages come from several partitions, so there is no single high-water mark: each
        sequence is recorded in ft_applied beside its facts, and a redelivery changes nothing.
        """
        with self.database.transaction("reports") as writer:
            position, _ = self.locked_tracking(writer)
            sequences = sorted({sequence for sequence, _ in messages})
            known = (
                {
                    int(row["sequence"])
                    for row in writer.query(
                        f"SELECT sequence FROM ft_applied WHERE sequence IN ({', '.join(map(str, sequences))})"
                    )
                }
                if sequences
                else set()
            )
            # A redelivered message may also repeat inside one poll: keep each sequence once.
            unique: dict[int, list[Fact]] = {}
            for sequence, facts in messages:
                if sequence not in known:
                    unique.setdefault(sequence, facts)
            fresh = list(unique.items())
            for sequence, _ in fresh:
                writer.execute("INSERT INTO ft_applied (sequence) VALUES (:sequence)", {"sequence": sequence})
            self._write_facts(writer, [fact for _, facts in fresh for fact in facts])
            # Only fresh messages are here: ft_applied, not the tracked count, says what was applied.
            self._add_to_totals(
                writer, self.database.dialect, [fact for _, facts in fresh for fact in facts], applied=0
            )
            events = int(writer.query("SELECT COUNT(*) AS applied FROM ft_applied")[0]["applied"])
            writer.execute(
                "INSERT INTO ft_tracking (projection, position, events) VALUES (:projection, :position, :events) "
                "ON CONFLICT (projection) DO UPDATE SET position = excluded.position, events = excluded.events",
                {"projection": self.projection, "position": max([position, *sequences]), "events": events},
            )
        return len(fresh)

    def locked_tracking(self, writer: Writer) -> tuple[int, int]:
        """The tracking position and events, read under a lock that concurrent catch-ups queue behind."""
        if self.database.dialect == "postgresql":
            writer.execute("LOCK TABLE ft_tracking IN SHARE ROW EXCLUSIVE MODE")
        rows = writer.query(
            "SELECT position, events FROM ft_tracking WHERE projection = :projection", {"projection": self.projection}
        )
        return (int(rows[0]["position"]), int(rows[0]["events"])) if rows else (0, 0)

    @staticmethod
    def _add_to_totals(writer: Writer, dialect: str, facts: list[Fact], applied: int) -> None:
        """Add a batch's donations and movements after ledger position `applied` to the running totals.

        A row's sequence is its event's ledger position, which can be past the count of events
        before it (positions may have gaps), so it is compared with the tracked position.
        """
        deltas: dict[str, dict[str, Any]] = {}
        donors: dict[str, set[str]] = defaultdict(set)
        opened: list[dict[str, Any]] = []
        for kind, row in facts:
            if kind == "project":
                opened.append({"project_id": row["project_id"]})
                continue
            if kind not in ("donation", "movement") or row["sequence"] <= applied:
                continue
            project_id = row["project_id"]
            delta = deltas.get(project_id)
            if delta is None:
                delta = deltas[project_id] = dict.fromkeys(_TOTALS, 0) | {"project_id": project_id}
            if kind == "donation":
                delta["donated"] += row["amount_minor"]
                delta["donation_count"] += 1
                donors[project_id].add(row["donor_id"])
            else:
                delta[row["kind"]] += row["amount_minor"]
        if opened:
            writer.executemany(
                "INSERT INTO ft_project_totals (project_id, donated, donation_count, donor_count, payout, "
                "payee_refund, donor_refund) VALUES (:project_id, 0, 0, 0, 0, 0, 0) ON CONFLICT DO NOTHING",
                opened,
            )
        for project_id, added in _add_project_donors(writer, dialect, donors).items():
            deltas[project_id]["donor_count"] = added
        if deltas:
            writer.executemany(_ADD_TO_TOTALS, list(deltas.values()))

    @staticmethod
    def _write_facts(writer: Writer, facts: list[Fact], applied: int | None = None) -> None:
        """Write the facts' rows, one statement per kind: every insert, then the updates in their order.

        An update only changes a row that an insert made (in this page or an earlier one), and
        an insert never changes a row that exists (ON CONFLICT DO NOTHING), so this gives the
        rows that applying the facts one by one gives. (Flushing the pending rows at each
        update instead took about ten statements a page for donations and movements.)

        With `applied`, the tracked position under the caller's lock, the rows of the events
        after it are known to be new: an event's rows are all written in the transaction that
        tracks it, and only then. Those kinds that carry their event's position are then
        inserted as fresh rows (on PostgreSQL, COPY straight into the table), the rows of
        events up to `applied` left out (docs/PERFORMANCE.md, change 85). A key taken all the
        same (an id recorded twice around the ledger's rules) keeps the row that was there.
        """
        by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for kind, row in facts:
            by_kind[kind].append(row)
        for kind in sorted(by_kind, key=_WRITE_ORDER.__getitem__):
            rows = by_kind[kind]
            if applied is not None and kind in _POSITIONED:
                fresh = [row for row in rows if row["sequence"] > applied]
                if fresh:
                    writer.insert_fresh_rows(*insert_target(kind), [_VALUES[kind](row) for row in fresh])
            else:
                _write_rows(writer, kind, rows)

    # The queries of projections.reports.ReportSource.

    def project(self, project_id: str) -> dict[str, Any] | None:
        rows = self.database.query(
            "SELECT project_id, foundation_id, currency, closed_at FROM ft_projects WHERE project_id = :id",
            {"id": project_id},
        )
        return rows[0] if rows else None

    def project_figures(self, project_id: str, as_of: int) -> dict[str, int]:
        params = {"id": project_id, "as_of": as_of}
        reserved_sql = (
            "SELECT COALESCE(SUM(amount_minor), 0) FROM ft_disbursements "
            "WHERE project_id = :id AND approved_at <= :as_of AND (paid_at IS NULL OR paid_at > :as_of)"
        )
        if as_of == END_OF_TIME:
            # Today's figures: the running totals and what is reserved, in one round trip.
            totals = self.database.query(
                f"SELECT {', '.join(_TOTALS)}, ({reserved_sql}) AS reserved FROM ft_project_totals "
                "WHERE project_id = :id",
                params,
            )
            if totals:
                return {key: int(value) for key, value in totals[0].items()}
        reserved = self.database.query(f"SELECT ({reserved_sql}) AS reserved", params)[0]
        return self.summed_figures(project_id, as_of, int(reserved["reserved"]))

    def summed_figures(self, project_id: str, as_of: int, reserved_minor: int) -> dict[str, int]:
        """A project's figures as of a moment, summed from its rows (the running totals only know today)."""
        params = {"id": project_id, "as_of": as_of}
        donated = self.database.query(
            "SELECT COALESCE(SUM(amount_minor), 0) AS donated, COUNT(*) AS donation_count, "
            "COUNT(DISTINCT donor_id) AS donor_count FROM ft_donations "
            "WHERE project_id = :id AND received_at <= :as_of",
            params,
        )[0]
        moved = self.database.query(
            "SELECT kind, COALESCE(SUM(amount_minor), 0) AS total FROM ft_movements "
            "WHERE project_id = :id AND at <= :as_of GROUP BY kind",
            params,
        )
        figures = {"payout": 0, "payee_refund": 0, "donor_refund": 0}
        figures.update({row["kind"]: int(row["total"]) for row in moved})
        figures.update({key: int(value) for key, value in donated.items()})
        figures["reserved"] = reserved_minor
        return figures

    def project_access(self, project_id: str) -> tuple[str, str] | None:
        """The foundation and the partner of a project, which decide who may read it."""
        rows = self.database.query(
            "SELECT foundation_id, partner_id FROM ft_projects WHERE project_id = :id", {"id": project_id}
        )
        return (rows[0]["foundation_id"], rows[0]["partner_id"]) if rows else None

    def projects_of_foundation(self, foundation_id: str) -> list[str]:
        return [row["project_id"] for row in self.foundation_projects(foundation_id)]

    def name_of(self, kind: str, business_id: str) -> str | None:
        table = {"project": "ft_projects", "payee": "ft_payees", "foundation": "ft_foundations"}[kind]
        rows = self.database.query(f"SELECT name FROM {table} WHERE {kind}_id = :id", {"id": business_id})
        return str(rows[0]["name"]) if rows else None

    def project_payouts(self, project_id: str) -> list[dict[str, Any]]:
        """Each paid disbursement of a project: payee and its name, amount, when, and what the payee returned.

        The names in the same query: one query a payout for them took 1.1 s for the largest
        project at full size on PostgreSQL (11,124 payouts).
        """
        return self.database.query(
            "SELECT d.disbursement_id, d.payee_id, p.name AS payee_name, d.currency, d.amount_minor, d.paid_at, "
            "COALESCE(SUM(m.amount_minor), 0) AS returned_minor FROM ft_disbursements d "
            "LEFT JOIN ft_payees p ON p.payee_id = d.payee_id "
            "LEFT JOIN ft_movements m ON m.disbursement_id = d.disbursement_id AND m.kind = 'payee_refund' "
            "WHERE d.project_id = :id AND d.paid_at IS NOT NULL "
            "GROUP BY d.disbursement_id, d.payee_id, p.name, d.currency, d.amount_minor, d.paid_at, d.paid_sequence "
            "ORDER BY d.paid_sequence",
            {"id": project_id},
        )

    def donation_position(self, donation_id: str) -> int | None:
        """The store position of the event that recorded the donation."""
        rows = self.database.query("SELECT sequence FROM ft_donations WHERE donation_id = :id", {"id": donation_id})
        return int(rows[0]["sequence"]) if rows else None

    def has(self, kind: str, business_id: str) -> bool:
        return bool(self.database.query(_HAS[kind], {"id": business_id}))

    def ids(self, kind: str) -> list[str]:
        return [row["id"] for row in self.database.query(_IDS[kind])]

    def donor_donations(self, donor_id: str, as_of: int) -> list[dict[str, Any]]:
        return self.database.query(
            "SELECT donation_id, project_id, currency, amount_minor FROM ft_donations "
            "WHERE donor_id = :id AND received_at <= :as_of ORDER BY sequence",
            {"id": donor_id, "as_of": as_of},
        )

    def every_donor_donations(self, first: str | None = None, until: str | None = None) -> Iterator[tuple[Any, ...]]:
        """(donor_id, donation_id, project_id, currency, amount_minor) of every donation, by donor, streamed.

        `first` and `until` narrow it to donor ids from `first` up to (not including) `until`.
        """
        where, params = _donor_range("donor_id", first, until)
        return self.database.stream(
            f"SELECT donor_id, donation_id, project_id, currency, amount_minor FROM ft_donations {where} "
            "ORDER BY donor_id, sequence",
            params,
        )

    def every_donor_spending(self, first: str | None = None, until: str | None = None) -> Iterator[tuple[Any, ...]]:
        """Every donor's movements, streamed by donor and in ledger order within each: (donor_id, donation_id, kind,
        disbursement_id, payee_id, amount_minor), each movement as it is, for donor_trail to sum.

        Summed in SQL, they would cost the database a second sort of all of them (full size,
        SQLite: 5.7 s for the grouped query, 3.1 s for the ordered rows). Summed by a generator
        here before donor_trail, they cost a tuple a movement more (full size, every donor's
        trail from the same rows: 1.72-1.85 s of CPU, against 1.59-1.66 s as they are).

        On SQLite the movements are read in one pass and sorted: with the secondary indexes in
        place, SQLite would walk the donations by donor and look each one's movements up by
        index, three times slower for half the donors at full size (3.83 s against 1.22 s).
        `NOT INDEXED` and the unary `+` keep it from those indexes.
        """
        sqlite = self.database.dialect == "sqlite"
        where, params = _donor_range("+d.donor_id" if sqlite else "d.donor_id", first, until)
        scanned = "ft_movements m NOT INDEXED" if sqlite else "ft_movements m"
        return self.database.stream(
            "SELECT d.donor_id, m.donation_id, m.kind, m.disbursement_id, m.payee_id, m.amount_minor "
            f"FROM {scanned} JOIN ft_donations d ON d.donation_id = m.donation_id {where} "
            "ORDER BY d.donor_id, m.sequence, m.position",
            params,
        )

    def donor_spending(self, donor_id: str, as_of: int) -> list[dict[str, Any]]:
        """Per donation and disbursement, what went to the payee net of returns; donor refunds apart."""
        return self.database.query(
            "SELECT m.donation_id, CASE WHEN m.kind = 'donor_refund' THEN 'donor_refund' ELSE 'payout' END AS kind, "
            "m.disbursement_id, m.payee_id, "
            "SUM(CASE WHEN m.kind = 'payee_refund' THEN -m.amount_minor ELSE m.amount_minor END) AS amount_minor, "
            "MIN(m.sequence) AS first_sequence "
            "FROM ft_movements m JOIN ft_donations d ON d.donation_id = m.donation_id "
            "WHERE d.donor_id = :id AND m.at <= :as_of AND d.received_at <= :as_of "
            "GROUP BY m.donation_id, CASE WHEN m.kind = 'donor_refund' THEN 'donor_refund' ELSE 'payout' END, "
            "m.disbursement_id, m.payee_id ORDER BY first_sequence",
            {"id": donor_id, "as_of": as_of},
        )

    def payee_totals(self, payee_id: str, as_of: int) -> list[dict[str, Any]]:
        return self.database.query(_PAYEE_TOTALS, {"id": payee_id, "as_of": as_of})

    def every_payee_totals(self) -> list[tuple[Any, ...]]:
        """payee_totals of every payee, as (payee_id, currency, kind, amount_minor).

        One query on PostgreSQL (full size: 0.13-0.16 s, against 0.34-0.64 s for one query a
        payee). SQLite sorts every movement for it (0.58 s), so there it is one query a payee
        through their index (0.43 s).
        """
        if self.database.dialect == "sqlite":
            return [
                (payee_id, *row)
                for payee_id in self.ids("payee")
                for row in self.database.tuples(_PAYEE_TOTALS, {"id": payee_id, "as_of": END_OF_TIME})
            ]
        return self.database.tuples(
            "SELECT payee_id, currency, kind, SUM(amount_minor) AS amount_minor FROM ft_movements "
            "WHERE kind IN ('payout', 'payee_refund') GROUP BY payee_id, currency, kind"
        )

    def foundation_projects(self, foundation_id: str) -> list[dict[str, Any]]:
        return self.database.query(
            "SELECT project_id, currency FROM ft_projects WHERE foundation_id = :id ORDER BY project_id",
            {"id": foundation_id},
        )
