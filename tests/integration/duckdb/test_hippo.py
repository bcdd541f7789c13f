"""Hippo's shape end to end on real DuckDB files: extractors of every kind, transformers, loaders
(headwater/flows/hippo.py, headwater/destinations/loader/)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import headwater as hw
from headwater.destinations.duckdb import DuckDBDestination
from headwater.destinations.loader import LoaderDestination
from headwater.errors import ConfigError, HeadwaterError
from headwater.flows.hippo import Extractor, Loader, extractor_resource, make_extractor, make_loader
from tests.conftest import env_with_path, scalar

ROWS = [{"id": i, "name": f"n{i}"} for i in range(5)]


def _relation() -> Any:
    con = duckdb.connect()  # dropped here: the relation keeps it alive while it is streamed
    return con.sql("select range::BIGINT as id, 'n' || range as name from range(5)")


KINDS: dict[str, Any] = {
    "relation": _relation,
    "arrow_table": lambda: pa.Table.from_pylist(ROWS),
    "arrow_reader": lambda: pa.Table.from_pylist(ROWS).to_reader(max_chunksize=2),
    "pandas": lambda: pd.DataFrame(ROWS),
    "polars": lambda: pl.DataFrame(ROWS),
    "list_of_dicts": lambda: list(ROWS),
    "generator": lambda: (dict(r) for r in ROWS),
}


class KindExtractor(Extractor):
    """Returns the data of the kind its table names."""

    def extract(self) -> Any:
        return KINDS[self.config["kind"]]()


def pipeline(tmp_path: Path, name: str, destination: Any = None) -> Any:
    destination = destination or hw.destinations.duckdb(tmp_path / f"{name}.duckdb")
    return hw.pipeline(name, destination=destination, pipelines_dir=tmp_path / "pipelines", progress=False)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_of_extract_lands_the_same_rows(tmp_path: Path, kind: str) -> None:
    extractor = make_extractor({"class": KindExtractor, "kind": kind})
    p = pipeline(tmp_path, "kinds")
    p.run(extractor_resource(extractor, name="people"))
    assert p.query("select id, name from people order by id").to_pylist() == ROWS


def test_extractor_class_by_import_string(tmp_path: Path) -> None:
    extractor = make_extractor({"class": f"{__name__}:KindExtractor", "kind": "generator"})
    assert isinstance(extractor, KindExtractor)
    with pytest.raises(ConfigError, match="did you mean 'KindExtractor'"):
        make_extractor({"class": f"{__name__}:KindExtracter"})
    with pytest.raises(ConfigError, match="no 'class'"):
        make_extractor({"format": "csv"})


def test_a_relation_larger_than_a_batch_streams_and_closes(tmp_path: Path) -> None:
    class Big:
        closed = False

        def __init__(self, config: dict[str, Any]) -> None:
            self.con = duckdb.connect(str(tmp_path / "source.duckdb"))
            self.con.execute("CREATE OR REPLACE TABLE src AS SELECT range AS id FROM range(25000)")

        def extract(self) -> Any:
            return self.con.sql("select id from src")

        def close(self) -> None:
            Big.closed = True
            self.con.close()

    resource = extractor_resource(make_extractor({"class": Big}), name="big", batch_size=1000)
    items = list(resource)
    assert len(items) >= 25 and all(isinstance(i, pa.RecordBatch) and i.num_rows <= 1000 for i in items)
    assert sum(i.num_rows for i in items) == 25000 and Big.closed
    Big.closed = False
    p = pipeline(tmp_path, "big")
    p.run(extractor_resource(make_extractor({"class": Big}), name="big", batch_size=1000))
    assert scalar(p, "select count(distinct id) from big") == 25000 and Big.closed


def test_extract_returning_something_else_is_a_config_error(tmp_path: Path) -> None:
    class Bad:
        def __init__(self, config: dict[str, Any]) -> None:
            pass

        def extract(self) -> Any:
            return 42

    with pytest.raises(ConfigError) as err:
        pipeline(tmp_path, "bad").run(extractor_resource(Bad({}), name="bad"))
    assert "Bad.extract() returned int" in str(err.value) and "DuckDB relation" in str(err.value)


def test_sql_transformer_binds_kwargs_and_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "pick.sql").write_text(
        "select id, name, '{tag}' as tag from records where id >= {lo} and name <> $skip"
    )
    extractor = make_extractor({"class": KindExtractor, "kind": "relation"})
    transformer = {"query_path": "queries/pick.sql", "kwargs": {"lo": 2, "tag": "x'; --"}, "params": {"skip": "n4"}}
    p = pipeline(tmp_path, "sqlt")
    p.run(extractor_resource(extractor, name="picked", transformer=transformer, base_dir=tmp_path))
    assert p.query("select id, name, tag from picked order by id").to_pylist() == [
        {"id": 2, "name": "n2", "tag": "x'; --"},
        {"id": 3, "name": "n3", "tag": "x'; --"},
    ]


def double_ids(records: Any, *, factor: int) -> Any:
    """A function transformer given by import string."""
    return records.project(f"id * {int(factor)} AS id, name")


@pytest.mark.parametrize("function", [double_ids, f"{__name__}:double_ids"])
def test_function_transformer(tmp_path: Path, function: Any) -> None:
    extractor = make_extractor({"class": KindExtractor, "kind": "list_of_dicts"})
    p = pipeline(tmp_path, "fnt")
    spec = {"function": function, "kwargs": {"factor": 10}}
    p.run(extractor_resource(extractor, name="doubled", transformer=spec))
    assert [r["id"] for r in p.query("select id from doubled order by id").to_pylist()] == [0, 10, 20, 30, 40]


# -- loaders ---------------------------------------------------------------------------------------
class CountingLoader(Loader):
    """Writes what it receives to a DuckDB file, one table; counts its calls."""

    calls: ClassVar[list[str]] = []

    def load(self, records: Any) -> None:
        CountingLoader.calls.append("load")
        con = duckdb.connect(self.config["path"])
        con.register("incoming", records.to_arrow_table())
        con.execute("CREATE TABLE IF NOT EXISTS out AS SELECT * FROM incoming LIMIT 0")
        con.execute("INSERT INTO out BY NAME SELECT * FROM incoming")
        con.close()


def test_custom_loader_receives_a_relation_with_the_rows(tmp_path: Path) -> None:
    CountingLoader.calls = []
    target = str(tmp_path / "target.duckdb")
    destination = make_loader({"class": CountingLoader, "path": target})
    assert isinstance(destination, LoaderDestination)
    assert destination.describe().endswith("CountingLoader)") and destination.to_uri() is None
    p = pipeline(tmp_path, "custom", destination)
    extractor = make_extractor({"class": KindExtractor, "kind": "relation"})
    info = p.run(extractor_resource(extractor, name="people"))
    assert CountingLoader.calls == ["load"]
    con = duckdb.connect(target)
    assert con.sql("select id, name from out order by id").fetchall() == [(r["id"], r["name"]) for r in ROWS]
    assert {"_hw_load_id", "_hw_id"} <= set(con.sql("select * from out").columns)  # system columns included
    con.close()
    # the load id is in the ledger: the package is not handed again
    ledger = orjson.loads((p.workdir.root / "loader_ledger.json").read_bytes())
    assert list(ledger["loads"]) == [info.loads[0].load_id]


def test_a_package_in_the_ledger_is_not_handed_twice(tmp_path: Path) -> None:
    """A crash after the loader returned and the ledger was written, before the package was marked
    loaded: the rerun finds the load id in the ledger and moves the package on."""
    CountingLoader.calls = []
    destination = make_loader({"class": CountingLoader, "path": str(tmp_path / "t.duckdb")})
    p = pipeline(tmp_path, "rerun", destination)
    load_id = p.extract(extractor_resource(make_extractor({"class": KindExtractor, "kind": "generator"}), name="t"))
    package = p.pending_packages()[0]
    with LoaderDestination(destination.loader).client(p.dataset_name) as client:  # the crash: loaded, not completed
        client.load(package, package.load_schema())
    assert CountingLoader.calls == ["load"] and p.pending_packages()
    info = p.load()
    assert CountingLoader.calls == ["load"]  # not handed twice
    assert info.loads[0].load_id == load_id and info.loads[0].already_loaded
    assert not p.pending_packages()
    p.run(extractor_resource(make_extractor({"class": KindExtractor, "kind": "generator"}), name="t"))
    assert CountingLoader.calls == ["load", "load"]  # a new package is handed as usual


def test_a_failing_loader_keeps_the_package_and_hands_it_again(tmp_path: Path) -> None:
    class Flaky:
        fail = True
        got: ClassVar[list[int]] = []

        def __init__(self, config: dict[str, Any]) -> None:
            pass

        def load(self, records: Any) -> None:
            if Flaky.fail:
                raise RuntimeError("disk full")
            Flaky.got.append(records.count("*").fetchall()[0][0])

    p = pipeline(tmp_path, "flaky", make_loader({"class": Flaky}))
    with pytest.raises(HeadwaterError, match="disk full"):
        p.run(extractor_resource(make_extractor({"class": KindExtractor, "kind": "arrow_table"}), name="t"))
    assert len(p.pending_packages()) == 1
    Flaky.fail = False
    p.load()
    assert Flaky.got == [5] and not p.pending_packages()


NESTED = [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": ["c"]}]


def test_a_loader_with_table_receives_child_tables(tmp_path: Path) -> None:
    class PerTable:
        got: ClassVar[dict[str, list[dict[str, Any]]]] = {}

        def __init__(self, config: dict[str, Any]) -> None:
            pass

        def load(self, records: Any, table: str) -> None:
            PerTable.got[table] = records.to_arrow_table().to_pylist()

    p = pipeline(tmp_path, "children", make_loader({"class": PerTable}))
    p.run(hw.resource(NESTED, name="docs"))
    assert list(PerTable.got) == ["docs", "docs__tags"]
    parents = {r["_hw_id"]: r["id"] for r in PerTable.got["docs"]}
    joined = sorted((parents[r["_hw_parent_id"]], r["value"]) for r in PerTable.got["docs__tags"])
    assert joined == [(1, "a"), (1, "b"), (2, "c")]


def test_a_loader_without_table_and_nested_data_is_refused(tmp_path: Path) -> None:
    CountingLoader.calls = []
    p = pipeline(tmp_path, "nested", make_loader({"class": CountingLoader, "path": str(tmp_path / "t.duckdb")}))
    with pytest.raises(ConfigError) as err:
        p.run(hw.resource(NESTED, name="docs"))
    assert "child tables" in str(err.value) and "max_nesting=0" in str(err.value)
    assert CountingLoader.calls == []  # nothing was handed over
    p.drop_pending()
    p.run(hw.resource(NESTED, name="docs", max_nesting=0))  # nested data as JSON columns: one table
    assert CountingLoader.calls == ["load"]


def test_loader_dispositions_are_append_unless_declared(tmp_path: Path) -> None:
    class Replacing:
        write_dispositions = ("append", "replace")
        got: ClassVar[list[str]] = []

        def __init__(self, config: dict[str, Any]) -> None:
            pass

        def load(self, records: Any, write_disposition: str) -> None:
            Replacing.got.append(write_disposition)

    p = pipeline(tmp_path, "disp", make_loader({"class": Replacing}))
    p.run(hw.resource(ROWS, name="t", write_disposition="replace"))
    assert Replacing.got == ["replace"]
    plain = pipeline(tmp_path, "plain", make_loader({"class": CountingLoader, "path": str(tmp_path / "x.duckdb")}))
    with pytest.raises(ConfigError, match="not supported"):
        plain.run(hw.resource(ROWS, name="t", write_disposition="replace"))

    class Undeclared:
        write_dispositions = ("replace",)

        def load(self, records: Any) -> None:
            pass

    with pytest.raises(ConfigError, match="no write_disposition keyword"):
        LoaderDestination(Undeclared())


def test_loader_hooks_loaded_ids_and_commit(tmp_path: Path) -> None:
    class Tracking:
        ids: ClassVar[set[str]] = set()
        commits: ClassVar[list[tuple[str, Any]]] = []

        def __init__(self, config: dict[str, Any]) -> None:
            pass

        def load(self, records: Any) -> None:
            pass

        def loaded_ids(self) -> set[str]:
            return Tracking.ids

        def commit(self, load_id: str, state: Any) -> None:
            Tracking.commits.append((load_id, state))

    p = pipeline(tmp_path, "hooks", make_loader({"class": Tracking}))
    load_id = p.extract(hw.resource(ROWS, name="t"))
    assert load_id is not None
    Tracking.ids = {load_id}  # the loader says it holds this load already
    assert p.load().loads[0].already_loaded and Tracking.commits == []
    info = p.run(hw.resource(ROWS, name="t"))
    assert [c[0] for c in Tracking.commits] == [info.loads[0].load_id]
    assert isinstance(Tracking.commits[0][1], dict)  # the pipeline state, as JSON


def test_a_headwater_destination_as_loader(tmp_path: Path) -> None:
    by_class = make_loader({"class": DuckDBDestination, "config": {"path": str(tmp_path / "a.duckdb")}})
    by_name = make_loader({"destination": "duckdb", "config": {"path": str(tmp_path / "b.duckdb")}})
    by_uri = make_loader({"destination": f"duckdb://{tmp_path / 'c.duckdb'}"})
    for i, destination in enumerate((by_class, by_name, by_uri)):
        assert isinstance(destination, DuckDBDestination)
        p = pipeline(tmp_path, f"dest{i}", destination)
        p.run(extractor_resource(make_extractor({"class": KindExtractor, "kind": "pandas"}), name="people"))
        assert p.query("select count(*) as n from people").to_pylist() == [{"n": 5}]

    class SelfMade(DuckDBDestination):
        """A destination class of the user's, constructed with its table like any Hippo class."""

        def __init__(self, config: dict[str, Any]) -> None:
            super().__init__(config["path"])

    made = make_loader({"class": SelfMade, "path": str(tmp_path / "d.duckdb")})
    assert isinstance(made, SelfMade)
    with pytest.raises(ConfigError, match="did you mean 'duckdb'"):
        make_loader({"destination": "duckbd"})
    with pytest.raises(ConfigError, match="'class' or a 'destination'"):
        make_loader({"format": "csv"})


def test_a_loader_cannot_be_queried(tmp_path: Path) -> None:
    p = pipeline(tmp_path, "noquery", make_loader({"class": CountingLoader, "path": str(tmp_path / "t.duckdb")}))
    with pytest.raises(ConfigError, match="cannot be queried"):
        p.query("select 1")


def test_system_columns_can_be_left_out(tmp_path: Path) -> None:
    got: list[list[str]] = []

    class Columns:
        def load(self, records: Any) -> None:
            got.append(records.columns)

    p = pipeline(tmp_path, "nosys", LoaderDestination(Columns(), system_columns=False))
    p.run(hw.resource(ROWS, name="t"))
    assert got == [["id", "name"]]


def test_hippo_style_loader_reads_records_by_name(tmp_path: Path) -> None:
    """Hippo's json loader runs ``duckdb.sql("copy records to ...")``: the relation is on DuckDB's
    default connection, so the name finds it."""

    class JsonLoader(Loader):
        def load(self, records: Any) -> None:
            duckdb.sql(f"copy (select id, name from records order by id) to '{self.config['filepath']}'")

    target = tmp_path / "out.json"
    p = pipeline(tmp_path, "json", make_loader({"class": JsonLoader, "filepath": str(target)}))
    p.run(extractor_resource(make_extractor({"class": KindExtractor, "kind": "relation"}), name="t"))
    assert [orjson.loads(line) for line in target.read_text().splitlines()] == ROWS


@pytest.mark.parametrize("package_format", ["arrow", "parquet"])
def test_a_table_whose_columns_grew_within_a_package_is_one_relation(tmp_path: Path, package_format: str) -> None:
    """Package files of one table with different columns (a column added, a type widened mid-package)
    reach the loader as one relation with the columns unified."""
    got: list[dict[str, Any]] = []

    class Collect:
        def load(self, records: Any) -> None:
            got.extend(records.project("id, extra, amount").order("id").to_arrow_table().to_pylist())

    rows = [{"id": 1, "amount": 1}, {"id": 2, "amount": 2}, {"id": 3, "amount": 2.5, "extra": "x"}]
    p = hw.pipeline(
        "grown",
        destination=LoaderDestination(Collect()),
        pipelines_dir=tmp_path / "pipelines",
        progress=False,
        batch_size=2,
        package_format=package_format,
    )
    p.run(hw.resource(rows, name="t"))
    assert got == [
        {"id": 1, "extra": None, "amount": 1.0},
        {"id": 2, "extra": None, "amount": 2.0},
        {"id": 3, "extra": "x", "amount": 2.5},
    ]


CRASHING = """
import sys
import headwater as hw
from headwater.destinations.loader import LoaderDestination


class Appending:
    def load(self, records):
        ids = {r[0] for r in records.project("_hw_load_id").fetchall()}
        with open(sys.argv[2], "a") as fh:
            fh.write(",".join(sorted(ids)) + "\\n")


p = hw.pipeline("crashing", destination=LoaderDestination(Appending()), pipelines_dir=sys.argv[1], progress=False)
if sys.argv[3] == "run":
    p.run(hw.resource([{"id": i} for i in range(3)], name="t"))
else:
    p.load()
"""


@pytest.mark.parametrize(
    ("failpoint", "handed"),
    [
        ("load.after_commit", 1),  # killed after the ledger write: the rerun does not hand it again
        ("loader.before_ledger", 2),  # killed between the loader and the ledger: handed again (at least once)
    ],
)
def test_sigkill_after_the_loader(tmp_path: Path, failpoint: str, handed: int) -> None:
    script = tmp_path / "crashing.py"
    script.write_text(CRASHING)
    log = tmp_path / "handed.txt"
    args = [sys.executable, str(script), str(tmp_path / "pipes"), str(log)]
    killed = subprocess.run(
        [*args, "run"], env={**env_with_path(), "HEADWATER_FAILPOINT": failpoint}, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = subprocess.run([*args, "load"], env=env_with_path(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    lines = log.read_text().splitlines()
    assert len(lines) == handed and len(set(lines)) == 1  # the same package, once or twice
    workdir = tmp_path / "pipes" / "crashing"
    assert not list((workdir / "packages").iterdir())  # nothing waits
    assert len(list((workdir / "completed").iterdir())) == 1
