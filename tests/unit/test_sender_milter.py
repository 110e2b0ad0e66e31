"""The sender milter's rule, without a daemon: exactly one From: header, one address, owned by
the login (primary address or alias, any case)."""

from __future__ import annotations

import pytest

from mailstack.daemons.sender_milter import (
    circle_of,
    circle_problem,
    claimed_own_address,
    from_problem,
)

pytestmark = pytest.mark.unit

OWNED = {"ann@alumni.example.edu", "ann.lee@alumni.example.edu"}


def owned(login: str) -> set[str]:
    return OWNED if login == "ann@alumni.example.edu" else set()


@pytest.mark.parametrize(
    "headers",
    [
        ["ann@alumni.example.edu"],
        ["Ann Lee <Ann.Lee@Alumni.Example.EDU>"],
        ['"Lee, Ann" <ann@alumni.example.edu>'],
    ],
)
def test_an_address_the_login_owns_passes(headers: list[str]) -> None:
    assert from_problem("ann@alumni.example.edu", headers, owned) == ""


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        ([], "exactly one From: header (this one has 0)"),
        (["ann@alumni.example.edu", "bob@alumni.example.edu"], "exactly one From: header"),
        (["ann@alumni.example.edu, bob@alumni.example.edu"], "exactly one address"),
        (["undisclosed-recipients:;"], "exactly one address"),
        (["Ann <bob@alumni.example.edu>"], "<bob@alumni.example.edu> is not an address of"),
        (["ann@alumni.example.edu.evil.example"], "is not an address of"),
    ],
)
def test_anything_else_is_refused_naming_the_rule(headers: list[str], rule: str) -> None:
    assert rule in from_problem("ann@alumni.example.edu", headers, owned)


@pytest.mark.parametrize(
    "headers",
    [
        # Another address shown beside the real one: as a display name, a comment, an encoded
        # word that decodes to it, or a display name of a second, empty address.
        ['"bob@alumni.example.edu" <ann@alumni.example.edu>'],
        ["bob@alumni.example.edu <ann@alumni.example.edu>"],
        ["ann@alumni.example.edu (bob@alumni.example.edu)"],
        ["ann(bob@alumni.example.edu)@alumni.example.edu"],
        ["=?utf-8?q?bob=40alumni=2Eexample=2Eedu?= <ann@alumni.example.edu>"],
        ["=?utf-8?b?Ym9iQGFsdW1uaS5leGFtcGxlLmVkdQ==?= <ann@alumni.example.edu>"],
        ['"Dean" <ann@alumni.example.edu>, "bob@alumni.example.edu" <>'],
    ],
)
def test_no_other_address_hides_in_a_display_name_comment_or_encoded_word(
    headers: list[str],
) -> None:
    problem = from_problem("ann@alumni.example.edu", headers, owned)
    assert "From: <bob@alumni.example.edu> is not an address of" in problem or (
        "exactly one address" in problem
    )


@pytest.mark.parametrize(
    ("senders", "rule"),
    [
        (["bob@alumni.example.edu"], "Sender: <bob@alumni.example.edu> is not an address of"),
        (['"bob"@alumni.example.edu'], 'Sender: <"bob"@alumni.example.edu> is not an address'),
        (["Ann <ann@alumni.example.edu>", "ann@alumni.example.edu"], "one Sender: header at most"),
        (["=?utf-8?q?bob=40alumni=2Eexample=2Eedu?= <ann@alumni.example.edu>"], "<bob@"),
    ],
)
def test_a_sender_header_is_held_to_the_same_rule(senders: list[str], rule: str) -> None:
    headers = {"Sender": senders}
    problem = from_problem("ann@alumni.example.edu", ["ann@alumni.example.edu"], owned, headers)
    assert rule in problem


@pytest.mark.parametrize("name", ["Resent-From", "Resent-Sender"])
def test_resent_headers_name_only_the_login(name: str) -> None:
    mine = {name: ["ann@alumni.example.edu", "Ann <ann.lee@alumni.example.edu>"]}
    assert from_problem("ann@alumni.example.edu", ["ann@alumni.example.edu"], owned, mine) == ""
    theirs = {name: ["bob@alumni.example.edu"]}
    problem = from_problem("ann@alumni.example.edu", ["ann@alumni.example.edu"], owned, theirs)
    assert f"{name}: <bob@alumni.example.edu> is not an address of" in problem


def test_own_addresses_pass_in_every_place() -> None:
    own = ['"ann.lee@alumni.example.edu" <Ann@Alumni.Example.EDU>']
    senders = {"Sender": ["ann.lee@alumni.example.edu"]}
    assert from_problem("ann@alumni.example.edu", own, owned, senders) == ""
    assert (
        from_problem("ann@alumni.example.edu", ['"Ann @ home" <ann@alumni.example.edu>'], owned)
        == ""
    )


def test_a_login_that_owns_nothing_may_send_nothing() -> None:
    assert "is not an address" in from_problem("x@y.example", ["x@y.example"], owned)


@pytest.mark.parametrize(
    ("headers", "claimed"),
    [
        (["President <President@Alumni.Example.EDU>"], "president@alumni.example.edu"),
        (["x@mail.alumni.example.edu"], "x@mail.alumni.example.edu"),
        (["friend@elsewhere.example, dean@alumni.example.edu"], "dean@alumni.example.edu"),
        (["=?utf-8?q?dean=40alumni=2Eexample=2Eedu?="], "dean@alumni.example.edu"),
        (["=?utf-8?q?Dean_=3Cdean=40alumni=2Eexample=2Eedu=3E?="], "dean@alumni.example.edu"),
        (["x@notalumni.example.edu"], ""),
        (["x@alumni.example.edu.evil.example"], ""),
        ([], ""),
    ],
)
def test_a_from_in_our_domain_or_below_is_a_claim_to_be_ours(
    headers: list[str], claimed: str
) -> None:
    assert claimed_own_address(headers, "alumni.example.edu") == claimed


@pytest.mark.parametrize(
    ("recipient", "circle"),
    [
        ("<grade-1990@circles.alumni.example>", "grade-1990"),
        ("<Hikers+news@CIRCLES.alumni.example.>", "hikers"),
        ("<grade-1990@alumni.example>", ""),  # the main domain: a person, not a circle
        ("<grade-1990@evil-circles.alumni.example>", ""),
        ("<@circles.alumni.example>", ""),
        ("<postmaster>", ""),
    ],
)
def test_a_circle_address_is_told_by_its_domain(recipient: str, circle: str) -> None:
    assert circle_of(recipient, "circles.alumni.example") == circle


def test_only_a_logged_in_member_may_send_to_a_circle() -> None:
    members = {("ana", "hikers")}
    asked: list[tuple[str, str]] = []

    def is_member(login: str, circle: str) -> bool:
        asked.append((login, circle))
        return (login, circle) in members

    assert circle_problem("ana", "hikers", is_member) == ""
    assert "bob is not a member of the circle 'hikers'" in circle_problem(
        "bob", "hikers", is_member
    )
    assert "through submission with AUTH" in circle_problem("", "hikers", is_member)
    assert asked == [("ana", "hikers"), ("bob", "hikers")]  # no login: nothing to look up
