"""A second Python process for one side task, its request sent on stdin.

A plain `python -m MODULE`, not multiprocessing's spawn: spawn imports the parent's main
module first, which for the `fundtrail` command is the whole CLI (0.6 s here), where a helper
needs only its own module. The request, a store URL or path included, goes through the child's
stdin, never its command line, where other users could read it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def start_helper_process(module: str, request: dict[str, Any], output: bool = False) -> subprocess.Popen[bytes]:
    """`python -P -m module`, given `request` as one JSON object on its stdin; its stdout ours to read if `output`."""
    child = spawn_helper_process(module, output=output)
    send_request(child, request)
    return child


def spawn_helper_process(module: str, *args: str, output: bool = False) -> subprocess.Popen[bytes]:
    """`python -P -m module *args`, started ahead of its request (send_request): it imports what it needs meanwhile.

    `args` name no secret (a store's dialect, say): a command line is for other users to read.
    """
    # -P: the working directory is not put on the child's path, where a folder of the same
    # name as one of ours could stand in for it.
    return subprocess.Popen(
        [sys.executable, "-P", "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE if output else subprocess.DEVNULL,
    )


def send_request(child: subprocess.Popen[bytes], request: dict[str, Any]) -> None:
    """Give a helper its request, one JSON object on its stdin, which is then closed."""
    assert child.stdin is not None
    try:
        with child.stdin as stdin:
            stdin.write(json.dumps(request).encode())
    except BrokenPipeError:
        pass  # The helper ended before it read its request: its exit code tells the caller it failed.


def stop_helper_process(child: subprocess.Popen[bytes]) -> None:
    """End the helper if it is still at work, and wait for it; close its stdin if it never got a request."""
    if child.poll() is None:
        child.terminate()
    child.wait()
    if child.stdin is not None and not child.stdin.closed:
        child.stdin.close()


def read_request() -> dict[str, Any]:
    """In the helper: the request its parent sent."""
    request: dict[str, Any] = json.load(sys.stdin)
    return request
