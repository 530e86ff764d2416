"""An import with its followers returns with every event logged and projected: reports are ready at once."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest

import infra.database
import infra.follower
import infra.store
from infra.bench.generator import write_commands
from infra.cores import side_cores
from infra.database import Part, sqlite_reports_file
from infra.follower import PARTS, follow, following
from infra.importer import import_file
from infra.limits import (
    follower_index_sort_run_kib,
    follower_index_sort_threads,
    follower_niceness,
    follower_page_max,
    follower_sqlite_cache_kib,
    report_follower_page_max,
)
from infra.read_model import _SECONDARY_INDEXES, ReadModel
from infra.store import Stores, open_stores
from projections.checksum import reports_checksum
from tests.cli import fundtrail, output_json


def _positions(path: Path) -> dict[str, int]:
    with sqlite3.connect(sqlite_reports_file(path)) as connection:
        tracked = dict(connection.execute("SELECT projection, position FROM ft_tracking").fetchall())
    with sqlite3.connect(path) as connection:
        tracked.update(connection.execute("SELECT 'log', position FROM ft_log_tracking").fetchall())
        tracked["store"] = connection.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0]
    return tracked


def test_the_follower_projects_while_the_import_records(tmp_path: Path) -> None:
    commands = tmp_path / "commands.jsonl"
    write_commands(commands, 0.002)
    followed, alone = tmp_path / "followed.db", tmp_path / "alone.db"

    done = fundtrail(f"sqlite:///{followed}", "import", str(commands), "--follow")
    assert done.returncode in (0, 3), done.stderr
    # The process ends at once (exit_at_once), with the followers' semaphores released before.
    assert "leaked semaphore" not in done.stderr
    positions = _positions(followed)
    assert positions["store"] > 1900  # 2,000 commands, one event each but for the refused
    assert positions == {"reports": positions["store"], "log": positions["store"], "store": positions["store"]}

    done_alone = fundtrail(f"sqlite:///{alone}", "import", str(commands), "--no-follow")
    assert output_json(done_alone) == output_json(done)
    assert "reports" not in _positions(alone)  # without the follower, the reports wait for the next read

    checksums = [
        json.loads(fundtrail(f"sqlite:///{path}", "checksum").stdout)["checksum"] for path in (followed, alone)
    ]
    assert checksums[0] == checksums[1]


@pytest.mark.parametrize("part", PARTS)
def test_each_follower_applies_its_own_part_alone(tmp_path: Path, part: Part, monkeypatch: pytest.MonkeyPatch) -> None:
    commands, path = tmp_path / "commands.jsonl", tmp_path / "ledger.db"
    write_commands(commands, 0.001)
    stores = open_stores(f"sqlite:///{path}")
    try:
        import_file(stores.ledger, commands)
    finally:
        stores.close()
    recorded = _positions(path)["store"]
    assert set(_positions(path)) == {"store"}  # recorded, neither logged nor projected yet

    caches: list[list[int]] = []
    syncs: list[list[int]] = []
    pages: set[int] = set()
    indexed_while_following: set[bool] = set()
    opened = infra.store.open_stores

    def open_and_watch(url: str) -> Stores:
        stores = opened(url)
        close = stores.close
        catch_up = stores.catch_up_log if part == "log" else stores.catch_up_reports_in_sql

        def catching_up(page_max: int) -> int:
            pages.add(page_max)
            indexed_while_following.add(_secondary_indexes(path) == sorted(_SECONDARY_INDEXES))
            return catch_up(page_max=page_max)

        def closing() -> None:
            schemas = ["main", "ft_reports"]
            caches.append([stores.database.query(f"PRAGMA {name}.cache_size")[0]["cache_size"] for name in schemas])
            syncs.append([stores.database.query(f"PRAGMA {name}.synchronous")[0]["synchronous"] for name in schemas])
            close()

        monkeypatch.setattr(stores, "close", closing)
        monkeypatch.setattr(stores, "catch_up_log" if part == "log" else "catch_up_reports_in_sql", catching_up)
        return stores

    monkeypatch.setattr(infra.store, "open_stores", open_and_watch)
    done = multiprocessing.get_context("spawn").Event()
    done.set()  # the import is over: the follower catches its part up and returns
    follow(f"sqlite:///{path}", done, part)

    assert _positions(path) == {part: recorded, "store": recorded}
    # In KiB, as SQLite counts a negative cache size; for the events' file and the report tables' own.
    # The reports follower sorts its last index builds in runs sized by the main file's cache (change 124).
    main_cache = follower_index_sort_run_kib if part == "reports" else follower_sqlite_cache_kib
    assert caches == [[-main_cache, -follower_sqlite_cache_kib]]
    # The log shares the import's write lock; the report tables' own file takes larger pages.
    assert pages == {follower_page_max if part == "log" else report_follower_page_max}
    # The report follower's commits wait for the disk only at checkpoints (1 is NORMAL); the
    # log's leaves, what verify checks the events against, as the events do (FULL, SQLite's default).
    assert syncs == [[1, 1] if part == "reports" else [2, 2]]
    # The report follower loads an empty read model without its secondary indexes, and builds
    # them at its end; the log follower leaves them be.
    assert indexed_while_following == {part == "log"}
    assert _secondary_indexes(path) == sorted(_SECONDARY_INDEXES)


def _secondary_indexes(path: Path) -> list[str]:
    with sqlite3.connect(sqlite_reports_file(path)) as connection:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%' ORDER BY name"
        ).fetchall()
    return [name for (name,) in rows]


@contextmanager
def _imported(tmp_path: Path, scale: float) -> Iterator[tuple[Path, Stores]]:
    """A SQLite store that recorded generated commands, neither logged nor projected yet."""
    commands, path = tmp_path / "commands.jsonl", tmp_path / "ledger.db"
    write_commands(commands, scale)
    stores = open_stores(f"sqlite:///{path}")
    try:
        import_file(stores.ledger, commands)
        yield path, stores
    finally:
        stores.close()


def test_a_read_model_that_applied_events_keeps_its_indexes(tmp_path: Path) -> None:
    """Only a first load goes without indexes: set aside later, every report read meanwhile would scan."""
    with _imported(tmp_path, 0.001) as (path, stores):
        assert stores.catch_up_reports(until=5) == 5
        assert stores.read_model.set_indexes_aside_if_empty() is False
        assert _secondary_indexes(path) == sorted(_SECONDARY_INDEXES)
        stores.read_model.reset()
        assert stores.read_model.set_indexes_aside_if_empty() is True
        assert _secondary_indexes(path) == []


def test_reports_read_while_the_indexes_are_aside_are_the_same(tmp_path: Path) -> None:
    """Meanwhile reports are only slower; a store opened then builds the indexes (nothing is left to repair)."""
    with _imported(tmp_path, 0.002) as (path, stores):
        assert stores.read_model.set_indexes_aside_if_empty() is True
        stores.catch_up_reports()
        assert _secondary_indexes(path) == []
        unindexed = reports_checksum(stores.read_model)
        totals = stores.read_model.database.query("SELECT * FROM ft_project_totals ORDER BY project_id")
        stores.read_model.reset()
        stores.read_model.create_tables()
        stores.catch_up_reports()
        assert _secondary_indexes(path) == sorted(_SECONDARY_INDEXES)
        assert reports_checksum(stores.read_model) == unindexed
        assert stores.read_model.database.query("SELECT * FROM ft_project_totals ORDER BY project_id") == totals
        assert len(totals) > 1

        stores.read_model.reset()
        assert stores.read_model.set_indexes_aside_if_empty() is True
        open_stores(f"sqlite:///{path}").close()  # a reader, say, while a follower loads
        assert _secondary_indexes(path) == sorted(_SECONDARY_INDEXES)


def _first_load_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, watch: Callable[[sqlite3.Connection, str], None]
) -> tuple[Path, list[bool]]:
    """A store's first load by the reports follower, `watch` called with each statement of its own before it runs.

    Returns the store's path and what setting the indexes aside gave (once, True: a first load).
    The store's opening builds the indexes before they are set aside; `watch` sees the
    follower's statements from then on.
    """
    with _imported(tmp_path, 0.002) as (path, _):
        pass
    loads: list[bool] = []
    setting_aside = ReadModel.set_indexes_aside_if_empty
    executing = infra.database._SQLiteWriter.execute

    def set_indexes_aside_if_empty(read_model: ReadModel) -> bool:
        loads.append(setting_aside(read_model))
        return loads[-1]

    def execute(writer: infra.database._SQLiteWriter, sql: str, params: dict[str, Any] | None = None) -> None:
        if loads:
            watch(writer.connection, sql)
        executing(writer, sql, params)

    monkeypatch.setattr(ReadModel, "set_indexes_aside_if_empty", set_indexes_aside_if_empty)
    monkeypatch.setattr(infra.database._SQLiteWriter, "execute", execute)
    done = multiprocessing.get_context("spawn").Event()
    done.set()  # every event is recorded: it loads them without the indexes, then builds those
    follow(f"sqlite:///{path}", done, "reports")
    assert _secondary_indexes(path) == sorted(_SECONDARY_INDEXES)
    return path, loads


def test_the_follower_builds_the_indexes_with_the_events_file_free_to_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The importing process records its snapshots in the events' file while the indexes are built (change 123)."""
    writes: list[str] = []
    path = tmp_path / "ledger.db"

    def write_the_events_file(connection: sqlite3.Connection, sql: str) -> None:
        if sql.startswith("CREATE INDEX") and not writes:
            # Another process, as the importing one is, writing the events' file: it waits for no
            # lock, and fails if the follower's transaction holds that file's.
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("CREATE TABLE another_writer (x INTEGER)")
                other.execute("COMMIT")
                writes.append(sql)
            finally:
                other.close()

    assert _first_load_followed(tmp_path, monkeypatch, write_the_events_file) == (path, [True])
    assert len(writes) == 1


def test_the_follower_sorts_the_index_builds_in_runs_on_helper_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report tables' indexes at the end of a first load: runs of a few MiB, on two threads (change 124)."""
    seen: list[tuple[int, int]] = []

    def note_the_sorter(connection: sqlite3.Connection, sql: str) -> None:
        if sql.startswith("CREATE INDEX"):
            threads = connection.execute("PRAGMA threads").fetchone()[0]
            seen.append((threads, connection.execute("PRAGMA main.cache_size").fetchone()[0]))

    assert _first_load_followed(tmp_path, monkeypatch, note_the_sorter)[1] == [True]
    # Every build after the indexes were set aside: the follower's own, at the end.
    assert seen == [(follower_index_sort_threads, -follower_index_sort_run_kib)] * len(_SECONDARY_INDEXES)


def test_the_followers_get_every_core_once_every_event_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What they have left goes on beside the import's own last work, on every core (change 124)."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    open_stores(url).close()
    given: list[int] = []
    monkeypatch.setattr(infra.follower, "give_back", given.append)
    with following(url, enabled=True) as recorded:
        followers = sorted(
            process.pid
            for process in multiprocessing.active_children()
            if process.name.startswith("fundtrail-follower-") and process.pid is not None
        )
        assert given == []
        recorded()
        given_when_recorded = sorted(given)
    assert len(followers) == len(PARTS)
    assert given_when_recorded == followers


def test_the_followers_run_below_the_importing_process(tmp_path: Path) -> None:
    """The import waits for its deciding process alone; its followers take what CPU it leaves."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    open_stores(url).close()
    own = os.getpriority(os.PRIO_PROCESS, 0)

    with following(url, enabled=True):
        followers = [
            process for process in multiprocessing.active_children() if process.name.startswith("fundtrail-follower-")
        ]
        priorities = [os.getpriority(os.PRIO_PROCESS, process.pid) for process in followers if process.pid]
        cores = [os.sched_getaffinity(process.pid) for process in followers if process.pid]

    assert len(followers) == len(PARTS)
    assert priorities == [min(19, own + follower_niceness)] * len(PARTS)
    assert os.getpriority(os.PRIO_PROCESS, 0) == own  # the importing process keeps its own
    # Off the core the importing process keeps, where there are two or more (this machine's own otherwise).
    assert cores == [side_cores() or os.sched_getaffinity(0)] * len(PARTS)


def _wait_until_done(url: str, done: Event, part: Part) -> None:
    done.wait(timeout=30)


def test_followers_of_a_postgresql_import_keep_every_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """There the server's processes do most of the work: a core kept from the followers bought nothing."""
    moved: list[int] = []
    monkeypatch.setattr(infra.follower, "move_aside", moved.append)
    monkeypatch.setattr(infra.follower, "follow", _wait_until_done)
    with following("postgresql://postgres@127.0.0.1:5432/test", enabled=True):
        started = [process for process in multiprocessing.active_children() if process.name.startswith("fundtrail-")]
    assert len(started) == len(PARTS)
    assert moved == []


def _followers_alive() -> list[multiprocessing.process.BaseProcess]:
    return [process for process in multiprocessing.active_children() if process.name.startswith("fundtrail-follower-")]


def test_the_followers_finish_once_told_every_event_is_recorded_while_the_block_goes_on(tmp_path: Path) -> None:
    """What the import does after its last batch (its snapshots) runs beside the followers' end (change 101)."""
    with _imported(tmp_path, 0.001) as (path, _):
        url = f"sqlite:///{path}"
        recorded_at = _positions(path)["store"]
        with following(url, enabled=True) as recorded:
            recorded()
            deadline = time.monotonic() + 120
            while _followers_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _followers_alive() == []
            assert _positions(path) == {"reports": recorded_at, "log": recorded_at, "store": recorded_at}
            assert _secondary_indexes(path) == sorted(_SECONDARY_INDEXES)
