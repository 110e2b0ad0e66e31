"""A stand-in for the legacy lifelong-mailbox server: a separate Dovecot instance, independent
of the stack (its own users in a passwd-file, its own Maildirs, its own port), filled over IMAP
with generated mail: nested folders, non-ASCII folder names, flags and keywords, old internal
dates and a few large attachments."""

from __future__ import annotations

import base64
import contextlib
import datetime
import imaplib
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from tests.mail import plain_lines
from tests.support import free_ports, state_root, wait_for

MASTER = ("legacy.admin", "Legacy-Master-Pass-1")


def mutf7(name: str) -> str:
    """IMAP's modified UTF-7 (RFC 3501 5.1.3) for a mailbox name."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def quoted(folder: str, separator: str) -> str:
    """A mailbox argument for imaplib, which sends it as it is (names may hold spaces)."""
    return '"' + mutf7(folder.replace("/", separator)) + '"'


@dataclass
class LegacyServer:
    root: Path
    port: int
    users: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    def connect(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        client.login(user, self.users[user])
        return client

    def add_user(self, user: str, password: str) -> None:
        self.users[user] = password
        lines = [f"{u}:{{PLAIN}}{p}" for u, p in self.users.items()]
        (self.root / "users").write_text("\n".join(lines) + "\n")
        os.chmod(self.root / "users", 0o644)


CONFIG = """\
instance_name = legacy-{tag}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_master_user_separator = *
mail_location = maildir:{root}/mail/%u/Maildir
mail_uid = vmail
mail_gid = vmail
first_valid_uid = 1
passdb {{
  driver = passwd-file
  master = yes
  args = scheme=PLAIN {root}/masters
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = static
  args = uid=vmail gid=vmail home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


@contextlib.contextmanager
def legacy_server() -> Iterator[LegacyServer]:
    root = state_root("legacy")
    port = free_ports(1)[0]
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir(mode=0o755)
    shutil.chown(root / "mail", "vmail", "vmail")
    server = LegacyServer(root, port)
    (root / "masters").write_text(f"{MASTER[0]}:{{PLAIN}}{MASTER[1]}\n")
    (root / "users").write_text("")
    server.config.write_text(CONFIG.format(root=root, port=port, tag=root.name[-8:]))
    # Not capture_output: the daemon's children would hold the pipes open.
    subprocess.run(
        ["dovecot", "-c", str(server.config)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: _answers(port), 10), (root / "dovecot.log").read_text()
        yield server
    finally:
        subprocess.run(
            ["dovecot", "-c", str(server.config), "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        time.sleep(0.5)
        shutil.rmtree(root, ignore_errors=True)


def _answers(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


FLAG_CHANCES = (("\\Seen", 0.6), ("\\Flagged", 0.2), ("\\Answered", 0.2), ("$Label1", 0.1))
FOLDERS = ["INBOX", "Archive", "Archive/2015", "学术", "学术/论文 2016", "Sent", "Trash"]


@dataclass(frozen=True)
class Generated:
    folder: str
    subject: str
    flags: tuple[str, ...]
    date: datetime.datetime
    size: int


def fill(
    server: LegacyServer, user: str, count: int, *, big: int = 3, seed: int = 7
) -> list[Generated]:
    """``count`` messages spread over FOLDERS (hierarchy in the server's own separator),
    ``big`` of them with a 2 MiB attachment."""
    rng = random.Random(seed)
    client = server.connect(user)
    _, listing = client.list('""', '""')
    separator = plain_lines(listing)[0].decode().split('"')[1]
    generated = []
    for folder in FOLDERS[1:]:
        client.create(quoted(folder, separator))
    for n in range(count):
        folder = FOLDERS[n % len(FOLDERS)]
        flags = tuple(f for f, chance in FLAG_CHANCES if rng.random() < chance)
        date = datetime.datetime(2014, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(
            minutes=rng.randrange(0, 60 * 24 * 700)
        )
        msg = EmailMessage()
        msg["From"] = "Old Friend <friend@old.example.edu>"
        msg["To"] = f"{user}@old-alumni.example.edu"
        msg["Subject"] = f"legacy message {n} 校友 {folder}"
        msg["Date"] = date.strftime("%a, %d %b %Y %H:%M:%S +0000")
        msg["Message-ID"] = f"<legacy-{seed}-{n}@old.example.edu>"
        msg.set_content(f"Body of message {n}.\n" + "line\n" * rng.randrange(1, 50))
        if n < big:
            msg.add_attachment(
                rng.randbytes(2 * 1024 * 1024),
                maintype="application",
                subtype="octet-stream",
                filename=f"thesis-{n}.bin",
            )
        data = msg.as_bytes()
        mailbox = quoted(folder, separator)
        typ, _ = client.append(
            mailbox, "(" + " ".join(flags) + ")", imaplib.Time2Internaldate(date.timestamp()), data
        )
        assert typ == "OK"
        generated.append(Generated(folder, str(msg["Subject"]), flags, date, len(data)))
    client.logout()
    return generated


@contextlib.contextmanager
def throttled(port: int, bytes_per_second: int) -> Iterator[int]:
    """A TCP proxy in front of 127.0.0.1:``port`` that passes the server's replies at
    ``bytes_per_second``: a slow legacy server, so a test can interrupt a copy halfway at will.
    Yields the proxy's port."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stopping = threading.Event()

    def pump(src: socket.socket, dst: socket.socket, rate: int | None) -> None:
        try:
            while not stopping.is_set():
                data = src.recv(16384)
                if not data:
                    break
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def accept() -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", port))
            threading.Thread(target=pump, args=(client, upstream, None), daemon=True).start()
            threading.Thread(
                target=pump, args=(upstream, client, bytes_per_second), daemon=True
            ).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        listener.close()
        thread.join(5)
