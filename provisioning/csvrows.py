"""Reading the CSV files people hand us (account import, roster, migration list): the header
is checked before any row is read, and each row comes with its line number for reports."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from typing import IO

from identity.errors import ValidationError


def read_rows(
    handle: IO[str], columns: Sequence[str], optional: Sequence[str] = ()
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and the rows ``(line number, {column: value})``. A header with an unknown,
    missing or repeated column is refused (field ``header``) before any row is read."""
    reader = csv.DictReader(handle)
    header = [h.strip() for h in (reader.fieldnames or [])]
    allowed = [*columns, *optional]
    unknown = [h for h in header if h not in allowed]
    if unknown:
        raise ValidationError(
            "header", f"unknown column {unknown[0]!r} (allowed: {', '.join(allowed)})"
        )
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValidationError("header", f"missing column {missing[0]!r}")
    if len(set(header)) != len(header):
        raise ValidationError("header", "a column appears twice")
    reader.fieldnames = header

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for record in reader:
            yield reader.line_num, record

    return header, rows()
