"""Memory stays bounded: a stream five times longer does not need much more memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import env_with_path

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")

SCRIPT = """
import sys
import headwater as hw

def status(key):  # from /proc: VmHWM is this process image's peak, reset at exec (ru_maxrss is not)
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

n = int(sys.argv[1])
def rows():
    for i in range(n):
        yield {"id": i, "name": f"user {i}", "score": i * 0.5, "tags": ["a", "b"], "nested": {"x": i}}
p = hw.pipeline("mem", destination=hw.destinations.duckdb(sys.argv[2]), dataset="raw",
                pipelines_dir=sys.argv[3], progress=False, batch_size=20_000)
p.run([{"warm": 1}], table_name="warm")  # import everything a run needs before measuring
before = status("VmRSS")
info = p.run(rows(), table_name="t")
assert info.table_rows()["t"] == n
print(before, status("VmHWM"))
"""


def peak_kb(tmp_path: Path, n: int) -> int:
    script = tmp_path / "mem.py"
    script.write_text(SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script), str(n), str(tmp_path / f"m{n}.duckdb"), str(tmp_path / f"p{n}")],
        capture_output=True,
        text=True,
        env=env_with_path(),
        timeout=600,
        check=True,
    )
    before, after = map(int, out.stdout.split())
    return after - before


@pytest.mark.slow
def test_peak_memory_is_flat_in_the_input_size(tmp_path: Path) -> None:
    small = peak_kb(tmp_path, 200_000)
    large = peak_kb(tmp_path, 1_000_000)
    # 5x the rows; if rows were held in memory the peak would grow about 5x
    assert large < 1.6 * small + 32_000, (small, large)
