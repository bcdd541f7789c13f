"""The filesystem source against real files under tmp_path, loaded into a real DuckDB file."""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import headwater as hw
from headwater.errors import ConfigError, SourceError
from tests.conftest import rows, scalar, shared_data
from tests.nycflights import DEP_DELAY_COUNT, DEP_DELAY_SUM, FLIGHTS_ROWS, flights_csv

DATA = [{"id": i, "name": f"n{i}" if i % 7 else None, "score": i * 1.5} for i in range(1, 501)]


def csv_text(data: list[dict[str, Any]]) -> str:
    lines = ["id,name,score"] + [f"{r['id']},{'NA' if r['name'] is None else r['name']},{r['score']}" for r in data]
    return "\n".join(lines) + "\n"


def jsonl_text(data: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in data)


def write_zstd(path: Path, text: str) -> None:
    with pa.CompressedOutputStream(str(path), "zstd") as out:
        out.write(text.encode())


def loaded(pipeline: Any, table: str, columns: str = "id, name, score") -> list[tuple[Any, ...]]:
    return rows(pipeline, f"select {columns} from {table} order by all")


def expected() -> list[tuple[Any, ...]]:
    return sorted((r["id"], r["name"], r["score"]) for r in DATA)


def test_nycflights_csv(tmp_path: Path, make_pipeline: Any) -> None:
    folder = tmp_path / "nyc"
    folder.mkdir()
    flights_csv(folder)
    p = make_pipeline("flights")
    info = p.run(hw.sources.filesystem(folder, glob="*.csv", name="flights"))
    assert info.table_rows() == {"flights": FLIGHTS_ROWS}
    assert rows(p, "select count(*), sum(dep_delay), count(dep_delay) from flights") == [
        (FLIGHTS_ROWS, DEP_DELAY_SUM, DEP_DELAY_COUNT)
    ]
    assert rows(p, "select count(*) from flights where tailnum = 'NA'") == [(0,)]  # NA is null, not text


def test_mlb_players_same_rows_from_csv_jsonl_parquet(tmp_path: Path, make_pipeline: Any) -> None:
    folder = tmp_path / "mlb"
    folder.mkdir()
    for ext in ("csv", "jsonl", "parquet"):
        shutil.copy(shared_data("dlt", f"mlb_players.{ext}"), folder)
    source = hw.sources.filesystem(
        folder, streams={"from_csv": "*.csv", "from_jsonl": "*.jsonl", "from_parquet": "*.parquet"}
    )
    p = make_pipeline("mlb")
    assert p.run(source).table_rows() == {"from_csv": 1034, "from_jsonl": 1034, "from_parquet": 1034}
    # the CSV has ages with decimals (22.99) where the JSONL and Parquet files have whole years (22)
    cols = "name, team, position, height_inches, weight_lbs, cast(floor(age) as bigint)"
    from_csv = rows(p, f"select {cols} from from_csv order by all")
    assert len(from_csv) == 1034
    assert from_csv == rows(p, f"select {cols} from from_jsonl order by all")
    assert from_csv == rows(p, f"select {cols} from from_parquet order by all")


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_gzip_and_zstd_read_as_plain(kind: str, tmp_path: Path, make_pipeline: Any) -> None:
    text = csv_text(DATA) if kind == "csv" else jsonl_text(DATA)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / f"plain.{kind}").write_text(text)
    (tmp_path / "files" / f"gz.{kind}.gz").write_bytes(gzip.compress(text.encode()))
    write_zstd(tmp_path / "files" / f"zst.{kind}.zst", text)
    source = hw.sources.filesystem(tmp_path / "files", streams={n: f"{n}.*" for n in ("plain", "gz", "zst")})
    p = make_pipeline(f"compressed_{kind}")
    assert p.run(source).table_rows() == {"plain": 500, "gz": 500, "zst": 500}
    for table in ("plain", "gz", "zst"):
        assert loaded(p, table) == expected(), table


def test_json_arrays_and_tsv(tmp_path: Path, make_pipeline: Any) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text(json.dumps(DATA[:200]))
    (tmp_path / "in" / "b.tsv").write_text(csv_text(DATA[200:]).replace(",", "\t"))
    pq.write_table(pa.Table.from_pylist(DATA[:10]), tmp_path / "in" / "c.parquet")
    source = hw.sources.filesystem(tmp_path / "in", streams={"arrays": "*.json", "tabs": "*.tsv"})
    p = make_pipeline("formats")
    assert p.run(source).table_rows() == {"arrays": 200, "tabs": 300}
    assert loaded(p, "arrays") + loaded(p, "tabs") == expected()


def test_incremental_reads_new_and_changed_files_once(tmp_path: Path, make_pipeline: Any) -> None:
    folder = tmp_path / "inc"
    folder.mkdir()
    for name, n in (("a", 2), ("b", 3), ("c", 4)):
        (folder / f"{name}.csv").write_text(csv_text(DATA[:n]))
    source = hw.sources.filesystem(folder, glob="*.csv", name="t", file_name=True)
    p = make_pipeline("inc")
    assert p.run(source).table_rows() == {"t": 9}

    (folder / "d.csv").write_text(csv_text(DATA[:5]))
    (folder / "b.csv").write_text(csv_text(DATA[100:107]))  # new content, same name
    st = (folder / "b.csv").stat()
    os.utime(folder / "b.csv", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    info = p.run(source)
    assert info.table_rows() == {"t": 12}  # 7 from b.csv, 5 from d.csv; a and c are not read again
    last = "(select max(_hw_load_id) from t)"
    assert rows(p, f"select _file_name, count(*) from t where _hw_load_id = {last} group by 1 order by 1") == [
        ("b.csv", 7),
        ("d.csv", 5),
    ]
    assert p.run(source).table_rows() == {}  # nothing changed: nothing loaded
    assert scalar(p, "select count(*) from t") == 21

    files = p.state.resource_state("filesystem", "t")["files"]
    assert sorted(Path(f).name for f in files) == ["a.csv", "b.csv", "c.csv", "d.csv"]
    assert all(isinstance(sig, list) and len(sig) == 2 for sig in files.values())
    (folder / "a.csv").unlink()
    (folder / "e.csv").write_text(csv_text(DATA[:1]))
    assert p.run(source).table_rows() == {"t": 1}
    files = p.state.resource_state("filesystem", "t")["files"]
    assert sorted(Path(f).name for f in files) == ["b.csv", "c.csv", "d.csv", "e.csv"]  # a.csv forgotten


def test_failed_run_reads_again(tmp_path: Path, make_pipeline: Any) -> None:
    folder = tmp_path / "fail"
    folder.mkdir()
    (folder / "a.csv").write_text(csv_text(DATA[:10]))
    (folder / "b.csv").write_text("id,name,score\n1,x,1.0\n2,y,2.0,extra\n")
    source = hw.sources.filesystem(folder, glob="*.csv", name="t")
    p = make_pipeline("fail")
    with pytest.raises(SourceError, match=r"b\.csv") as caught:
        p.run(source)
    assert caught.value.where["path"].endswith("b.csv")
    (folder / "b.csv").write_text("id,name,score\n1,x,1.0\n2,y,2.0\n")
    assert p.run(source).table_rows() == {"t": 12}  # a.csv again: the failed run committed nothing
    assert p.run(source).table_rows() == {}


def test_file_name_and_row_number(tmp_path: Path, make_pipeline: Any) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "one.jsonl").write_text(jsonl_text(DATA[:3]))
    (tmp_path / "d" / "sub" / "two.jsonl").write_text(jsonl_text(DATA[3:7]))
    p = make_pipeline("cols")
    source = hw.sources.filesystem(tmp_path / "d", glob="**/*.jsonl", name="t", file_name=True, row_number=True)
    assert p.run(source).table_rows() == {"t": 7}
    assert rows(p, "select _file_name, _file_row_number, id from t order by id") == [
        ("one.jsonl", 1, 1),
        ("one.jsonl", 2, 2),
        ("one.jsonl", 3, 3),
        ("sub/two.jsonl", 1, 4),
        ("sub/two.jsonl", 2, 5),
        ("sub/two.jsonl", 3, 6),
        ("sub/two.jsonl", 4, 7),
    ]


def test_row_numbers_run_on_across_chunks(tmp_path: Path) -> None:
    (tmp_path / "big.csv").write_text(csv_text(DATA))
    source = hw.sources.filesystem(tmp_path / "big.csv", row_number=True, chunk_size=7)
    numbers = [n for table in source.resources["big"] for n in table.column("_file_row_number").to_pylist()]
    assert numbers == list(range(1, 501))
    pq.write_table(pa.Table.from_pylist(DATA), tmp_path / "big.parquet")
    source = hw.sources.filesystem(tmp_path / "big.parquet", row_number=True, chunk_size=7)
    tables = list(source.resources["big"])
    assert len(tables) == 72  # chunks of 7 rows
    assert [n for t in tables for n in t.column("_file_row_number").to_pylist()] == list(range(1, 501))


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("bad.csv", "id,name\n1,a\n2,b,c\n", None),
        ("bad.jsonl", '{"id": 1}\n{"id": 2\n{"id": 3}\n', 3),
        ("bad.json", '[{"id": 1}, {"id": ', None),
    ],
)
def test_malformed_file_is_a_source_error_naming_it(
    name: str, content: str, line: int | None, tmp_path: Path, make_pipeline: Any
) -> None:
    (tmp_path / name).write_text(content)
    p = make_pipeline("bad")
    with pytest.raises(SourceError) as caught:
        p.run(hw.sources.filesystem(tmp_path / name))
    assert name in str(caught.value)
    assert caught.value.where["path"] == str(tmp_path / name)
    if line is not None:
        assert caught.value.where["line"] == line


def test_no_match_warns_unless_required(tmp_path: Path, make_pipeline: Any, caplog: pytest.LogCaptureFixture) -> None:
    p = make_pipeline("empty")
    with caplog.at_level(logging.WARNING, logger="headwater.filesystem"):
        assert p.run(hw.sources.filesystem(tmp_path, glob="*.csv", name="t")).table_rows() == {}
    assert "no file matches" in caplog.text
    with pytest.raises(SourceError, match="no file matches"):
        p.run(hw.sources.filesystem(tmp_path, glob="*.csv", name="t", required=True))


def test_configuration_errors(tmp_path: Path, make_pipeline: Any) -> None:
    with pytest.raises(ConfigError, match=r"csv, tsv, json, jsonl, parquet"):
        hw.sources.filesystem(tmp_path, format="xlsx")
    with pytest.raises(ConfigError, match="unknown argument"):
        hw.sources.filesystem(tmp_path, write_dispositon="merge")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match=r"notes\.txt"):
        make_pipeline("unknown").run(hw.sources.filesystem(tmp_path, glob="*.txt"))


def test_names_derived_from_the_glob(tmp_path: Path) -> None:
    fs = hw.sources.filesystem
    assert list(fs(tmp_path, glob="flights_*.csv.gz").resources) == ["flights"]
    assert list(fs(tmp_path, glob="orders/**/*.parquet").resources) == ["orders"]
    assert list(fs(tmp_path / "players", glob="*.csv").resources) == ["players"]


def test_replace_reads_every_file_each_run(tmp_path: Path, make_pipeline: Any) -> None:
    (tmp_path / "a.csv").write_text(csv_text(DATA[:4]))
    source = hw.sources.filesystem(tmp_path, glob="*.csv", name="t", write_disposition="replace")
    p = make_pipeline("replace")
    assert p.run(source).table_rows() == {"t": 4}
    assert p.run(source).table_rows() == {"t": 4}
    assert scalar(p, "select count(*) from t") == 4


def test_fsspec_memory_filesystem(make_pipeline: Any) -> None:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    root = "/hw_filesystem_test"
    try:
        fs.pipe(f"{root}/x/a.csv", csv_text(DATA[:20]).encode())
        fs.pipe(f"{root}/x/b.jsonl", jsonl_text(DATA[20:30]).encode())
        source = hw.sources.filesystem(f"memory://{root}", streams={"c": "x/*.csv", "j": "x/*.jsonl"}, file_name=True)
        p = make_pipeline("memory")
        assert p.run(source).table_rows() == {"c": 20, "j": 10}
        assert rows(p, "select distinct _file_name from c") == [("x/a.csv",)]
        assert p.run(source).table_rows() == {}
    finally:
        fs.rm(root, recursive=True)


@pytest.mark.parametrize("where", ["run", "flow"])
def test_replace_given_after_the_source_reads_every_file_again(tmp_path: Path, where: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text("id,v\n1,x\n2,y\n")
    db = tmp_path / "wh.duckdb"
    if where == "run":
        p = hw.pipeline(
            "replaced",
            destination=hw.destinations.duckdb(str(db)),
            dataset="d",
            pipelines_dir=tmp_path / "p",
            progress=False,
        )

        def run() -> Any:
            return p.run(hw.sources.filesystem(folder, glob="*.csv", name="rows"), write_disposition="replace")
    else:
        config = {"url": str(folder), "glob": "*.csv", "name": "rows"}
        flow = {"name": "replaced", "from": "files", "to": "wh", "dataset": "d", "write_disposition": "replace"}
        flows = hw.flows.load(
            {
                "sources": {"files": {"type": "filesystem", "config": config}},
                "destinations": {"wh": {"type": "duckdb", "config": {"path": str(db)}}},
                "flows": [{**flow, "pipeline": {"progress": False}}],
            }
        )

        def run() -> Any:
            return flows.run(pipelines_dir=tmp_path / "p")[0]

    assert run().table_rows() == {"rows": 2}
    assert run().table_rows() == {"rows": 2}  # the unchanged file is read again: the table keeps its rows
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from d.rows").fetchone() == (2,)
