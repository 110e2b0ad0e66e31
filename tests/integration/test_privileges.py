"""The internet-facing processes (the web service, the outbound sink, the sender milter; the SASL
relay as Postfix's user) run unprivileged, and the web service's directory identity can do what its
use cases need and nothing more.

Everything the web process might try is tried with its own credentials, read from
/proc/PID/status of the running process, through the system's own tools (ldapwhoami, ldapsearch,
ldapmodify, cat), so the test judges the live process's rights, not a model of them."""

from __future__ import annotations

import io
import pwd
import subprocess
import tarfile
from pathlib import Path

import pytest

from identity.dit import Tree
from mailstack.layout import Layout
from mailstack.mailbox.doveadm import Doveadm
from mailstack.mailbox.imapsync import counts
from mailstack.settings import Settings
from provisioning.people.accounts import AccountService
from tests import mail, web
from tests.legacy_imap import fill, legacy_server
from tests.support import (
    NewAccount,
    alumail,
    member_bytes,
    running_stack,
    use_case,
    wait_for,
    which,
)

pytestmark = pytest.mark.integration


def ids_of(pid: int) -> dict[str, list[int]]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, values = line.partition(":")
        if name in ("Uid", "Gid", "Groups"):
            found[name] = [int(v) for v in values.split()]
    return found


def pid_of(settings: Settings, name: str) -> int:
    return int((Layout(settings.state_dir).run / f"{name}.pid").read_text())


def as_web(settings: Settings, *cmd: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with exactly the web process's real ids and groups."""
    ids = ids_of(pid_of(settings, "web"))
    groups = ",".join(str(g) for g in ids["Groups"]) or "-"
    wrap = [which("setpriv"), f"--reuid={ids['Uid'][0]}", f"--regid={ids['Gid'][0]}"]
    wrap += ["--clear-groups"] if groups == "-" else [f"--groups={groups}"]
    return subprocess.run(
        [*wrap, *cmd],
        input=stdin,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=30,
        check=False,
    )


def ldap(
    settings: Settings, tool: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    uri = Layout(settings.state_dir).ldapi_uri
    return as_web(settings, which(tool), "-Q", "-Y", "EXTERNAL", "-H", uri, *args, stdin=stdin)


@pytest.mark.parametrize("name", ["web", "sink", "sender-milter"])
def test_internet_facing_processes_run_as_an_unprivileged_user(
    live_stack: Settings, name: str
) -> None:
    ids = ids_of(pid_of(live_stack, name))
    assert 0 not in ids["Uid"] and 0 not in ids["Gid"], ids  # real, effective, saved, fs
    assert 0 not in ids["Groups"], ids


def test_web_process_reads_no_secret_key_or_directory_database(live_stack: Settings) -> None:
    state = live_stack.state_dir
    for path in [
        *sorted((state / "secrets").glob("*")),
        state / "tls" / "server.key",
        state / "tls" / "ca.key",
        state / "ldap" / "data" / "data.mdb",
        state / "etc" / "dovecot" / "passdb-ldap.conf.ext",
    ]:
        assert path.exists(), path  # as root: the file is there
        refused = as_web(live_stack, which("cat"), str(path))
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, path
    # ... while its own store is its own
    assert as_web(live_stack, which("cat"), str(state / "web" / "key")).returncode == 0


def test_web_identity_is_the_service_entry_and_proxies_only_for_people(
    live_stack: Settings, new_account: NewAccount
) -> None:
    tree = Tree(live_stack.base_dn)
    account, _ = new_account()
    whoami = ldap(live_stack, "ldapwhoami")
    assert whoami.stdout.strip() == f"dn:{tree.service('web')}", whoami.stderr
    acting = ldap(live_stack, "ldapwhoami", "-e", f"!authzid=dn:{tree.person(account.uid)}")
    assert acting.stdout.strip() == f"dn:{tree.person(account.uid)}", acting.stderr
    root = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"
    for target in (root, "cn=config", tree.service("dovecot"), tree.admins_group):
        refused = ldap(live_stack, "ldapwhoami", "-e", f"!authzid=dn:{target}")
        assert refused.returncode != 0, target
        assert "authorization" in refused.stderr.lower() or "123" in refused.stderr, target


def test_web_identity_reads_no_hash_writes_no_group_deletes_no_one(
    live_stack: Settings, new_account: NewAccount
) -> None:
    tree = Tree(live_stack.base_dn)
    account, _ = new_account()
    person = tree.person(account.uid)
    seen = ldap(live_stack, "ldapsearch", "-LLL", "-b", person, "-s", "base", "*", "+")
    assert f"uid: {account.uid}" in seen.stdout and f"mail: {account.mail}" in seen.stdout
    assert "userPassword" not in seen.stdout
    assert ldap(live_stack, "ldapsearch", "-LLL", "-b", "cn=config", "-s", "base").stdout == ""
    changes = {
        "join a group": f"dn: {tree.readers_group}\nchangetype: modify\nadd: member\n"
        f"member: {tree.service('web')}\n",
        "delete an alumnus": f"dn: {person}\nchangetype: delete\n",
        "rename an alumnus": f"dn: {person}\nchangetype: modify\nreplace: displayName\n"
        "displayName: Mallory\n",
        "change the quota": f"dn: {person}\nchangetype: modify\nreplace: alumailMailQuota\n"
        "alumailMailQuota: 1099511627776\n",
    }
    for what, ldif in changes.items():
        refused = ldap(live_stack, "ldapmodify", stdin=ldif)
        assert "Insufficient access" in refused.stderr, (what, refused.stdout, refused.stderr)
    # What recovery needs (the control that this identity writes at all): a new password.
    replaced = ldap(
        live_stack,
        "ldapmodify",
        stdin=f"dn: {person}\nchangetype: modify\nreplace: userPassword\n"
        "userPassword: {SSHA}aGVsbG8gd29ybGQgZnJvbSB0ZXN0cw==\n",
    )
    assert replaced.returncode == 0, replaced.stderr


def test_the_unprivileged_web_serves_an_alumnus_their_mailbox_and_leaves_no_copy(
    live_stack: Settings, new_account: NewAccount
) -> None:
    """Through the doveadm server (the copy, as the mail user) into the transfer folder, read
    by the service: the download holds the message, and the copy is gone afterwards."""
    account, password = new_account()
    with mail.inbound(live_stack) as smtp:
        smtp.send_message(mail.message("a@sender.example", account.mail, "Kept for download"))
    assert wait_for(
        lambda: "Kept for download" in mail.inbox_subjects(live_stack, account.uid, password)
    )
    with web.client(live_stack) as http:
        token = web.form_token(http, "/login")
        signed = http.post(
            "/login", data={"csrf_token": token, "login": account.uid, "password": password}
        )
        assert signed.status_code == 303, signed.text
        download = http.get("/account/mailbox.tar.gz")
        assert download.status_code == 200, download.text
    with tarfile.open(fileobj=io.BytesIO(download.content)) as tar:
        texts = [
            member_bytes(tar, m)
            for m in tar.getmembers()
            if m.isfile() and m.name.startswith(("Maildir/cur/", "Maildir/new/"))
        ]
    assert any(b"Kept for download" in text for text in texts)
    assert list(Layout(live_stack.state_dir).transfer.iterdir()) == []


def test_the_unprivileged_web_moves_an_alumnus_mail_from_the_legacy_server() -> None:
    """The pull from the legacy server goes through the web service's root helper (the only
    request about another server it answers) and lands in the new mailbox."""
    with legacy_server() as legacy:
        legacy.add_user("old.li", "Old-Li-Pass-1")
        fill(legacy, "old.li", 5, big=0, seed=11)
        extra = {"legacy.imap_host": "127.0.0.1", "legacy.imap_port": legacy.port}
        with running_stack("privileges-legacy", **extra, **{"legacy.security": "no"}) as stack:
            with use_case(AccountService, stack) as accounts:
                account = accounts.create("li.moved", "Li Moved", "Li-Moved-Pass-12")
            alumail(stack, "legacy", "set", account.uid, "old.li@old.example.edu", check=True)
            with web.client(stack) as http:
                token = web.form_token(http, "/login")
                http.post(
                    "/login",
                    data={
                        "csrf_token": token,
                        "login": account.uid,
                        "password": "Li-Moved-Pass-12",
                    },
                )
                started = http.post(
                    "/account/migration",
                    data={"csrf_token": token, "login": "old.li", "password": "Old-Li-Pass-1"},
                )
                assert started.status_code == 200, started.text
                assert wait_for(
                    lambda: 'id="migration-state">migrated<' in http.get("/account/migration").text,
                    60,
                ), http.get("/account/migration").text
            copied = counts(Doveadm.of(Layout(stack.state_dir)), account.mail)
            assert sum(folder.messages for folder in copied.values()) == 5


def test_the_sasl_relay_runs_as_postfix(live_stack: Settings) -> None:
    """Credentials typed by mail clients pass through it: never through a root process."""
    pid = int((Layout(live_stack.state_dir).run / "sasl-relay" / "sasl-relay.pid").read_text())
    ids = ids_of(pid)
    postfix = pwd.getpwnam("postfix")
    assert set(ids["Uid"]) == {postfix.pw_uid}, ids
    assert set(ids["Gid"]) == {postfix.pw_gid} and not ids["Groups"], ids
