"""`fundtrail bench`: the benchmark suite, written to BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from infra.bench.harness import run_benchmark


def bench(
    scale: Annotated[float, typer.Option("--scale", min=0.0001, max=10, help="1.0 is about a million commands.")] = 1.0,
    output: Annotated[Path, typer.Option("--output", help="Where to write the results.")] = Path("BENCHMARKS.md"),
    postgres: Annotated[
        str | None, typer.Option("--postgres", help="Also measure PostgreSQL at this URL (a schema per run).")
    ] = None,
    peers: Annotated[bool, typer.Option("--peers/--no-peers", help="Also time hledger, beancount, COPY.")] = True,
    load_requests: Annotated[
        int | None, typer.Option("--load-requests", min=10, max=100_000, help="Requests of the HTTP load test.")
    ] = None,
) -> None:
    """Measure import, replay, verify and report latency against the peers, and write BENCHMARKS.md."""
    typer.echo(run_benchmark(scale, output, postgres, peers, load_requests))


def register(app: typer.Typer) -> None:
    app.command()(bench)
