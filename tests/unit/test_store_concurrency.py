"""The service store under concurrent use, as the web service (a thread pool) and the command
line (other processes) use it at once: each thread reuses one connection, every use is one
transaction, and nothing is lost or done twice.

Real SQLite files and real processes; no daemon."""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest

from provisioning.store import Store

pytestmark = pytest.mark.unit
THREADS = 4
PROCESSES = 3
TOKENS = 120
MADE = 15  # new rows each thread writes


def hammer(path: str, tokens: list[str], worker: str) -> tuple[list[str], list[str]]:
    """THREADS threads of one process, each trying to consume every token (in its own order)
    and issuing MADE tokens of its own: what this process consumed, and the subjects it made."""
    store = Store(Path(path))

    def one(thread: int) -> tuple[list[str], list[str]]:
        mine, made = [], []
        order = random.Random(f"{worker}-{thread}").sample(tokens, len(tokens))
        for i, token in enumerate(order):
            if store.consume("hammer", token) is not None:
                mine.append(token)
            if i % (TOKENS // MADE) == 0:
                subject = f"{worker}-{thread}-{i}"
                store.issue("made", subject, {"by": subject}, 600)
                made.append(subject)
        return mine, made

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(one, range(THREADS)))
    finally:
        store.close()
    return [t for r in results for t in r[0]], [s for r in results for s in r[1]]


def test_threads_and_processes_lose_nothing_and_do_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "web" / "service.db"
    store = Store(path)
    tokens = [store.issue("hammer", f"s{i}", {"n": i}, 600) for i in range(TOKENS)]
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter, as a CLI command is
    with ProcessPoolExecutor(PROCESSES, mp_context=spawn) as processes:
        others = [processes.submit(hammer, str(path), tokens, f"p{n}") for n in range(PROCESSES)]
        here = hammer(str(path), tokens, "main")
        results = [here, *(f.result(timeout=120) for f in others)]
    consumed = [t for r in results for t in r[0]]
    made = [s for r in results for s in r[1]]
    assert sorted(consumed) == sorted(tokens)  # each exactly once: none lost, none twice
    assert len(made) == (PROCESSES + 1) * THREADS * MADE
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT subject FROM one_time WHERE kind = 'made'").fetchall()
        assert sorted(r[0] for r in rows) == sorted(made)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    store.close()


def test_a_thread_reuses_its_connection_and_another_thread_has_its_own(tmp_path: Path) -> None:
    store = Store(tmp_path / "service.db")
    with store.connect() as first:
        pass
    with store.connect() as again:
        assert again is first
    seen: list[sqlite3.Connection] = []

    def elsewhere() -> None:
        with store.connect() as db:
            seen.append(db)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert seen and seen[0] is not first
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the store
        first.execute("SELECT 1")


def test_a_failed_transaction_leaves_nothing_and_the_connection_usable(tmp_path: Path) -> None:
    store = Store(tmp_path / "service.db")
    with pytest.raises(ZeroDivisionError), store.connect() as db:
        db.execute("INSERT INTO reminders VALUES ('zhang.san', 30, 1.0)")
        _ = 1 / 0
    with store.connect() as db:
        assert db.execute("SELECT count(*) FROM reminders").fetchone() == (0,)
    store.close()


def test_a_transaction_inside_another_on_one_thread_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "service.db")
    with (
        store.connect(),
        pytest.raises(RuntimeError, match="open on this thread"),
        store.connect(),
    ):
        pass
    store.close()
