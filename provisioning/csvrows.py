"""Reading the CSV files people hand us (account import, roster, migration list): the header
is checked before any row is read, and each row comes with its line number for reports.

Whatever the bytes, reading never crashes: the file must be a regular file (not a folder, not
``/dev/zero``); a line longer than MAX_LINE_CHARS, a field over the csv module's limit or text
that is not UTF-8 becomes a row error naming the line. Opened with :func:`open_csv`, a row with
bytes that are not UTF-8 is reported on its own and the rows after it are still read; any other
malformed line ends the reading there, and the report says that the rest was not read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TextIO

from identity.errors import ValidationError
from identity.markers import N_
from mailstack.files import NotRegularFile, open_regular

MAX_LINE_CHARS = 1024 * 1024
RowProblem = Callable[[int, str, str], None]  # (line, column, reason)


class _Unreadable(Exception):
    """A line the reader cannot take; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def open_csv(path: Path, field: str = "file") -> TextIO:
    """``path`` opened for :func:`read_rows`: UTF-8 (a BOM is skipped), undecodable bytes kept
    as surrogates so that each bad row is reported on its own."""
    try:
        raw = open_regular(path)
    except NotRegularFile as exc:
        raise ValidationError(field, f"{path} is not a regular file") from exc
    except (OSError, ValueError) as exc:
        raise ValidationError(field, f"{path} cannot be read: {_why(exc)}") from exc
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")


def read_rows(
    handle: IO[str],
    columns: Sequence[str],
    optional: Sequence[str] = (),
    *,
    on_problem: RowProblem | None = None,
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and the rows ``(line number, {column: value})``. A header with an unknown,
    missing or repeated column is refused (field ``header``) before any row is read. A row that
    cannot be read is handed to ``on_problem`` (line, column, reason) and skipped; without
    ``on_problem`` it raises a ValidationError."""
    reader = csv.DictReader(_bounded_lines(handle))
    try:
        fieldnames = reader.fieldnames or []
    except (csv.Error, _Unreadable) as exc:
        raise ValidationError("header", _reason(exc)) from exc
    header = [h.strip() for h in fieldnames]
    allowed = [*columns, *optional]
    unknown = [h for h in header if h not in allowed]
    if unknown:
        raise ValidationError(
            "header",
            N_("unknown column '{column}' (allowed: {allowed})").format(
                column=unknown[0], allowed=", ".join(allowed)
            ),
        )
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValidationError("header", N_("missing column '{column}'").format(column=missing[0]))
    if len(set(header)) != len(header):
        raise ValidationError("header", N_("a column appears twice"))
    reader.fieldnames = header

    def problem(line: int, column: str, reason: str) -> None:
        if on_problem is None:
            raise ValidationError(
                column, N_("line {line}: {reason}").format(line=line, reason=reason)
            )
        on_problem(line, column, reason)

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except (csv.Error, _Unreadable) as exc:
                # An unreadable line was never counted; a line the csv module refused was.
                line = reader.reader.line_num + (1 if isinstance(exc, _Unreadable) else 0)
                problem(
                    line,
                    "row",
                    N_("{reason}; the rows after it were not read").format(reason=_reason(exc)),
                )
                return
            column = _undecodable(record)
            if column is not None:
                problem(reader.line_num, column, N_("is not valid UTF-8 text"))
                continue
            yield reader.line_num, record

    return header, rows()


def _bounded_lines(handle: IO[str]) -> Iterator[str]:
    """The file's lines, refusing one longer than MAX_LINE_CHARS before it fills memory."""
    while True:
        try:
            line = handle.readline(MAX_LINE_CHARS + 1)
        except UnicodeDecodeError as exc:  # a handle opened strictly: no way to resync
            # Decoded a chunk at a time: the bad byte is on this line or a later one.
            raise _Unreadable(N_("is not valid UTF-8 text (here or below)")) from exc
        if not line:
            return
        if len(line) > MAX_LINE_CHARS:
            raise _Unreadable(N_("is longer than {n} characters").format(n=MAX_LINE_CHARS))
        yield line


def _undecodable(record: dict[str, str]) -> str | None:
    """The first column holding bytes that were not UTF-8 (kept as lone surrogates)."""
    for column, value in record.items():
        values = value if isinstance(value, list) else [value]  # extra cells come as a list
        for text in values:
            if isinstance(text, str) and not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    return column or "row"
    return None


def _reason(exc: Exception) -> str:
    if isinstance(exc, _Unreadable):
        return exc.reason
    return N_("is not valid CSV ({detail})").format(detail=exc)  # the csv module's English


def _why(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
