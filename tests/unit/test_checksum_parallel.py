"""The checksum with half the donor trails encoded by a second process equals the checksum of one process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from infra.bench.generator import commands
from infra.checksum_parallel import (
    ChecksumHelper,
    reports_checksum_in_parallel,
    spawn_checksum_helper,
    start_helper,
)
from infra.store import Stores, open_stores
from projections.checksum import reports_checksum

# A helper that writes one entry and then fails.
_WROTE_THEN_FAILED = (
    "import json, sys; request = json.load(sys.stdin); "
    'open(request[\'path\'], \'wb\').write(b\'"D9":{"donor_id":"D9","donations":[]}\\n\'); sys.exit(1)'
)


def test_two_processes_give_the_checksum_of_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    stores = open_stores(url)
    try:
        stores.ledger.execute_batch(list(commands(0.0008, seed=41)))
        stores.catch_up()
        assert len(stores.read_model.ids("donor")) >= 10
        alone = reports_checksum(stores.read_model)
        with capture_logs() as logs:
            assert reports_checksum_in_parallel(url, stores.read_model, donors_min=0) == alone
        assert not [entry for entry in logs if entry["log_level"] == "warning"]

        # A helper that sees other books (here: none) is not trusted; this process does its half.
        other = f"sqlite:///{tmp_path / 'other.db'}"
        open_stores(other).close()
        with capture_logs() as logs:
            assert reports_checksum_in_parallel(other, stores.read_model, donors_min=0) == alone
        assert any(entry["event"] == "checksum_helper_failed" for entry in logs)
    finally:
        stores.close()


def test_a_helper_started_early_is_used_only_for_the_books_it_started_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    stores = open_stores(url)
    try:
        stream = list(commands(0.0008, seed=42))
        stores.ledger.execute_batch(stream[: len(stream) // 2])
        stores.catch_up()

        # As a replay starts it: most of the donors, before the secondary indexes exist.
        with stores.read_model.rebuilding():
            helper = start_helper(url, stores.read_model, share=0.65, donors_min=0)
            assert helper is not None
        assert helper.first > min(stores.read_model.ids("donor"))
        # The store URL (a password, on PostgreSQL) goes through the helper's stdin, not its command line.
        assert url not in str(helper.child.args)
        with capture_logs() as logs:
            assert reports_checksum_in_parallel(url, stores.read_model, helper=helper) == reports_checksum(
                stores.read_model
            )
        assert not [entry for entry in logs if entry["log_level"] == "warning"]

        # Books that moved on after it had written its entries: they are not used.
        _books_move_on_under_a_helper(url, stores, stream[len(stream) // 2 :], share=0.65)
    finally:
        stores.close()


def _books_move_on_under_a_helper(url: str, stores: Stores, later: list[dict[str, object]], share: float) -> None:
    """A helper that wrote the entries of the books as they stood, which then take `later` commands."""
    helper = start_helper(url, stores.read_model, share=share, donors_min=0)
    assert helper is not None
    assert helper.hashing == (share == 1.0)  # with every donor, a thread hashes its entries
    assert helper.child.wait() == 0
    stores.ledger.execute_batch(later)
    stores.catch_up()
    _helper_not_used(url, stores, helper)


def _helper_not_used(url: str, stores: Stores, helper: ChecksumHelper) -> None:
    """The checksum beside `helper`, whose entries cannot be used, is this process's own."""
    with capture_logs() as logs:
        assert reports_checksum_in_parallel(url, stores.read_model, helper=helper) == reports_checksum(
            stores.read_model
        )
    assert any(entry["event"] == "checksum_helper_failed" for entry in logs)


def test_the_helper_starts_without_the_ledger() -> None:
    """What the helper imports: the read model, not the ledger behind it (the whole CLI took 0.6 s to import)."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, infra.checksum_parallel, infra.store_url, infra.logging; "
            "print(sorted(name for name in sys.modules if name.split('.')[0] in ('services', 'eventsourcing', 'typer')"
            " or name == 'infra.store'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def _checksum_beside_a_failing_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: Callable[[], subprocess.Popen[bytes]], seed: int
) -> None:
    """The checksum in parallel, its helper process started by `child`, equals the checksum of one process."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    stores = open_stores(url)
    try:
        stores.ledger.execute_batch(list(commands(0.0008, seed=seed)))
        stores.catch_up()
        alone = reports_checksum(stores.read_model)
        monkeypatch.setattr(subprocess, "Popen", lambda args, **options: child())
        with capture_logs() as logs:
            assert reports_checksum_in_parallel(url, stores.read_model, donors_min=0) == alone
        assert any(entry["event"] == "checksum_helper_failed" for entry in logs)
    finally:
        stores.close()


def test_a_helper_that_ends_before_reading_its_request_leaves_the_work_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = subprocess.Popen

    def ended_at_once() -> subprocess.Popen[bytes]:
        child = real(["false"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        child.wait()  # Gone before the request is written: writing it breaks the pipe.
        return child

    _checksum_beside_a_failing_helper(tmp_path, monkeypatch, ended_at_once, seed=43)


def test_a_helper_that_fails_after_writing_some_entries_leaves_the_whole_checksum_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its entries are hashed as they come: those already hashed must not count when it then fails."""
    real = subprocess.Popen

    def failing_midway() -> subprocess.Popen[bytes]:
        return real([sys.executable, "-c", _WROTE_THEN_FAILED], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)

    _checksum_beside_a_failing_helper(tmp_path, monkeypatch, failing_midway, seed=44)


def test_a_helper_may_take_every_donor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a replay on PostgreSQL starts it: this process then encodes no trail and runs no donor query."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    stores = open_stores(url)
    try:
        stores.ledger.execute_batch(list(commands(0.0008, seed=45)))
        stores.catch_up()
        alone = reports_checksum(stores.read_model)
        helper = start_helper(url, stores.read_model, share=1.0, donors_min=0)
        assert helper is not None
        assert helper.first == min(stores.read_model.ids("donor"))
        assert helper.hashing  # its entries are the checksum's first bytes: a thread hashes them as they come

        def no_donor_query(*bounds: object) -> None:
            raise AssertionError("this process queried donors it had none of")

        monkeypatch.setattr(stores.read_model, "every_donor_donations", no_donor_query)
        monkeypatch.setattr(stores.read_model, "every_donor_spending", no_donor_query)
        with capture_logs() as logs:
            assert reports_checksum_in_parallel(url, stores.read_model, helper=helper) == alone
        assert not [entry for entry in logs if entry["log_level"] == "warning"]
    finally:
        stores.close()


def test_a_helper_with_every_donor_is_hashed_as_it_writes_and_checked_before_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its entries are hashed by a thread as the checksum's first bytes; a helper that fails, or books
    that moved on, leave the whole checksum to this process."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    stores = open_stores(url)
    try:
        stream = list(commands(0.0008, seed=46))
        stores.ledger.execute_batch(stream[: len(stream) // 2])
        stores.catch_up()
        _books_move_on_under_a_helper(url, stores, stream[len(stream) // 2 :], share=1.0)

        real = subprocess.Popen
        monkeypatch.setattr(
            subprocess,
            "Popen",
            lambda args, **options: real([sys.executable, "-c", _WROTE_THEN_FAILED], **options),
        )
        helper = start_helper(url, stores.read_model, share=1.0, donors_min=0)
        assert helper is not None
        assert helper.hashing
        _helper_not_used(url, stores, helper)
    finally:
        stores.close()


@contextmanager
def _generated_books(tmp_path: Path, seed: int) -> Iterator[tuple[str, Stores]]:
    """A SQLite store of a small generated ledger, its read model caught up: its URL and its stores."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    stores = open_stores(url)
    try:
        stores.ledger.execute_batch(list(commands(0.0008, seed=seed)))
        stores.catch_up()
        yield url, stores
    finally:
        stores.close()


def test_a_helper_spawned_ahead_of_its_request_gives_the_checksum_of_one(tmp_path: Path) -> None:
    """As a replay starts it, before the books are rebuilt: it gets its request once they are."""
    child = spawn_checksum_helper("sqlite")
    with _generated_books(tmp_path, seed=47) as (url, stores):
        # The store URL (a password, on PostgreSQL) is not on its command line: it comes with the request.
        assert url not in str(child.args)
        helper = start_helper(url, stores.read_model, share=0.65, donors_min=0, spawned=child)
        assert helper is not None and helper.child is child
        with capture_logs() as logs:
            checksum = reports_checksum_in_parallel(url, stores.read_model, helper=helper)
        assert checksum == reports_checksum(stores.read_model)
        assert child.returncode == 0
        assert not [entry for entry in logs if entry["log_level"] == "warning"]


def test_a_helper_spawned_ahead_for_books_with_too_few_donors_is_stopped(tmp_path: Path) -> None:
    with _generated_books(tmp_path, seed=48) as (url, stores):
        child = spawn_checksum_helper("sqlite")
        assert start_helper(url, stores.read_model, donors_min=10**6, spawned=child) is None
        assert child.returncode is not None  # stopped and waited for, not left behind
        assert child.stdin is not None and child.stdin.closed


def _replay_spawning_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], seed: int, **patched: Any
) -> list[subprocess.Popen[bytes]]:
    """A replay of generated books that spawns its checksum's helper ahead (cli's names `patched` too); the helpers
    it spawned, after checking that it printed the checksum of one process."""
    from infra import checksum_parallel, cli

    with _generated_books(tmp_path, seed=seed) as (url, stores):
        checksum = reports_checksum(stores.read_model)
    spawned: list[subprocess.Popen[bytes]] = []

    def spawning(dialect: str) -> subprocess.Popen[bytes]:
        spawned.append(spawn_checksum_helper(dialect))
        return spawned[-1]

    monkeypatch.setattr(cli, "parallel_checksum_donors_min", 1)
    monkeypatch.setattr(cli, "spawn_checksum_helper", spawning)
    monkeypatch.setattr(checksum_parallel, "spawn_checksum_helper", spawning)
    for name, value in patched.items():
        monkeypatch.setattr(cli, name, value)
    cli.replay(until_seq=None, store=url)
    # (Its last line: in a test, structlog's default writes log lines to stdout too.)
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["checksum"] == checksum
    return spawned


def test_a_replay_stops_the_helper_it_spawned_ahead_whatever_became_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Books with events enough for a helper spawned ahead, but too few donors to use it: none is left running."""
    spawned = _replay_spawning_ahead(tmp_path, monkeypatch, capsys, seed=49)
    assert len(spawned) == 1 and spawned[0].returncode is not None


def test_a_replay_the_python_way_hands_its_checksum_the_helper_it_spawned_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Books that SQL cannot rebuild: the helper spawned ahead encodes half of the donors, and no other starts."""

    def with_any_donors(url: str, source: Any, helper: Any = None, spawned: Any = None) -> str:
        return reports_checksum_in_parallel(url, source, donors_min=0, helper=helper, spawned=spawned)

    spawned = _replay_spawning_ahead(
        tmp_path,
        monkeypatch,
        capsys,
        seed=50,
        rebuild_in_sql=lambda *args, **kwargs: None,
        reports_checksum_in_parallel=with_any_donors,
    )
    # One helper, which did its share and exited well.
    assert len(spawned) == 1 and spawned[0].returncode == 0
