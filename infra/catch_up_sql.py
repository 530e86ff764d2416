"""A catch-up of the report tables in SQL, a page of events at a time, for the import's report follower on SQLite.

The report follower used to turn each event into rows in Python (projections/facts.py) and
insert them: at full size about 20-25 s of CPU on the core that the import's helper and log
follower share, which made that core, not the deciding process, what the import waited for
(docs/PERFORMANCE.md, the twenty-fourth round). A replay makes the same rows in SQL over the
stored JSON (infra/rebuild_sql.py) in a fraction of that; here its statements are run for one
page of positions at a time, after the tracked one, in the transaction that moves the tracking
position, so each event is still applied once and the reports read meanwhile stay exact:

- each kind of row is inserted from its events in the page, ON CONFLICT DO NOTHING, as the
  Python catch-up inserts it; the updates (a project closed, a disbursement approved or paid)
  are applied after the inserts, one by one in ledger order, as there;
- the running totals get the same additions as ReadModel._add_to_totals gives them: a row of
  zeros for each project opened in the page, then each project's donations, new donors and
  movements of the page.

A page holding an event this SQL does not know (another class, a later version, an encrypted
or compressed store) is declined: `PageInSQL.apply` returns None and the caller applies the
events the Python way. Tests hold the two ways to the same tables for every kind of event.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

from eventsourcing.application import Application

from infra.database import SQLiteDatabase, Writer
from infra.read_model import UPDATES, ReadModel, insert_target, positional_write
from infra.rebuild_sql import SqlDialect, insert_statement, of_each_kind, select_statement, unknown_topics
from infra.store import EVENTS_TABLE
from projections.facts import instant_micros

# The kinds whose page rows the running totals are added from: kept in a temporary table of
# this connection's (made once, emptied after each page) and inserted from there.
_SUMMED: Final = ("project", "donation", "movement")
_TOTALS_COLUMNS: Final = ("donated", "donation_count", "donor_count", "payout", "payee_refund", "donor_refund")


def _page(kind: str) -> str:
    return f"temp.ft_page_{kind}"


# What each page adds to the running totals, by project: its donations (amount and count), the
# donors new to their project (its temporary table of pairs) and its movements, by kind.
_PAGE_DELTAS: Final = (
    f"SELECT project_id, {', '.join(f'SUM({name}) AS {name}' for name in _TOTALS_COLUMNS)} FROM ("
    f"SELECT project_id, amount_minor AS donated, 1 AS donation_count, 0 AS donor_count, 0 AS payout, "
    f"0 AS payee_refund, 0 AS donor_refund FROM {_page('donation')} "
    f"UNION ALL SELECT project_id, 0, 0, 1, 0, 0, 0 FROM {_page('donor_pairs')} "
    f"UNION ALL SELECT project_id, 0, 0, 0, "
    + ", ".join(
        f"CASE WHEN kind = '{kind}' THEN amount_minor ELSE 0 END" for kind in ("payout", "payee_refund", "donor_refund")
    )
    + f" FROM {_page('movement')}) added GROUP BY project_id"
)
_ADD_PAGE_TO_TOTALS: Final = (
    "UPDATE ft_project_totals SET "
    + ", ".join(f"{name} = ft_project_totals.{name} + d.{name}" for name in _TOTALS_COLUMNS)
    + f" FROM ({_PAGE_DELTAS}) d WHERE ft_project_totals.project_id = d.project_id"
)


class PageInSQL:
    """Applies pages of events to a SQLite read model in SQL, on the read model's own connection."""

    def __init__(self, application: Application[UUID], read_model: ReadModel) -> None:
        database = read_model.database
        if not isinstance(database, SQLiteDatabase):
            raise TypeError("the report tables are caught up in SQL on SQLite only")
        self.application, self.read_model, self.database = application, read_model, database
        self.dialect = SqlDialect("sqlite")
        self.table, self.position = EVENTS_TABLE["sqlite"]
        database.create_function("ft_instant_micros", instant_micros)
        for kind in _SUMMED:
            _, columns = insert_target(kind)
            database.connection.execute(f"CREATE TABLE IF NOT EXISTS {_page(kind)} ({', '.join(columns)})")
        database.connection.execute(f"CREATE TABLE IF NOT EXISTS {_page('donor_pairs')} (project_id, donor_id)")

    def apply(self, page_max: int) -> int | None:
        """Apply up to `page_max` events after the tracked position; how many, or None if the page is declined."""
        with self.database.transaction("reports") as writer:
            current, events = self.read_model.locked_tracking(writer)
            span = writer.query(
                f"SELECT COUNT(*) AS events, MAX(p) AS last FROM (SELECT {self.position} AS p FROM {self.table} "
                f"WHERE {self.position} > :after ORDER BY {self.position} LIMIT :limit) page",
                {"after": current, "limit": page_max},
            )[0]
            read = int(span["events"])
            if not read:
                return 0
            until = int(span["last"])
            bounds = {"after": current, "until": until}
            # Apart from the count: read with it, grouped by topic, a full-size import's pages took 0.93 s
            # against 0.80 s.
            topics = [
                row["topic"]
                for row in writer.query(
                    f"SELECT DISTINCT topic FROM {self.table} "
                    f"WHERE {self.position} > :after AND {self.position} <= :until",
                    bounds,
                )
            ]
            if unknown_topics(topics, self.application):
                return None
            self._write_rows(writer, topics, bounds)
            self._add_to_totals(writer)
            # Emptied for the next page (a page that fails rolls back its temporary rows too).
            for kind in (*_SUMMED, "donor_pairs"):
                writer.execute(f"DELETE FROM {_page(kind)}")
            self.read_model.track(writer, until, events + read)
        return read

    def _write_rows(self, writer: Writer, topics: list[str], bounds: dict[str, int]) -> None:
        """Every row of the page's events: the inserts of each kind, then the updates in ledger order."""
        events = self._events()
        for kind, _, columns, topic in of_each_kind(topics):
            params = bounds | {"topic": topic}
            select = select_statement(self.dialect, columns, events, ordered=kind in UPDATES)
            if kind in UPDATES:
                # Few rows, and a later update of the same row wins: applied one by one, in order.
                rows = writer.query(select, params)
                writer.executemany_values(positional_write(kind), [tuple(row.values()) for row in rows])
            elif kind in _SUMMED:
                writer.execute(f"INSERT INTO {_page(kind)} {select}", params)
                writer.execute(insert_statement(kind, f"SELECT * FROM {_page(kind)}"))
            else:
                writer.execute(insert_statement(kind, select), params)

    def _events(self) -> str:
        """The page's events of topic :topic: `sequence` and the state as JSON, `s`."""
        table, position = self.table, f"{self.table}.{self.position}"
        return (
            f"SELECT {position} AS sequence, CAST({table}.state AS TEXT) AS s FROM {table} "
            f"WHERE {position} > :after AND {position} <= :until AND {table}.topic = :topic"
        )

    @staticmethod
    def _add_to_totals(writer: Writer) -> None:
        """ReadModel._add_to_totals, for the page's rows: a row of zeros for each project opened, then the additions."""
        writer.execute(
            "INSERT INTO ft_project_totals (project_id, donated, donation_count, donor_count, payout, payee_refund, "
            f"donor_refund) SELECT project_id, 0, 0, 0, 0, 0, 0 FROM {_page('project')} WHERE true "
            "ON CONFLICT DO NOTHING"
        )
        # The donors new to their project: the pairs the donors' table did not hold before this page.
        writer.execute(
            f"INSERT INTO {_page('donor_pairs')} (project_id, donor_id) SELECT DISTINCT project_id, donor_id "
            f"FROM {_page('donation')} d WHERE NOT EXISTS (SELECT 1 FROM ft_project_donors g "
            "WHERE g.project_id = d.project_id AND g.donor_id = d.donor_id)"
        )
        writer.execute(
            "INSERT INTO ft_project_donors (project_id, donor_id) SELECT project_id, donor_id "
            f"FROM {_page('donor_pairs')} WHERE true ON CONFLICT DO NOTHING"
        )
        writer.execute(_ADD_PAGE_TO_TOTALS)
