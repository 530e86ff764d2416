"""Every role against every endpoint, and the API's answers: codes, idempotency, who approved."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from infra.web.api import create_app
from tests.web_fixtures import ServedLedger, served_ledger

READS = ["/projects/P-XL", "/donors/D1", "/payees/H1", "/foundations/F-RC"]
# Expected status of each read, in the order of READS.
READ_ACCESS = {
    "nobody": [401, 401, 401, 401],
    "forged": [401, 401, 401, 401],
    "treasurer": [200, 200, 200, 200],
    "other_treasurer": [403, 200, 200, 403],
    "partner": [200, 403, 403, 403],
    "other_partner": [403, 403, 403, 403],
    "donor": [403, 200, 403, 403],
    "auditor": [200, 200, 200, 200],
    "public": [200, 403, 403, 403],
}
# Expected status of a new disbursement request on P-XL, and of closing P-XL.
COMMAND_ACCESS = {
    "nobody": (401, 401),
    "forged": (401, 401),
    "treasurer": (201, 201),
    "other_treasurer": (403, 403),
    "partner": (201, 403),
    "other_partner": (403, 403),
    "donor": (403, 403),
    "auditor": (403, 403),
    "public": (403, 403),
}
counter = itertools.count()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedLedger]:
    ledger = served_ledger(f"sqlite:///{tmp_path / 'served.db'}")
    ledger.tokens["forged"] = "ft_not-a-token"
    yield ledger
    ledger.stores.close()


@pytest.fixture
def client(served: ServedLedger) -> TestClient:
    return TestClient(create_app(served.stores))


def request_disbursement(amount: str = "10.00", **changes: Any) -> dict[str, Any]:
    return {
        "type": "request_disbursement",
        "disbursement_id": f"DS-HTTP-{next(counter)}",
        "project_id": "P-XL",
        "payee_id": "H1",
        "amount": amount,
        "purpose": "药费",
        "requested_by": "anyone",
        "requested_at": "2026-04-10T09:00:00+08:00",
        **changes,
    }


@pytest.mark.parametrize("who", READ_ACCESS)
def test_each_role_reads_exactly_what_its_table_allows(client: TestClient, served: ServedLedger, who: str) -> None:
    assert READ_ACCESS[who] == [client.get(path, headers=served.bearer(who)).status_code for path in READS]


@pytest.mark.parametrize("who", COMMAND_ACCESS)
def test_each_role_sends_exactly_the_commands_its_table_allows_and_a_refusal_records_nothing(
    client: TestClient, served: ServedLedger, who: str
) -> None:
    close = {"type": "close_project", "project_id": "P-XL", "closed_at": "2026-05-01T00:00:00+08:00"}
    statuses = []
    for command in (request_disbursement(), close):
        before = served.event_count()
        response = client.post("/commands", json=command, headers=served.bearer(who))
        statuses.append(response.status_code)
        assert "code" in response.json() or response.status_code < 400
        if response.status_code >= 400:
            assert before == served.event_count()
    assert COMMAND_ACCESS[who] == tuple(statuses)


def test_a_treasurer_of_another_foundation_sees_none_of_this_donors_gifts_here(
    client: TestClient, served: ServedLedger
) -> None:
    assert [] == client.get("/donors/D1", headers=served.bearer("other_treasurer")).json()["donations"]


def test_reports_are_exactly_the_cli_reports(client: TestClient, served: ServedLedger) -> None:
    expected = json.loads((Path(__file__).parents[1] / "scenario/xiaolin/expected/project-P-XL.json").read_text())
    assert expected == client.get("/projects/P-XL", headers=served.bearer("auditor")).json()
    as_of = json.loads(
        (Path(__file__).parents[1] / "scenario/xiaolin/expected/project-P-XL-as-of-2026-03-10.json").read_text()
    )
    response = client.get(
        "/projects/P-XL", params={"as_of": "2026-03-10T00:00:00+08:00"}, headers=served.bearer("auditor")
    )
    assert as_of == response.json()


@pytest.mark.parametrize(
    ("command", "status", "code"),
    [
        (request_disbursement(amount="10.001"), 422, "invalid_amount"),
        (request_disbursement(project_id="NOPE"), 404, "unknown_project"),
        (
            {
                "type": "approve_disbursement",
                "disbursement_id": "DS3",
                "approved_by": "x",
                "approved_at": "2026-04-03T10:00:00+08:00",
            },
            409,
            "already_decided",
        ),
        ({"type": "no_such_command"}, 422, "invalid_command"),
    ],
)
def test_refusals_carry_the_contracts_code_and_status(
    client: TestClient, served: ServedLedger, command: dict[str, Any], status: int, code: str
) -> None:
    response = client.post("/commands", json=command, headers=served.bearer("treasurer"))
    assert (status, code) == (response.status_code, response.json()["code"])


def test_a_duplicate_answers_200_and_a_body_that_is_not_json_answers_422(
    client: TestClient, served: ServedLedger
) -> None:
    command = request_disbursement()
    assert 201 == client.post("/commands", json=command, headers=served.bearer("treasurer")).status_code
    assert 200 == client.post("/commands", json=command, headers=served.bearer("treasurer")).status_code
    broken = client.post("/commands", content=b"{nope", headers=served.bearer("treasurer"))
    assert (422, "invalid_command") == (broken.status_code, broken.json()["code"])


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    client: TestClient, served: ServedLedger
) -> None:
    headers = {**served.bearer("treasurer"), "Idempotency-Key": "key-1"}
    command = request_disbursement()
    assert 201 == client.post("/commands", json=command, headers=headers).status_code
    again = client.post("/commands", json=command, headers=headers)
    assert (201, {"status": "applied"}) == (again.status_code, again.json())
    other = client.post("/commands", json=request_disbursement(), headers=headers)
    assert (409, "id_conflict") == (other.status_code, other.json()["code"])


def test_the_approver_is_the_authenticated_user_not_the_body(client: TestClient, served: ServedLedger) -> None:
    requested = request_disbursement()
    assert 201 == client.post("/commands", json=requested, headers=served.bearer("partner")).status_code
    approval = {
        "type": "approve_disbursement",
        "disbursement_id": requested["disbursement_id"],
        "approved_by": "someone-forged",
        "approved_at": "2026-04-10T15:00:00+08:00",
    }
    assert 201 == client.post("/commands", json=approval, headers=served.bearer("treasurer")).status_code
    recorded = [
        json.loads(n.state)
        for n in served.stores.application.recorder.select_notifications(1, 10_000)
        if n.topic.endswith(("DisbursementApproved", "DisbursementRequested"))
    ][-2:]
    assert [("requested_by", "tx-caseworker"), ("approved_by", "rc-director")] == [
        next((key, value) for key, value in event.items() if key.endswith("_by")) for event in recorded
    ]


def test_four_eyes_hold_even_when_the_body_names_someone_else(client: TestClient, served: ServedLedger) -> None:
    requested = request_disbursement()
    client.post("/commands", json=requested, headers=served.bearer("treasurer"))
    approval = {
        "type": "approve_disbursement",
        "disbursement_id": requested["disbursement_id"],
        "approved_by": "a-colleague",
        "approved_at": "2026-04-10T15:00:00+08:00",
    }
    response = client.post("/commands", json=approval, headers=served.bearer("treasurer"))
    assert (409, "same_approver") == (response.status_code, response.json()["code"])


def test_access_logs_carry_a_request_id_and_never_the_token(client: TestClient, served: ServedLedger) -> None:
    with capture_logs() as logs:
        response = client.get("/donors/D1", headers=served.bearer("donor"))
    finished = [entry for entry in logs if entry["event"] == "request_finished"]
    assert [("/donors/{identifier}", 200)] == [(entry["route"], entry["status"]) for entry in finished]
    assert response.headers["X-Request-ID"] == finished[0]["request_id"]
    assert served.tokens["donor"] not in repr(logs)
