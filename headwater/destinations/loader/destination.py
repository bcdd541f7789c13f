"""A destination made of one object with ``load(records)``: Hippo's loaders, or a custom destination in
one method.

For every data table of a package, the client opens the table's package files as one DuckDB relation
(on DuckDB's default connection, where Hippo's extractors make theirs, so that a loader running
``duckdb.sql("COPY records TO ...")`` reads it by name; valid for the length of the call; the files are
read batch by batch each time the relation is read) and calls ``loader.load(relation)``; a loader
whose ``load`` takes a ``table`` keyword is called once per table (root and child tables, roots
first) with the table's name.

What Headwater keeps around it, and what it cannot:

* the loader writes wherever it writes; nothing commits its data together with the pipeline state, so
  the state lives in the pipeline's working folder (``state.json``), as always;
* after the loader returns for every table, the load id is recorded in a ledger (by default
  ``loader_ledger.json`` in the pipeline's working folder); a package whose load id is in the ledger is
  not handed to the loader again (a rerun after a crash between the ledger write and the package
  being marked loaded);
* a crash (or an error) after the loader wrote some or all of a package and before the ledger write
  hands the package again on the next run: **at least once**, not exactly once. A loader that keeps
  the load id with its data can close that gap: ``loaded_ids()`` (the load ids it holds) is asked
  before a package is handed, and ``commit(load_id, state)`` is called after the last table (commit
  data, load id and state there, atomically, and delivery becomes exactly once).

The failpoint ``loader.before_ledger`` (see :mod:`headwater._failpoints`) kills the process after the
loader returned for every table and before the ledger write: the window of the second delivery.
"""

from __future__ import annotations

import inspect
import logging
import time
from pathlib import Path
from typing import Any

import orjson

from headwater import names
from headwater._failpoints import failpoint
from headwater.destinations.common import tables_by_root
from headwater.destinations.protocol import Capabilities, ClosingClient, LoadResult
from headwater.errors import ConfigError, HeadwaterError, LoadError
from headwater.packages.files import read_file, read_json
from headwater.packages.package import LoadPackage, write_atomic
from headwater.schema.model import Schema
from headwater.schema.state import PipelineState
from headwater.schema.stored import StoredTables

log = logging.getLogger("headwater")

#: the ledger's file name in the pipeline's working folder
LEDGER = "loader_ledger.json"
#: load ids the ledger keeps (packages load oldest first, so an older one is never pending)
KEEP_LOADS = 1000
_DISPOSITIONS = frozenset({"append", "replace", "merge"})


def _accepts(fn: Any, keyword: str) -> bool:
    """Whether ``fn`` takes the keyword argument ``keyword`` by name (``**kwargs`` does not count)."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    found = parameters.get(keyword)
    return found is not None and found.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


def _class_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class LoaderDestination:
    """A destination that hands each package's tables to ``loader.load(records)``.

    Args:
        loader: an object with ``load(records)`` (a DuckDB relation); optionally a ``table``
            keyword (then it gets every table, child tables too), a ``write_disposition`` keyword,
            a ``write_dispositions`` attribute (what it implements besides ``append``),
            ``loaded_ids()`` and ``commit(load_id, state)`` (see the module docstring).
        ledger: the file recording the load ids handed over; default ``loader_ledger.json`` in the
            pipeline's working folder.
        system_columns: keep Headwater's system columns (``_hw_load_id``, ``_hw_id``, and in child
            tables ``_hw_parent_id``, ``_hw_list_idx``, ``_hw_root_id``, which join a child to its
            parent) in the relations handed over.

    Raises:
        ConfigError: ``loader`` has no ``load`` method, or declares dispositions its ``load`` cannot
            be told about.
    """

    name = "loader"

    def __init__(self, loader: Any, *, ledger: str | Path | None = None, system_columns: bool = True) -> None:
        load = getattr(loader, "load", None)
        if not callable(load):
            raise ConfigError(
                f"{_class_name(loader)} is not a loader: it has no load(records) method",
                hint="a loader is a Headwater destination or any object whose load(records) takes a DuckDB relation",
            )
        self.loader = loader
        self.ledger = Path(ledger) if ledger is not None else None
        self.system_columns = system_columns
        self.per_table = _accepts(load, "table")
        self.tells_disposition = _accepts(load, "write_disposition")
        declared = getattr(loader, "write_dispositions", None) or ("append",)
        if isinstance(declared, str):
            declared = (declared,)
        dispositions = frozenset(declared) | {"append"}
        unknown = dispositions - _DISPOSITIONS
        if unknown:
            raise ConfigError(
                f"{_class_name(loader)} declares write_dispositions {sorted(unknown)} that do not exist",
                hint="use append, replace or merge",
            )
        if dispositions != {"append"} and not self.tells_disposition:
            raise ConfigError(
                f"{_class_name(loader)} declares write_dispositions {sorted(dispositions)} but its load() "
                "takes no write_disposition keyword to be told which one a table uses",
                hint="add a write_disposition keyword argument to load()",
            )
        self.capabilities = Capabilities(
            name="loader",
            transactional=False,
            write_dispositions=dispositions,
            merge_key=False,
        )

    def for_pipeline(self, pipeline_name: str) -> LoaderDestination:
        """This destination (nothing depends on the pipeline)."""
        return self

    def describe(self) -> str:
        """``loader (<module>.<class>)``."""
        return f"loader ({_class_name(self.loader)})"

    def to_uri(self) -> str | None:
        """None: a loader object cannot be reopened from a URI."""
        return None

    def client(self, dataset: str) -> LoaderClient:
        """A client handing packages to the loader (``dataset`` is not used by loaders)."""
        return LoaderClient(self, dataset)

    def __repr__(self) -> str:
        return f"<LoaderDestination {self.describe()}>"


class LoaderClient(ClosingClient):
    """Hands the tables of packages to a loader and keeps the ledger of load ids it handed over."""

    def __init__(self, destination: LoaderDestination, dataset: str) -> None:
        self.destination = destination
        self.loader = destination.loader
        self.dataset = dataset

    # -- what a loader does not have --------------------------------------------------------------
    def stored_schema(self, schema_name: str) -> Schema | None:
        """None: schemas live in the pipeline's working folder."""
        return None

    def stored_state(self, pipeline_name: str) -> PipelineState | None:
        """None: the state lives in the pipeline's working folder."""
        return None

    def store_state(self, pipeline_name: str, state: PipelineState) -> None:
        """Nothing to do: the pipeline writes the state into its working folder."""

    def stored_tables(self) -> StoredTables:
        """Nothing known: a loader's tables are not read back."""
        return StoredTables()

    def drop(self, pipeline_name: str, tables: list[str], schema_names: list[str]) -> None:
        """Call the loader's ``drop(tables)`` if it has one; the data it wrote is otherwise not touched."""
        drop = getattr(self.loader, "drop", None)
        if callable(drop):
            drop(tables)
        else:
            log.warning("%s has no drop(tables): the data it loaded is not touched", _class_name(self.loader))
        if self.destination.ledger is not None:
            self.destination.ledger.unlink(missing_ok=True)

    def query_arrow(self, sql: str) -> Any:
        """Not possible: a loader cannot be read back.

        Raises:
            ConfigError: always.
        """
        raise ConfigError(
            f"{self.destination.describe()} cannot be queried: a loader's data is not read back",
            hint="query the loader's target with its own tools",
        )

    # -- the ledger ------------------------------------------------------------------------------
    def ledger_path(self, package: LoadPackage) -> Path:
        """The ledger file: the one given, else ``loader_ledger.json`` in the package's working folder."""
        if self.destination.ledger is not None:
            return self.destination.ledger
        return package.root.parent.parent / LEDGER

    def loaded_ids(self, package: LoadPackage) -> set[str]:
        """The load ids handed over: the ledger's and the loader's own ``loaded_ids()``."""
        found = set(read_ledger(self.ledger_path(package)))
        hook = getattr(self.loader, "loaded_ids", None)
        if callable(hook):
            found.update(str(i) for i in hook() or ())
        return found

    # -- the load --------------------------------------------------------------------------------
    def load(self, package: LoadPackage, schema: Schema) -> LoadResult:
        """Hand every data table of the package to the loader, then record the load id.

        Raises:
            ConfigError: the package has child tables (or several tables) and the loader's ``load``
                takes no ``table`` keyword; nothing is handed over then.
            LoadError: the loader raised (the tables handed before are not taken back).
        """
        started = time.perf_counter()
        manifest = package.manifest
        result = LoadResult(manifest.load_id)
        if manifest.load_id in self.loaded_ids(package):
            result.already_loaded = True
            return result
        groups = tables_by_root(schema, manifest.tables)
        order = [name for names in groups.values() for name in names]
        if not self.destination.per_table and len(order) > 1:
            children = [n for n in order if schema.tables[n].is_child]
            what = f"child tables {children}" if children else f"the tables {order}"
            raise ConfigError(
                f"package {manifest.load_id} has {what}, but {_class_name(self.loader)}.load() takes no "
                "table keyword, so it could not tell them apart",
                hint="keep nested data as JSON columns with max_nesting=0 on the resource, or give load() a "
                "table keyword argument to receive every table (child tables join their parent on "
                "_hw_parent_id = _hw_id)",
                load_id=manifest.load_id,
            )
        for name in order:
            disposition = schema.tables[schema.root_of(name).name].write_disposition
            system = {c.name for c in schema.tables[name].columns.values() if c.system}
            result.rows[name] = self._hand(package, name, disposition if isinstance(disposition, str) else None, system)
        commit = getattr(self.loader, "commit", None)
        if callable(commit):
            state = package.read_state()
            self._call(commit, manifest.load_id, orjson.loads(state) if state is not None else None, where=None)
        failpoint("loader.before_ledger")
        record_load(self.ledger_path(package), manifest.load_id, result.rows)
        result.seconds = time.perf_counter() - started
        return result

    def _hand(self, package: LoadPackage, table: str, disposition: str | None, system: set[str]) -> int:
        """Open ``table``'s files as a relation and give it to the loader; returns the table's rows."""
        import duckdb

        # on DuckDB's default connection, as Hippo's extractors make theirs: a loader that runs
        # duckdb.sql("COPY records TO ...") finds its argument by name, as Hippo's own loaders do. The
        # relation holds no registered name and nothing of it is left after the call
        relation = duckdb.from_arrow(PackageTable(package.file_paths(table)))
        if not self.destination.system_columns:
            keep = [names.quote_identifier(c) for c in relation.columns if c not in system]
            relation = relation.project(", ".join(keep))
        kwargs: dict[str, Any] = {}
        if self.destination.per_table:
            kwargs["table"] = table
        if self.destination.tells_disposition:
            kwargs["write_disposition"] = disposition or "append"
        self._call(self.loader.load, relation, where=table, **kwargs)
        return package.manifest.tables[table].rows

    def _call(self, fn: Any, *args: Any, where: str | None, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``; what it raises becomes a :class:`LoadError` about table ``where``."""
        try:
            return fn(*args, **kwargs)
        except HeadwaterError:
            raise
        except Exception as exc:
            raise LoadError(
                f"{_class_name(self.loader)}.{getattr(fn, '__name__', 'load')}() failed: {exc!r}",
                hint="the package is kept and handed to the loader again by the next run (tables it already "
                "wrote are handed again too: a loader gets each package at least once)",
                table=where,
            ) from exc


class PackageTable:
    """The package files of one table as an Arrow stream that DuckDB (or any reader of the Arrow C
    stream interface) can scan as often as it likes: each scan reads the files anew, one batch at a
    time, each batch with the columns of all the files (unified; missing ones null). Memory stays that
    of a batch whatever the size of the table, also when the reader is slow: a ``pyarrow.dataset``
    scanned by DuckDB held on to memory in proportion to the table (700 MB for 8M narrow rows).

    Args:
        paths: the table's package files (``.arrow`` or ``.parquet``).
    """

    def __init__(self, paths: list[Path]) -> None:
        import pyarrow as pa

        self.paths = paths
        schemas = [_file_schema(p) for p in paths]
        self.schema = pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])

    def reader(self) -> Any:
        """A new reader of the table's batches."""
        import pyarrow as pa

        from headwater.destinations.lake.arrow import conform

        def batches() -> Any:
            for path in self.paths:
                for batch in read_file(path):
                    yield from conform(batch, self.schema).to_batches()

        return pa.RecordBatchReader.from_batches(self.schema, batches())

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.reader().__arrow_c_stream__(requested_schema)


def _file_schema(path: Path) -> Any:
    """The Arrow schema of a package file (its footer only)."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_schema(str(path))
    with pa.OSFile(str(path)) as source:
        return ipc.open_file(source).schema


def read_ledger(path: Path) -> list[str]:
    """The load ids recorded in a ledger file (none when it does not exist).

    Raises:
        StateError: the file is not a ledger.
    """
    if not path.exists():
        return []

    def parse(data: Any) -> list[str]:
        loads = data.get("loads") if isinstance(data, dict) else None
        if not isinstance(loads, dict):
            raise ValueError("it has no 'loads' object")
        return [str(k) for k in loads]

    return read_json(
        path,
        what="the ledger of loads handed to the loader",
        hint="restore it, or delete it to hand every pending package to the loader again",
        parse=parse,
    )


def record_load(path: Path, load_id: str, rows: dict[str, int]) -> None:
    """Add ``load_id`` to the ledger (written atomically; the newest :data:`KEEP_LOADS` are kept)."""
    loads: dict[str, Any] = {}
    if path.exists():
        data = orjson.loads(path.read_bytes())
        loads = dict(data.get("loads", {}))
    loads[load_id] = {"rows": rows, "at": time.time()}
    kept = dict(sorted(loads.items())[-KEEP_LOADS:])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, orjson.dumps({"loads": kept}, option=orjson.OPT_INDENT_2))
