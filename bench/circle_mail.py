"""A circle's address as a mailing list, for ``make bench-circle-mail`` (also ``python -m
bench.circle_mail``): one message submitted to a circle of 5,000 members (seeded straight into
slapd as root), the time until the submission is accepted and until Postfix's log shows every
member's copy saved by Dovecot; beside the same for one message to one mailbox in the same run.
Nothing here asserts a time; the issue's goal is accepted in under 1 s, delivered to all."""

from __future__ import annotations

import os
import time
from pathlib import Path

from identity.accounts import Account
from identity.directory import Directory
from identity.dit import Tree
from identity.roles import ROOT
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.composition import Composition
from tests import mail
from tests.support import running_stack, wait_for

MEMBERS = 5000
CIRCLE = "bench-list"
AUTHOR = "bench.author"
PASSWORD = "Bench-Author-Pass-1"  # noqa: S105 -- a throwaway account on a test stack


def seed(settings: Settings) -> None:
    """The members (no password: they only receive) and the circle, as root over ldapi."""
    tree = Tree(settings.base_dn)
    members = [tree.person(AUTHOR)]
    with Directory(Layout(settings.state_dir).ldapi_uri, timeout=600) as directory:
        for i in range(MEMBERS):
            uid = f"bench{i:05d}"
            account = Account(uid, f"Bench {i}", f"{uid}@{settings.domain}", 1 << 20)
            directory.add(tree.person(uid), account.to_entry(None))
            members.append(tree.person(uid))
        directory.add(
            tree.circle(CIRCLE),
            {
                "objectClass": ["groupOfNames", "alumailCircle"],
                "cn": [CIRCLE],
                "alumailCircleTitle": ["Bench"],
                "alumailCircleKind": ["interest"],
                "alumailCirclePolicy": ["invite"],
                "alumailCircleVisibility": ["listed"],
                "member": [tree.circle_placeholder, *members],
                "owner": [tree.person(AUTHOR)],
            },
        )


def saved(log: Path, original: str) -> int:
    """Copies Dovecot saved for mail first addressed to ``original``."""
    needle = f"orig_to=<{original}>" if "@circles." in original else f"to=<{original}>"
    return sum(
        1
        for line in log.read_text().splitlines()
        if needle in line and "status=sent" in line and "lmtp" in line
    )


def send(settings: Settings, to: str, copies: int) -> tuple[float, float]:
    """Seconds to an accepted submission, and to ``copies`` copies saved."""
    log = Layout(settings.state_dir).logfile("postfix")
    before = saved(log, to)
    client = mail.submission(settings)
    client.login(AUTHOR, PASSWORD)
    start = time.monotonic()
    client.send_message(mail.message(f"{AUTHOR}@{settings.domain}", to, "bench"))
    accepted = time.monotonic() - start
    client.quit()
    wait_for(lambda: saved(log, to) - before >= copies, timeout=900, interval=0.2)
    return accepted, time.monotonic() - start


def main() -> None:
    with running_stack("bench-circle-mail") as settings:
        with Composition(settings) as root:
            root.accounts(ROOT).create(AUTHOR, "Bench Author", PASSWORD)
        start = time.monotonic()
        seed(settings)
        seeded = time.monotonic() - start
        one = send(settings, f"bench00000@{settings.domain}", 1)
        circle = send(settings, f"{CIRCLE}@{settings.circles.domain}", MEMBERS + 1)
    print(f"seeded {MEMBERS:,} members and the circle in {seeded:.1f} s")
    print(f"{'':<28} {'accepted s':>10} {'delivered s':>12}")
    print(f"{'one mailbox (reference)':<28} {one[0]:>10.3f} {one[1]:>12.3f}")
    print(f"{f'circle, {MEMBERS + 1:,} members':<28} {circle[0]:>10.3f} {circle[1]:>12.3f}")


if __name__ == "__main__":
    os.nice(5)
    main()
