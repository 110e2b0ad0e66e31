"""Cells of the CSV files alumail writes (the export, import reports), safe to open in a
spreadsheet, and read back unchanged by the import.

Alumni choose their own names in the portal, so a cell may start with ``= + - @``, a tab or a
carriage return, which Excel, LibreOffice and Google Sheets take for a formula (CSV injection,
OWASP). Such a cell gets a leading apostrophe, which the spreadsheets show as "text follows" and
do not display. A cell that already starts with apostrophes before one of those characters
gets one more, so :func:`unquote` (applied by the import) gives back every value exactly:
``=x`` -> ``'=x`` -> ``=x``, ``'=x`` -> ``''=x`` -> ``'=x``; any other value is left alone both
ways.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO

FORMULA_STARTS = "=+-@\t\r"
_QUOTED = re.compile(r"'*[=+\-@\t\r]")
_UNQUOTE = re.compile(r"'+[=+\-@\t\r]")


def quote(value: object) -> str:
    """The cell for ``value``: its text, with an apostrophe before a formula start."""
    text = "" if value is None else str(value)
    return "'" + text if _QUOTED.match(text) else text


def unquote(cell: str) -> str:
    """The value a cell written by :func:`quote` came from."""
    return cell[1:] if _UNQUOTE.match(cell) else cell


class Writer:
    """``csv.writer`` whose every cell goes through :func:`quote`."""

    def __init__(self, handle: IO[str]) -> None:
        self._writer = csv.writer(handle)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([quote(cell) for cell in row])
