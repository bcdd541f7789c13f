"""Load packages: normalized Parquet files on disk, one folder per load."""

from __future__ import annotations

from headwater.packages.package import (
    LOADED,
    NORMALIZED,
    OPEN,
    PARTIAL,
    LoadPackage,
    Manifest,
    TableFiles,
    list_packages,
)

__all__ = [
    "LOADED",
    "NORMALIZED",
    "OPEN",
    "PARTIAL",
    "LoadPackage",
    "Manifest",
    "TableFiles",
    "list_packages",
]
