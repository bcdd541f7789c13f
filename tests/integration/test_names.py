"""Hostile names against every destination: nothing is written outside its root, no SQL runs that
the user did not write, and a name that is accepted keeps working run after run.

Each case runs in ``tmp_path``: the pipelines folder and the destination's root are the only places a
run may write to; every file found elsewhere under ``tmp_path`` afterwards is an escape. The names
are the class the issue found (quotes, ``..``, ``/``, absolute paths, NUL, newlines, 300-byte
Unicode, ``_hw_loads``), given as pipeline, source, dataset, table (declared and from the data) and
files layout, on DuckDB, PostgreSQL (``pg_url``), files, Iceberg and Delta.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater import names
from headwater.errors import ConfigError, DataError
from tests.conftest import pg_query

KINDS = ["duckdb", "postgres", "files", "iceberg", "delta"]
INJECTION = "x'; CREATE TABLE main.pwned AS SELECT 42 AS n; --"
LONG = "é" * 150  # 300 bytes of UTF-8
#: the hostile values; ``ABS`` stands for an absolute path inside tmp_path (outside every root)
HOSTILE = [".", "..", "../escaped", "../../escaped", "ABS", "a/b", "nul\x00byte", "new\nline", LONG, "_hw_loads"]
QUOTED = [INJECTION, 'quo"te', "o'brien"]


def _needs(kind: str) -> None:
    module = {"iceberg": "pyiceberg", "delta": "deltalake"}.get(kind)
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")


@dataclass
class Sandbox:
    """A pipelines folder and one destination root under tmp_path; everything else there is off limits."""

    tmp: Path
    kind: str
    pg: str | None
    dataset: str = "raw"

    @property
    def pipelines(self) -> Path:
        return self.tmp / "pipelines"

    @property
    def root(self) -> Path:
        return self.tmp / "dest"

    def value(self, text: str) -> str:
        return str(self.tmp / "escaped_abs") if text == "ABS" else text

    def destination(self, **options: Any) -> Any:
        if self.kind == "duckdb":
            return hw.destinations.duckdb(self.root / "db.duckdb")
        if self.kind == "postgres":
            return hw.destinations.postgres(self.pg)
        if self.kind == "files":
            return hw.destinations.filesystem(self.root, **options)
        if self.kind == "iceberg":
            return hw.destinations.iceberg(self.root)
        return hw.destinations.delta(self.root)

    def pipeline(self, name: str = "p", dataset: str | None = None, **options: Any) -> Any:
        return hw.pipeline(
            name,
            destination=self.destination(**options),
            dataset=self.dataset if dataset is None else dataset,
            pipelines_dir=self.pipelines,
            progress=False,
        )

    def escapes(self) -> list[Path]:
        """Files and folders under tmp_path outside the pipelines folder and the destination root."""
        allowed = (self.pipelines, self.root)
        out = []
        for path in self.tmp.rglob("*"):
            if path == self.tmp / "hwhome":  # the test's HEADWATER_HOME (empty: pipelines_dir is given)
                continue
            if not any(path == a or a in path.parents for a in allowed):
                out.append(path)
        return out

    def pwned(self) -> bool:
        """Whether a table named ``pwned`` exists anywhere in the SQL destination."""
        if self.kind == "duckdb" and (self.root / "db.duckdb").exists():
            import duckdb

            con = duckdb.connect(str(self.root / "db.duckdb"), read_only=True)
            try:
                return bool(
                    con.execute("select count(*) from duckdb_tables() where table_name = 'pwned'").fetchone()[0]
                )  # type: ignore[index]
            finally:
                con.close()
        if self.kind == "postgres":
            assert self.pg is not None
            return bool(pg_query(self.pg, "select count(*) from pg_tables where tablename = 'pwned'")[0][0])
        return False


@pytest.fixture(params=KINDS)
def sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sandbox]:
    """One destination kind; on PostgreSQL the session's database with a dataset of the test's own
    (a database per test costs more than the test), dropped afterwards."""
    kind = request.param
    _needs(kind)
    if kind != "postgres":
        yield Sandbox(tmp_path, kind, None)
        return
    pg = request.getfixturevalue("pg_url")
    box = Sandbox(tmp_path, kind, pg, dataset=f"names_{uuid.uuid4().hex[:12]}")
    try:
        yield box
    finally:
        pg_query(pg, f"DROP SCHEMA IF EXISTS {box.dataset} CASCADE")


def _attempt(action: Callable[[], Any]) -> BaseException | None:
    try:
        action()
    except (ConfigError, DataError) as exc:
        return exc
    return None


def _loads(p: Any) -> int:
    return int(p.query("select count(*) from _hw_loads where status = 'completed'").column(0)[0].as_py())


# -- names that are refused before anything is written ---------------------------------------------


@pytest.mark.parametrize("text", [t for t in HOSTILE if t != "_hw_loads"] + [*QUOTED, "", "a.b", "Raw Data"])
def test_hostile_datasets_are_refused_and_write_nothing(sandbox: Sandbox, text: str) -> None:
    value = sandbox.value(text)
    error = _attempt(lambda: sandbox.pipeline(dataset=value).run([{"a": 1}], table_name="t"))
    assert isinstance(error, ConfigError), f"dataset {value!r} was accepted"
    assert "dataset" in str(error)
    # a client opened directly refuses it too: no statement is built from it
    with pytest.raises(ConfigError):
        sandbox.destination().client(value)
    assert sandbox.escapes() == []
    assert not sandbox.pwned()


@pytest.mark.parametrize("text", [t for t in HOSTILE if t != "_hw_loads"] + ["", "-x", "é", "a@b", *QUOTED])
def test_hostile_pipeline_names_are_refused_and_write_nothing(sandbox: Sandbox, text: str) -> None:
    value = sandbox.value(text)
    error = _attempt(lambda: sandbox.pipeline(value).run([{"a": 1}], table_name="t"))
    assert isinstance(error, ConfigError), f"pipeline name {value!r} was accepted"
    assert sandbox.escapes() == []
    assert not sandbox.pipelines.exists() or not any(sandbox.pipelines.iterdir())


@pytest.mark.parametrize("text", [t for t in HOSTILE if t not in ("_hw_loads", LONG)] + [LONG + "x" * 10, ""])
def test_hostile_source_names_are_refused_and_write_nothing(sandbox: Sandbox, text: str) -> None:
    value = sandbox.value(text)

    def run() -> None:
        rows = hw.resource([{"a": 1}], name="rows")
        sandbox.pipeline().run(hw.Source(value, [rows]))

    assert isinstance(_attempt(run), ConfigError), f"source name {value!r} was accepted"
    if value:  # an empty schema_name means the default one
        error = _attempt(lambda: sandbox.pipeline().run([{"a": 1}], table_name="t", schema_name=value))
        assert isinstance(error, ConfigError), f"schema name {value!r} was accepted"
    assert sandbox.escapes() == []
    assert not list(sandbox.pipelines.rglob("*.json")) or all(
        p.parent.name != "schemas" for p in sandbox.pipelines.rglob("*.json")
    )


@pytest.mark.parametrize("table", ["_hw_loads", "_hw_state", "_hw_schemas", "_HW_Loads", LONG])
def test_declared_reserved_or_too_long_table_names_are_refused_before_extraction(sandbox: Sandbox, table: str) -> None:
    p = sandbox.pipeline()
    p.run([{"a": 1}], table_name="ok")
    seen = []

    @hw.resource(name="named")
    def named() -> Iterator[dict[str, int]]:
        seen.append(1)
        yield {"a": 1}

    with pytest.raises(ConfigError) as err:
        p.run(named().apply_hints(table_name=table))
    assert seen == []  # refused before the resource ran
    assert err.value.hint
    with pytest.raises(ConfigError):
        p.run(hw.resource([{"a": 1}], name=table))  # a resource name is the table name by default
    assert p.pending_packages() == []
    p.run([{"a": 2}], table_name="ok")  # the pipeline is not wedged
    assert _loads(p) == 2
    assert sandbox.escapes() == []


# -- names that are accepted: they land inside the root and keep working --------------------------


def test_table_names_from_the_data_land_inside_and_keep_loading(sandbox: Sandbox) -> None:
    values = [sandbox.value(t) for t in [*HOSTILE, *QUOTED, "Événements"]]
    p = sandbox.pipeline()
    rows = [{"t": v, "v": 1, "items": [{"k": 1}, {"k": 2}]} for v in values]
    expected = Counter(names.data_table_name(v) for v in values)
    for _ in range(2):  # a second run: a name that broke the bookkeeping would fail here
        info = p.run(rows, table_name=lambda r: r["t"])
        loaded = info.table_rows()
        assert {t: loaded[t] for t in expected} == dict(expected)
        assert {t: loaded[names.child_table_name(t, ("items",), set())] for t in expected} == {
            t: 2 * n for t, n in expected.items()
        }
    assert _loads(p) == 2
    assert not any(t.startswith("_hw_") for t in expected)
    assert sandbox.escapes() == []
    assert not sandbox.pwned()
    for path in sandbox.root.rglob("*"):  # every file name fits the file system
        assert len(path.name.encode()) <= 255


@pytest.mark.parametrize("text", ["nul\x00byte", "new\nline"])
def test_declared_table_names_with_control_characters_are_refused(sandbox: Sandbox, text: str) -> None:
    with pytest.raises(ConfigError, match="control character"):
        sandbox.pipeline().run([{"v": 1}], table_name=text)
    assert sandbox.escapes() == []


def test_declared_table_names_follow_the_naming_convention_inside_the_root(sandbox: Sandbox) -> None:
    texts = [t for t in HOSTILE if t not in ("_hw_loads", LONG, "nul\x00byte", "new\nline")] + QUOTED
    values = [sandbox.value(t) for t in texts]
    resources = [hw.resource([{"v": 1}], name=f"r{i}", table_name=v) for i, v in enumerate(values)]
    p = sandbox.pipeline()
    for _ in range(2):
        info = p.run(hw.Source("declared", resources))
    assert info.table_rows() == dict(Counter(names.table_name(v) for v in values))
    assert _loads(p) == 2
    assert sandbox.escapes() == []
    assert not sandbox.pwned()


def test_a_long_nested_path_gets_short_deterministic_child_tables(sandbox: Sandbox) -> None:
    key = "ü" * 90  # each level adds 180 bytes to the child table's name
    row = {"id": 1, key: [{key: [{"x": 1}]}]}
    p = sandbox.pipeline()
    first = p.run([row], table_name="deep").table_rows()
    second = p.run([row], table_name="deep").table_rows()
    assert first == second and len(first) == 3  # the same three tables, twice
    assert all(len(t.encode()) <= names.MAX_NAME_BYTES for t in first)
    assert sandbox.escapes() == []


# -- files layouts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layout", ["../{table}/{load_id}.{file_id}.{ext}", "{table}/../../{load_id}.{file_id}.{ext}", "ABS"]
)
def test_files_layouts_that_leave_the_dataset_are_refused(tmp_path: Path, layout: str) -> None:
    box = Sandbox(tmp_path, "files", None)
    value = str(tmp_path / "escaped_abs" / "{table}" / "{load_id}.{ext}") if layout == "ABS" else layout
    with pytest.raises(ConfigError, match="layout"):
        box.pipeline(layout=value).run([{"a": 1}], table_name="t")
    assert box.escapes() == []


# -- escaping: names that are not the user's to choose (a DuckDB file's catalog) ----------------------


@pytest.mark.parametrize("file_name", ["o'brien.duckdb", 'quo"te.duckdb', "x'; drop table t; --.duckdb"])
def test_duckdb_file_names_with_quotes_work_for_every_statement(tmp_path: Path, file_name: str) -> None:
    p = hw.pipeline(
        "quoted",
        destination=hw.destinations.duckdb(tmp_path / file_name),
        dataset="raw",
        pipelines_dir=tmp_path / "pipelines",
        progress=False,
    )
    p.run([{"id": 1, "tags": ["a"]}], table_name="t", write_disposition="merge", primary_key="id")
    p.run(
        [{"id": 1, "tags": ["b"]}, {"id": 2, "tags": []}], table_name="t", write_disposition="merge", primary_key="id"
    )
    assert p.query("select count(*) from t").column(0)[0].as_py() == 2
    assert p.query("select value from t__tags").column(0).to_pylist() == ["b"]
    assert sorted(p.schema().tables) == ["t", "t__tags"]
    assert sorted(p.drop()) == ["t", "t__tags"]  # drop builds its statements from them too


def test_duckdb_datasets_differing_only_in_case_are_one_schema(tmp_path: Path) -> None:
    """DuckDB matches schema names ignoring case: ``Raw`` after ``raw`` is the same schema, and loading
    into it must work (it failed with "table already exists")."""
    db = tmp_path / "one.duckdb"
    lower = hw.pipeline("lower", destination=hw.destinations.duckdb(db), dataset="raw", pipelines_dir=tmp_path)
    upper = hw.pipeline("upper", destination=hw.destinations.duckdb(db), dataset="Raw", pipelines_dir=tmp_path)
    lower.run([{"x": 1}], table_name="t")
    upper.run([{"x": 2}], table_name="t")
    upper.run([{"x": 3}], table_name="t")
    assert sorted(lower.query("select x from t").column(0).to_pylist()) == [1, 2, 3]


def test_postgres_datasets_differing_only_in_case_are_two_schemas(pg_database: str, tmp_path: Path) -> None:
    made = {}
    for dataset in ("raw", "Raw"):
        p = hw.pipeline(
            f"pg_{dataset}", destination=hw.destinations.postgres(pg_database), dataset=dataset, pipelines_dir=tmp_path
        )
        p.run([{"x": dataset}], table_name="t")
        p.run([{"x": dataset}], table_name="t")
        made[dataset] = p
    for dataset, p in made.items():
        assert p.query("select x from t").column(0).to_pylist() == [dataset, dataset]


def test_postgres_placeholders_are_not_rewritten_inside_quotes() -> None:
    from headwater.destinations.postgres.destination import numbered_placeholders

    sql = """SELECT "a?b" FROM "x""?" WHERE c = ? AND d = '?''?' AND e = ?"""
    assert numbered_placeholders(sql) == """SELECT "a?b" FROM "x""?" WHERE c = $1 AND d = '?''?' AND e = $2"""
