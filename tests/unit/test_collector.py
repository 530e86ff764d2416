"""The ledger's processes run the cyclic garbage collector with the thresholds of infra/limits.py."""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.limits import collector_thresholds


@pytest.fixture
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@pytest.mark.usefixtures("default_thresholds")
def test_every_command_of_the_cli_sets_the_thresholds() -> None:
    from infra.cli import main

    assert gc.get_threshold() != collector_thresholds
    main()
    assert gc.get_threshold() == collector_thresholds
    assert gc.isenabled()


@pytest.mark.usefixtures("default_thresholds")
def test_the_follower_sets_the_thresholds(tmp_path: Path) -> None:
    from infra.follower import follow

    done = multiprocessing.get_context("spawn").Event()
    done.set()  # nothing to follow: it catches up once and returns
    follow(f"sqlite:///{tmp_path / 'ledger.db'}", done, "reports")
    assert gc.get_threshold() == collector_thresholds


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_inside_the_block_and_as_it_was_after(enabled: bool) -> None:
    from infra.collector import collector_paused

    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(RuntimeError), collector_paused():
            assert not gc.isenabled()
            raise RuntimeError("a failed import")
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_what_the_block_keeps_is_frozen_before_the_collector_runs_again() -> None:
    """Its next collection would otherwise walk every object the block made and kept (change 123)."""
    from infra.collector import collector_paused

    gc.enable()
    try:
        with collector_paused():
            kept = [[number] for number in range(20_000)]
        young = {id(item) for item in gc.get_objects(generation=0)}
        assert not any(id(item) in young for item in kept)
        assert gc.get_freeze_count() >= len(kept)
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


def test_the_cli_imports_with_the_collector_paused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import infra.cli
    from infra.importer import ImportSummary
    from infra.store import open_stores

    seen: list[bool] = []

    def import_file(*args: object, **kwargs: object) -> ImportSummary:
        seen.append(gc.isenabled())
        return ImportSummary()

    monkeypatch.setattr(infra.cli, "import_file", import_file)
    commands = tmp_path / "commands.jsonl"
    commands.write_text("")
    stores = open_stores(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        infra.cli._import(stores, commands, 10, follow=False)
    finally:
        stores.close()
    assert seen == [False]
    assert gc.isenabled()


@pytest.mark.usefixtures("default_thresholds")
def test_the_helper_that_prepares_an_imports_lines_sets_the_thresholds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import infra.line_reader as line_reader

    seen: list[tuple[int, ...]] = []

    def send_prepared_lines(path: Path, after: int, out: object) -> None:
        seen.append(gc.get_threshold())

    monkeypatch.setattr(line_reader, "read_request", lambda: {"path": str(tmp_path / "commands.jsonl"), "after": 0})
    monkeypatch.setattr(line_reader, "send_prepared_lines", send_prepared_lines)
    # The helper's stdout is its frames' pipe: here a file, and this process's stdout stays as it is.
    monkeypatch.setattr(os, "dup2", lambda source, target: None)
    with (tmp_path / "frames").open("wb") as frames:
        monkeypatch.setattr(sys, "stdout", frames)
        line_reader.main()
    assert seen == [collector_thresholds]
