"""`fundtrail serve` and `fundtrail token create`: the HTTP side from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from infra.cli_common import EXIT_USAGE, StoreOption, fail, open_or_exit
from infra.tokens import TokenError, TokenStore
from services.access import ROLES

token_app = typer.Typer(help="API tokens: printed once, stored only as a hash.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
    donor: Annotated[str | None, typer.Option("--donor", help="The donor a donor token reads for.")] = None,
    partner: Annotated[str | None, typer.Option("--partner", help="The partner a partner token acts for.")] = None,
    foundation: Annotated[str | None, typer.Option("--foundation", help="A treasurer's foundation.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Who holds it: recorded as approver/requester.")] = None,
    store: StoreOption = None,
) -> None:
    """Create a token and print it once; only its SHA-256 is kept."""
    subjects = [value for value in (donor, partner, foundation) if value is not None]
    if len(subjects) > 1:
        raise fail("give at most one of --donor, --partner, --foundation", EXIT_USAGE)
    stores = open_or_exit(store, "token")
    try:
        token = TokenStore(stores.database).create(role, subjects[0] if subjects else None, name or f"{role}-user")
    except TokenError as error:
        raise fail(str(error), EXIT_USAGE) from None
    finally:
        stores.close()
    typer.echo(token)


def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    store: StoreOption = None,
) -> None:
    """Serve the JSON API (OpenAPI at /openapi.json, docs at /docs) and the pages."""
    import uvicorn

    from infra.web.api import create_app

    stores = open_or_exit(store, "serve")
    try:
        uvicorn.run(create_app(stores), host=host, port=port, log_config=None, access_log=False)
    finally:
        stores.close()


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
    app.command()(serve)
