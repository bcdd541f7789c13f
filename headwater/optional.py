"""Optional dependencies: imported lazily, with the command that installs them when missing.

Heavy or narrow libraries (httpx, SQLAlchemy, the ADBC drivers, deltalake, pyiceberg, jsonpath-ng,
fsspec) are extras. Every module that needs one asks here, so the message and its hint read the same
everywhere::

    httpx = require("httpx", "the rest_api source", extra="rest")
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

from headwater.errors import ConfigError


def install_hint(extra: str | None = None, package: str | None = None, also: str = "") -> str:
    """The command that installs an extra (``headwater[extra]``) or a package, plus ``also``."""
    target = f"'headwater[{extra}]'" if extra else f"'{package}'"
    return f"install it with: pip install {target}" + (f" ({also})" if also else "")


def require(
    module: str,
    needed_by: str,
    *,
    extra: str | None = None,
    package: str | None = None,
    also: str = "",
    importer: Callable[[str], ModuleType] = importlib.import_module,
) -> ModuleType:
    """Import ``module`` or raise a :class:`ConfigError` naming what needs it and how to install it.

    Args:
        module: the import name (``"httpx"``, ``"adbc_driver_postgresql.dbapi"``).
        needed_by: what needs it, for the message (``"the rest_api source"``).
        extra: the Headwater extra that brings it (``"rest"``), for the install command.
        package: the package's pip name, for the message (default: the module's top name) and for the
            install command when there is no ``extra``.
        also: a note after the command (another extra, the filesystem's own package...).
        importer: what imports it (:func:`headwater.normalize.pandas_gate.import_without_frames` for ADBC).
    """
    try:
        return importer(module)
    except ImportError as exc:
        top = module.split(".", 1)[0]
        raise ConfigError(
            f"{needed_by} needs the {package or top} package, which is not installed",
            hint=install_hint(extra, package or top, also),
        ) from exc
