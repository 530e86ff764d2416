"""The JSON API: commands and reports behind bearer tokens, on the same services as the CLI."""

import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import orjson
import structlog
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.commands import AnyCommand
from domain.errors import ERROR_CODES, DomainError
from infra.store import Stores
from infra.tokens import TokenStore
from infra.web.idempotency import IdempotencyStore
from projections.facts import instant_micros
from projections.reports import END_OF_TIME, REPORTS
from services.access import Principal, may_read
from services.ledger import Forbidden

log = structlog.get_logger()
_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
NOT_FOUND = {code for code in ERROR_CODES if code.startswith("unknown_")}
UNPROCESSABLE = {"invalid_command", "invalid_amount"}
_JSON_OBJECT: dict[str, Any] = {
    "description": "The report",
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def status_of(code: str) -> int:
    """422 for invalid input, 404 for unknown ids, 409 for conflicts and rule breaches."""
    if code in UNPROCESSABLE:
        return 422
    return 404 if code in NOT_FOUND else 409


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


class AccessLog:
    """Logs each request with its id, and returns the id in X-Request-ID.

    Plain ASGI: Starlette's @app.middleware("http") (BaseHTTPMiddleware) runs the rest of the
    app in a task of its own and streams the response through it, on every request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((value.decode("latin-1") for key, value in scope["headers"] if key == b"x-request-id"), "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # The route's template, never the raw path or query: no ids, tokens or personal data in the log.
            log.info(
                "request_finished",
                request_id=request_id,
                method=scope["method"],
                route=getattr(scope.get("route"), "path", "unmatched"),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def current_principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The FastAPI dependency: the caller of the request's bearer token."""
    return authenticate(request.app.state.tokens, request.app.state.lock, authorization, request_cookie=None)


async def bearer_header(authorization: Annotated[str | None, Header()] = None) -> str | None:
    """The reports' dependency: the Authorization header, for the endpoint to look up in its own thread.

    current_principal, a plain function, runs in a worker thread of its own before the
    endpoint's: two thread hops a request instead of one.
    """
    return authorization


def create_app(stores: Stores) -> FastAPI:
    """The API over one open store; one lock keeps the single-writer ledger and its read model consistent."""
    app = FastAPI(title="Fundtrail", version="1", description="Donation and grant ledger: custody apart from use.")
    lock = threading.Lock()
    tokens = TokenStore(stores.database)
    idempotency = IdempotencyStore(stores.database)
    app.state.stores, app.state.lock, app.state.tokens = stores, lock, tokens

    app.add_middleware(AccessLog)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(422, "invalid_command", f"{where}: {first.get('msg')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            error.status_code, "http_error"
        )
        return error_response(error.status_code, code, str(error.detail))

    command_schema = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Command"}}},
        "required": True,
    }

    @app.post(
        "/commands",
        status_code=201,
        openapi_extra={"requestBody": command_schema},
        responses={200: {"description": "a duplicate: nothing changed"}, 401: {}, 403: {}, 404: {}, 409: {}, 422: {}},
    )
    async def post_command(
        request: Request,
        caller: Annotated[Principal, Depends(current_principal)],
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> JSONResponse:
        """Apply one command of the ledger contract: 201 applied, 200 duplicate, 4xx with a code."""
        body = await request.body()
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise ApiError(422, "invalid_command", "the body is not JSON") from None
        fingerprint = hashlib.sha256(caller.name.encode() + b"\0" + body).hexdigest()
        with lock:
            if idempotency_key is not None:
                replay = idempotency.replay(idempotency_key, fingerprint)
                if replay is not None:
                    return JSONResponse(replay[1], status_code=replay[0])
            try:
                outcome = stores.ledger.execute_as(data, caller)
            except Forbidden as refusal:
                raise ApiError(403, "forbidden", str(refusal)) from None
            if outcome.status == "rejected":
                status, content = status_of(str(outcome.code)), {"code": outcome.code, "message": outcome.message}
            else:
                status, content = (201 if outcome.status == "applied" else 200), {"status": outcome.status}
                stores.catch_up()
            if idempotency_key is not None:
                idempotency.remember(idempotency_key, fingerprint, status, content)
        log.info(
            "command_handled",
            principal_role=caller.role,
            command_type=str(data.get("type"))[:40] if isinstance(data, dict) else None,
            status=status,
        )
        return JSONResponse(content, status_code=status)

    def report_route(kind: str) -> Callable[..., Any]:
        def read(
            identifier: str, authorization: Annotated[str | None, Depends(bearer_header)], as_of: str | None = None
        ) -> Response:
            caller = authenticate(tokens, lock, authorization, request_cookie=None)
            moment = parse_as_of(as_of)
            with lock:
                stores.catch_up()
                project = stores.read_model.project_access(identifier) if kind == "project" else None
                if not may_read(caller, kind, identifier, *(project or (None, None))):
                    raise ApiError(403, "forbidden", f"a {caller.role} token may not read this {kind} report")
                try:
                    result = REPORTS[kind](stores.read_model, identifier, moment)
                except DomainError as error:
                    raise ApiError(status_of(error.code), error.code, error.message) from None
                if caller.role == "treasurer" and kind == "donor":
                    own = set(stores.read_model.projects_of_foundation(str(caller.subject)))
                    result["donations"] = [item for item in result["donations"] if item["project_id"] in own]
            # Already JSON-ready (strings and integers): encoded once, not walked by FastAPI's encoder first.
            return Response(orjson.dumps(result), media_type="application/json")

        read.__name__ = f"read_{kind}"
        return read

    for kind, plural in (
        ("project", "projects"),
        ("donor", "donors"),
        ("payee", "payees"),
        ("foundation", "foundations"),
    ):
        app.get(
            f"/{plural}/{{identifier}}",
            summary=f"The {kind} report",
            responses={200: _JSON_OBJECT, 401: {}, 403: {}, 404: {}, 422: {}},
        )(report_route(kind))

    original_openapi = app.openapi

    def openapi_with_commands() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original_openapi()
            from pydantic import TypeAdapter

            command = TypeAdapter(AnyCommand).json_schema(ref_template="#/components/schemas/{model}")
            schema.setdefault("components", {}).setdefault("schemas", {}).update(command.pop("$defs", {}))
            schema["components"]["schemas"]["Command"] = command
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi_with_commands  # type: ignore[method-assign]
    from infra.web.pages import add_pages

    add_pages(app)
    return app


def authenticate(
    tokens: TokenStore, lock: threading.Lock, authorization: str | None, request_cookie: str | None
) -> Principal:
    """The caller of a bearer token (header, or the pages' cookie); 401 without a valid one."""
    token = None
    if authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    token = token or request_cookie
    if not token:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    with lock:
        found = tokens.principal(token)
    if found is None:
        raise ApiError(401, "unauthorized", "the token is not known")
    return found


def parse_as_of(text: str | None) -> int:
    if text is None:
        return END_OF_TIME
    try:
        return instant_micros(text)
    except (ValueError, TypeError):
        raise ApiError(422, "invalid_command", "as_of must be an ISO 8601 time with an offset") from None
