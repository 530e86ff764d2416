"""Runs the installed `fundtrail` command as a user would, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

FUNDTRAIL = str(Path(sys.executable).parent / "fundtrail")


def fundtrail(
    store: str, *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FUNDTRAIL_STORE=store, **(env or {}))
    return subprocess.run([FUNDTRAIL, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


def output_json(done: subprocess.CompletedProcess[str]) -> Any:
    """stdout must be exactly one JSON document: logs go to stderr."""
    return json.loads(done.stdout)
