"""Ed25519 keys and C2SP signed notes (the format of Go's checksum database and other transparency logs).

The key and note encodings follow c2sp.org/signed-note: a verifier key is
`name+hex(key id)+base64(0x01 || public key)`, a signature line is
`— name base64(key id || signature)`, and the key id is the first four bytes of
SHA-256(name || "\\n" || 0x01 || public key). The `cryptography` package does the Ed25519.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space open every signature line


class NoteError(ValueError):
    """A signed note, key or checkpoint that does not hold; the message says why."""


def _key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or "+" in name or any(character.isspace() for character in name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


@dataclass(frozen=True)
class VerifierKey:
    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, self.public_key)

    def encode(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(ED25519 + self.public_key).decode()}"

    @classmethod
    def decode(cls, text: str) -> VerifierKey:
        try:
            name, key_id, data = text.strip().split("+", 2)
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            raise NoteError("a verifier key reads name+keyid+base64") from None
        if raw[:1] != ED25519 or len(raw) != 33:
            raise NoteError("only Ed25519 verifier keys are supported")
        key = cls(name, raw[1:])
        if key.key_id.hex() != key_id:
            raise NoteError("the verifier key's id does not match its name and key")
        return key


@dataclass(frozen=True)
class SignerKey:
    name: str
    seed: bytes

    @property
    def verifier(self) -> VerifierKey:
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return VerifierKey(self.name, public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def encode(self) -> str:
        key_id = self.verifier.key_id.hex()
        return f"PRIVATE+KEY+{self.name}+{key_id}+{base64.b64encode(ED25519 + self.seed).decode()}"

    @classmethod
    def decode(cls, text: str) -> SignerKey:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key reads PRIVATE+KEY+name+keyid+base64")
        raw = base64.b64decode(parts[4])
        if raw[:1] != ED25519 or len(raw) != 33:
            raise NoteError("only Ed25519 signer keys are supported")
        key = cls(parts[2], raw[1:])
        if key.verifier.key_id.hex() != parts[3]:
            raise NoteError("the signer key's id does not match its name and key")
        return key

    @classmethod
    def generate(cls, name: str) -> SignerKey:
        _check_name(name)
        private = Ed25519PrivateKey.generate()
        return cls(name, private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))

    def sign(self, text: str) -> str:
        """The signed note: the text, a blank line, and this key's signature line."""
        if not text.endswith("\n"):
            raise NoteError("a note's text ends with a newline")
        signature = Ed25519PrivateKey.from_private_bytes(self.seed).sign(text.encode())
        line = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{text}\n{SIGNATURE_PREFIX}{self.name} {line}\n"


def open_note(note: str, key: VerifierKey) -> str:
    """The text of `note` when `key` signed it; NoteError otherwise."""
    text, separator, signatures = note.rpartition("\n\n")
    if not separator:
        raise NoteError("a signed note has its text, a blank line, then signature lines")
    text += "\n"
    for line in signatures.splitlines():
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("a signature line starts with an em dash")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        raw = base64.b64decode(encoded)
        if name != key.name or raw[:4] != key.key_id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(raw[4:], text.encode())
        except InvalidSignature:
            raise NoteError(f"the signature of {name} does not match the note") from None
        return text
    raise NoteError(f"the note carries no signature by {key.name}")


def write_private_key(path: Path, key: SignerKey) -> None:
    """Create the key file readable by its owner only (mode 0600); never overwrite one."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(key.encode() + "\n")


def read_private_key(path: Path) -> SignerKey:
    return SignerKey.decode(path.read_text())
