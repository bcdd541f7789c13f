"""SQL models after the load (ELT): ``hw.pipeline(..., models=[...])``.

A model is one SELECT query whose result becomes one table of the dataset. Models run inside the
destination after every run or load that committed something (and on demand, ``pipeline.run_models()``),
in the order of the tables they read: a model reading another model's table runs after it. Unqualified
names in a model are the dataset's tables. Every model runs in a transaction of its own and is recorded
in ``_hw_models`` with the load id (see :mod:`headwater.destinations.sql.models`).

What ``models=`` takes (a list of any of these, or one of them)::

    "models/daily_orders.sql"                        # a file: the table is the file's stem
    "models/"                                        # a folder: every *.sql file in it, by name
    {"daily_orders": "SELECT ..."}                    # table name -> SQL (or -> a .sql path)
    {"name": "daily_orders", "sql": "SELECT ..."}     # or "path": ...; "depends_on": [...] adds tables

A failing model does not undo the load (committed before); the models reading it are skipped, the
others run, and the run raises :class:`~headwater.errors.ModelError` with the run's info attached.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from headwater import names
from headwater.errors import ConfigError, DestinationError, ModelError
from headwater.pipelines.info import LoadInfo, ModelRun

if TYPE_CHECKING:
    from headwater.pipelines.pipeline import Pipeline

_SPEC_KEYS = frozenset({"name", "sql", "path", "depends_on"})
_EXAMPLE = '{"daily_orders": "SELECT ..."} or {"name": "daily_orders", "sql": "SELECT ..."}'


@dataclass(frozen=True)
class SqlModel:
    """One model, checked: its table, its query, and the tables it reads (casefolded).

    Attributes:
        name: the table the model makes (a checked table name, not ``_hw_``-prefixed).
        sql: one SELECT query (trailing ``;`` removed).
        path: the ``.sql`` file it was read from, if any.
        reads: the dataset's tables the query reads (parsed with DuckDB's parser, plus ``depends_on``).
    """

    name: str
    sql: str
    path: str | None = None
    reads: frozenset[str] = field(default_factory=frozenset)

    @property
    def sql_hash(self) -> str:
        """A short hash of the query (recorded in ``_hw_models``: which version of a model ran)."""
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


def resolve_models(given: Any, *, destination: Any, dataset: str) -> tuple[SqlModel, ...]:
    """``models=`` as checked models in the order they run.

    Raises:
        ConfigError: a destination without SQL models, an unnamed SQL string, a missing file, a bad or
            reserved table name, a name used twice, SQL that is not one SELECT query, or a cycle.
    """
    if given is None:
        return ()
    if not getattr(getattr(destination, "capabilities", None), "sql_models", False):
        raise ConfigError(
            f"SQL models (models=) run inside a SQL destination, not {destination.describe()}",
            hint="load into DuckDB or PostgreSQL, or transform the data before loading (add_map, transform=)",
        )
    items = list(given) if isinstance(given, list | tuple) else [given]
    made: list[SqlModel] = []
    for item in items:
        made.extend(_expand(item, dataset))
    seen: dict[str, str] = {}
    for m in made:
        key = m.name.casefold()
        if key in seen:
            raise ConfigError(f"two SQL models make the table {m.name!r}", hint="give each model its own table name")
        seen[key] = m.name
    return order(made)


def _expand(item: Any, dataset: str) -> list[SqlModel]:
    if isinstance(item, Path) or (isinstance(item, str) and _looks_like_path(item)):
        return _from_path(Path(item), dataset)
    if isinstance(item, str):
        raise ConfigError(
            f"a SQL model needs a table name: {item[:60]!r}",
            hint=f"name it: {_EXAMPLE}, or put it in a file named after its table (daily_orders.sql)",
        )
    if isinstance(item, Mapping) and "name" in item and set(item) <= _SPEC_KEYS:
        name, sql, path = item.get("name"), item.get("sql"), item.get("path")
        if (sql is None) == (path is None):
            raise ConfigError(f"SQL model {name!r}: give exactly one of 'sql' and 'path'", hint=_EXAMPLE)
        depends = item.get("depends_on") or []
        if not isinstance(depends, list | tuple) or not all(isinstance(d, str) for d in depends):
            raise ConfigError(f"SQL model {name!r}: depends_on must be a list of table names, got {depends!r}")
        text = sql if path is None else _read(Path(path))
        return [_model(name, text, dataset, path=None if path is None else str(path), depends_on=depends)]
    if isinstance(item, Mapping):
        out = []
        for name, value in item.items():
            if isinstance(value, Path) or (isinstance(value, str) and _looks_like_path(value)):
                out.append(_model(name, _read(Path(value)), dataset, path=str(value)))
            else:
                out.append(_model(name, value, dataset))
        return out
    raise ConfigError(f"not a SQL model: {item!r}", hint=f"give a .sql file, a folder of them, or {_EXAMPLE}")


def _looks_like_path(text: str) -> bool:
    """A one-line string ending in ``.sql``, or naming a folder, is a path; anything else is SQL."""
    if "\n" in text or len(text) > 1024:
        return False
    try:
        return text.strip().lower().endswith(".sql") or Path(text).is_dir()
    except OSError:  # not a name the file system takes (too long): SQL
        return False


def _from_path(path: Path, dataset: str) -> list[SqlModel]:
    if path.is_dir():
        files = sorted(path.glob("*.sql"))
        if not files:
            raise ConfigError(f"the models folder {str(path)!r} holds no .sql file")
        return [_model(f.stem, _read(f), dataset, path=str(f)) for f in files]
    return [_model(path.stem, _read(path), dataset, path=str(path))]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the SQL model {str(path)!r}: {exc.strerror or exc}", path=str(path)) from exc


def _model(name: Any, sql: Any, dataset: str, *, path: str | None = None, depends_on: Iterable[str] = ()) -> SqlModel:
    checked = names.table_name(name)
    if checked != name:
        raise ConfigError(
            f"the SQL model name {name!r} is not a plain table name",
            hint=f"name it {checked!r} (letters, digits and '_'; it is the table's name)",
        )
    if not isinstance(sql, str) or not sql.strip():
        raise ConfigError(f"SQL model {name!r} has no SQL (got {sql!r})", hint=_EXAMPLE)
    sql = re.sub(r"[\s;]+$", "", sql.strip())
    extra = {d.casefold() for d in depends_on}
    parsed = table_reads(sql, dataset, model=checked, fallback=bool(extra))
    return SqlModel(checked, sql, path, frozenset((parsed | extra) - {checked.casefold()}))


def table_reads(sql: str, dataset: str, *, model: str, fallback: bool = False) -> set[str]:
    """The dataset's tables a SELECT query reads (casefolded; common table expressions left out),
    found with DuckDB's parser (``json_serialize_sql``), which reads PostgreSQL's SQL well enough.

    Raises:
        ConfigError: not one SELECT query (unless ``fallback``: then no table is found).
    """
    import duckdb

    con = duckdb.connect()
    try:
        text = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0]
    finally:
        con.close()
    tree = orjson.loads(text)
    statements = tree.get("statements") or []
    if tree.get("error") or len(statements) != 1:
        if fallback:
            return set()
        why = tree.get("error_message") or f"{len(statements)} statements"
        raise ConfigError(
            f"SQL model {model!r} is not one SELECT query: {why}",
            hint="a model is one SELECT (Headwater makes its table); if the SQL is right but only your database "
            "reads it, list the tables it reads: {'name': ..., 'sql': ..., 'depends_on': ['orders']}",
            table=model,
        )
    tables: set[str] = set()
    ctes: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            schema = str(node.get("schema_name") or "").casefold()
            if node.get("type") == "BASE_TABLE" and schema in ("", dataset.casefold()):
                tables.add(str(node.get("table_name", "")).casefold())
            cte_map = node.get("cte_map")
            for entry in cte_map.get("map", []) if isinstance(cte_map, dict) else []:
                ctes.add(str(entry.get("key", "")).casefold())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(statements)
    return tables - ctes


def order(models: list[SqlModel]) -> tuple[SqlModel, ...]:
    """The models in dependency order (declaration order among independent ones).

    Raises:
        ConfigError: models that read each other in a cycle, named in order.
    """
    by_name = {m.name.casefold(): m for m in models}
    deps = {m.name: [by_name[r].name for r in sorted(m.reads) if r in by_name] for m in models}
    done: list[SqlModel] = []
    placed: set[str] = set()
    while len(done) < len(models):
        ready = [m for m in models if m.name not in placed and all(d in placed for d in deps[m.name])]
        if not ready:
            cycle = _cycle([m.name for m in models if m.name not in placed], deps)
            raise ConfigError(
                f"SQL models read each other in a cycle: {' -> '.join(cycle)}",
                hint="a model may read only tables loaded or made by models that do not read it back",
            )
        done.append(ready[0])
        placed.add(ready[0].name)
    return tuple(done)


def _cycle(left: list[str], deps: Mapping[str, list[str]]) -> list[str]:
    """One cycle among the models ``left`` (each of which waits on another of them)."""
    path = [left[0]]
    while True:
        nxt = next(d for d in deps[path[-1]] if d in left)
        if nxt in path:
            return [*path[path.index(nxt) :], nxt]
        path.append(nxt)


def depends(model: SqlModel, models: Iterable[SqlModel]) -> list[str]:
    """The models whose tables ``model`` reads."""
    return [m.name for m in models if m.name.casefold() in model.reads]


# -- running -------------------------------------------------------------------------------------------
def after_load(pipeline: Pipeline, info: LoadInfo) -> None:
    """Run the pipeline's models when the run loaded something, recorded with its newest load.

    A package found already loaded counts too: an earlier run committed it and stopped before its
    bookkeeping, so perhaps before its models (which only replace tables: running them again is safe).

    Raises:
        ModelError: a model failed (the loads stay committed); ``exc.info`` is ``info``.
    """
    if pipeline.models and info.loads:
        run_all(pipeline, info, info.loads[-1].load_id)


def run_all(pipeline: Pipeline, info: LoadInfo, load_id: str | None) -> LoadInfo:
    """Run every model of ``pipeline`` with one client, record each, fill ``info.models``; raise at the end
    if any failed. ``load_id=None``: the newest load of the pipeline committed in the dataset."""
    from headwater.destinations.sql import models as sql
    from headwater.destinations.sql.client import SqlClient

    with pipeline._client() as client:
        if not isinstance(client, SqlClient):
            raise ConfigError(f"SQL models need a SQL destination, not {pipeline.destination.describe()}")
        _refuse_loaded_names(pipeline)
        sql.ensure_models_table(client)
        if load_id is None:
            load_id = sql.last_load_id(client, pipeline.name)
        stopped: dict[str, str] = {}  # model -> the failed model it (transitively) waits on
        for m in pipeline.models:
            cause = next((stopped[d] for d in depends(m, pipeline.models) if d in stopped), None)
            started = time.perf_counter()
            if cause is not None:
                stopped[m.name] = cause
                why = f"reads the failed model {cause!r}"
                run = ModelRun(m.name, "skipped", None, 0.0, why)
            else:
                try:
                    rows = sql.materialize(
                        client, m.name, m.sql, pipeline_name=pipeline.name, load_id=load_id, sql_hash=m.sql_hash
                    )
                    run = ModelRun(m.name, "ok", rows, time.perf_counter() - started)
                except DestinationError as exc:
                    stopped[m.name] = m.name
                    run = ModelRun(m.name, "failed", None, time.perf_counter() - started, exc.message)
            info.models.append(run)
            if run.status != "ok":
                rec = sql.ModelRecord(
                    m.name, pipeline.name, load_id, run.status, None, run.seconds, run.error, m.sql_hash
                )
                sql.record(client, rec)
    failed = [r for r in info.models if r.status == "failed"]
    if failed:
        raise _model_error(pipeline, info, failed)
    return info


def _refuse_loaded_names(pipeline: Pipeline) -> None:
    """A model must not replace a table the pipeline loads."""
    loaded = {t.casefold() for n in pipeline.schema_names if (s := pipeline.workdir.read_schema(n)) for t in s.tables}
    for m in pipeline.models:
        if m.name.casefold() in loaded:
            raise ConfigError(
                f"SQL model {m.name!r} would replace the table {m.name!r} the pipeline loads",
                hint="give the model another name (its file name, or the 'name' key); no model ran, and what "
                "was loaded stays committed",
                table=m.name,
            )


def _model_error(pipeline: Pipeline, info: LoadInfo, failed: list[ModelRun]) -> ModelError:
    skipped = [r.name for r in info.models if r.status == "skipped"]
    lines = "; ".join(f"model {r.name!r} failed: {r.error}" for r in failed)
    kept = f"the load {info.load_id} stays committed" if info.load_id else "loaded data is untouched"
    also = f"; skipped (they read a failed model): {', '.join(skipped)}" if skipped else ""
    exc = ModelError(
        f"{lines}; {kept}{also}",
        hint="fix the model, then run the models again: pipeline.run_models(), or the next run that loads data; "
        "the failure is recorded in _hw_models",
        model=failed[0].name,
        pipeline=pipeline.name,
    )
    exc.info = info
    exc.failed = tuple(r.name for r in failed)
    return exc
