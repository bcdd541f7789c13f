"""Dagster assets from flows: ``from headwater.dagster import flow_assets, flow_definitions``.

The code is :mod:`headwater.integrations.dagster`; see docs/scale.md#dagster. Importing this module
needs Dagster (``pip install 'headwater[dagster]'``); ``import headwater`` never imports it.
"""

from __future__ import annotations

from headwater.integrations.dagster import Per, flow_assets, flow_definitions

__all__ = ["Per", "flow_assets", "flow_definitions"]
