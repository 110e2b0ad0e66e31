"""Sign-in (provisioning.people.signin.SignIn) against in-memory collaborators: the same refusal
for a wrong password and an unknown name, suspended accounts kept out, and what is audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity.errors import AccessDeniedError
from identity.roles import Role
from provisioning.people.signin import REFUSED, SUSPENDED
from tests.unit.fakes import composed

pytestmark = pytest.mark.unit


def test_a_wrong_password_and_an_unknown_name_get_the_same_refusal(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.alumnus("li.lei", password="Alumnus-Pass-42")
    for login, password in [("li.lei", "Not-The-Pass-1"), ("no.such.one", "Alumnus-Pass-42")]:
        with pytest.raises(AccessDeniedError) as refused:
            world.root.signin.authenticate(login, password)
        assert refused.value.message == REFUSED
    assert world.trail() == [("sign-in", "li.lei", "denied")]  # unknown names are not audited


def test_a_suspended_alumnus_is_kept_out_and_a_good_one_signed_in(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.alumnus("li.lei", alumailAccountStatus="suspended")
    world.alumnus("han.mei")
    with pytest.raises(AccessDeniedError, match=SUSPENDED):
        world.root.signin.authenticate("li.lei", "Alumnus-Pass-42")
    who = world.root.signin.authenticate("han.mei@alumni.example.edu", "Alumnus-Pass-42")
    assert (who.uid, who.role, who.must_change) == ("han.mei", Role.ALUMNUS, False)
    assert world.trail() == [("sign-in", "li.lei", "denied"), ("sign-in", "han.mei", "ok")]


def test_the_cli_actor_is_proven_by_its_password(tmp_path: Path) -> None:
    world = composed(tmp_path)
    world.staff("desk", Role.HELPDESK, password="Staff-Pass-4242")
    with pytest.raises(AccessDeniedError, match="cannot sign in as 'desk'"):
        world.root.signin.resolve_actor("desk", "Wrong-Pass-4242")
    actor = world.root.signin.resolve_actor("desk", "Staff-Pass-4242")
    assert (actor.name, actor.role) == ("desk", Role.HELPDESK)
