"""slapd's database while slapd is stopped: read with ``slapcat``, loaded with ``slapadd -q``
(the first load of a roster, far faster than adds over LDAP). Both work on the files slapd
itself opens, so neither may run while it does: the caller asks :func:`running` first."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterable

from identity.errors import ConfigError
from mailstack.daemons.slapd import running_pid
from mailstack.errors import DaemonError
from mailstack.layout import Layout


def running(layout: Layout) -> bool:
    return running_pid(layout) is not None


def holds(layout: Layout, search_url: str) -> bool:
    """Whether the database holds an entry ``search_url`` (an LDAP URL) finds."""
    if not layout.slapd_d.exists():
        raise ConfigError("no directory yet: run `alumail up` once, then `alumail down`")
    proc = subprocess.run(
        ["slapcat", "-n1", "-F", str(layout.slapd_d), "-H", search_url],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        raise DaemonError("slapcat could not read the directory", detail=proc.stderr)
    return "dn:" in proc.stdout


def load(layout: Layout, records: Iterable[str], *, what: str) -> None:
    """Pipe LDIF ``records`` into ``slapadd -q`` as they come (a roster of any size in constant
    memory); ``what`` names them if slapadd refuses. The new database files are made slapd's."""
    stderr: list[str] = []
    with subprocess.Popen(
        ["slapadd", "-q", "-n1", "-F", str(layout.slapd_d)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stderr is not None
        errors = proc.stderr
        reader = threading.Thread(target=lambda: stderr.append(errors.read()))
        reader.start()
        try:
            for record in records:
                proc.stdin.write(record)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # slapadd stopped reading: its exit status and stderr say why
        code = proc.wait()
        reader.join()
    if code != 0:
        raise DaemonError(
            f"slapadd refused {what}; nothing was started", detail="".join(stderr).strip()
        )
    shutil.chown(layout.ldap_data, "openldap", "openldap")
    for item in layout.ldap_data.iterdir():
        shutil.chown(item, "openldap", "openldap")
