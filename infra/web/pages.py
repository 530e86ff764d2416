"""Server-rendered pages: a donor's trail with its flow chart, a project's public page, the auditor's page."""

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from domain.errors import DomainError
from domain.money import CURRENCY_EXPONENTS, format_amount
from infra.signing import VerifierKey, open_note
from infra.web.api import ApiError, authenticate
from infra.web.i18n import TEXTS, language
from projections.reports import donor_report, project_report
from services.access import may_read
from services.trust import check_receipt

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
COOKIE = "fundtrail_token"


def donor_flow(report: dict[str, Any], names: dict[str, str], words: dict[str, str]) -> dict[str, Any]:
    """Sankey nodes and links, in minor units, from exactly the numbers of the donor report."""
    links: dict[tuple[str, str], int] = {}
    exponent = 2
    for donation in report["donations"]:
        exponent = CURRENCY_EXPONENTS[donation["currency"]]
        project = names.get(donation["project_id"], donation["project_id"])

        def add(source: str, target: str, amount: str) -> None:
            minor = int(amount.replace(".", ""))
            if minor:
                links[(source, target)] = links.get((source, target), 0) + minor

        add(report["donor_id"], project, donation["amount"])
        for spent in donation["spent"]:
            add(project, names.get(spent["payee_id"], spent["payee_id"]), spent["amount"])
        add(project, words["refunded"], donation["refunded"])
        add(project, words["still_held"], donation["unspent"])
    nodes = sorted({name for pair in links for name in pair})
    return {
        "nodes": [{"name": name} for name in nodes],
        "exponent": exponent,
        "links": [{"source": source, "target": target, "value": value} for (source, target), value in links.items()],
    }


def add_pages(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    stores, lock, tokens = app.state.stores, app.state.lock, app.state.tokens

    def words_for(request: Request, lang: str | None) -> tuple[str, dict[str, str]]:
        chosen = language(lang, request.headers.get("accept-language"))
        return chosen, TEXTS[chosen]

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/", lang: str | None = None) -> Response:
        chosen, words = words_for(request, lang)
        return templates.TemplateResponse(request, "login.html", {"t": words, "lang": chosen, "next": next})

    @app.post("/login", include_in_schema=False)
    def login(token: Annotated[str, Form()], next: Annotated[str, Form()] = "/") -> Response:
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/pages/donors/{donor_id}", response_class=HTMLResponse, include_in_schema=False)
    def donor_page(request: Request, donor_id: str, lang: str | None = None) -> Response:
        chosen, words = words_for(request, lang)
        try:
            caller = authenticate(tokens, lock, request.headers.get("authorization"), request.cookies.get(COOKIE))
        except ApiError:
            return RedirectResponse(f"/login?next=/pages/donors/{donor_id}", status_code=303)
        if not may_read(caller, "donor", donor_id, None, None):
            return HTMLResponse("forbidden", status_code=403)
        with lock:
            stores.catch_up()
            try:
                report = donor_report(stores.read_model, donor_id)
            except DomainError as error:
                return HTMLResponse(error.message, status_code=404)
            names = {
                item["project_id"]: stores.read_model.name_of("project", item["project_id"]) or ""
                for item in report["donations"]
            }
            names.update(
                {
                    spent["payee_id"]: stores.read_model.name_of("payee", spent["payee_id"]) or ""
                    for item in report["donations"]
                    for spent in item["spent"]
                }
            )
        return templates.TemplateResponse(
            request,
            "donor.html",
            {
                "t": words,
                "lang": chosen,
                "report": report,
                "names": names,
                "flow": json.dumps(donor_flow(report, names, words), ensure_ascii=False),
            },
        )

    @app.get("/pages/projects/{project_id}", response_class=HTMLResponse, include_in_schema=False)
    def project_page(request: Request, project_id: str, lang: str | None = None) -> Response:
        """Public: what was raised, paid to whom and when, returned and held. No donor is named."""
        chosen, words = words_for(request, lang)
        with lock:
            stores.catch_up()
            try:
                report = project_report(stores.read_model, project_id)
            except DomainError as error:
                return HTMLResponse(error.message, status_code=404)
            payouts = [
                {
                    **row,
                    "payee_name": row["payee_name"] or row["payee_id"],
                    "amount": format_amount(row["amount_minor"], row["currency"]),
                    "returned": format_amount(int(row["returned_minor"]), row["currency"]),
                    "paid_on": _day(int(row["paid_at"])),
                }
                for row in stores.read_model.project_payouts(project_id)
            ]
            name = stores.read_model.name_of("project", project_id)
        return templates.TemplateResponse(
            request, "project.html", {"t": words, "lang": chosen, "report": report, "name": name, "payouts": payouts}
        )

    @app.get("/pages/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(request: Request, lang: str | None = None) -> Response:
        chosen, words = words_for(request, lang)
        with lock:
            checkpoints = stores.log.checkpoints()
        latest = checkpoints[-1]["note"] if checkpoints else None
        return templates.TemplateResponse(
            request, "audit.html", {"t": words, "lang": chosen, "checkpoint": latest, "result": None}
        )

    @app.post("/pages/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_receipt(request: Request, receipt: Annotated[str, Form()], lang: str | None = None) -> Response:
        chosen, words = words_for(request, lang)
        try:
            document = json.loads(receipt)
            key = VerifierKey.decode(document["public_key"])
            result = "✓ " + check_receipt(document, lambda note: open_note(note, key))
        except (ValueError, KeyError, TypeError) as error:
            result = f"✗ {error}"
        with lock:
            checkpoints = stores.log.checkpoints()
        return templates.TemplateResponse(
            request,
            "audit.html",
            {
                "t": words,
                "lang": chosen,
                "checkpoint": checkpoints[-1]["note"] if checkpoints else None,
                "result": result,
            },
        )


def _day(micros: int) -> str:
    from datetime import UTC, datetime, timedelta, timezone

    china = timezone(timedelta(hours=8))
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC).astimezone(china).date().isoformat()
