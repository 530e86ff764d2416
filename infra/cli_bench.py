"""`fundtrail bench`: the benchmark suite, written to BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


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
    kafka: Annotated[bool, typer.Option("--kafka/--no-kafka", help="Also time relay, worker and lag.")] = True,
    bootstrap: Annotated[
        str | None, typer.Option("--bootstrap", help="A Kafka broker HOST:PORT (default: start Tansu here).")
    ] = None,
    kafka_only: Annotated[
        bool, typer.Option("--kafka-only", help="Print only the Kafka figures (BENCHMARKS.md is left as it is).")
    ] = False,
) -> None:
    """Measure import, replay, verify and report latency against the peers, and write BENCHMARKS.md."""
    # Imported here: the harness and its peers added 0.12 s to every other command's start-up.
    from infra.bench.harness import Options, run_benchmark, run_kafka_benchmark

    if kafka_only:
        typer.echo(run_kafka_benchmark(scale, bootstrap))
        return
    typer.echo(run_benchmark(scale, output, Options(postgres, peers, load_requests, kafka, bootstrap)))


def register(app: typer.Typer) -> None:
    app.command()(bench)
