"""An import's lines read and prepared in a second process, while the ledger decides the lines before them.

Reading a line, validating it, digesting a donation and writing its event's fields depend on
the line alone (services.prepared). For a large file the importing process leaves that work
to this helper, on the machine's other core, and only decides: the commands come back in
frames of marshal's format (the same interpreter writes and reads them), a length before
each, on the helper's stdout. The request, the file's path included, goes on its stdin.

A frame is a list of (line number, kind, value), or at the end a tuple: ("end",) when every
line was sent, ("error", errno, strerror) when the file could not be read. A helper that stops
without either makes the import stop with an OSError: every batch recorded before stays
recorded, and importing the file again resumes after the last one.
"""

from __future__ import annotations

import errno
import fcntl
import json
import marshal
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from itertools import islice
from pathlib import Path
from typing import IO, Any, Final

import orjson

from domain.commands import RecordDonation, parse_command_json
from domain.errors import DomainError
from infra.collector import collect_less_often
from infra.cores import move_aside
from infra.helper_process import read_request, start_helper_process, stop_helper_process
from infra.limits import import_line_length_max, line_reader_file_bytes_min
from infra.logging import configure_logging
from services.ledger import Outcome
from services.limits import import_batch_max
from services.prepared import PreparedDonation, prepare, prepared_donation

# The kinds of value in a frame.
_VALUE: Final = 0
_PREPARED: Final = 1
_OUTCOME: Final = 2
# Lines in a frame: a whole batch of the import's. The helper prepares a frame, then waits for
# the pipe while the importing process decides the batch before; a frame of fewer lines would
# leave the importer to wait for the rest of its next batch to be prepared.
_FRAME_LINES: Final = import_batch_max
_LENGTH_BYTES: Final = 4
# What the pipe from the helper may hold: Linux lets any process ask for up to 1 MiB.
_PIPE_BYTES: Final = 1024 * 1024


def decode_line(raw: bytes) -> object | Outcome:
    """One line's JSON value, or the rejection that says why it is not one.

    orjson reads the line (1.0 µs for a donation here, 4.4 µs through the json module). Its
    value is taken when it is an object of plain strings, booleans, nulls and integers, as
    every command is, since there orjson reads what the json module reads. Anything else
    (an error, a float, anything nested) is read again by the json module, which decides
    as before: orjson reads integers past 64 bits as floats, and refuses NaN, Infinity,
    lone surrogates and nesting past its limit.
    """
    if len(raw) > import_line_length_max:
        return Outcome("rejected", "invalid_command", f"line is longer than {import_line_length_max} bytes")
    try:
        fast: object = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    else:
        if type(fast) is dict and _PLAIN.issuperset(map(type, fast.values())):
            return fast
    return decode_line_with_json(raw)


_PLAIN: Final = frozenset((str, bool, int, type(None)))


def prepared_line(raw: bytes) -> object | Outcome:
    """decode_line(), with a donation prepared (services.prepared) or refused as the ledger would refuse it.

    A line that names a donation is first read and validated in one step (parse_command_json)
    and prepared when that gives a donation. Anything else is read as prepared_value() reads
    it, which is what this must always agree with.
    """
    if _DONATION_TYPE in raw and len(raw) <= import_line_length_max:
        command = parse_command_json(raw)
        if type(command) is RecordDonation:
            try:
                return prepared_donation(command)
            except DomainError as error:
                return Outcome("rejected", error.code, error.message)
    return prepared_value(raw)


_DONATION_TYPE: Final = b'"record_donation"'


def prepared_value(raw: bytes) -> object | Outcome:
    """prepared_line(), the line read as a JSON value (decode_line) before anything is validated."""
    value = decode_line(raw)
    if type(value) is not dict:
        return value
    try:
        return prepare(value)
    except DomainError as error:
        return Outcome("rejected", error.code, error.message)


def decode_line_with_json(raw: bytes) -> object | Outcome:
    """decode_line() through the json module alone: what decode_line must always agree with."""
    if len(raw) > import_line_length_max:
        return Outcome("rejected", "invalid_command", f"line is longer than {import_line_length_max} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Outcome("rejected", "invalid_command", "line is not valid UTF-8")
    try:
        value: object = json.loads(text)
        return value
    except (ValueError, RecursionError) as error:
        return Outcome("rejected", "invalid_command", f"line is not valid JSON: {str(error)[:120]}")


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based numbers in the file."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            stripped = raw.strip()
            if stripped:
                yield number, stripped


def prepared_lines(path: Path, after: int = 0) -> Iterator[tuple[int, object]]:
    """The file's lines after line `after`, numbered and prepared (prepared_line), in this process."""
    for number, raw in numbered_lines(path):
        if number > after:
            yield number, prepared_line(raw)


def prepares_in_helper(file_bytes: int) -> bool:
    """Whether an import of a file this large prepares its lines in a helper, into either store (see the limit)."""
    return file_bytes >= line_reader_file_bytes_min


@contextmanager
def lines_prepared_by_helper(path: Path, after: int = 0) -> Iterator[Iterator[tuple[int, object]]]:
    """prepared_lines(), read and prepared by a helper process; it is stopped when the block ends."""
    child = start_helper_process("infra.line_reader", {"path": str(path), "after": after}, output=True)
    assert child.stdout is not None
    move_aside(child.pid)
    _widen(child.stdout)
    try:
        yield _received(child.stdout)
    finally:
        stop_helper_process(child)
        child.stdout.close()


def _widen(pipe: IO[bytes]) -> None:
    """Let the pipe hold up to a frame (Linux; 64 KiB elsewhere, or beyond the system's limit): fewer waits for each."""
    with suppress(AttributeError, OSError):
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)


def _received(stream: IO[bytes]) -> Iterator[tuple[int, object]]:
    make_prepared = PreparedDonation._make
    while True:
        frame = _next_frame(stream)
        if type(frame) is tuple and frame[0] == "end":
            return
        if type(frame) is tuple and frame[0] == "error":
            raise OSError(frame[1], frame[2])
        if type(frame) is not list:
            raise OSError(errno.EIO, "the process reading its lines stopped before the end")
        for number, kind, value in frame:
            if kind == _PREPARED:
                yield number, make_prepared(value)
            elif kind == _OUTCOME:
                yield number, Outcome(*value)
            else:
                yield number, value


def _next_frame(stream: IO[bytes]) -> object:
    """The next frame, or None where the helper's output ends before a whole one."""
    header = stream.read(_LENGTH_BYTES)
    if len(header) < _LENGTH_BYTES:
        return None
    try:
        # Written by our own helper, from the same interpreter: marshal's format is trusted here.
        return marshal.loads(stream.read(int.from_bytes(header, "little")))  # noqa: S302
    except (EOFError, ValueError, TypeError):
        return None


def _frame(lines: list[tuple[int, object]]) -> bytes:
    entries: list[tuple[int, int, Any]] = []
    for number, value in lines:
        if type(value) is PreparedDonation:
            entries.append((number, _PREPARED, tuple(value)))
        elif type(value) is Outcome:
            entries.append((number, _OUTCOME, (value.status, value.code, value.message)))
        else:
            entries.append((number, _VALUE, value))
    return _framed(entries)


def _framed(value: Any) -> bytes:
    data = marshal.dumps(value)
    return len(data).to_bytes(_LENGTH_BYTES, "little") + data


def send_prepared_lines(path: Path, after: int, out: IO[bytes]) -> None:
    """In the helper: every prepared line after `after`, frame by frame, then the end or the error."""
    try:
        lines = prepared_lines(path, after)
        while chunk := list(islice(lines, _FRAME_LINES)):
            out.write(_frame(chunk))
        out.write(_framed(("end",)))
    except BrokenPipeError:
        raise
    except OSError as error:
        out.write(_framed(("error", error.errno, error.strerror)))
    out.flush()


def main() -> None:
    # The frames keep stdout's pipe to themselves: anything printed, a log line included, goes
    # to stderr instead of into a frame.
    frames = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    configure_logging()
    # As in every fundtrail process: with CPython's default thresholds the young collections,
    # over the frame a helper holds, took 5.6% of its CPU (docs/PERFORMANCE.md, change 107).
    collect_less_often()
    request = read_request()
    try:
        send_prepared_lines(Path(request["path"]), int(request["after"]), frames)
    except BrokenPipeError:
        # The importing process stopped reading (it failed, or was stopped): nothing to send it,
        # and nothing to flush at exit.
        os._exit(1)
    frames.close()


if __name__ == "__main__":
    main()
