"""``pyarrow.compute`` is imported on first use, and a run of a few flat rows never uses it.

Importing it costs a process about 9 MB and 20 ms (issue 17: a one-row run's memory under dlt's). The
modules that compute reach it through :data:`headwater.normalize.compute.pc`; the one check a row of
integers needs (is every value exact as a double?) is done in Python for a few values, with the same
answers as the vectorized check (docs/benchmarks.md, "Issue 17's targets, then and now").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.normalize import placing
from headwater.normalize.compute import pc
from tests.conftest import env_with_path
from tests.unit.normalize_helpers import column, normalize, types

RUN = """
import json, sys
import headwater as hw
work = sys.argv[1]
rows = json.loads(sys.argv[2])
for _ in range(2):  # a new pipeline, then the same one again: what an incremental pull pays
    info = hw.pipeline("one", destination=hw.destinations.duckdb(work + "/one.duckdb"), dataset="d",
                       pipelines_dir=work + "/pipelines", progress=False).run(rows, table_name="t")
import duckdb
with duckdb.connect(work + "/one.duckdb") as con:
    count = con.execute("select count(*) from d.t").fetchone()[0]
print(json.dumps({"loaded": count, "compute": "pyarrow.compute" in sys.modules}))
"""


def _run(tmp_path: Path, rows: list[dict[str, object]]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(tmp_path), json.dumps(rows)],
        capture_output=True,
        text=True,
        env=env_with_path(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    "rows", [[{"id": 1}], [{"id": 1, "n": 2**60 + 1, "ok": True, "x": 1.5, "name": "2024 plan", "o": {"k": 2}}]]
)
def test_a_run_of_a_few_flat_rows_never_imports_pyarrow_compute(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    assert _run(tmp_path, rows) == {"loaded": 2 * len(rows), "compute": False}


def test_a_run_that_computes_imports_it_on_first_use(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [{"id": i} for i in range(placing._FEW + 1)]
    assert _run(tmp_path, rows) == {"loaded": 2 * len(rows), "compute": True}


def test_pc_is_pyarrow_compute_name_for_name() -> None:
    assert pc.add is pyarrow.compute.add and pc.Expression is pyarrow.compute.Expression
    assert pc.sum(pa.array([1, 2, 3])).as_py() == 6
    with pytest.raises(AttributeError):
        _ = pc.no_such_function


EDGES = [2**53, 2**53 + 1, -(2**53), -(2**53) - 1, 0, 2**63 - 1, -(2**63)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(EDGES), st.integers(-(2**63), 2**63 - 1)), max_size=150))
def test_the_few_values_check_answers_as_the_vectorized_one(values: list[int | None]) -> None:
    """Over int64's whole range (every integer column reaches placing as int64: narrower ones are cast,
    unsigned ones beyond it are decimals by then), either side of the cutoff."""
    arr = pa.array(values, pa.int64())
    want = all(v is None or abs(v) <= 2**53 for v in values)
    vectorized = pc.all(placing._exact_as_double(arr)).as_py() is not False
    assert placing._all_exact_as_double(arr) == vectorized == want


@pytest.mark.parametrize("size", [1, placing._FEW, placing._FEW + 1, 500])
@pytest.mark.parametrize(("big", "widened"), [(2**60 + 1, False), (2**53, True)])
def test_a_bigint_column_widens_to_double_only_when_every_value_was_exact(size: int, big: int, widened: bool) -> None:
    """Either side of the size where the check moves from Python to pyarrow.compute."""
    ints = [{"v": i} for i in range(size - 1)] + [{"v": big}]
    schema, out = normalize([ints, [{"v": 2.5}]])
    got = column(out["t"], "v")
    if widened:
        assert types(schema) == {"v": "double"} and got[-2:] == [float(big), 2.5]
    else:
        assert types(schema) == {"v": "bigint", "v__v_double": "double"}
        assert got[-2:] == [big, None] and column(out["t"], "v__v_double")[-1] == 2.5
