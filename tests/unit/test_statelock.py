import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mailstack.statelock import StateLockedError, holder, state_lock

pytestmark = pytest.mark.unit


def test_the_lock_is_reentrant_within_a_process_and_released_after(tmp_path: Path) -> None:
    with (
        state_lock(tmp_path, "outer"),
        state_lock(tmp_path, "inner (restore-all calling up)", wait=0),
    ):
        assert holder(tmp_path).endswith(": outer")
    with state_lock(tmp_path, "again", wait=0):
        pass
    assert holder(tmp_path) == ""


def test_another_process_holding_it_is_named(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from mailstack.statelock import state_lock
        with state_lock(Path({str(tmp_path)!r}), "alumail up"):
            print("held", flush=True)
            sys.stdin.readline()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        with (
            pytest.raises(StateLockedError) as caught,
            state_lock(tmp_path, "alumail down", wait=0.2),
        ):
            pass
        assert f"(pid {child.pid}: alumail up)" in str(caught.value)
    finally:
        child.communicate("\n", timeout=10)
    with state_lock(tmp_path, "alumail down", wait=0):  # released when the holder ended
        pass
