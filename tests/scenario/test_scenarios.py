"""Every scenario (our copy of xiaolin, and any in the shared folder beside the repo) end to end through the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli import fundtrail, output_json

HERE = Path(__file__).parent
SHARED = HERE.parents[2] / "shared" / "scenarios"
FOLDERS = sorted({*HERE.glob("*/commands.jsonl"), *SHARED.glob("*/commands.jsonl")})


def report_args(name: str) -> list[str]:
    kind, _, rest = name.removesuffix(".json").partition("-")
    if "-as-of-" in rest:
        business_id, day = rest.split("-as-of-")
        return ["report", kind, business_id, "--json", "--as-of", f"{day}T00:00:00+08:00"]
    return ["report", kind, rest, "--json"]


def test_the_shared_scenarios_are_found_when_ci_runs_beside_them() -> None:
    if os.environ.get("CI") == "true":
        assert SHARED.is_dir(), "CI runs with shared/ beside the clone"
    assert any(path.parent.name == "xiaolin" for path in FOLDERS)


@pytest.mark.parametrize("commands", FOLDERS, ids=lambda path: f"{path.parent.parent.name}/{path.parent.name}")
def test_a_scenario_gives_the_expected_import_summary_and_reports(commands: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'scenario.db'}"
    expected_dir = commands.parent / "expected"
    done = fundtrail(store, "import", str(commands))
    summary = output_json(done)
    expected = json.loads((expected_dir / "import.json").read_text())
    assert (expected["applied"], expected["duplicates"]) == (summary["applied"], summary["duplicates"])
    assert [(r["line"], r["code"]) for r in expected["rejected"]] == [
        (r["line"], r["code"]) for r in summary["rejected"]
    ]
    assert all(r["message"] for r in summary["rejected"])
    assert (3 if expected["rejected"] else 0) == done.returncode
    for path in sorted(expected_dir.glob("*.json")):
        if path.name == "import.json":
            continue
        report = fundtrail(store, *report_args(path.name))
        assert 0 == report.returncode, report.stderr
        assert json.loads(path.read_text()) == output_json(report), path.name


def test_importing_the_same_file_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'twice.db'}"
    commands = HERE / "xiaolin" / "commands.jsonl"
    fundtrail(store, "import", str(commands))
    first = output_json(fundtrail(store, "report", "project", "P-XL", "--json"))
    again = output_json(fundtrail(store, "import", str(commands)))
    assert 0 == again["applied"]
    assert 23 == again["duplicates"]
    assert first == output_json(fundtrail(store, "report", "project", "P-XL", "--json"))
