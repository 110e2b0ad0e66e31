"""The sender milter: on the submission ports, the message's ``From:`` must be an address the
login owns (its primary address or one of its aliases), so an alumnus cannot write as another
and have OpenDKIM sign it with our domain. Postfix cannot compare a header with the SASL login
by itself (``reject_sender_login_mismatch`` covers only the envelope sender).

On port 25 (no login), a ``From:`` in our own domain must carry our own valid DKIM signature
(d= our domain, checked with our own keys, no DNS): what our DMARC record (adkim=s) asks of
every receiver, applied at home. A message of ours that a forwarder brings back intact passes;
a stranger writing as one of us does not.

At RCPT, mail to a circle address (``NAME@<circles.domain>``) is refused (550 5.7.1) unless
the login is a member of that active circle: Postfix expands the address from the directory but
cannot tell whether the sender is among those it expands to. Submission's
``reject_sender_login_mismatch`` has already made the envelope sender an address the login owns;
port 25 refuses circle addresses outright (no login proves a member there).

A small milter (pymilter, over Sendmail's libmilter) run as one more daemon of the stack on a
loopback port; Postfix passes submitted mail through it before OpenDKIM, and the service's own
mail (local sendmail) never reaches it. Run as ``python -m mailstack.daemons.sender_milter --host H
--port P --pidfile F --ldap-uri U --bind-dn DN --secret-file F --base DN``."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Mapping
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import dkim

from identity.directory import Credentials, Directory, escape
from identity.errors import DirectoryError
from mailstack.context import RenderContext
from mailstack.daemon import Endpoint
from mailstack.daemons.managed import ManagedDaemon, announce, forget
from mailstack.files import FileSpec, ensure_dir
from mailstack.privileges import service_user

NAME = "alumail-sender"
RECORDS = "etc/sender-milter/own-dkim-records.json"


# Headers besides From: that name who sent a message, as mail clients show them.
IDENTITY_HEADERS = {
    "sender": "Sender",
    "resent-from": "Resent-From",
    "resent-sender": "Resent-Sender",
}
# Anything shaped like an address, wherever it stands in a header: the address itself, a
# display name, a comment or an encoded word, once decoded.
_ADDRESS_LIKE = re.compile(r"[^\s<>()\[\]\",;:@]+@[^\s<>()\[\]\",;:@]+")


def decoded(value: str) -> str:
    """A header value with its RFC 2047 encoded words decoded, as a mail client shows it."""
    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return value


def from_problem(
    login: str,
    from_headers: list[str],
    owned: Callable[[str], set[str]],
    others: Mapping[str, list[str]] | None = None,
) -> str:
    """Why a message submitted by ``login`` may not go out with these ``From:`` headers and
    ``others`` (``Sender:``, ``Resent-From:``, ``Resent-Sender:``, by name), or "" when it may.
    ``owned`` gives the addresses a login owns (lowercase). Mail clients show a display name, a
    comment or an encoded word as prominently as the address, and a Sender: as who sent it, so
    every address-like text anywhere in these headers must be owned too."""
    if len(from_headers) != 1:
        return f"a message needs exactly one From: header (this one has {len(from_headers)})"
    addresses = [address for _, address in getaddresses(from_headers) if address]
    if len(addresses) != 1 or "@" not in addresses[0]:
        return "the From: header must hold exactly one address"
    others = others or {}
    senders = others.get("Sender", [])
    if len(senders) > 1:
        return f"a message may have one Sender: header at most (this one has {len(senders)})"
    mine = owned(login)
    for name, values in (("From", from_headers), *others.items()):
        for value in values:
            parsed = [address for _, address in getaddresses([value]) if address]
            for address in [*parsed, *_ADDRESS_LIKE.findall(decoded(value))]:
                address = address.lower().rstrip(".")
                if address not in mine:
                    return f"{name}: <{address}> is not an address of the login {login}"
    return ""


def claimed_own_address(from_headers: list[str], domain: str) -> str:
    """The first address in ``domain`` (or below it) of these From: (and Sender:) headers, or
    "": as written, and as a mail client shows it once encoded words are decoded."""
    for _, address in getaddresses([*from_headers, *map(decoded, from_headers)]):
        host = address.rpartition("@")[2].lower().rstrip(".")
        if host == domain or host.endswith("." + domain):
            return address.lower()
    return ""


class OwnSignatures:
    """Whether a message carries a valid DKIM signature of ours, checked against our public key
    records (every selector still on disk, so mail signed before a rotation verifies too), read
    once at start from the file the stack renders (``RECORDS``): a rotation changes that file,
    and `up` restarts the milter."""

    def __init__(self, records: dict[str, str], domain: str) -> None:
        self.records, self.domain = records, domain

    @classmethod
    def load(cls, path: Path, domain: str) -> OwnSignatures:
        records = json.loads(path.read_text(encoding="utf-8"))
        return cls({str(k): str(v) for k, v in records.items()}, domain)

    def _record(self, name: bytes, timeout: int = 5) -> bytes:
        suffix = f"._domainkey.{self.domain}"
        wanted = name.decode(errors="replace").rstrip(".").lower()
        if not wanted.endswith(suffix):
            return b""
        return self.records.get(wanted[: -len(suffix)], "").encode()

    def signed(self, message: bytes) -> bool:
        checker = dkim.DKIM(message)
        count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
        for index in range(count):
            try:
                valid = checker.verify(idx=index, dnsfunc=self._record)
            except dkim.DKIMException:
                continue
            if valid and (checker.domain or b"").decode().lower() == self.domain:
                return True
        return False


class OwnedAddresses:
    """The addresses a login owns, read from the directory as Postfix's service account."""

    def __init__(self, uri: str, credentials: Credentials, base: str) -> None:
        self.uri, self.credentials, self.base = uri, credentials, base

    def __call__(self, login: str) -> set[str]:
        credentials = self.credentials
        value = escape(login)
        with Directory(self.uri, credentials, timeout=5) as directory:
            rows = directory.search(
                self.base,
                f"(&(objectClass=alumailAccount)(|(mail={value})(uid={value})))",
                ["mail", "alumailMailAlias"],
                scope="one",
            )
        if len(rows) != 1:
            return set()
        entry = rows[0][1]
        return {a.lower() for a in [*entry.get("mail", []), *entry.get("alumailMailAlias", [])]}


class CircleMembership:
    """Whether a login is a member of an active circle, read from the directory as Postfix's
    service account: the login's account (alumni only; staff are never members) must be among
    the circle's member DNs."""

    def __init__(self, uri: str, credentials: Credentials, people: str, circles: str) -> None:
        self.uri, self.credentials = uri, credentials
        self.people, self.circles = people, circles

    def __call__(self, login: str, circle: str) -> bool:
        value = escape(login)
        with Directory(self.uri, self.credentials, timeout=5) as directory:
            accounts = directory.search(
                self.people,
                f"(&(objectClass=alumailAccount)(|(mail={value})(uid={value})))",
                ["uid"],
                scope="one",
            )
            if len(accounts) != 1:
                return False
            member = escape(accounts[0][0])
            found = directory.search(
                self.circles,
                f"(&(objectClass=alumailCircle)(cn={escape(circle)})(member={member})"
                "(!(alumailCircleState=proposed)))",
                ["cn"],
                scope="one",
            )
        return len(found) == 1


def circle_of(recipient: str, circles_domain: str) -> str:
    """The circle name a recipient (``<name+detail@domain>`` as the milter gets it) addresses,
    or "" when it is not a circle address."""
    address = recipient.strip().removeprefix("<").removesuffix(">")
    local, _, domain = address.rpartition("@")
    if not local or domain.lower().rstrip(".") != circles_domain.lower():
        return ""
    return local.split("+", 1)[0].lower()


def circle_problem(login: str, circle: str, is_member: Callable[[str, str], bool]) -> str:
    """Why ``login`` may not send to ``circle``, or "" when it may (a member)."""
    if not login:
        return (
            "mail to a circle is accepted from its members only, sent through submission with AUTH"
        )
    if not is_member(login, circle):
        return f"{login} is not a member of the circle '{circle}': only members may send to it"
    return ""


def serve(
    host: str,
    port: int,
    pidfile: Path,
    owned: Callable[[str], set[str]],
    signatures: OwnSignatures,
    is_member: Callable[[str, str], bool],
    circles_domain: str,
) -> None:
    import Milter  # Sendmail's libmilter: imported only in the daemon process

    class SenderPolicy(Milter.Base):  # type: ignore[misc]  # pymilter ships no types
        def __init__(self) -> None:
            self.login = ""
            self.from_headers: list[str] = []
            self.others: dict[str, list[str]] = {}
            self.head: list[bytes] = []
            self.body_chunks: list[bytes] = []
            self.claimed = ""

        def envfrom(self, sender: str, *params: str) -> int:
            self.login = self.getsymval("{auth_authen}") or ""
            self.from_headers, self.head, self.body_chunks, self.claimed = [], [], [], ""
            self.others = {}
            return int(Milter.CONTINUE)

        def envrcpt(self, recipient: str, *params: str) -> int:
            circle = circle_of(recipient, circles_domain)
            if not circle:
                return int(Milter.CONTINUE)
            try:
                problem = circle_problem(self.login, circle, is_member)
            except DirectoryError:
                self.setreply("451", "4.7.1", "cannot check the circle's members now; try later")
                return int(Milter.TEMPFAIL)
            if problem:
                self.setreply("550", "5.7.1", problem)
                return int(Milter.REJECT)
            return int(Milter.CONTINUE)

        def header(self, name: str, value: str) -> int:
            if name.lower() == "from":
                self.from_headers.append(value)
            elif name.lower() in IDENTITY_HEADERS:
                self.others.setdefault(IDENTITY_HEADERS[name.lower()], []).append(value)
            if not self.login:  # kept to check a signature on port 25
                raw = f"{name}: {value}".encode(errors="surrogateescape")
                self.head.append(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n")
            return int(Milter.CONTINUE)

        def eoh(self) -> int:
            if not self.login:
                shown = self.from_headers + self.others.get("Sender", [])
                self.claimed = claimed_own_address(shown, signatures.domain)
            return int(Milter.CONTINUE)

        def body(self, chunk: bytes) -> int:
            if self.claimed:
                self.body_chunks.append(chunk)
            return int(Milter.CONTINUE)

        def eom(self) -> int:
            if not self.login:
                return self._unauthenticated()
            try:
                problem = from_problem(self.login, self.from_headers, owned, self.others)
            except DirectoryError:
                self.setreply("451", "4.7.1", "cannot check the sender now; try again later")
                return int(Milter.TEMPFAIL)
            if problem:
                self.setreply("550", "5.7.1", problem)
                return int(Milter.REJECT)
            return int(Milter.ACCEPT)

        def _unauthenticated(self) -> int:
            if not self.claimed:
                return int(Milter.ACCEPT)
            message = b"".join(self.head) + b"\r\n" + b"".join(self.body_chunks)
            if signatures.signed(message):
                return int(Milter.ACCEPT)  # ours, brought back intact (a forwarder, a list)
            self.setreply(
                "550",
                "5.7.1",
                f"From: <{self.claimed}> is in our domain but the message lacks our valid DKIM "
                "signature: our mail is sent through submission",
            )
            return int(Milter.REJECT)

    Milter.factory = SenderPolicy
    Milter.set_flags(0)  # reads only: never changes a message
    socket = f"inet6:{port}@[{host}]" if ":" in host else f"inet:{port}@{host}"
    try:
        Milter.runmilter(NAME, socket, 30)  # returns on SIGTERM
    finally:
        forget(pidfile)


class SenderMilter(ManagedDaemon):
    name = "sender-milter"
    module = "mailstack.daemons.sender_milter"
    what = "the sender milter"

    def __init__(self, ctx: RenderContext) -> None:
        super().__init__(ctx, ctx.layout.run / "sender-milter.pid")
        self.secret_file = self.layout.secrets / "postfix.ldap-secret"

    def arguments(self) -> list[str]:
        s = self.ctx.settings
        return [
            "--host",
            s.connect_host,
            "--port",
            str(s.ports.sender_milter),
            "--ldap-uri",
            self.ctx.ldap_uri,
            "--bind-dn",
            self.ctx.tree.service("postfix"),
            "--secret-file",
            str(self.secret_file),
            "--base",
            self.ctx.tree.people,
            "--domain",
            s.domain,
            "--records",
            str(self.layout.root / RECORDS),
            "--circles-base",
            self.ctx.tree.circles,
            "--circles-domain",
            s.circles.domain,
        ]

    def render(self) -> list[FileSpec]:
        records = self.ctx.dkim.records
        return [FileSpec(RECORDS, json.dumps(records, indent=2, sort_keys=True) + "\n")]

    def prepare(self) -> None:
        ensure_dir((self.layout.root / RECORDS).parent, 0o755)
        super().prepare()

    def apply(self, changed: list[FileSpec]) -> None:
        """A DKIM key rotated or retired: the milter reads the records at start."""
        self.restart()

    def endpoints(self) -> list[Endpoint]:
        s = self.ctx.settings
        return [Endpoint("sender_milter", s.connect_host, s.ports.sender_milter)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mailstack.daemons.sender_milter")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pidfile", type=Path, required=True)
    parser.add_argument("--ldap-uri", required=True)
    parser.add_argument("--bind-dn", required=True)
    parser.add_argument("--secret-file", type=Path, required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--circles-base", required=True)
    parser.add_argument("--circles-domain", required=True)
    args: Any = parser.parse_args(argv)
    # Read what only root may read, then drop for good: the milter parses mail from the
    # internet (port 25) and needs no privilege for it (its port is above 1024).
    credentials = Credentials(args.bind_dn, args.secret_file.read_text().strip())
    signatures = OwnSignatures.load(args.records, args.domain)
    pidfile: Path = args.pidfile
    announce(pidfile, service_user(), packages=("dkim", "email"), modules=("Milter",))
    owned = OwnedAddresses(args.ldap_uri, credentials, args.base)
    is_member = CircleMembership(args.ldap_uri, credentials, args.base, args.circles_base)
    serve(args.host, args.port, pidfile, owned, signatures, is_member, args.circles_domain)


if __name__ == "__main__":
    main()
