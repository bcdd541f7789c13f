"""``hw.configure_logging``: Headwater's logs as text or JSON lines, at a level, on stderr or a stream."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TextIO

from headwater.errors import ConfigError, did_you_mean
from headwater.observe.context import install_record_factory
from headwater.observe.logs import JsonFormatter, StderrHandler, TextFormatter

FORMATS = ("text", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def check_level(level: str | int) -> int:
    """A level name (any case) or number as a number, or a ConfigError naming the levels."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str) and level.strip().upper() in LEVELS:
        return int(logging.getLevelName(level.strip().upper()))
    raise ConfigError(f"unknown log level {level!r}", hint=did_you_mean(str(level).upper(), LEVELS, listing="levels"))


def check_format(fmt: str) -> str:
    """``"text"`` or ``"json"``, or a ConfigError with a "did you mean"."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown log format {fmt!r}", hint=did_you_mean(fmt, FORMATS, listing="formats"))
    return fmt


def configure_logging(
    level: str | int = "INFO", format: str = "text", *, stream: TextIO | None = None
) -> logging.Handler:
    """Show Headwater's logs (the ``headwater`` logger and its children) at ``level`` and above.

    Every record carries the pipeline, run id and load id of the run it came from. Calling it again
    replaces the handler it installed before; records do not also go to the root logger's handlers.

    Args:
        level: ``"DEBUG"``, ``"INFO"`` (default: progress lines and access records included),
            ``"WARNING"``... or a number.
        format: ``"text"`` (``time LEVEL logger [pipeline run_id load_id]: message``) or ``"json"``
            (one object per line: time, level, logger, message, pipeline, run_id, load_id, exc, access).
        stream: where to write (default: ``sys.stderr`` as it is at each record).

    Returns:
        The handler installed (remove it from ``logging.getLogger("headwater")`` to undo).
    """
    number = check_level(level)
    check_format(format)
    install_record_factory()
    handler: logging.Handler = StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    handler.headwater_configured = True  # type: ignore[attr-defined]  # found and replaced by the next call
    logger = logging.getLogger("headwater")
    for old in [h for h in logger.handlers if getattr(h, "headwater_configured", False)]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(number)
    logger.propagate = False
    return handler


@contextlib.contextmanager
def logging_configured(level: str | int, format: str, *, stream: TextIO | None = None) -> Iterator[logging.Handler]:
    """:func:`configure_logging` for the time of a block, then the ``headwater`` logger as it was (the CLI's)."""
    logger = logging.getLogger("headwater")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    handler = configure_logging(level, format, stream=stream)
    try:
        yield handler
    finally:
        for added in [h for h in logger.handlers if h not in saved[2]]:
            logger.removeHandler(added)
        for old in saved[2]:
            if old not in logger.handlers:
                logger.addHandler(old)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
