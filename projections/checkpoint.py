"""C2SP tlog-checkpoint bodies: origin, tree size and base64 root hash, one per line."""

from __future__ import annotations

import base64
from dataclasses import dataclass


class CheckpointError(ValueError):
    """A checkpoint body that is not origin / size / root."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root_hash).decode()}\n"

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or not lines[0] or not lines[1].isdigit():
            raise CheckpointError("a checkpoint reads origin, tree size and root hash on three lines")
        try:
            root_hash = base64.b64decode(lines[2], validate=True)
        except ValueError:
            raise CheckpointError("the checkpoint's root hash is not base64") from None
        if len(root_hash) != 32:
            raise CheckpointError("the checkpoint's root hash is not 32 bytes")
        return cls(lines[0], int(lines[1]), root_hash)
