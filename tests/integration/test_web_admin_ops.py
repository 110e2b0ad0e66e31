"""The admin console's operations pages (provisioning/web/admin_ops.py) and the status page's
mail queue, on the running stack; and which answers browsers may keep (only static files)."""

from __future__ import annotations

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

from identity.roles import ROOT, Role
from mailstack.context import control_context
from mailstack.daemons.postfix import CONFIG_DIR, Postfix
from mailstack.publish import dnsrecords
from mailstack.settings import Settings
from provisioning.audit import AuditLog, audit_path
from provisioning.composition import Composition
from provisioning.oidc.clients import STACK_CLIENTS
from provisioning.operations import dns
from provisioning.people.staff import StaffService
from provisioning.web.docs import ASSETS_URL
from tests import mail
from tests.dnsserver import serving
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
            shown = alumail(live_stack, "status", check=True).stdout
            assert f"hold {held['hold']}" in shown and "oldest" in shown
        finally:
            postsuper(live_stack, "-d", queue_id, "hold")
        assert queue_counts(admin.get("/admin").text)["hold"] == before["hold"]


# -- DNS and DKIM --------------------------------------------------------------------------------


def results(page: str) -> dict[str, int]:
    return {state: page.count(f"state-{state}") for state in ("ok", "missing", "different")}


def test_dns_page_lists_the_records_and_checks_them_against_a_resolver(
    live_stack: Settings, staff: dict[str, str]
) -> None:
    with Composition(live_stack) as root:  # what `alumail dns` and `dkim show` print
        keys = root.signing_keys()
        records = dns.expected_records(live_stack, keys)
        key = keys.in_use()
    assert key is not None
    zone = dnsrecords.zone(records, live_stack.domain)
    with signed_in(live_stack, staff["admin"]) as admin:
        page = admin.get("/admin/dns")
        assert page.status_code == 200, page.text
        rows = page.text.split('id="records"')[1].split("</table>")[0]
        assert rows.count("<tr>") == len(records) + 1  # the head's row too
        assert f"<code>10 {live_stack.mail_host}.</code>" in rows
        assert f"<code>{key.selector}._domainkey.{live_stack.domain}</code>" in page.text
        assert key.record() in rows and "alumail dkim rotate" in page.text
        assert 'id="zone"' in page.text and f"$ORIGIN {live_stack.domain}." in page.text

        token = form_token(admin, "/admin/dns")
        with serving(zone, live_stack.domain) as port:
            good = admin.post(
                "/admin/dns/check",
                data={"csrf_token": token, "nameserver": "127.0.0.1", "port": str(port)},
            )
        assert good.status_code == 200, good.text
        assert results(good.text) == {"ok": len(records), "missing": 0, "different": 0}
        assert f"{len(records)} records checked, 0 differ." in good.text

        # The domain's MX (the first; the circles domain's stays right).
        broken = re.sub(r"\tMX\t10 \S+", "\tMX\t10 old-mx.example.org.", zone, count=1)
        broken = "\n".join(line for line in broken.splitlines() if "_domainkey" not in line)
        with serving(broken, live_stack.domain) as port:
            bad = admin.post(
                "/admin/dns/check",
                data={"csrf_token": token, "nameserver": "127.0.0.1", "port": str(port)},
            )
        assert results(bad.text) == {"ok": len(records) - 2, "missing": 1, "different": 1}
        assert "<code>10 old-mx.example.org.</code>" in bad.text  # what was found, beside

        for field, values in (
            ("nameserver", {"nameserver": "resolver.example.org", "port": "53"}),
            ("port", {"nameserver": "127.0.0.1", "port": "70000"}),
        ):
            refused = admin.post("/admin/dns/check", data={"csrf_token": token, **values})
            assert refused.status_code == 422 and f'id="{field}-error"' in refused.text
        unchecked = admin.post("/admin/dns/check", data={"nameserver": "127.0.0.1"})
        assert unchecked.status_code == 403


# -- OpenID Connect clients ----------------------------------------------------------------------


def client_ids(settings: Settings) -> set[str]:
    """The registered clients, as ``alumail oidc client list`` lists them."""
    with Composition(settings) as root:
        return {c.client_id for c in root.oidc_clients(ROOT).listing()}


def test_admin_registers_rotates_and_removes_a_client(
    live_stack: Settings, staff: dict[str, str]
) -> None:
    name = f"Alumni Library {secrets.token_hex(2)}"
    with signed_in(live_stack, staff["admin"]) as admin:
        token = form_token(admin, "/admin/clients")
        before = client_ids(live_stack)
        refused = admin.post(
            "/admin/clients",
            data={
                "csrf_token": token,
                "name": name,
                "redirect_uris": "http://library.example.org/callback",
                "scopes": ["openid", "profile"],
            },
        )
        assert refused.status_code == 422 and 'id="redirect_uris-error"' in refused.text
        assert client_ids(live_stack) == before
        added = admin.post(
            "/admin/clients",
            data={
                "csrf_token": token,
                "name": name,
                "redirect_uris": "https://library.example.org/callback\n",
                "scopes": ["openid", "profile"],
            },
        )
        assert added.status_code == 200, added.text
        client_id = re.search(r'id="shown-client-id">([^<]+)<', added.text)
        secret = re.search(r'id="client-secret">([^<]+)<', added.text)
        assert client_id and secret and len(secret.group(1)) >= 32
        assert client_ids(live_stack) == before | {client_id.group(1)}
        listing = admin.get("/admin/clients").text
        assert name in listing and secret.group(1) not in listing  # shown once

        path = f"/admin/clients/{client_id.group(1)}"
        asked = admin.post(f"{path}/rotate-secret", data={"csrf_token": token})
        assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
        rotated = admin.post(
            f"{path}/rotate-secret", data={"csrf_token": token, "confirmed": "yes"}
        )
        new_secret = re.search(r'id="client-secret">([^<]+)<', rotated.text)
        assert new_secret and new_secret.group(1) != secret.group(1)

        asked = admin.post(f"{path}/remove", data={"csrf_token": token})
        assert f"Remove the client {name}?" in asked.text
        assert client_id.group(1) in client_ids(live_stack)
        removed = admin.post(f"{path}/remove", data={"csrf_token": token, "confirmed": "yes"})
        assert removed.status_code == 200, removed.text
    assert client_ids(live_stack) == before
    trail = AuditLog(audit_path(live_stack.state_dir))
    for action in ("oidc-client-add", "oidc-client-rotate-secret", "oidc-client-remove"):
        assert any(
            staff["admin"] in str(line.get("actor")) and line.get("outcome") == "ok"
            for line in trail.query(action=action)
        ), action


def test_the_stack_clients_and_unknown_ones_are_refused(
    live_stack: Settings, staff: dict[str, str]
) -> None:
    with signed_in(live_stack, staff["admin"]) as admin:
        token = form_token(admin, "/admin/clients")
        for client_id in sorted(STACK_CLIENTS):
            for action in ("remove", "rotate-secret"):
                refused = admin.post(
                    f"/admin/clients/{client_id}/{action}",
                    data={"csrf_token": token, "confirmed": "yes"},
                )
                assert refused.status_code == 422 and 'id="client-failure"' in refused.text
        missing = admin.post(
            "/admin/clients/no-such-client/remove", data={"csrf_token": token, "confirmed": "yes"}
        )
        assert missing.status_code == 404
    assert client_ids(live_stack) >= STACK_CLIENTS


# -- refusals ------------------------------------------------------------------------------------

GET_PATHS = ["/admin/dns", "/admin/clients"]
POST_PATHS = [
    "/admin/dns/check",
    "/admin/clients",
    "/admin/clients/alumail-webmail/remove",
    "/admin/clients/alumail-webmail/rotate-secret",
]


def test_helpdesk_and_alumni_are_refused_and_forms_need_their_token(
    live_stack: Settings, staff: dict[str, str], new_account: NewAccount
) -> None:
    account, password = new_account()
    before = client_ids(live_stack)
    for login, secret in ((staff["helpdesk"], STAFF_PASSWORD), (account.uid, password)):
        with signed_in(live_stack, login, secret) as http:
            token = form_token(http, "/")
            for path in GET_PATHS:
                assert http.get(path).status_code == 403, (login, path)
            for path in POST_PATHS:
                refused = http.post(
                    path,
                    data={
                        "csrf_token": token,
                        "confirmed": "yes",
                        "name": "x",
                        "redirect_uris": "https://x.example.org/",
                    },
                )
                assert refused.status_code == 403, (login, path)
    with signed_in(live_stack, staff["admin"]) as admin:
        for path in POST_PATHS:
            refused = admin.post(
                path,
                data={"confirmed": "yes", "name": "x", "redirect_uris": "https://x.example.org/"},
            )
            assert refused.status_code == 403, path
    assert client_ids(live_stack) == before
