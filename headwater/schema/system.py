"""Headwater's own tables and their prefix: the one place their names are written.

Every destination keeps these beside the data (DuckDB and PostgreSQL as tables in the dataset, the
lake destinations as tables of their own); user tables may not take the prefix (:mod:`headwater.names`).
"""

from __future__ import annotations

from typing import Final

#: the prefix of every system table and column; reserved, user names may not start with it
SYSTEM_PREFIX: Final = "_hw_"
#: one row per committed load: pipeline, schema version, rows per table, timings
LOADS_TABLE: Final = "_hw_loads"
#: every schema version, as JSON, with the load that introduced it
SCHEMAS_TABLE: Final = "_hw_schemas"
#: the pipeline state committed with each load
STATE_TABLE: Final = "_hw_state"
#: rows set aside by a contract or because a value has no form the table can hold
QUARANTINE_TABLE: Final = "_hw_quarantine"
#: one row per SQL model run (``models=``): name, load id, status, rows, seconds, error, SQL hash
MODELS_TABLE: Final = "_hw_models"

#: one row per data-quality check per load: counts, verdict and sample failing rows
CHECKS_TABLE: Final = "_hw_checks"
#: one row per run, load and extract: status, times, rows, error, metrics (headwater.destinations.runs)
RUNS_TABLE: Final = "_hw_runs"

SYSTEM_TABLES: Final = frozenset(
    {LOADS_TABLE, SCHEMAS_TABLE, STATE_TABLE, QUARANTINE_TABLE, CHECKS_TABLE, MODELS_TABLE, RUNS_TABLE}
)
