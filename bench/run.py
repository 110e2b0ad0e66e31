"""``make bench``: throughput and cost figures from one run on this machine, each beside a
reference measured in the same run. Prints a table and writes bench/results.json.

- import rows/s for 10k and 100k rows beside ``ldapadd`` of the same entries over the same
  socket into the same (durable) slapd configuration, each on a fresh directory;
- the offline path beside ``slapadd`` of the same LDIF;
- peak memory of the import process;
- LDAP simple binds/s with our argon2id hash beside {SSHA} (what one login costs slapd);
- IMAP logins/s through Dovecot (fresh: each account logs in once) for 1 and 4 clients, beside
  raw binds/s with the same hash and concurrency;
- 1,000 concurrent IMAPS sessions held at once, and the memory Dovecot takes for them
  (bench/sessions.py);
- a webmail password login to the listed inbox beside the IMAP work underneath done directly,
  and nginx's and php-fpm's memory idle and after use (bench/webmail.py);
- the portal's "Mailbox" click to the rendered inbox in Chromium (single sign-on) beside
  Roundcube's own password login in the same browser, cache warm and cold (bench/sso.py);
- the web service's requests/s for a static file and the discovery document beside a bare
  FastAPI application, the provider's token (code exchange, refresh) and introspection
  throughput, and IMAPS logins/s with XOAUTH2 beside password logins (bench/web.py);
- the circles' rankings and a board page over 10,000 circles and 1,000,000 posts beside plain
  SQL for the same answers (bench/circles.py).

Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import csv
import imaplib
import json
import os
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import ldap

from bench.circles import circle_figures
from bench.sessions import session_figures
from bench.sso import sso_figures
from bench.web import web_figures
from bench.webmail import webmail_figures
from identity.accounts import Account
from identity.dit import Tree
from identity.ldif import record as to_ldif
from identity.passwords import hash_password
from identity.roles import ROOT as HOST_ROOT
from mailstack.keys.tls import tls_files
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning import stack
from provisioning.bulk.importer import COLUMNS, OPTIONAL_COLUMNS
from provisioning.composition import Composition
from tests.support import running_stack

ROOT = Path(__file__).resolve().parent
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "10000,100000").split(",")]
BIND_SECONDS = float(os.environ.get("BENCH_BIND_SECONDS", "3"))
IMAP_ACCOUNTS = int(os.environ.get("BENCH_IMAP_ACCOUNTS", "120"))
LEGACY_HASH = "{SSHA}4V1A6Uz051XEshXXEUoeltP8pd/bA9rN"
HEADER = [*COLUMNS, *OPTIONAL_COLUMNS]


@contextmanager
def fresh_stack(work: Path, name: str, *, running: bool = True) -> Iterator[Settings]:
    """A throwaway stack (the tests' own, started by the same code as `alumail up`)."""
    del work  # the tests' helper places it under the temporary folder
    with running_stack(f"bench-{name}") as settings:
        if not running:
            stack.down(settings)
        yield settings


def roster(work: Path, size: int, prefix: str, domain: str) -> tuple[Path, Path]:
    """The same alumni as CSV (for alumail) and as LDIF (for ldapadd and slapadd)."""
    csv_path, ldif_path = work / f"{prefix}{size}.csv", work / f"{prefix}{size}.ldif"
    tree = Tree(",".join(f"dc={x}" for x in domain.split(".")))
    with open(csv_path, "w", newline="") as c, open(ldif_path, "w") as lf:
        writer = csv.writer(c)
        writer.writerow(HEADER)
        for i in range(size):
            uid = f"{prefix}{i:07d}"
            row = [
                uid,
                "三",
                "张",
                f"张三 {i}",
                f"S{i:09d}",
                str(1990 + i % 30),
                f"{uid}@outside.example",
                LEGACY_HASH if i % 2 else "",
            ]
            writer.writerow(row)
            account = Account(
                uid=uid,
                display_name=row[3],
                mail=f"{uid}@{domain}",
                quota=5 * 1024**3,
                given_name="三",
                family_name="张",
                student_number=f"S{i:09d}",
                graduation_year=1990 + i % 30,
                recovery_email=row[6],
            )
            lf.write(to_ldif(tree.person(uid), account.to_entry(row[7] or None)))
    return csv_path, ldif_path


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    proc: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        cmd, capture_output=True, text=True, check=False, **kw
    )
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {proc.stderr[-2000:]}")
    return proc


def alumail_cmd(settings: Settings, *args: str) -> list[str]:
    config = settings.state_dir.parent / "alumail.toml"  # written by running_stack
    return [sys.executable, "-m", "provisioning", "--config", str(config), *args]


def import_figures(work: Path, size: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    with fresh_stack(work, f"ldapadd{size}") as settings:
        _, ldif_path = roster(work, size, "ld", settings.domain)
        uri = Layout(settings.state_dir).ldapi_uri
        seconds = timed(
            lambda: run(["ldapadd", "-Y", "EXTERNAL", "-Q", "-H", uri, "-f", str(ldif_path)])
        )
        figures["ldapadd_rows_per_s"] = size / seconds
    with fresh_stack(work, f"import{size}") as settings:
        csv_path, _ = roster(work, size, "im", settings.domain)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        proc = run(alumail_cmd(settings, "import", str(csv_path), "--json"))
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        report = json.loads(proc.stdout)
        assert report["created"] == size, report
        figures["import_rows_per_s"] = size / report["seconds"]
        figures["import_peak_rss_mib"] = max(before, after) / 1024
    figures["import_vs_ldapadd"] = figures["import_rows_per_s"] / figures["ldapadd_rows_per_s"]
    return figures


def offline_figures(work: Path, size: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    with fresh_stack(work, f"slapadd{size}", running=False) as settings:
        _, ldif_path = roster(work, size, "sa", settings.domain)
        slapd_d = Layout(settings.state_dir).slapd_d
        seconds = timed(
            lambda: run(["slapadd", "-q", "-n1", "-F", str(slapd_d), "-l", str(ldif_path)])
        )
        figures["slapadd_rows_per_s"] = size / seconds
    with fresh_stack(work, f"offline{size}", running=False) as settings:
        csv_path, _ = roster(work, size, "of", settings.domain)
        proc = run(alumail_cmd(settings, "import", "--offline", str(csv_path), "--json"))
        report = json.loads(proc.stdout)
        figures["offline_import_rows_per_s"] = size / report["seconds"]
    figures["import_vs_slapadd"] = (
        figures["offline_import_rows_per_s"] / figures["slapadd_rows_per_s"]
    )
    return figures


def bind_rate(uri: str, dn: str, password: str, clients: int) -> float:
    deadline = time.monotonic() + BIND_SECONDS

    def worker() -> int:
        count = 0
        while time.monotonic() < deadline:
            conn = ldap.initialize(uri)
            conn.simple_bind_s(dn, password)
            conn.unbind_s()
            count += 1
        return count

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(lambda _: worker(), range(clients)))
    return total / (time.perf_counter() - start)


def login_figures(work: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    with fresh_stack(work, "logins") as settings:
        tree = Tree(settings.base_dn)
        password = "Bench-Password-1"  # noqa: S105 -- a throwaway stack's test account
        uri = f"ldap://127.0.0.1:{settings.ports.ldap}"
        with Composition(settings) as root:
            accounts = root.accounts(HOST_ROOT)
            accounts.create("bench.argon", "Argon", password)
            accounts.create("bench.ssha", "Ssha", None)
            accounts.directory.replace(
                tree.person("bench.ssha"), {"userPassword": [_ssha(password)]}
            )
            for i in range(IMAP_ACCOUNTS):
                accounts.directory.add(
                    tree.person(f"login{i:04d}"),
                    Account(
                        uid=f"login{i:04d}",
                        display_name="L",
                        mail=f"login{i:04d}@{settings.domain}",
                        quota=5 * 1024**3,
                    ).to_entry(hash_password(password)),
                )
        for clients in (1, 4):
            figures[f"bind_argon2_per_s_{clients}"] = bind_rate(
                uri, tree.person("bench.argon"), password, clients
            )
        figures["bind_ssha_per_s_4"] = bind_rate(uri, tree.person("bench.ssha"), password, 4)
        context = ssl.create_default_context(cafile=str(tls_files(settings).ca_cert))
        half = IMAP_ACCOUNTS // 2

        def login(uid: str) -> None:
            client = imaplib.IMAP4_SSL("127.0.0.1", settings.ports.imaps, ssl_context=context)
            client.login(uid, password)
            client.logout()

        for clients, names in ((1, range(half)), (4, range(half, IMAP_ACCOUNTS))):
            uids = [f"login{i:04d}" for i in names]
            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(login, uids))
            figures[f"imap_login_per_s_{clients}"] = len(uids) / (time.perf_counter() - start)
    figures["imap_login_vs_bind"] = figures["imap_login_per_s_4"] / figures["bind_argon2_per_s_4"]
    figures["argon2_vs_ssha_bind"] = figures["bind_argon2_per_s_4"] / figures["bind_ssha_per_s_4"]
    return figures


def _ssha(password: str) -> str:
    """The reference scheme: salted SHA-1, the cheapest hash slapd verifies."""
    from passlib.hash import ldap_salted_sha1

    return str(ldap_salted_sha1.hash(password))


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="alumail-bench-"))
    os.chmod(work, 0o755)  # noqa: S103 -- the daemons' users must reach it
    results: dict[str, object] = {"machine": {"cores": os.cpu_count()}}
    try:
        for size in SIZES:
            results[f"import_{size}"] = import_figures(work, size)
            print(f"import {size}: {results[f'import_{size}']}", flush=True)
        largest = max(SIZES)
        results[f"offline_{largest}"] = offline_figures(work, largest)
        print(f"offline {largest}: {results[f'offline_{largest}']}", flush=True)
        results["logins"] = login_figures(work)
        print(f"logins: {results['logins']}", flush=True)
        results["sessions"] = session_figures()
        print(f"sessions: {results['sessions']}", flush=True)
        results["webmail"] = webmail_figures()
        print(f"webmail: {results['webmail']}", flush=True)
        results["sso"] = sso_figures()
        print(f"sso: {results['sso']}", flush=True)
        results["web"] = web_figures()
        print(f"web: {results['web']}", flush=True)
        results["circles"] = circle_figures()
        print(f"circles: {results['circles']}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    big = results[f"import_{max(SIZES)}"]
    assert isinstance(big, dict)
    off = results[f"offline_{max(SIZES)}"]
    logins = results["logins"]
    assert isinstance(off, dict) and isinstance(logins, dict)
    results["import_vs_ldapadd"] = big["import_vs_ldapadd"]
    results["import_vs_slapadd"] = off["import_vs_slapadd"]
    results["imap_login_vs_bind"] = logins["imap_login_vs_bind"]
    (ROOT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def print_table(results: dict[str, object]) -> None:
    print()
    print(f"{'figure':<44} {'value':>14}")
    for section, values in results.items():
        if isinstance(values, dict):
            for key, value in values.items():
                print(f"{section + '.' + key:<44} {value:>14,.2f}")
        elif isinstance(values, float):
            print(f"{section:<44} {values:>14.2f}")
    print(f"\nwritten to {ROOT / 'results.json'}")


if __name__ == "__main__":
    main()
