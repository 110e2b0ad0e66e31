"""No input reaches LDAP unescaped: an escaped value can never change a filter's structure."""

import ldap.filter
import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.directory import escape, filter_equals, ldapi_uri

pytestmark = pytest.mark.unit


@given(st.text())
def test_escaped_values_contain_no_filter_syntax(value: str) -> None:
    escaped = escape(value)
    for char in "()*\0":
        assert char not in escaped
    # every backslash starts a two-digit hex escape
    parts = escaped.split("\\")[1:]
    assert all(len(p) >= 2 and all(c in "0123456789abcdef" for c in p[:2]) for p in parts)


@given(st.text(min_size=1))
def test_equality_filter_round_trips(value: str) -> None:
    built = filter_equals("uid", value)
    assert built.startswith("(uid=") and built.endswith(")")
    inner = built[len("(uid=") : -1]
    decoded = _unescape(inner)
    assert decoded == value
    assert ldap.filter.filter_format("(uid=%s)", [value]) == built


def _unescape(text: str) -> str:
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "\\":
            out += bytes.fromhex(text[i + 1 : i + 3])
            i += 3
        else:
            out += text[i].encode()
            i += 1
    return out.decode()


def test_ldapi_uri_is_percent_encoded() -> None:
    from pathlib import Path

    assert ldapi_uri(Path("/srv/a b/ldapi")) == "ldapi://%2Fsrv%2Fa%20b%2Fldapi"
