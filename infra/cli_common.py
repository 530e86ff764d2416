"""What every `fundtrail` command shares: the store option, opening it, exit codes, JSON output."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any, NoReturn

import typer

from infra.logging import bind_correlation_id
from infra.store import Stores, StoreUnavailable, open_stores, redact, store_url

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="sqlite:///PATH (default ./fundtrail.db) or postgresql://USER@HOST:PORT/DB[?schema=S]; "
        "also FUNDTRAIL_STORE.",
        show_default=False,
    ),
]

EXIT_REJECTED = 3
EXIT_USAGE = 2
EXIT_NOT_FOUND = 1


def open_or_exit(url: str | None, entry_point: str) -> Stores:
    """Open the store, or say in one line why not and exit 2: never a traceback."""
    bind_correlation_id(entry_point)
    resolved = store_url(url)
    try:
        return open_stores(resolved)
    except StoreUnavailable as error:
        typer.echo(f"fundtrail: {error}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except Exception as error:  # noqa: BLE001 - any driver failure becomes one clear line, never a traceback
        typer.echo(f"fundtrail: cannot open store {redact(resolved)}: {type(error).__name__}: {error}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def exit_at_once(code: int) -> NoReturn:
    """End the process with `code` now, its output flushed, without freeing its objects one by one.

    For a command whose work is all committed and whose stores, helpers and followers are closed:
    what is left is memory, which the system takes back at once. The interpreter's own exit
    freed a full-size import's objects (its cached projects, half a million lots in the largest)
    for 3.6 s after the import had printed its summary (docs/PERFORMANCE.md, change 102).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def fail(message: str, code: int = EXIT_NOT_FOUND) -> typer.Exit:
    typer.echo(f"fundtrail: {message}", err=True)
    return typer.Exit(code)
