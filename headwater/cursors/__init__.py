"""Incremental loading: cursors that make each run load only what is new."""

from __future__ import annotations

from headwater.cursors.cursor import Incremental, incremental

__all__ = ["Incremental", "incremental"]
