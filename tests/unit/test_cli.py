"""The command line as a user meets it: exit codes, clean JSON on stdout, clear one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import fundtrail, output_json

COMMANDS = Path(__file__).parents[1] / "scenario" / "xiaolin" / "commands.jsonl"


def test_import_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    done = fundtrail(f"sqlite:///{tmp_path / 'a.db'}", "import", str(tmp_path / "missing.jsonl"))
    assert 2 == done.returncode
    assert "missing.jsonl" in done.stderr
    assert "Traceback" not in done.stderr


def test_import_of_clean_commands_exits_zero_with_the_summary(tmp_path: Path) -> None:
    clean = tmp_path / "clean.jsonl"
    clean.write_text("\n".join(COMMANDS.read_text().splitlines()[:7]) + "\n")
    done = fundtrail(f"sqlite:///{tmp_path / 'a.db'}", "import", str(clean))
    assert 0 == done.returncode
    assert {"applied": 7, "duplicates": 0, "rejected": []} == output_json(done)


def test_a_report_for_an_unknown_id_exits_one_with_its_code(tmp_path: Path) -> None:
    done = fundtrail(f"sqlite:///{tmp_path / 'a.db'}", "report", "project", "NOPE", "--json")
    assert 1 == done.returncode
    assert "unknown_project" == output_json(done)["code"]


def test_as_of_without_an_offset_is_a_usage_error(tmp_path: Path) -> None:
    done = fundtrail(f"sqlite:///{tmp_path / 'a.db'}", "report", "project", "P", "--as-of", "2026-03-10")
    assert 2 == done.returncode
    assert "offset" in done.stderr


def test_an_unsupported_store_url_is_one_line_naming_it_without_the_password(tmp_path: Path) -> None:
    done = fundtrail("mysql://user:secret@host/db", "report", "project", "P")
    assert 2 == done.returncode
    assert "secret" not in done.stderr
    assert "mysql://user:***@host/db" in done.stderr
    assert 1 == len(done.stderr.strip().splitlines())


def test_a_report_without_json_is_a_readable_table(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'a.db'}"
    fundtrail(store, "import", str(COMMANDS))
    done = fundtrail(store, "report", "donor", "D2")
    assert 0 == done.returncode
    assert "DN2" in done.stdout
    assert "1200.00" in done.stdout


def test_logs_are_structured_json_on_stderr(tmp_path: Path) -> None:
    done = fundtrail(f"sqlite:///{tmp_path / 'a.db'}", "import", str(COMMANDS))
    events = [json.loads(line) for line in done.stderr.splitlines()]
    finished = [event for event in events if event["event"] == "import_finished"]
    assert [22] == [event["applied"] for event in finished]
    assert all("correlation_id" in event for event in events)


def test_the_demo_shows_each_partys_view_on_a_fresh_ledger(tmp_path: Path) -> None:
    done = fundtrail(f"sqlite:///{tmp_path / 'unused.db'}", "demo")
    assert 0 == done.returncode, done.stderr
    for seen in ("Custody of foundation", "Project P-XL", "Where the donations of D2 went", "Payee H1", "2700.00"):
        assert seen in done.stdout
    assert not (tmp_path / "unused.db").exists()


def test_an_unreachable_postgresql_is_one_line_naming_the_url_without_the_password() -> None:
    done = fundtrail("postgresql://ledger:hunter2@127.0.0.1:1/books", "report", "project", "P")
    assert 2 == done.returncode
    assert "hunter2" not in done.stderr
    assert "postgresql://ledger:***@127.0.0.1:1/books" in done.stderr
    assert 1 == len(done.stderr.strip().splitlines())


def test_the_beancount_export_loads_without_errors_and_holds_the_custody(tmp_path: Path) -> None:
    from beancount import loader
    from beancount.core import realization

    store = f"sqlite:///{tmp_path / 'a.db'}"
    fundtrail(store, "import", str(COMMANDS))
    done = fundtrail(store, "export", "--format", "beancount")
    assert 0 == done.returncode, done.stderr
    entries, errors, _ = loader.load_string(done.stdout)
    assert [] == errors
    custody = realization.get(realization.realize(entries), "Assets:Custody:F-RC").balance  # type: ignore[no-untyped-call]
    assert "1100.00 CNY" == custody.to_string().strip("()")


def test_the_events_export_is_one_canonical_leaf_per_event(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'a.db'}"
    fundtrail(store, "import", str(COMMANDS))
    leaves = [json.loads(line) for line in fundtrail(store, "export", "--format", "events").stdout.splitlines()]
    assert list(range(1, 26)) == [leaf["sequence"] for leaf in leaves]  # 22 ledger events and 3 of the import
    assert {"sequence", "type", "topic", "aggregate_id", "version", "recorded_at", "payload"} == set(leaves[0])


def test_a_command_that_exits_at_once_still_writes_its_buffered_output_and_code() -> None:
    """exit_at_once skips the interpreter's teardown, not the output: stdout and stderr are flushed first."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from infra.cli_common import exit_at_once\n"
        "sys.stdout.write('{\"applied\": 1}')\n"
        "sys.stderr.write('last log line')\n"
        "exit_at_once(3)\n"
        "sys.stdout.write('never')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (3, '{"applied": 1}', "last log line")
