"""identity.readback: what the directory hands back is held to alumail's rules before any face
sees it (formatted values that break their rule are dropped, text loses control and format
characters and is cut to its length), and a value alumail would write passes untouched."""

from __future__ import annotations

import logging
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity import readback, rules
from identity.accounts import Account, check_display_name
from identity.errors import ValidationError

pytestmark = pytest.mark.unit
DN = "uid=x,ou=people,dc=example"
RLO = "\u202e"


@pytest.mark.parametrize(
    ("name", "found", "kept"),
    [
        ("mail", ["a@b.example", "<script>@b.example"], ["a@b.example"]),
        ("alumailMailAlias", ["x" * 300 + "@b.example"], []),
        ("alumailStudentNumber", ["S1234", "S12\u202e34"], ["S1234"]),
        ("alumailGraduationYear", ["2015", "20x5"], ["2015"]),
        ("alumailMailQuota", ["-1"], []),
        ("alumailAccountStatus", ["evil"], []),
        ("preferredLanguage", ["zh-CN", "a" * 100_000], ["zh-CN"]),
        ("telephoneNumber", ["+86 21 5474 0000", "1\n2"], ["+86 21 5474 0000"]),
        ("displayName", ["<b>张伟</b>"], ["<b>张伟</b>"]),  # HTML is the faces' to escape
        ("displayName", [f"{RLO}evil\u0085\x1b[31m "], ["evil[31m"]),
        ("givenName", ["\u200b\u2066"], []),
        ("postalAddress", [f"1 Road{RLO}$ $Shanghai"], ["1 Road$Shanghai"]),
        ("uid", ["anything at all"], ["anything at all"]),  # the RDN: slapd's alone
    ],
)
def test_values_break_no_rule_once_read(name: str, found: list[str], kept: list[str]) -> None:
    assert readback.values(DN, name, found) == kept


def test_text_is_cut_with_an_ellipsis() -> None:
    long = readback.values(DN, "displayName", ["x" * 500])[0]
    assert len(long) == rules.NAME_MAX and long.endswith(readback.ELLIPSIS)


def test_an_attribute_left_with_nothing_is_absent_and_the_repair_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="identity.readback"):
        entry = readback.entry(
            DN,
            {"uid": ["x"], "displayName": ["X"], "alumailAccountStatus": ["evil"], "cn": []},
        )
    assert entry == {"uid": ["x"], "displayName": ["X"], "cn": []}
    assert caplog.messages == [
        f"alumailAccountStatus of {DN} breaks its rule in the directory: repaired as read"
    ]
    assert "evil" not in caplog.text
    account = Account.from_entry(entry, default_quota=5)
    assert account.status.value == "active" and account.display_name == "X"


@given(st.text(max_size=200))
def test_any_name_alumail_accepts_is_read_back_as_it_was(name: str) -> None:
    try:
        written = check_display_name(name)
    except ValidationError:
        return
    assert readback.values(DN, "displayName", [written]) == [written]


@given(st.text(max_size=600))
def test_whatever_is_stored_reads_back_without_controls_and_within_its_length(name: str) -> None:
    for shown in readback.values(DN, "displayName", [name]):
        assert shown and shown == shown.strip() and len(shown) <= rules.NAME_MAX
        assert not any(unicodedata.category(c).startswith("C") for c in shown)
