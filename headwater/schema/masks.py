"""Masks of personal data, declared as column hints and applied by the normalizer before anything is written.

``columns={"email": {"mask": "hash"}}`` (a keyed HMAC-SHA256 of the value's text), ``{"mask": "redact"}``
(``***``) and ``{"mask": {"partial": 4}}`` (the last 4 characters kept, the others ``*``). A hint names
a column as it is loaded: a nested one by its flattened name (``customer__email``), one of a child
table by its path from the root table (``orders__email`` for the ``email`` key of the ``orders`` list).
A masked column's values become text. See docs/normalization.md, "Masking personal data".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from headwater.errors import ConfigError

#: the environment variable holding the secret key of ``hash`` masks (``mask_key=`` of the pipeline wins)
MASK_KEY_ENV: Final = "HEADWATER_MASK_KEY"
#: what ``redact`` (and ``partial``, for characters it hides) puts in place of a value
REDACTED: Final = "***"
MASK_KINDS: Final = ("hash", "redact", "partial")


@dataclass(frozen=True)
class Mask:
    """One column's mask: ``kind`` is ``hash``, ``redact`` or ``partial`` (which keeps the last ``keep`` characters)."""

    kind: str
    keep: int = 0

    def __str__(self) -> str:
        return f"partial({self.keep})" if self.kind == "partial" else self.kind


def parse_mask(spec: Any, *, column: str, resource: str) -> Mask:
    """The mask a ``mask`` hint asks for: ``"hash"``, ``"redact"``, ``{"partial": N}`` (or ``"partial:N"``).

    Raises:
        ConfigError: anything else, naming the resource and the column.
    """
    if isinstance(spec, str) and spec.startswith("partial:"):
        spec = {"partial": spec.removeprefix("partial:").strip()}
    if isinstance(spec, str) and spec in ("hash", "redact"):
        return Mask(spec)
    if isinstance(spec, Mapping) and set(spec) == {"partial"}:
        keep = spec["partial"]
        if isinstance(keep, str) and keep.isdigit():
            keep = int(keep)
        if isinstance(keep, int) and not isinstance(keep, bool) and keep >= 0:
            return Mask("partial", keep)
        raise ConfigError(
            f"partial mask of column {column!r} keeps a number of characters, got {keep!r}",
            hint='e.g. {"mask": {"partial": 4}} keeps the last 4 characters',
            resource=resource,
            column=column,
        )
    raise ConfigError(
        f"unknown mask {spec!r} for column {column!r}",
        hint='use "hash", "redact" or {"partial": N} (keep the last N characters)',
        resource=resource,
        column=column,
    )


def mask_of(name: str, masks: Mapping[str, Mask]) -> Mask | None:
    """The mask of column ``name``: its own, or that of a column it is nested in (``customer`` masks
    ``customer__email`` too: an object where a masked value was expected is masked key by key)."""
    if not masks:
        return None
    found = masks.get(name)
    if found is not None:
        return found
    parts = name.split("__")
    for end in range(len(parts) - 1, 0, -1):
        found = masks.get("__".join(parts[:end]))
        if found is not None:
            return found
    return None


def resolve_key(given: str | bytes | None) -> bytes | None:
    """The secret key of ``hash`` masks: ``given`` (a pipeline's ``mask_key``) or ``$HEADWATER_MASK_KEY``.

    Raises:
        ConfigError: a key that is not a non-empty string or bytes.
    """
    if given is None:
        given = os.environ.get(MASK_KEY_ENV) or None
        if given is None:
            return None
    if isinstance(given, str) and given:
        return given.encode("utf-8")
    if isinstance(given, bytes) and given:
        return given
    raise ConfigError(
        f"mask_key must be a non-empty string or bytes, got {type(given).__name__}",
        hint=f"pass mask_key= to hw.pipeline or set {MASK_KEY_ENV}",
    )
