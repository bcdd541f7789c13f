"""Singer messages to Headwater items: RECORDs grouped per stream, hints per stream, STATE kept.

:class:`Messages` takes the message batches a tap wrote (parsed in bulk by the connector process)
and yields :class:`~headwater.streams.hinted.Hinted` items, one list of ``record`` payloads per
stream and per stretch of messages, so one tap feeds many tables:

- ``SCHEMA``: the stream's hints (columns from its JSON Schema, ``key_properties`` as the primary
  key with ``merge``, else ``append``), built once and reused for every batch until the next SCHEMA
  message changes them;
- ``RECORD``: its ``record`` appended to the stream's pending list;
- ``STATE``: every pending record is yielded first, then ``on_state(value)`` is called, so a state
  is never saved with less data than came before it;
- ``ACTIVATE_VERSION``: the stream's table is replaced by this load (``replace`` hints);
- ``BATCH`` (singer-sdk): the manifest's JSON-lines files (plain or gzip) read in bulk.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, urlparse

import orjson

from headwater.errors import SourceError
from headwater.normalize.jsonlines import MIN_LINES, JsonRows, read_json_rows
from headwater.schema.hints import TableHints, build_hints
from headwater.sources.connector.jsonschema import arrow_type, column_hints
from headwater.sources.connector.process import parse_lines
from headwater.sources.singer.catalog import StreamInfo
from headwater.streams.hinted import Hinted

log = logging.getLogger("headwater.singer")


class StreamTables:
    """The hints of each stream's table, from the catalog and then from SCHEMA messages."""

    def __init__(self, catalog: Mapping[str, StreamInfo] | None = None) -> None:
        self.catalog = dict(catalog or {})
        self._hints: dict[str, TableHints] = {}
        self._described: dict[str, tuple[Any, ...]] = {}
        self._schemas: dict[str, tuple[Mapping[str, Any], Iterable[str]]] = {}
        self.bookmarks: dict[str, list[str]] = {}
        self.replaced: set[str] = set()
        self._arrow: dict[str, Any] = {}

    def hints(self, stream: str) -> TableHints:
        """The stream's hints: from its last SCHEMA message, else from the catalog, else none but append."""
        found = self._hints.get(stream)
        if found is None:
            info = self.catalog.get(stream)
            if info is not None:
                found = self.describe(stream, info.schema, info.key_properties)
            else:
                found = self.describe(stream, {}, ())
        return found

    def describe(self, stream: str, schema: Mapping[str, Any], key_properties: Iterable[str]) -> TableHints:
        """Build the stream's hints (kept when a SCHEMA message repeats what they were built from)."""
        keys = tuple(str(k) for k in key_properties or ())
        self._schemas[stream] = (schema, keys)
        seen = (orjson.dumps(schema, option=orjson.OPT_SORT_KEYS), keys)
        if self._described.get(stream) == seen and stream in self._hints:
            return self._hints[stream]
        self._arrow.pop(stream, None)
        disposition = "replace" if stream in self.replaced else ("merge" if keys else "append")
        try:
            hints = build_hints(
                resource=stream,
                table_name=stream,
                write_disposition=disposition,
                primary_key=list(keys) or None,
                columns=column_hints(schema),
            )
        except Exception as exc:
            raise SourceError(f"singer: the schema of stream {stream!r} gives no usable hints: {exc}") from exc
        self._hints[stream], self._described[stream] = hints, seen
        return hints

    def arrow_type(self, stream: str) -> Any:
        """The Arrow struct the stream's JSON Schema declares, for reading its RECORD lines (or None)."""
        if stream not in self._arrow:
            self.hints(stream)  # described from the catalog if no SCHEMA message came yet
            self._arrow[stream] = arrow_type(self._schemas.get(stream, ({}, ()))[0])
        return self._arrow[stream]

    def activate(self, stream: str) -> TableHints:
        """ACTIVATE_VERSION: this load replaces the stream's table."""
        hints = self.hints(stream)
        if stream not in self.replaced:
            self.replaced.add(stream)
            hints = self._hints[stream] = build_hints(resource=stream, write_disposition="replace", base=hints)
        return hints

    def committed(self) -> None:
        """A load committed: the tables it replaced take their own disposition again for the next one."""
        for stream in self.replaced:
            self._hints.pop(stream, None)
            self._described.pop(stream, None)
        self.replaced.clear()
        for stream, (schema, keys) in list(self._schemas.items()):
            if stream not in self._hints:
                self.describe(stream, schema, keys)


class Messages:
    """Singer messages to :class:`Hinted` items (see the module docstring).

    Args:
        tables: the streams' hints.
        on_state: called with each STATE's value once every record before it was yielded.
        streams: only these streams' records are kept (a tap that ignores the catalog's selection).
    """

    def __init__(
        self,
        tables: StreamTables,
        on_state: Callable[[Any], None],
        streams: frozenset[str] | None = None,
    ) -> None:
        self.tables = tables
        self.on_state = on_state
        self.streams = streams
        self.records = 0
        #: records kept per stream (the access records name each stream read)
        self.per_stream: dict[str, int] = {}
        self.states = 0
        self.ignored: dict[str, int] = {}
        #: records dropped per stream: streams not selected, and records without a stream (``None``)
        self.dropped: dict[str | None, int] = {}
        #: RECORD messages whose ``record`` was not an object (skipped, with a warning)
        self.not_objects = 0

    def items(self, batches: Iterable[list[Any]]) -> Iterator[Hinted]:
        """The records of ``batches`` (messages, and :class:`RecordLines`) as items for their tables, in
        order per stream."""
        pending: dict[str, list[Any]] = {}
        for batch in batches:
            yield from self._messages(batch, pending)
            yield from self._flush(pending)

    def _messages(self, batch: list[Any], pending: dict[str, list[Any]]) -> Iterator[Hinted]:
        """Take one batch: each stream's records gather in ``pending`` as segments (lists of records,
        and :class:`~headwater.normalize.jsonlines.JsonRows`) until another message flushes them."""
        for m in batch:
            if type(m) is RecordLines:
                yield from self._lines(m, pending)
                continue
            kind = m.get("type")
            if kind == "RECORD":
                stream = m.get("stream")
                segments = pending.get(stream)
                if segments is None:
                    segments = pending[stream] = [[]]
                elif type(segments[-1]) is not list:
                    segments.append([])
                segments[-1].append(m.get("record"))
            elif kind == "STATE":
                yield from self._flush(pending)
                self.states += 1
                self.on_state(m.get("value"))
            elif kind == "SCHEMA":
                yield from self._flush(pending)
                stream = str(m.get("stream"))
                self.tables.describe(stream, m.get("schema") or {}, m.get("key_properties") or ())
                if m.get("bookmark_properties"):
                    self.tables.bookmarks[stream] = list(m["bookmark_properties"])
            elif kind == "ACTIVATE_VERSION":
                yield from self._flush(pending)
                self.tables.activate(str(m.get("stream")))
            elif kind == "BATCH":
                yield from self._flush(pending)
                yield from self._batch(m)
            else:
                self.ignored[str(kind)] = self.ignored.get(str(kind), 0) + 1

    def _lines(self, run: RecordLines, pending: dict[str, list[Any]]) -> Iterator[Hinted]:
        """A stretch of one stream's RECORD lines: read by Arrow when it reads them exactly, else parsed
        and taken message by message."""
        if self.streams is not None and run.stream not in self.streams:
            self.dropped[run.stream] = self.dropped.get(run.stream, 0) + len(run.lines)
            return
        rows = read_json_rows(
            run.lines,
            field="record",
            declared=self.tables.arrow_type(run.stream),
            expect={"type": "RECORD", "stream": run.stream},
        )
        if rows is None:
            yield from self._messages(parse_lines(run.lines, run.on_skip), pending)
        else:
            pending.setdefault(run.stream, []).append(rows)

    def _flush(self, pending: dict[str, list[Any]]) -> Iterator[Hinted]:
        for stream, segments in pending.items():
            for rows in segments:
                if stream is None or (self.streams is not None and stream not in self.streams):
                    self.dropped[stream] = self.dropped.get(stream, 0) + len(rows)
                    continue
                if type(rows) is list and not all(type(r) is dict for r in rows):
                    kept = [r for r in rows if type(r) is dict]
                    self.not_objects += len(rows) - len(kept)
                    log.warning(
                        "stream %r: %d RECORD message(s) whose record is not a JSON object were skipped "
                        "(a Singer record is an object; fix the tap)",
                        stream,
                        len(rows) - len(kept),
                    )
                    rows = kept
                self.records += len(rows)
                self.per_stream[stream] = self.per_stream.get(stream, 0) + len(rows)
                yield Hinted(rows, stream, self.tables.hints(stream))
        pending.clear()

    def _batch(self, m: Mapping[str, Any]) -> Iterator[Hinted]:
        stream = str(m.get("stream"))
        if self.streams is not None and stream not in self.streams:
            return
        hints = self.tables.hints(stream)
        encoding = m.get("encoding") or {}
        declared = self.tables.arrow_type(stream)
        for url in m.get("manifest") or ():
            rows = read_batch_file(str(url), encoding, stream, declared)
            self.records += len(rows)
            self.per_stream[stream] = self.per_stream.get(stream, 0) + len(rows)
            yield Hinted(rows, stream, hints)


def read_batch_file(url: str, encoding: Mapping[str, Any], stream: str, declared: Any = None) -> list[Any] | JsonRows:
    """The records of one file of a BATCH message's manifest (JSON lines, plain or gzip), parsed at once
    (by Arrow, with the ``declared`` types, where it reads them as orjson would).

    Raises:
        SourceError: a format other than JSON lines, a file that is not local, or not readable.
    """
    fmt, compression = encoding.get("format", "jsonl"), encoding.get("compression", "none")
    where = f"BATCH message of stream {stream!r}, file {url!r}"
    if fmt != "jsonl":
        raise SourceError(
            f"singer: {where}: format {fmt!r} is not supported",
            hint="configure the tap's batch_config with encoding format 'jsonl'",
        )
    parsed = urlparse(url)
    if parsed.scheme not in ("", "file"):
        raise SourceError(f"singer: {where}: only local files (file://) can be read", hint="store batches locally")
    path = unquote(parsed.path) if parsed.scheme else url
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if compression == "gzip" or data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise SourceError(f"singer: {where}: {exc}") from exc

    def refuse(line: bytes) -> None:
        raise SourceError(f"singer: {where} is not JSON lines: {line[:200].decode('utf-8', 'replace')!r}")

    lines = [line for line in data.split(b"\n") if line.strip()]
    rows = read_json_rows(lines, declared=declared)
    return parse_lines(lines, refuse) if rows is None else rows


@dataclass(frozen=True, slots=True)
class RecordLines:
    """RECORD messages of one stream, one after another as the tap wrote them, not parsed yet."""

    stream: str
    lines: list[bytes]
    on_skip: Callable[[bytes], None]


#: how taps begin a RECORD line (singer-python and singer-sdk, with and without spaces)
_RECORD_HEADS: Final = (b'{"type": "RECORD", "stream": "', b'{"type":"RECORD","stream":"')


def split_messages(lines: list[bytes], on_skip: Callable[[bytes], None]) -> list[Any]:
    """A tap's stdout lines as messages: stretches of at least :data:`MIN_LINES` RECORD lines of one
    stream stay bytes (:class:`RecordLines`, read in bulk by :meth:`Messages.items`); every other line
    is parsed (together) by :func:`parse_lines`, which tells ``on_skip`` each line that is not JSON."""
    out: list[Any] = []
    other: list[bytes] = []
    run: list[bytes] = []
    stream = ""
    head = b"\x00"  # the start every line of the current stretch has: '{"type": "RECORD", "stream": "users"'

    def end_run() -> None:
        nonlocal run
        if len(run) >= MIN_LINES:
            if other:
                out.extend(parse_lines(other, on_skip))
                other.clear()
            out.append(RecordLines(stream, run, on_skip))
        else:
            other.extend(run)
        run = []

    for line in lines:
        if line.startswith(head):
            run.append(line)
            continue
        end_run()
        found = _record_head(line)
        if found is None:
            other.append(line)
            head = b"\x00"
        else:
            head, stream = found
            run.append(line)
    end_run()
    if other:
        out.extend(parse_lines(other, on_skip))
    return out


def _record_head(line: bytes) -> tuple[bytes, str] | None:
    for start in _RECORD_HEADS:
        if line.startswith(start):
            end = line.find(b'"', len(start))
            name = line[len(start) : end]
            if end < 0 or b"\\" in name:
                return None
            try:
                return line[: end + 1], name.decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None
