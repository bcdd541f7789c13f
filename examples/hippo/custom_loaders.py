"""A loader as Hippo writes it: a class built with its own config table, whose ``load(records)``
receives a DuckDB relation. Headwater keeps the bookkeeping around it (packages on disk, a ledger
of what was handed over); see docs/hippo.md for the guarantee a one-method loader can give."""

from __future__ import annotations

from typing import Any

from headwater.flows import Loader


class LocalFileLoader(Loader):
    """Writes the records to a local file: ``format`` (parquet or csv) and ``filepath``."""

    def load(self, records: Any) -> None:
        if self.config["format"] == "parquet":
            records.write_parquet(str(self.config["filepath"]))
        else:
            records.write_csv(str(self.config["filepath"]), header=True)
