"""Every command resolves its actor and checks its role: a wrong password or an unknown actor
stops any command, and an alumnus cannot run a staff command, whatever the command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from mailstack.settings import Settings
from provisioning.audit import AuditLog, audit_path
from provisioning.cli import main
from provisioning.cli.base import ANYONE
from tests.support import NewAccount

pytestmark = pytest.mark.integration


def sample_arguments(files: Path) -> dict[str, list[str]]:
    """Arguments that parse for each command (the refusal must come before they are used)."""
    csv_file = files / "rows.csv"
    csv_file.write_text("uid\n")
    return {
        "account create": ["x.y", "--name", "N"],
        "account show": ["x.y"],
        "account list": [],
        "account modify": ["x.y", "--name", "N"],
        "account suspend": ["x.y"],
        "account resume": ["x.y"],
        "account delete": ["x.y"],
        "account alias add": ["x.y", "a@b.example"],
        "account alias remove": ["x.y", "a@b.example"],
        "quota set": ["x.y", "1G"],
        "quota show": ["x.y"],
        "quota over": ["50"],
        "helpdesk reset-password": ["x.y"],
        "helpdesk unlock": ["x.y"],
        "helpdesk status": ["x.y"],
        "staff add": ["x.y", "--name", "N", "--role", "admin"],
        "staff remove": ["x.y"],
        "staff role": ["x.y", "helpdesk"],
        "staff list": [],
        "passwd": ["x.y"],
        "audit": [],
        "import": [str(csv_file)],
        "export": [],
        "migrate": [],
        "legacy status": [],
        "legacy set": ["x.y", "a@b.example"],
        "legacy remind": [],
        "backup": ["x.y", "--to", str(files / "b.tar.gz")],
        "restore": ["x.y", "--from", str(csv_file)],
        "backup-all": ["--to", str(files)],
        "restore-all": ["--from", str(files)],
        "dns": [],
        "dns check": [],
        "dkim show": [],
        "dkim rotate": [],
        "dkim retire": ["k1"],
        "serve": [],
        "roster import": [str(csv_file)],
        "roster status": [],
        "roster list": [],
        "token issue": ["x.y", "--label", "l"],
        "token revoke": ["1"],
        "token list": [],
        "oidc client add": ["app", "--redirect-uri", "https://app.example/cb"],
        "oidc client list": [],
        "oidc client show": ["c1"],
        "oidc client remove": ["c1"],
        "oidc client rotate-secret": ["c1"],
        "oidc keys list": [],
        "oidc keys rotate": [],
        "up": [],
        "down": [],
        "status": [],
        "logs": ["postfix"],
        "verify": ["x.y"],
        "circle create": ["club-x", "--title", "T", "--kind", "interest"],
        "circle list": [],
        "circle show": ["club-x"],
        "circle apply": ["club-x"],
        "circle applications": ["club-x"],
        "circle approve": ["club-x", "x.y"],
        "circle reject": ["club-x", "x.y"],
        "circle cancel": ["club-x"],
        "circle leave": ["club-x"],
        "circle remove": ["club-x", "x.y"],
        "circle hand-over": ["club-x", "x.y"],
        "circle moderator": ["club-x", "x.y"],
        "circle sync-cohorts": ["--dry-run"],
        "circle activate": ["club-x"],
        "circle add": ["club-x", "x.y"],
        "circle post": ["club-x", "--subject", "S", "--body-file", str(csv_file)],
        "circle posts": ["club-x"],
        "circle edit-post": ["club-x", "1", "--body-file", str(csv_file)],
        "circle delete-post": ["club-x", "1"],
        "circle hide": ["club-x", "1"],
        "circle pin": ["club-x", "1"],
        "circle board": ["club-x"],
        "circle unread": [],
    }


def every_command(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            if command.invoke_without_command:
                yield path, command
            yield from every_command(command, path + " ")
        else:
            yield path, command


def run(settings: Settings, actor: str, password_file: Path, path: str, args: list[str]) -> Result:
    config = settings.state_dir.parent / "alumail.toml"
    return CliRunner().invoke(
        main,
        ["--actor", actor, "--actor-password-file", str(password_file), *path.split(), *args],
        env={"ALUMAIL_CONFIG": str(config)},
        catch_exceptions=True,
    )


def test_every_command_is_in_the_table(tmp_path: Path) -> None:
    assert {path for path, _ in every_command(main)} == set(sample_arguments(tmp_path))


def test_no_command_runs_for_an_unknown_actor_or_a_wrong_password(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    account, _ = new_account()
    wrong = tmp_path / "wrong"
    wrong.write_text("Not-The-Password-1\n")
    trail = audit_path(live_stack.state_dir)
    before = trail.read_bytes()
    for path, args in sample_arguments(tmp_path).items():
        for actor in ("nobody.here", account.uid):
            result = run(live_stack, actor, wrong, path, args)
            assert result.exit_code == 9, (path, actor, result.output, result.exception)
            assert "cannot sign in" in result.stderr, (path, result.stderr)
    assert trail.read_bytes() == before  # nothing ran, so nothing was recorded


def test_an_alumnus_runs_no_staff_command(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    account, password = new_account()
    secret = tmp_path / "pw"
    secret.write_text(password + "\n")
    for path, args in sample_arguments(tmp_path).items():
        command = dict(every_command(main))[path]
        if getattr(command, "alumail_roles", None) == ANYONE:
            continue  # the use case decides, for the account's own entry (tests elsewhere)
        result = run(live_stack, account.uid, secret, path, args)
        assert result.exit_code == 9, (path, result.output, result.exception)
        assert f"may not run `alumail {path}`" in result.stderr
    denied = AuditLog(audit_path(live_stack.state_dir)).query(actor=account.uid)
    assert ("dkim-rotate", "denied") in [(x["action"], x["outcome"]) for x in denied]
    assert ("dkim-show", "denied") not in [(x["action"], x["outcome"]) for x in denied]
