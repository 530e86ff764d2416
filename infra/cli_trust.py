"""`fundtrail` commands for outsiders' trust: keys, checkpoints, receipts, verification and exports."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer

from domain.money import format_amount
from infra.cli_common import EXIT_USAGE, StoreOption, fail, open_or_exit, print_json
from infra.signing import NoteError, SignerKey, VerifierKey, open_note, read_private_key, write_private_key
from infra.verify_parallel import verify_in_parallel
from projections.journal import journal
from projections.ledger_log import MalformedEvent, leaf_object
from services.trust import TrustError, check_receipt, donation_receipt, sign_checkpoint, stored_events

log = structlog.get_logger()
DEFAULT_KEY_FILE = "fundtrail-signing.key"
KeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help=f"The foundation's signing key (default ./{DEFAULT_KEY_FILE}; also FUNDTRAIL_SIGNING_KEY).",
        show_default=False,
    ),
]
PublicKeyOption = Annotated[
    str | None, typer.Option("--public-key", help="The verifier key to trust (name+id+base64), or a file holding it.")
]
keys_app = typer.Typer(help="The foundation's Ed25519 signing key.", no_args_is_help=True)


def key_file(explicit: Path | None) -> Path:
    return explicit or Path(os.environ.get("FUNDTRAIL_SIGNING_KEY") or DEFAULT_KEY_FILE)


def load_signer(explicit: Path | None) -> SignerKey:
    path = key_file(explicit)
    try:
        return read_private_key(path)
    except FileNotFoundError:
        raise fail(f"no signing key at {path}: create one with `fundtrail keys init`", EXIT_USAGE) from None
    except (OSError, NoteError) as error:
        raise fail(f"cannot read the signing key at {path}: {error}", EXIT_USAGE) from None


def trusted_key(public_key: str | None, key_path: Path | None) -> VerifierKey:
    """The key to check signatures with: given explicitly (text or file), else the signing key's own."""
    if public_key is None:
        return load_signer(key_path).verifier
    text = Path(public_key).read_text() if Path(public_key).is_file() else public_key
    try:
        return VerifierKey.decode(text)
    except NoteError as error:
        raise fail(f"--public-key: {error}", EXIT_USAGE) from None


@keys_app.command("init")
def keys_init(
    name: Annotated[
        str, typer.Option("--name", help="The log's name, also the checkpoints' origin.")
    ] = "fundtrail/ledger",
    key_path: KeyFileOption = None,
) -> None:
    """Create the signing key (file mode 0600) and print its public verifier key."""
    path = key_file(key_path)
    try:
        key = SignerKey.generate(name)
        write_private_key(path, key)
    except FileExistsError:
        raise fail(f"{path} exists already: a signing key is never overwritten", EXIT_USAGE) from None
    except NoteError as error:
        raise fail(str(error), EXIT_USAGE) from None
    log.info("signing_key_created", key_name=name, key_id=key.verifier.key_id.hex())
    typer.echo(key.verifier.encode())


@keys_app.command("show")
def keys_show(key_path: KeyFileOption = None) -> None:
    """Print the public verifier key that donors and auditors check signatures with."""
    typer.echo(load_signer(key_path).verifier.encode())


def checkpoint(key_path: KeyFileOption = None, store: StoreOption = None) -> None:
    """Sign the current tree head of the ledger with the foundation's key and keep it."""
    signer = load_signer(key_path)
    stores = open_or_exit(store, "checkpoint")
    try:
        stores.catch_up_log()
        note = sign_checkpoint(stores.log, signer, origin=signer.name)
    except TrustError as error:
        raise fail(str(error)) from None
    finally:
        stores.close()
    log.info("checkpoint_signed", tree_size=int(note.split("\n")[1]))
    sys.stdout.write(note)


def receipt(
    donation_id: Annotated[str, typer.Argument(metavar="DONATION_ID")],
    key_path: KeyFileOption = None,
    store: StoreOption = None,
) -> None:
    """Print a donation's receipt: its event, the inclusion proof and the signed checkpoint."""
    public_key = load_signer(key_path).verifier.encode()
    stores = open_or_exit(store, "receipt")
    try:
        stores.catch_up()
        position = stores.read_model.donation_position(donation_id)
        if position is None:
            print_json({"code": "unknown_donation", "message": f"no donation {donation_id!r} in the ledger"})
            raise typer.Exit(1)
        print_json(donation_receipt(stores.application, stores.log, position, public_key))
    except TrustError as error:
        raise fail(str(error)) from None
    finally:
        stores.close()


def verify_receipt(
    file: Annotated[Path, typer.Argument(help="A receipt from `fundtrail receipt`.")],
    public_key: PublicKeyOption = None,
) -> None:
    """Check a receipt offline, with no database: exit 0 when it holds, 1 with the reason when not."""
    try:
        document: dict[str, Any] = json.loads(file.read_text())
        key = VerifierKey.decode(public_key if public_key else document["public_key"])
        proven = check_receipt(document, lambda note: open_note(note, key))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise fail(f"receipt does not hold: {error}") from None
    typer.echo(f"receipt holds: {describe(document['leaf'])} is {proven} by {key.name}")


def describe(leaf: dict[str, Any]) -> str:
    """A donor-readable line for the event a receipt proves."""
    payload = leaf.get("payload", {})
    if leaf.get("type") == "DonationReceived":
        amount = format_amount(int(payload["amount_minor"]), str(payload["currency"]))
        return f"donation {payload['donation_id']} of {amount} {payload['currency']} to project {payload['project_id']}"
    return f"{leaf.get('type')} of {leaf.get('aggregate_id')}"


def verify(public_key: PublicKeyOption = None, key_path: KeyFileOption = None, store: StoreOption = None) -> None:
    """Re-read the whole history: every leaf, every checkpoint and consistency proof, every allocation."""
    key = trusted_key(public_key, key_path)
    stores = open_or_exit(store, "verify")
    try:
        result = verify_in_parallel(stores, lambda note: open_note(note, key))
    finally:
        stores.close()
    problem = result.first_problem
    if problem is not None:
        sequence, what = problem
        log.warning("verification_failed", sequence=sequence, problems=len(result.problems) + len(result.ranges))
        raise fail(f"verification failed at sequence {sequence}: {what}")
    typer.echo(
        f"verified {result.events} events, {result.checkpoints} signed checkpoints and "
        f"{result.allocations} allocations: the history was only ever appended to"
    )


def export(
    format_name: Annotated[str, typer.Option("--format", help="beancount, hledger or events.")],
    store: StoreOption = None,
) -> None:
    """Write the whole ledger as a double-entry journal or as the canonical events (JSON Lines)."""
    if format_name not in ("beancount", "hledger", "events"):
        raise fail(f"--format {format_name!r} is not beancount, hledger or events", EXIT_USAGE)
    stores = open_or_exit(store, "export")
    try:
        events = stored_events(stores.application)
        if format_name == "events":
            for sequence, notification in events:
                sys.stdout.write(json.dumps(leaf_object(sequence, notification), ensure_ascii=False) + "\n")
        else:
            domain_events = ((sequence, stores.application.mapper.to_domain_event(n)) for sequence, n in events)
            for line in journal(domain_events, format_name):
                sys.stdout.write(line + "\n")
    except MalformedEvent as error:
        raise fail(f"the store holds an altered event ({error}): run `fundtrail verify`") from None
    finally:
        stores.close()


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.command()(checkpoint)
    app.command()(receipt)
    app.command("verify-receipt")(verify_receipt)
    app.command()(verify)
    app.command()(export)
