"""The stack's daemons are declared once, in a registry: the start order, the programs
``preflight`` requires and the daemons ``up --dry-run`` plans all follow it, so a daemon added
to the registry is added everywhere (and one the configuration does not run, nowhere)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from identity.errors import ConfigError
from mailstack import stack as mail
from mailstack.daemon import DaemonEntry, Registry
from mailstack.daemons.sink import Sink
from provisioning import stack
from tests.support import state_root
from tests.support import test_settings as make_settings
from tests.unit.test_render import fixed_context

pytestmark = pytest.mark.unit

NO_SUCH_PROGRAM = "alumail-no-such-program"
START_ORDER = [
    "slapd",
    "dovecot",
    "sasl-relay",
    "opendkim",
    "sender-milter",
    "postfix",
    "sink",
    "php-fpm",
    "nginx",
    "web",
]


class Extra(Sink):
    """A daemon someone adds: a copy of the sink under its own name."""

    name = "extra"


def _with_extra(*, runs: bool = True) -> Registry:
    entry = DaemonEntry("extra", Extra, programs=(NO_SUCH_PROGRAM,), runs=lambda _: runs)
    return (*stack.DAEMONS, entry)


@pytest.fixture
def root() -> Iterator[Path]:
    path = state_root("registry")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _planned_starts(actions: list[str]) -> list[str]:
    return [action.removeprefix("start ") for action in actions if action.startswith("start ")]


def test_the_start_order_is_the_registry_order() -> None:
    ctx = fixed_context()
    assert [entry.name for entry in stack.DAEMONS] == START_ORDER
    assert [daemon.name for daemon in mail.daemons(ctx, stack.DAEMONS)] == START_ORDER
    assert [daemon.name for daemon in mail.daemons(ctx, _with_extra())] == [*START_ORDER, "extra"]
    assert list(mail.render_all(ctx, stack.DAEMONS)) == START_ORDER


def test_each_entry_names_its_daemon() -> None:
    ctx = fixed_context()
    for entry in stack.DAEMONS:
        assert entry.factory(ctx).name == entry.name


def test_the_required_programs_are_the_registered_daemons_programs() -> None:
    settings = fixed_context().settings
    assert set(mail.required_programs(settings, stack.DAEMONS)) == {
        "slapd",
        "slapadd",
        "slaptest",
        "dovecot",
        "doveconf",
        "doveadm",
        "postfix",
        "postconf",
        "openssl",
        "opendkim",
        "opendkim-genkey",
        "php-fpm8.2",
        "php",
        "nginx",
    }
    assert NO_SUCH_PROGRAM in mail.required_programs(settings, _with_extra())


def test_preflight_requires_a_registered_daemons_program(root: Path) -> None:
    settings = make_settings(root)
    mail.preflight(settings, registry=stack.DAEMONS)
    with pytest.raises(ConfigError, match=f"missing programs: {NO_SUCH_PROGRAM}: "):
        mail.preflight(settings, registry=_with_extra())
    with pytest.raises(ConfigError, match=NO_SUCH_PROGRAM):
        mail.up(settings, dry_run=True, registry=_with_extra())
    mail.preflight(settings, registry=_with_extra(runs=False))


def test_the_dry_run_plans_every_registered_daemon_in_start_order(root: Path) -> None:
    settings = make_settings(root)
    assert _planned_starts(stack.up(settings, dry_run=True).actions) == START_ORDER
    registry = (*stack.DAEMONS, DaemonEntry("extra", Extra))
    planned = mail.up(settings, dry_run=True, registry=registry).actions
    assert _planned_starts(planned) == [*START_ORDER, "extra"]
    assert not (settings.state_dir / "etc").exists()  # a plan writes nothing


def test_a_daemon_this_configuration_does_not_run_is_nowhere() -> None:
    ctx = fixed_context()
    registry = _with_extra(runs=False)
    assert [daemon.name for daemon in mail.daemons(ctx, registry)] == START_ORDER
    assert NO_SUCH_PROGRAM not in mail.required_programs(ctx.settings, registry)
    assert [entry.name for entry in mail.entries(ctx.settings, registry)] == START_ORDER
