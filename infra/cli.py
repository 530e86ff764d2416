"""The `fundtrail` command line: import commands, print reports, run the demo."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import structlog
import typer
from eventsourcing.persistence import PersistenceError
from rich.console import Console
from rich.progress import Progress

from domain.errors import DomainError
from infra import cli_bench, cli_kafka, cli_reconcile, cli_trust, cli_web, render
from infra.checksum_parallel import ChecksumHelper, reports_checksum_in_parallel, spawn_checksum_helper, start_helper
from infra.cli_common import (
    EXIT_NOT_FOUND,
    EXIT_REJECTED,
    EXIT_USAGE,
    StoreOption,
    exit_at_once,
    fail,
    open_or_exit,
    print_json,
)
from infra.collector import collect_less_often, collector_paused
from infra.database import SQLiteDatabase
from infra.follower import following
from infra.helper_process import stop_helper_process
from infra.importer import ImportInterrupted, ImportSummary, import_file
from infra.limits import (
    follower_file_bytes_min,
    parallel_checksum_donors_min,
    projection_poll_seconds_max,
    replay_checksum_helper_share,
)
from infra.line_reader import prepares_in_helper
from infra.logging import bind_correlation_id, configure_logging
from infra.read_model import ReadModel
from infra.rebuild_parallel import rebuild_in_parallel
from infra.rebuild_sql import rebuild_in_sql
from infra.store import Stores
from projections.checksum import reports_checksum
from projections.facts import instant_micros
from projections.reports import END_OF_TIME, REPORTS
from services.limits import import_batch_max
from services.read_side import catch_up, rebuild

app = typer.Typer(
    help="Fundtrail: an event-sourced donation and grant ledger (管用分离: custody apart from use).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = structlog.get_logger()
stdout = Console()


@app.callback()
def main() -> None:
    configure_logging()
    collect_less_often()


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="JSON Lines file, one command a line.")],
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=import_batch_max, help="Commands recorded per transaction.")
    ] = import_batch_max,
    follow: Annotated[
        bool | None,
        typer.Option(
            "--follow/--no-follow",
            help="Log and project the events in two more processes while importing, so reports are ready at the "
            "end (default: for files of 4 MiB and more).",
        ),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Apply every command of FILE; print the summary; exit 3 when any line was rejected."""
    if not file.is_file():
        typer.echo(f"fundtrail: cannot read {file}: no such file", err=True)
        raise typer.Exit(EXIT_USAGE)
    stores = open_or_exit(store, "import")
    try:
        summary = _import(stores, file, batch_size, follow)
    except OSError as error:
        typer.echo(f"fundtrail: cannot read {file}: {error.strerror}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except ImportInterrupted as interrupted:
        print_json(interrupted.summary.as_dict())
        typer.echo(
            f"fundtrail: import stopped: {interrupted}; lines before {interrupted.line} are recorded, "
            "import the file again to finish (applied lines count as duplicates)",
            err=True,
        )
        raise typer.Exit(EXIT_NOT_FOUND) from None
    finally:
        stores.close()
    print_json(summary.as_dict())
    # Every batch is committed, the followers and the helper are done and the stores closed.
    exit_at_once(EXIT_REJECTED if summary.rejected else 0)


def _import(stores: Stores, file: Path, batch_size: int, follow: bool | None) -> ImportSummary:
    """The import of `file`, with its followers when asked (or for a large file), and the log caught up after.

    Its own function, so that the followers' synchronisation objects are released when it
    returns: nothing is left for the process's exit to clean up (exit_at_once).
    """
    size = file.stat().st_size
    followed = follow if follow is not None else size >= follower_file_bytes_min
    in_helper = prepares_in_helper(size)
    with following(stores.url, followed) as recorded, collector_paused():
        if sys.stderr.isatty():
            total = sum(1 for _ in file.open("rb"))
            with Progress(console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task("importing", total=total)
                summary = import_file(
                    stores.ledger,
                    file,
                    batch_size,
                    lambda done: bar.advance(task, done),
                    prepare_in_helper=in_helper,
                    recorded=recorded,
                )
        else:
            summary = import_file(stores.ledger, file, batch_size, prepare_in_helper=in_helper, recorded=recorded)
    try:
        stores.catch_up_log()
    except PersistenceError as error:
        # Every batch is committed; the log catches up at the next command that reads.
        log.warning("log_catch_up_postponed", error=type(error).__name__)
    return summary


def parse_as_of(text: str | None) -> int:
    if text is None:
        return END_OF_TIME
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        typer.echo(f"fundtrail: --as-of {text!r} must be an ISO 8601 time with an offset", err=True)
        raise typer.Exit(EXIT_USAGE)
    return instant_micros(moment.isoformat())


@app.command()
def report(
    kind: Annotated[str, typer.Argument(help="project, donor, payee or foundation.")],
    identifier: Annotated[str, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the contract's JSON.")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Count only what happened at or before TIME.")] = None,
    store: StoreOption = None,
) -> None:
    """Print one report: a project's balance, a donor's trail, a payee's totals, a foundation's custody."""
    if kind not in REPORTS:
        typer.echo(f"fundtrail: report kind {kind!r} is not one of {', '.join(REPORTS)}", err=True)
        raise typer.Exit(EXIT_USAGE)
    moment = parse_as_of(as_of)
    stores = open_or_exit(store, "report")
    try:
        stores.catch_up()
        result = REPORTS[kind](stores.read_model, identifier, moment)
    except DomainError as error:
        if as_json:
            print_json(error.as_dict())
        else:
            typer.echo(f"fundtrail: {error.code}: {error.message}", err=True)
        raise typer.Exit(EXIT_NOT_FOUND) from None
    finally:
        stores.close()
    if as_json:
        print_json(result)
    else:
        render.report(stdout, kind, result)


@app.command()
def replay(
    until_seq: Annotated[
        int | None, typer.Option("--until-seq", min=0, help="Only the first N events: the books as they stood then.")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Rebuild every read model from the events alone; print the event count and the reports' checksum.

    With --until-seq the books are rebuilt aside, in memory, and the live read model is left as it is.
    """
    stores = open_or_exit(store, "replay")
    helper: ChecksumHelper | None = None
    spawned: subprocess.Popen[bytes] | None = None
    try:
        if until_seq is None:
            target = stores.read_model
            if target.tracked()[1] >= parallel_checksum_donors_min:
                # Books that may have donors enough for the checksum's helper: it starts now and
                # imports while the books are rebuilt (start_helper stops it if they have fewer).
                spawned = spawn_checksum_helper(target.database.dialect)
        else:
            target = ReadModel(SQLiteDatabase(":memory:"))
            target.create_tables()
        with target.rebuilding():
            if until_seq is not None:
                events = rebuild(stores.application, target, until_seq, select=stores.select_notifications)
            elif rebuild_in_sql(stores.application, target) is None:
                events = rebuild_in_parallel(stores, target)
            else:
                # Whatever was stored after the rebuild's snapshot.
                catch_up(stores.application, target, select=stores.select_notifications)
                events = target.tracked()[1]
                # Donor trails need no secondary index: their helper starts while this process builds them.
                share = replay_checksum_helper_share[target.database.dialect]
                helper, spawned = start_helper(stores.url, target, share=share, spawned=spawned), None
        analyzed = target.analyze_aside()
        if until_seq is not None:
            checksum = reports_checksum(target)
        else:
            # After a rebuild the Python way, the helper spawned ahead (if any) takes half of the donors.
            handed, spawned = spawned, None
            checksum = reports_checksum_in_parallel(stores.url, target, helper=helper, spawned=handed)
        analyzed()
    finally:
        if spawned is not None:
            stop_helper_process(spawned)  # unused: the rebuild failed
        if helper is not None:
            helper.close()
        stores.close()
    log.info("replay_finished", events=events, checksum=checksum)
    print_json({"events": events, "checksum": checksum})


@app.command()
def checksum(store: StoreOption = None) -> None:
    """Print the checksum of the live read model (after catching up), to compare with a replay's."""
    stores = open_or_exit(store, "checksum")
    try:
        stores.catch_up()
        checksum = reports_checksum_in_parallel(stores.url, stores.read_model)
        print_json({"events": stores.read_model.tracked()[1], "checksum": checksum})
    finally:
        stores.close()


projections_app = typer.Typer(help="Keep the read models up to date.", no_args_is_help=True)
app.add_typer(projections_app, name="projections")


@projections_app.command("run")
def projections_run(
    until_idle: Annotated[
        float | None, typer.Option("--until-idle", min=0, help="Exit after SECONDS with nothing new.")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Follow the event log and apply each new event to the read models exactly once, until stopped."""
    stores = open_or_exit(store, "projections")
    idle_since = time.monotonic()
    try:
        while True:
            applied = stores.catch_up()
            now = time.monotonic()
            if applied:
                idle_since = now
                log.info("projection_advanced", events=applied, position=stores.read_model.tracked()[0])
            elif until_idle is not None and now - idle_since >= until_idle:
                break
            else:
                time.sleep(projection_poll_seconds_max)
    except KeyboardInterrupt:
        log.info("projection_stopped", position=stores.read_model.tracked()[0])
    finally:
        stores.close()


@app.command("forget-donor")
def forget_donor(donor_id: Annotated[str, typer.Argument(metavar="DONOR_ID")], store: StoreOption = None) -> None:
    """Erase a donor's personal data: destroy the key that seals it (PIPL / GDPR); amounts and trails stay."""
    stores = open_or_exit(store, "forget-donor")
    try:
        outcome = stores.ledger.forget_donor(donor_id)
        stores.catch_up()
    finally:
        stores.close()
    if outcome.status == "rejected":
        raise fail(f"{outcome.code}: {outcome.message}")
    log.info("donor_forgotten", outcome=outcome.status)
    typer.echo(f"donor {donor_id}: personal data erased" + (" (already)" if outcome.status == "duplicate" else ""))


@app.command("donor-name")
def donor_name(donor_id: Annotated[str, typer.Argument(metavar="DONOR_ID")], store: StoreOption = None) -> None:
    """Show a donor's display name to the foundation (it is stored only sealed); exit 1 once forgotten."""
    stores = open_or_exit(store, "donor-name")
    try:
        name = stores.donor_name(donor_id)
    finally:
        stores.close()
    if name is None:
        raise fail(f"donor {donor_id}: no readable name (anonymous, none given, or forgotten)")
    typer.echo(name)


@app.command()
def demo(
    store: Annotated[
        str | None, typer.Option("--store", help="Keep the demo ledger here instead of a temporary file.")
    ] = None,
) -> None:
    """Run a realistic story on a fresh embedded ledger and show what each party sees."""
    from infra.demo import run_demo

    bind_correlation_id("demo")
    raise typer.Exit(run_demo(stdout, store))


cli_trust.register(app)
cli_web.register(app)
cli_kafka.register(app)
cli_reconcile.register(app)
cli_bench.register(app)


def run() -> None:
    app()
