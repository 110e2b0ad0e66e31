"""LDIF records (RFC 2849), written directly: the offline import streams a whole roster into
slapadd, and this is several times faster than a general-purpose writer."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

_UNSAFE_START = ("", " ", ":", "<")


def _safe(value: str) -> bool:
    """A SAFE-STRING that also keeps trailing spaces visible: printable ASCII, not starting with
    space, colon or "<". Anything else (names in Chinese, say) is written base64-encoded."""
    return (
        value.isascii()
        and value.isprintable()
        and value[:1] not in _UNSAFE_START
        and value[-1] != " "
    )


def line(attribute: str, value: str) -> str:
    if value == "" or _safe(value):
        return f"{attribute}: {value}\n"
    return f"{attribute}:: {base64.b64encode(value.encode()).decode()}\n"


def record(dn: str, entry: Mapping[str, Sequence[str]]) -> str:
    """One record, ending with the blank line that separates records."""
    parts = [line("dn", dn)]
    append = parts.append
    for attribute, values in entry.items():
        for value in values:
            if _safe(value):
                append(f"{attribute}: {value}\n")
            else:
                append(line(attribute, value))
    append("\n")
    return "".join(parts)
