"""The admin console's operations pages (provisioning/web/admin_ops.py) and the status page's
mail queue, on the running stack; and which answers browsers may keep (only static files)."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from identity.roles import Role
from mailstack.context import control_context
from mailstack.daemons.postfix import CONFIG_DIR, Postfix
from mailstack.settings import Settings
from provisioning.people.staff import StaffService
from provisioning.web.docs import ASSETS_URL
from tests import mail
from tests.support import NewAccount, alumail, use_case
from tests.web import STAFF_PASSWORD, client, form_token

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def staff(live_stack: Settings) -> dict[str, str]:
    """A new admin and a new helpdesk member, by role."""
    suffix = secrets.token_hex(2)
    names = {"admin": f"ops.admin.{suffix}", "helpdesk": f"ops.hd.{suffix}"}
    with use_case(StaffService, live_stack) as service:
        service.add(names["admin"], "Ops Admin", Role.ADMIN, STAFF_PASSWORD)
        service.add(names["helpdesk"], "Ops Helpdesk", Role.HELPDESK, STAFF_PASSWORD)
    return names


@contextmanager
def signed_in(
    settings: Settings, login: str, password: str = STAFF_PASSWORD
) -> Iterator[httpx.Client]:
    with client(settings) as http:
        signed = http.post(
            "/login",
            data={"csrf_token": form_token(http, "/login"), "login": login, "password": password},
        )
        assert signed.status_code == 303, signed.text
        yield http


# -- caching -------------------------------------------------------------------------------------


def test_static_files_are_kept_and_revalidated_while_pages_are_not(live_stack: Settings) -> None:
    with client(live_stack) as http:
        docs = http.get("/docs")
        assert docs.headers["cache-control"] == "no-store"
        assert f'src="{ASSETS_URL}/swagger-ui-bundle.js"' in docs.text
        bundle = http.get(f"{ASSETS_URL}/swagger-ui-bundle.js")
        assert bundle.status_code == 200 and len(bundle.content) > 500_000
        assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"
        again = http.get(
            f"{ASSETS_URL}/swagger-ui-bundle.js", headers={"If-None-Match": bundle.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""
        # Only the two files the page uses, and only under the version's URL.
        assert http.get(f"{ASSETS_URL}/redoc.standalone.js").status_code == 404
        assert http.get("/docs/assets/swagger-ui.css").status_code == 404

        css = http.get("/static/site.css")
        assert css.status_code == 200 and css.headers["cache-control"] == "no-cache"
        revalidated = http.get("/static/site.css", headers={"If-None-Match": css.headers["etag"]})
        assert revalidated.status_code == 304 and revalidated.content == b""
        assert revalidated.headers["cache-control"] == "no-cache"
        for path in ("/", "/login", "/api/v1/health", "/.well-known/openid-configuration"):
            assert http.get(path).headers["cache-control"] == "no-store", path


# -- the mail queue ------------------------------------------------------------------------------


def queue_counts(page: str) -> dict[str, int]:
    return {
        name: int(found.group(1))
        for name in ("active", "deferred", "hold")
        if (found := re.search(rf'id="queue-{name}">[^<]*?(\d+)<', page))
    }


def child_pid(parent: int, program: str) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if int(fields[1]) == parent and comm == program:
                return int(entry.name)
    raise AssertionError(f"no {program} under Postfix's master {parent}")


def postsuper(settings: Settings, *args: str) -> None:
    subprocess.run(
        ["postsuper", "-c", str(settings.state_dir / CONFIG_DIR), *args],
        check=True,
        capture_output=True,
    )


def test_status_page_counts_mail_held_in_the_queue(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, _ = new_account()
    master = Postfix(control_context(live_stack)).pid()
    assert master is not None
    with signed_in(live_stack, staff["admin"]) as admin:
        before = queue_counts(admin.get("/admin").text)
        assert set(before) == {"active", "deferred", "hold"}, admin.get("/admin").text
        # Delivery held off (the queue manager stopped) while the message is put on hold, so
        # it cannot be delivered first.
        qmgr = child_pid(master, "qmgr")
        os.kill(qmgr, signal.SIGSTOP)
        try:
            smtp = mail.inbound(live_stack)
            smtp.mail("someone@elsewhere.example.org")
            smtp.rcpt(account.mail)
            code, reply = smtp.data(
                mail.message("someone@elsewhere.example.org", account.mail, "held").as_bytes()
            )
            smtp.quit()
            assert code == 250, reply
            queue_id = reply.decode().rsplit(" ", 1)[1]
            postsuper(live_stack, "-h", queue_id)
        finally:
            os.kill(qmgr, signal.SIGCONT)
        try:
            page = admin.get("/admin").text
            held = queue_counts(page)
            assert held["hold"] == before["hold"] + 1, page
            assert 'id="queue-oldest"' in page
            shown = json.loads(alumail(live_stack, "status", "--json", check=True).stdout)
            assert shown["mail_queue"]["hold"] == held["hold"]
        finally:
            postsuper(live_stack, "-d", queue_id, "hold")
        assert queue_counts(admin.get("/admin").text)["hold"] == before["hold"]
