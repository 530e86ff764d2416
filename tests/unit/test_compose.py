"""docker-compose.yml is a valid Compose file with the services the distributed set-up needs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    message = "neither `docker compose` nor Debian's docker-compose is installed (make test installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def test_compose_accepts_the_file_and_it_wires_postgres_kafka_and_our_services() -> None:
    done = subprocess.run(
        [*compose_command(), "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert 0 == done.returncode, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert {"postgres", "kafka", "api", "relay", "worker", "projections"} <= set(services)
    assert "apache/kafka" in services["kafka"]["image"]
    assert {"postgres", "kafka"} <= set(services["worker"]["depends_on"])
