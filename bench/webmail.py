"""The webmail's figures for ``make bench`` (also ``python -m bench.webmail``): a password login
to the rendered inbox through Roundcube (login page, login POST, inbox page, message list),
beside a reference measured in the same run: the IMAP work underneath done directly (IMAPS
login, SELECT INBOX, the envelopes of its messages); and the memory nginx and php-fpm take
(PSS and RSS) after bring-up and after the logins.
Nothing here asserts a time."""

from __future__ import annotations

import imaplib
import json
import statistics
import time
from pathlib import Path

import httpx

from identity.roles import ROOT
from mailstack.context import control_context
from mailstack.daemons.nginx import Nginx
from mailstack.daemons.php_fpm import PhpFpm
from mailstack.process import parent_of
from mailstack.settings import Settings
from provisioning.composition import Composition
from tests import mail
from tests.support import running_stack
from tests.webmail import login, request_token

ROUNDS = 20
MESSAGES = 50
USER = "bench.webmail"
PASSWORD = "Bench-Webmail-Pass-1"  # noqa: S105 -- a throwaway account on a test stack


def webmail_login(settings: Settings, url: str) -> float:
    with httpx.Client(base_url=url, timeout=30) as http:
        started = time.perf_counter()
        answer = login(http, USER, PASSWORD)
        inbox = http.get(answer.headers["location"].removeprefix("."))
        listing = http.get(
            "/",
            params={"_task": "mail", "_action": "list", "_mbox": "INBOX", "_remote": "1"},
            headers={"X-Roundcube-Request": request_token(inbox.text)},
        )
        elapsed = time.perf_counter() - started
    assert listing.status_code == 200 and "add_message_row" in listing.text
    return elapsed


def imap_reference(settings: Settings) -> float:
    started = time.perf_counter()
    client = imaplib.IMAP4_SSL(
        settings.connect_host, settings.ports.imaps, ssl_context=mail.tls(settings)
    )
    client.login(USER, PASSWORD)
    client.select("INBOX", readonly=True)
    client.fetch("1:*", "(UID FLAGS RFC822.SIZE ENVELOPE)")
    client.logout()
    return time.perf_counter() - started


def memory(master: int) -> tuple[float, float]:
    """Proportional and resident set sizes of a master and its direct children (php-fpm's pool
    processes come on demand and leave after 60 s idle), MiB each, summed."""
    pids = [master] + [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and parent_of(int(p.name)) == master
    ]
    pss = rss = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
            elif line.startswith("Rss:"):
                rss += int(line.split()[1])
    return round(pss / 1024, 1), round(rss / 1024, 1)


def webmail_figures() -> dict[str, float]:
    with running_stack("bench-webmail") as settings:
        with Composition(settings) as root:
            service = root.accounts(ROOT)
            service.create(USER, "Bench Webmail", PASSWORD)
        with mail.inbound(settings) as smtp:
            for n in range(MESSAGES):
                smtp.send_message(
                    mail.message("a@elsewhere.example", f"{USER}@{settings.domain}", f"m{n}")
                )
        ctx = control_context(settings)
        nginx, php = Nginx(ctx), PhpFpm(ctx)
        idle = memory(nginx.pid() or 0), memory(php.pid() or 0)
        webmail_login(settings, nginx.url)  # Roundcube creates its database on the first request
        webmail = statistics.median(webmail_login(settings, nginx.url) for _ in range(ROUNDS))
        reference = statistics.median(imap_reference(settings) for _ in range(ROUNDS))
        used = memory(nginx.pid() or 0), memory(php.pid() or 0)
    return {
        "login_to_inbox_s": round(webmail, 3),
        "imap_login_select_fetch_s": round(reference, 3),
        "webmail_vs_imap": round(webmail / reference, 1),
        "idle_nginx_pss_mib": idle[0][0],
        "idle_php_fpm_pss_mib": idle[1][0],
        "after_logins_nginx_pss_mib": used[0][0],
        "after_logins_php_fpm_pss_mib": used[1][0],
        "idle_nginx_rss_mib": idle[0][1],
        "idle_php_fpm_rss_mib": idle[1][1],
        "after_logins_nginx_rss_mib": used[0][1],
        "after_logins_php_fpm_rss_mib": used[1][1],
    }


if __name__ == "__main__":
    print(json.dumps(webmail_figures(), indent=2))
