"""Incremental loading: cursors that make each run load only what is new."""

from __future__ import annotations

from headwater.incremental.cursor import Incremental, incremental

__all__ = ["Incremental", "incremental"]
