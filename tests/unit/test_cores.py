"""An import's side processes keep off the core its deciding process keeps, and get it back at the end."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infra import cores
from infra.cores import give_back, move_aside, side_cores


def test_the_side_processes_get_every_core_but_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2, 3, 5})
    assert side_cores() == {3, 5}
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {4})
    assert side_cores() is None  # one core: nothing to keep
    monkeypatch.delattr(os, "sched_getaffinity")
    assert side_cores() is None  # a system whose processes cannot choose their cores


def test_a_process_moved_aside_and_given_back() -> None:
    own = os.sched_getaffinity(0)
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        move_aside(child.pid)
        aside = os.sched_getaffinity(child.pid)
        give_back(child.pid)
        back = os.sched_getaffinity(child.pid)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
    if len(own) > 1:
        assert aside == own - {min(own)}
    else:
        assert aside == own
    assert back == own


def test_a_process_gone_already_is_only_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    warned: list[str] = []
    monkeypatch.setattr(cores.log, "warning", lambda event, **fields: warned.append(fields["error"]))
    give_back(child.pid)  # reaped: its pid names no process
    assert warned == ["ProcessLookupError"]
