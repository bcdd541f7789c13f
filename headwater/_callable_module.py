"""Packages that are also functions: ``hw.destinations.duckdb("x.duckdb")``, ``hw.sources.rest_api({...})``.

A subpackage named like the function its parent exports replaces that function on the parent as soon as
it is imported. :func:`make_callable` makes the subpackage itself callable instead, forwarding to the
function, so both spellings keep working whichever is imported first.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


class CallableModule(types.ModuleType):
    """A module whose call runs the function given to :func:`make_callable`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__dict__["__call_target__"](*args, **kwargs)


def make_callable(module_name: str, target: Callable[..., Any]) -> None:
    """Make the module ``module_name`` callable as ``target`` (a misspelled keyword argument is a
    ConfigError with a "did you mean", as everywhere in the Python API)."""
    from headwater.schema.hints import check_arguments

    module = sys.modules[module_name]
    label = "hw." + module_name.removeprefix("headwater.")
    module.__dict__["__call_target__"] = check_arguments(target, label)
    module.__class__ = CallableModule
