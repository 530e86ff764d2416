"""The pages a donor, the public and an auditor open, rendered by the server from the same reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from infra.web.api import create_app
from infra.web.pages import donor_flow
from tests.cli import fundtrail
from tests.web_fixtures import ServedLedger, served_ledger


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedLedger]:
    ledger = served_ledger(f"sqlite:///{tmp_path / 'served.db'}")
    yield ledger
    ledger.stores.close()


@pytest.fixture
def client(served: ServedLedger) -> TestClient:
    return TestClient(create_app(served.stores))


def test_a_donor_signs_in_and_sees_each_donation_and_where_it_went(client: TestClient, served: ServedLedger) -> None:
    assert 303 == client.get("/pages/donors/D1", follow_redirects=False).status_code
    signed_in = client.post(
        "/login", data={"token": served.tokens["donor"], "next": "/pages/donors/D1"}, follow_redirects=False
    )
    assert ("/pages/donors/D1", 303) == (signed_in.headers["location"], signed_in.status_code)
    page = client.get("/pages/donors/D1", params={"lang": "en"})
    assert 200 == page.status_code
    for seen in ("DN1", "500.00", "第一人民医院", "DN4", "300.00", "Still held by the foundation"):
        assert seen in page.text


def test_a_donor_cannot_open_another_donors_page(client: TestClient, served: ServedLedger) -> None:
    client.cookies.set("fundtrail_token", served.tokens["donor"])
    assert 403 == client.get("/pages/donors/D2").status_code


def test_the_page_speaks_chinese_to_a_chinese_browser(client: TestClient, served: ServedLedger) -> None:
    client.cookies.set("fundtrail_token", served.tokens["donor"])
    page = client.get("/pages/donors/D1", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "您的捐款去了哪里" in page.text
    assert 'lang="zh-CN"' in page.text


def test_the_flow_diagram_is_drawn_from_the_same_numbers_as_the_report() -> None:
    report = {
        "donor_id": "D2",
        "donations": [
            {
                "donation_id": "DN2",
                "project_id": "P-XL",
                "currency": "CNY",
                "amount": "3000.00",
                "unspent": "800.00",
                "refunded": "0.00",
                "spent": [
                    {"disbursement_id": "DS1", "payee_id": "H1", "amount": "1200.00"},
                    {"disbursement_id": "DS2", "payee_id": "H1", "amount": "1000.00"},
                ],
            }
        ],
    }
    flow = donor_flow(report, {"P-XL": "小林", "H1": "医院"}, {"refunded": "refunded", "still_held": "held"})
    assert {("D2", "小林", 300000), ("小林", "医院", 220000), ("小林", "held", 80000)} == {
        (link["source"], link["target"], link["value"]) for link in flow["links"]
    }


def test_the_public_project_page_shows_payouts_with_dates_and_names_no_donor(
    client: TestClient, served: ServedLedger
) -> None:
    page = client.get("/pages/projects/P-XL", params={"lang": "en"})
    assert 200 == page.status_code
    for seen in ("小林医疗救助", "4000.00", "3000.00", "1100.00", "第一人民医院", "2026-03-06", "2026-03-26"):
        assert seen in page.text
    for donor in ("D1", "D2", "张女士", "某企业工会"):
        assert donor not in page.text


def test_the_public_project_page_names_each_payee_from_the_payouts_query_itself(
    client: TestClient, served: ServedLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not one query a payout: the largest project at full size has 11,124 payouts."""
    asked: list[tuple[str, str]] = []
    name_of = served.stores.read_model.name_of

    def noting(kind: str, business_id: str) -> str | None:
        asked.append((kind, business_id))
        return name_of(kind, business_id)

    monkeypatch.setattr(served.stores.read_model, "name_of", noting)
    payouts = served.stores.read_model.project_payouts("P-XL")
    assert len(payouts) >= 2 and {row["payee_name"] for row in payouts} == {"第一人民医院"}
    page = client.get("/pages/projects/P-XL", params={"lang": "en"})
    assert 200 == page.status_code
    assert page.text.count("第一人民医院") >= len(payouts)
    assert [kind for kind, _ in asked] == ["project"]


def test_the_auditor_page_shows_the_checkpoint_and_verifies_a_pasted_receipt(
    client: TestClient, served: ServedLedger, tmp_path: Path
) -> None:
    store = served.stores.url
    environment = {"FUNDTRAIL_SIGNING_KEY": str(tmp_path / "k.key")}
    fundtrail(store, "keys", "init", env=environment)
    fundtrail(store, "checkpoint", env=environment)
    receipt = fundtrail(store, "receipt", "DN2", env=environment).stdout
    page = client.get("/pages/audit", params={"lang": "en"})
    assert "fundtrail/ledger" in page.text
    holds = client.post("/pages/audit", data={"receipt": receipt})
    assert "✓" in holds.text
    forged = json.loads(receipt)
    forged["leaf"]["payload"]["amount_minor"] += 1
    assert "✗" in client.post("/pages/audit", data={"receipt": json.dumps(forged)}).text
