"""Run a pipeline script in a fresh interpreter that a failpoint may kill (SIGKILL), for crash tests."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import env_with_path


def run_killable(script: Path, args: list[str], failpoint: str | None, *, timeout: float = 300) -> int:
    """Run ``script`` with ``args``, ``HEADWATER_FAILPOINT`` set to ``failpoint`` (or unset).

    Returns 0, or ``-SIGKILL`` when the failpoint killed it; any other outcome fails the test with
    the script's stderr.
    """
    env = env_with_path()
    env.pop("HEADWATER_FAILPOINT", None)
    if failpoint:
        env["HEADWATER_FAILPOINT"] = failpoint
    out = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"{script.name} {' '.join(args)} (failpoint {failpoint}) failed:\n{out.stderr}")
    return out.returncode
