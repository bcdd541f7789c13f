"""Log formats: JSON lines and text, both showing the run a record belongs to.

:class:`JsonFormatter` writes one JSON object per record::

    {"time": "2026-12-03T09:27:00.123456+00:00", "level": "INFO", "logger": "headwater.progress",
     "message": "table issues: 100 rows ...", "pipeline": "github", "run_id": "20261203T092700.123456Z",
     "load_id": "20261203T092700.200000Z"}

plus ``exc`` (the traceback, redacted) when the record carries an exception, and ``access`` (what was
read, from where, by whom) on the records of ``headwater.access``. The ids come from
:mod:`headwater.observe.context`. ``headwater.configure_logging`` installs either format.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, TextIO

from headwater.redact import redact

#: the text format: the run's ids in brackets when there is a run
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(run)s: %(message)s"


def _exc_text(record: logging.LogRecord, formatter: logging.Formatter) -> str | None:
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(formatter.formatException(record.exc_info))
    return record.exc_text or None


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pipeline": getattr(record, "pipeline", None),
            "run_id": getattr(record, "run_id", None),
            "load_id": getattr(record, "load_id", None),
        }
        exc = _exc_text(record, self)
        if exc:
            out["exc"] = exc
        if record.stack_info:
            out["stack"] = record.stack_info
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            out["access"] = access
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [pipeline run_id load_id]: message``, the traceback after it."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # logging's name
        """The line, with the run's ids when the record has them."""
        ids = [getattr(record, k, None) for k in ("pipeline", "run_id", "load_id")]
        record.run = f" [{' '.join(i for i in ids if i)}]" if any(ids) else ""
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:  # logging's name
        """The traceback, secrets hidden."""
        return redact(super().formatException(ei))


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (a live progress display replaces it for a while)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass
