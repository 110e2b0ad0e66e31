"""The circles home page's order and search (provisioning/web/circles.py), pure."""

from __future__ import annotations

import pytest

from identity.circles import Circle, Kind
from provisioning.circles.service import CircleView
from provisioning.web.circles import SORTS, matching, ranked

pytestmark = pytest.mark.unit


def view(name: str, title: str, members: int) -> CircleView:
    return CircleView(Circle(name, title, Kind.INTEREST), members, 0, False)


VIEWS = [
    view("runners", "Beijing Runners", 3),
    view("shanghai-club", "上海校友会", 40),
    view("book-club", "读书会 Book Club", 12),
    view("another", "Another", 12),
]


def test_most_members_first_ties_by_name() -> None:
    assert [v.circle.name for v in ranked(VIEWS)] == [
        "shanghai-club",
        "another",
        "book-club",
        "runners",
    ]
    assert set(SORTS) == {"members"}  # the rankings add their keys here


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("校友", ["shanghai-club"]),
        ("shanghai", ["shanghai-club"]),  # the name, and the title's pinyin
        ("XIAO you", ["shanghai-club"]),
        ("ｄｕｓｈｕ", ["book-club"]),  # full-width pinyin of 读书
        ("club", ["shanghai-club", "book-club"]),
        ("runn", ["runners"]),
        ("shanghai-club", ["shanghai-club"]),  # a name with its separators, or without
        ("bookclub", ["book-club"]),
        ("  ", ["runners", "shanghai-club", "book-club", "another"]),  # no search: all
        ("广州", []),
    ],
)
def test_a_search_finds_a_part_of_the_name_or_of_the_title_in_han_or_pinyin(
    query: str, found: list[str]
) -> None:
    assert [v.circle.name for v in matching(VIEWS, query)] == found
