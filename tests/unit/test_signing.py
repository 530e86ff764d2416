"""Signed notes interoperate with Go's reference implementation (golang.org/x/mod/sumdb/note)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from infra.signing import NoteError, SignerKey, VerifierKey, open_note, read_private_key, write_private_key

# The example key pair and note of the reference implementation's tests.
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIGNATURE = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
GO_NOTE = GO_TEXT + f"\n\u2014 PeterNeumann {GO_SIGNATURE}\n"


def test_signing_the_reference_text_gives_the_reference_note_byte_for_byte() -> None:
    assert GO_NOTE == SignerKey.decode(GO_SIGNER).sign(GO_TEXT)


def test_the_reference_keys_encode_as_the_reference_does() -> None:
    assert GO_VERIFIER == SignerKey.decode(GO_SIGNER).verifier.encode()
    assert GO_SIGNER == SignerKey.decode(GO_SIGNER).encode()


def test_the_reference_note_opens_with_the_reference_key() -> None:
    assert GO_TEXT == open_note(GO_NOTE, VerifierKey.decode(GO_VERIFIER))


def test_a_changed_note_or_another_key_does_not_open() -> None:
    with pytest.raises(NoteError):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), VerifierKey.decode(GO_VERIFIER))
    with pytest.raises(NoteError):
        open_note(GO_NOTE, SignerKey.generate("PeterNeumann").verifier)


def test_a_verifier_key_with_a_wrong_id_is_refused() -> None:
    with pytest.raises(NoteError):
        VerifierKey.decode(GO_VERIFIER.replace("c74f20a3", "c74f20a4"))


def test_the_private_key_file_is_readable_by_its_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    key = SignerKey.generate("test/ledger")
    write_private_key(path, key)
    assert 0o600 == stat.S_IMODE(path.stat().st_mode)
    assert key == read_private_key(path)
    with pytest.raises(FileExistsError):
        write_private_key(path, SignerKey.generate("test/ledger"))
