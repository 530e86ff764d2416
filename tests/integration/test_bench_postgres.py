"""The benchmark on PostgreSQL leaves no schema behind, even when a measurement fails."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from infra.bench import harness
from infra.bench.harness import Options, StoreFigures, run_benchmark
from infra.store import open_stores


class MeasurementFailed(Exception):
    pass


def test_a_failed_measurement_drops_the_benchmark_schemas(
    postgres_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[str] = []

    def measure_store(name: str, url: str, *_: object) -> StoreFigures:
        if name == "PostgreSQL":
            for schema_url in (url, url.replace("schema=bench", "schema=bench_plain")):
                open_stores(schema_url).close()  # the store creates its schema, as an import would
                created.append(schema_url.rsplit("schema=", 1)[1])
            raise MeasurementFailed
        return StoreFigures(name, 0)

    monkeypatch.setattr(harness, "measure_store", measure_store)
    with pytest.raises(MeasurementFailed):
        run_benchmark(0.0005, tmp_path / "BENCHMARKS.md", Options(postgres=postgres_server, peers=False, kafka=False))
    assert created == [f"bench_{os.getpid()}", f"bench_plain_{os.getpid()}"]
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        left = connection.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (created,)).fetchall()
    assert left == []
    assert not (tmp_path / "BENCHMARKS.md").exists()
