"""The ledger's processes run the cyclic garbage collector with the thresholds of infra/limits.py."""

from __future__ import annotations

import gc
import multiprocessing
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
