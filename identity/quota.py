"""Byte sizes as people write them (``5G``, ``500M``, ``5368709120``)."""

from __future__ import annotations

import re

from identity.errors import ValidationError

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"([0-9]+) *([KMGT]?)(?:i?B)?", re.IGNORECASE)
# A quota below one megabyte cannot hold the standard folders' indexes; above 1 TiB is a typo.
MIN_QUOTA = 1024**2
MAX_QUOTA = 1024**4


def parse_size(text: str | int, *, field: str = "quota") -> int:
    """Bytes from an integer or a number with a binary unit (K, M, G, T; ``5G`` = 5 GiB)."""
    if isinstance(text, bool):
        raise ValidationError(field, "must be a size such as 5G, 500M or a number of bytes")
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE.fullmatch(text.strip())
        if not match:
            raise ValidationError(field, "must be a size such as 5G, 500M or a number of bytes")
        value = int(match.group(1)) * _UNITS[match.group(2).upper()]
    return value


def parse_quota(text: str | int, *, field: str = "quota") -> int:
    value = parse_size(text, field=field)
    if not MIN_QUOTA <= value <= MAX_QUOTA:
        raise ValidationError(field, "must be between 1M and 1T")
    return value


def format_size(value: int) -> str:
    """The largest exact binary unit: 5368709120 -> '5G'."""
    for unit in ("T", "G", "M", "K"):
        if value and value % _UNITS[unit] == 0:
            return f"{value // _UNITS[unit]}{unit}"
    return str(value)
