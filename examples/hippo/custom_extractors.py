"""Extractors as Hippo writes them: a class built with its own config table, whose ``extract()``
returns a DuckDB relation (an Arrow table, a DataFrame or an iterable of dicts work too)."""

from __future__ import annotations

from typing import Any

import duckdb

from headwater.flows import Extractor


class LocalFileExtractor(Extractor):
    """Reads a local file with DuckDB: ``format`` (csv, json, parquet), ``filepath`` and ``kwargs``
    for DuckDB's reader."""

    def extract(self) -> Any:
        readers = {"csv": duckdb.read_csv, "json": duckdb.read_json, "parquet": duckdb.read_parquet}
        read = readers[self.config["format"]]
        return read(str(self.config["filepath"]), **self.config.get("kwargs", {}))
