"""numpy is no core dependency (docs/benchmarks.md, "Footprint"): a run works in a process where numpy
cannot be imported, as after a core install. Flat and nested rows (Python dicts, and Arrow lists of
lists: grandchild tables) into DuckDB, row ids, row checks that quarantine, a schema contract that sets
rows aside, and the filesystem source's file columns; the values are checked, not only the counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import env_with_path

NO_NUMPY = """
import sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy."):
            raise ModuleNotFoundError("numpy refused for this test", name=name)
        return None

sys.meta_path.insert(0, Refuse())

import json, uuid
from pathlib import Path
import duckdb
import pyarrow as pa
import headwater as hw

work = Path(sys.argv[1])
p = hw.pipeline("nonumpy", destination=hw.destinations.duckdb(str(work / "d.duckdb")), dataset="ds",
                pipelines_dir=str(work / "w"), progress=False)
def q(sql):
    with duckdb.connect(str(work / "d.duckdb"), read_only=True) as con:
        con.execute("set schema 'ds'")
        return con.execute(sql).fetchall()

out = {}

flat = [{"id": i, "name": f"n{i}", "score": i / 4, "flag": i % 2 == 0} for i in range(500)]
p.run(flat, table_name="flat", primary_key="id",
      checks=[hw.checks.between("score", max=100, severity="quarantine"), hw.checks.not_null("name"),
              hw.checks.expression("id <> 7", severity="quarantine", name="not_seven")])
out["flat"] = q("select count(*), count(distinct _hw_id), min(id), max(id) from flat")[0]
ids = [row[0] for row in q("select _hw_id from flat")]
out["ids_v8"] = all(uuid.UUID(str(i)).version == 8 for i in ids)
out["quarantined"] = q("select reason, count(*) from _hw_quarantine group by all order by 1")

docs = pa.table({
    "id": pa.array(range(300), pa.int64()),
    "commits": pa.array(
        [None if i % 10 == 0 else [{"sha": f"s{i}-{j}", "files": [f"f{k}" for k in range(j)]} for j in range(i % 4)]
         for i in range(300)],
        pa.list_(pa.struct([("sha", pa.string()), ("files", pa.list_(pa.string()))])),
    ),
})
p.run(docs, table_name="docs", primary_key="id")
out["children"] = q("select count(*), max(_hw_list_idx) from docs__commits")[0]
out["grandchildren"] = q(
    "select count(*) from docs__commits__files f join docs__commits c on f._hw_parent_id = c._hw_id "
    "join docs d on f._hw_root_id = d._hw_id and c._hw_root_id = d._hw_id "
    "where f.value = 'f' || f._hw_list_idx and c.sha = 's' || d.id || '-' || c._hw_list_idx"
)[0]

more = [{"id": 1000 + i, "name": "x", "score": 1.0, "flag": True, **({"extra": i} if i % 3 == 0 else {})}
        for i in range(30)]
p.run(more, table_name="flat", primary_key="id", schema_contract={"columns": "quarantine"})
out["contract"] = q("select count(*) from flat where id >= 1000")[0]

(work / "files").mkdir()
(work / "files" / "a.jsonl").write_text("".join(json.dumps({"v": i}) + chr(10) for i in range(5)))
p.run(hw.sources.filesystem(work / "files", glob="*.jsonl", name="files", file_name=True, row_number=True))
out["files"] = q("select _file_name, min(_file_row_number), max(_file_row_number) from files group by 1")
out["numpy"] = "numpy" in sys.modules
print(json.dumps(out, default=str))
"""


def test_a_run_needs_no_numpy(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_NUMPY, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env_with_path(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["numpy"] is False
    # 500 rows: ids 401 to 499 (score over 100) and 7 (the expression check) quarantined
    assert out["flat"] == [400, 400, 0, 400]
    assert out["ids_v8"] is True
    assert out["quarantined"] == [
        ["check 'between(score)' failed: score <= 100", 99],
        ["check 'not_seven' failed: id <> 7", 1],
    ]
    # i % 4 commits for each document but every tenth (null): j files for commit j
    children = sum(i % 4 for i in range(300) if i % 10)
    grandchildren = sum(j for i in range(300) if i % 10 for j in range(i % 4))
    assert out["children"] == [children, 2]
    assert out["grandchildren"] == [grandchildren]
    assert out["contract"] == [20]  # the 10 rows with the new column went to the quarantine
    assert out["files"] == [["a.jsonl", 1, 5]]
