"""Pipelines as Hippo keeps them: plain dicts in a config.py, classes passed directly.

Run one from Python (``examples/hippo/run.py``)::

    info = hw.flow(config.PIPELINES["big_orders"]).run()

or all of them from the command line (a config.py with PIPELINES is a flows file too)::

    headwater run examples/hippo/config.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the custom modules beside this file, however it is loaded

import custom_extractors  # noqa: E402
import custom_loaders  # noqa: E402

PIPELINES = {
    # Hippo's README example, with a transformer: CSV in, SQL over `records`, a custom loader out
    "big_orders": {
        "extractor": {
            "class": custom_extractors.LocalFileExtractor,
            "format": "csv",
            "filepath": HERE / "data" / "orders.csv",
            "kwargs": {"header": True},  # passed to duckdb.read_csv()
        },
        "transformer": {
            "query_path": HERE / "queries" / "big_orders.sql",
            "kwargs": {"min_total": 10},  # bound as a parameter, not formatted into the SQL
        },
        "loader": {
            "class": custom_loaders.LocalFileLoader,
            "format": "parquet",
            "filepath": "big_orders.parquet",
        },
    },
    # the same extractor into a Headwater destination: a DuckDB table merged on order_id, with state,
    # schema evolution and exactly-once loads
    "orders_by_country": {
        "extractor": {
            "class": custom_extractors.LocalFileExtractor,
            "format": "csv",
            "filepath": HERE / "data" / "orders.csv",
            "kwargs": {"header": True},
        },
        "transformer": {
            "function": "custom_transforms:by_country",
            "kwargs": {"currency": "EUR"},
        },
        "loader": {"destination": "duckdb", "config": {"path": "hippo.duckdb"}},
        "dataset": "shop",
        "write_disposition": "merge",
        "primary_key": "country",
    },
}
