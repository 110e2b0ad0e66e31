"""``make bench-migration``: how fast mail moves from a legacy IMAP server, beside a reference
measured in the same run: fetching the same messages over IMAP with a plain client (the copy
cannot beat reading the source). Also a rerun with nothing new, one mailbox backup, and
``backup-all``. Writes bench/migration.json. Nothing here asserts a time.

The legacy server is the tests' independent Dovecot (tests/legacy_imap.py) on loopback.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

from identity.roles import ROOT as HOST_ROOT
from provisioning.composition import Composition
from provisioning.legacy.migration import Job
from tests.legacy_imap import LegacyServer, fill, legacy_server
from tests.support import TEST_ROOT, alumail, running_stack

ROOT = Path(__file__).parent
MESSAGES = 1000
PASSWORD = "Bench-Legacy-Pass-1"  # noqa: S105 -- a throwaway account on a test server


def fetch_all(legacy: LegacyServer, user: str) -> float:
    """Seconds for a plain client to read every message of every folder once."""
    client = legacy.connect(user)
    started = time.perf_counter()
    _, listing = client.list()
    for line in listing:
        assert isinstance(line, bytes), line
        match = re.match(rb'\([^)]*\) "[^"]*" (?P<name>.+)$', line)
        assert match, line
        name = match.group("name").decode().strip('"')
        typ, data = client.select(f'"{name}"', readonly=True)
        if typ == "OK" and data[0] is not None and int(data[0]):
            client.fetch("1:*", "(BODY.PEEK[])")
    elapsed = time.perf_counter() - started
    client.logout()
    return elapsed


def main() -> None:
    results: dict[str, float] = {}
    with running_stack("bench-migration") as settings, legacy_server() as legacy:
        legacy.add_user("old.bench", PASSWORD)
        fill(legacy, "old.bench", MESSAGES, big=3, seed=1)
        with Composition(settings) as root:
            accounts = root.accounts(HOST_ROOT)
            accounts.create("bench.target", "Bench Target", "Bench-Target-Pass-1")
        source = dataclasses.replace(
            settings,
            legacy=dataclasses.replace(
                settings.legacy, imap_host="127.0.0.1", imap_port=legacy.port, security="no"
            ),
        )
        reference = fetch_all(legacy, "old.bench")
        with Composition(source) as root:
            migrator = root.migrator(HOST_ROOT)
            report = migrator.one(Job("bench.target", "old.bench", PASSWORD))
            assert report.ok, report.error
            rerun = migrator.one(Job("bench.target", "old.bench", PASSWORD))
        results["messages"] = report.messages_copied
        results["mib"] = round(report.bytes_copied / 2**20, 2)
        results["migration_s"] = report.seconds
        results["migration_msgs_per_s"] = round(report.messages_copied / report.seconds, 1)
        results["plain_fetch_s"] = round(reference, 2)
        results["migration_vs_plain_fetch"] = round(reference / report.seconds, 2)
        results["rerun_nothing_new_s"] = rerun.seconds
        out = Path(tempfile.mkdtemp(dir=TEST_ROOT))
        try:
            started = time.perf_counter()
            alumail(settings, "backup", "bench.target", "--to", str(out / "m.tar.gz"), check=True)
            results["backup_one_mailbox_s"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            alumail(settings, "backup-all", "--to", str(out), check=True)
            results["backup_all_s"] = round(time.perf_counter() - started, 2)
        finally:
            shutil.rmtree(out, ignore_errors=True)
    (ROOT / "migration.json").write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:<28} {value:>10}")


if __name__ == "__main__":
    main()
