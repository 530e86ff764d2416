"""schemathesis against our own /openapi.json: no server error, and every refusal carries a code."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from infra.web.api import create_app
from tests.web_fixtures import served_ledger

_folder = tempfile.TemporaryDirectory(prefix="fundtrail-fuzz-")
SERVED = served_ledger(f"sqlite:///{Path(_folder.name) / 'fuzz.db'}")
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(SERVED.stores))


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_breaks_the_server_and_every_error_has_a_code(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
    response = case.call(headers=SERVED.bearer("treasurer"))
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("code"), str) and body.get("message"), body
