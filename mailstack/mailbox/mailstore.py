"""What the doveadm server cannot do for the unprivileged web service: whether a mailbox home is
still on disk, archiving and removing it when its account is deleted, and pulling a mailbox from
the legacy server (dsync from ``imapc:`` needs the legacy password in a configuration file of its
own, which the doveadm server cannot be given).

Root does these itself. The web service cannot even see the homes (the mail user's 0700
folders), so before it drops privileges it forks a helper that stays root and answers, over a
socket pair only the service holds, exactly these four requests: three about one home directly
below ``mail/<domain>/`` (archives go to ``archive/`` under a name the helper makes), and a pull
into one address of our domain from the legacy server the settings name. Nothing else can be
asked. The helper ends when the service does (its end of the pair closes).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import socket
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from identity.errors import AlumailError
from mailstack.errors import DaemonError
from mailstack.files import ensure_dir
from mailstack.layout import Layout
from mailstack.mailbox import archives
from mailstack.settings import Settings

_UID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # whole values only: fullmatch
_channel: socket.socket | None = None
_lock = threading.Lock()


def home_exists(home: Path) -> bool:
    if _channel is not None:
        return bool(_ask("exists", home=str(home)))
    return home.exists()


def archive_home(home: Path, folder: Path, uid: str) -> Path:
    """``home`` as ``folder/UID-TIME.tar.gz`` (0600), its entries under ``UID/``."""
    if _channel is not None:
        return Path(str(_ask("archive", home=str(home), folder=str(folder), uid=uid)))
    ensure_dir(folder, 0o700)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{uid}-{stamp}.tar.gz"
    partial = path.with_name(path.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        archives.pack(tar, home, uid)  # the home is the mail user's: follow no link
    partial.rename(path)
    path.chmod(0o600)
    return path


def remove_home(home: Path) -> None:
    if _channel is not None:
        _ask("remove", home=str(home))
    elif home.exists():
        shutil.rmtree(home)


# -- the helper ------------------------------------------------------------------------------


def active() -> bool:
    """True in the unprivileged web service, which asks the helper."""
    return _channel is not None


def pull(user: str, login: str, password: str, *, verify_tls: bool) -> str:
    """The helper's ``imapsync.pull`` into ``user`` from the configured legacy server."""
    found = _ask("pull", user=user, login=login, password=password, verify=str(verify_tls))
    return str(found)


# What the helper runs for a "pull" request: mailstack.mailbox.imapsync's (handed in by the
# caller, so this module, which imapsync asks, never imports it).
Puller = Callable[[Settings, str, str, str, bool], str]


def start_helper(settings: Settings, puller: Puller) -> None:
    """Fork the root helper; from now on this process asks it. Call as root, before dropping."""
    global _channel
    layout = Layout(settings.state_dir)
    mail_root, archive_folder = layout.mail, layout.archive
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # the helper
        ours.close()
        code = 0
        try:
            _serve(theirs, settings, Path(os.path.realpath(mail_root)), archive_folder, puller)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    theirs.close()
    _channel = ours


def _ask(op: str, **args: str) -> object:
    """One request on a socket pair of its own, handed to the helper over the channel: a long
    pull from the legacy server holds up no other request."""
    assert _channel is not None
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with mine:
        with _lock:
            socket.send_fds(_channel, [b"r"], [theirs.fileno()])
        theirs.close()
        mine.sendall(json.dumps({"op": op, **args}).encode() + b"\n")
        reply = _read_line(mine)
    if reply is None:
        raise DaemonError("the mail store helper has stopped")
    answer: dict[str, Any] = json.loads(reply)
    if not answer.get("ok"):
        raise DaemonError(f"mail store: {answer.get('error')}")
    return answer.get("value")


def _read_line(sock: socket.socket) -> bytes | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data


def _serve(
    channel: socket.socket, settings: Settings, mail_root: Path, archive: Path, puller: Puller
) -> None:
    while True:
        _, fds, _, _ = socket.recv_fds(channel, 16, 1)
        if not fds:
            return  # the service has ended
        conn = socket.socket(fileno=fds[0])
        threading.Thread(
            target=_one, args=(conn, settings, mail_root, archive, puller), daemon=True
        ).start()


def _one(
    sock: socket.socket, settings: Settings, mail_root: Path, archive_folder: Path, puller: Puller
) -> None:
    with sock:
        line = _read_line(sock)
        if line is None:
            return
        try:
            request = json.loads(line)
            if request.get("op") == "pull":
                value: object = _pull(settings, request, puller)
            else:
                value = _answer(request, mail_root, archive_folder)
            reply: dict[str, object] = {"ok": True, "value": value}
        except AlumailError as exc:
            reply = {"ok": False, "error": exc.message}
        except (OSError, ValueError, KeyError, tarfile.TarError) as exc:
            reply = {"ok": False, "error": str(exc)}
        sock.sendall(json.dumps(reply).encode() + b"\n")


def _answer(request: dict[str, str], mail_root: Path, archive_folder: Path) -> object:
    # One home directly below mail/<domain>/, named as the service names them, reached
    # through no link (the mail user owns those folders).
    home = Path(os.path.realpath(request["home"]))
    if home.parent.parent != mail_root or not _UID.fullmatch(home.name):
        raise ValueError(f"not a mailbox home: {request['home']}")
    op = request["op"]
    if op == "exists":
        return home.exists()
    if op == "archive":
        if Path(request["folder"]) != archive_folder or not _UID.fullmatch(request["uid"]):
            raise ValueError("archive: not the archive folder or not a uid")
        return str(archive_home(home, archive_folder, request["uid"]))
    if op == "remove":
        remove_home(home)
        return None
    raise ValueError(f"unknown request {op!r}")


def _pull(settings: Settings, request: dict[str, str], puller: Puller) -> str:
    local, _, domain = request["user"].partition("@")
    if domain != settings.domain or not _UID.fullmatch(local):
        raise ValueError(f"not an address of {settings.domain}: {request['user']}")
    if not settings.legacy.imap_host:
        raise ValueError("no legacy server is configured")
    verify = request["verify"] == "True"
    return puller(settings, request["user"], request["login"], request["password"], verify)
