"""Integrations with orchestrators, above flows and pipelines (nothing in the engine imports them).

* :mod:`headwater.integrations.dagster` (also ``headwater.dagster``): Dagster assets from flows, one per
  flow or one per table; the ``dagster`` extra.
"""
