"""JSON lines read by Arrow (headwater.normalize.jsonlines) normalize to exactly what orjson's dicts do.

The oracle is the careful path: the same lines parsed by orjson and normalized as dict rows. Every
batch Arrow reads must give the same tables, columns, types and values; a batch it may read
differently must be refused (None), never read wrong.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from headwater.normalize.jsonlines import ARROW_OPENS, MIN_LINES, JsonRows, read_json_rows
from headwater.normalize.normalizer import Normalizer
from headwater.schema.hints import build_hints
from headwater.schema.model import Schema
from headwater.schema.types import WIDENINGS
from headwater.sources.connector.jsonschema import arrow_type
from headwater.sources.singer.messages import Messages, RecordLines, StreamTables, split_messages

EXPECT = {"type": "RECORD", "stream": "s"}


def message(record: Any, stream: str = "s") -> bytes:
    return json.dumps({"type": "RECORD", "stream": stream, "record": record}).encode()  # big integers too


def run(batches: list[Any], hints: Any = None) -> tuple[dict[str, dict[str, str]], dict[str, list[dict[str, Any]]]]:
    """Normalize ``batches`` (lists of dict rows, or JsonRows): each table's column types and rows."""
    out: dict[str, list[pa.Table]] = defaultdict(list)
    schema = Schema("s")
    n = Normalizer(schema, load_id="L1", sink=lambda t, a: out[t].append(a), widening=WIDENINGS)
    h = hints or build_hints(resource="r")
    table = n.root_table("t", resource="r", hints=h)
    for batch in batches:
        if isinstance(batch, JsonRows):
            n.json_rows(table, batch, h, "r")
        else:
            n.rows(table, batch, h, "r")
    types = {t.name: {c.name: str(c.type) for c in t.columns.values()} for t in schema.tables.values()}
    prefixes: dict[bytes, int] = {}  # a row id's random part, ranked by table name: ids compare by place

    def plain(v: Any) -> Any:
        if isinstance(v, uuid.UUID):
            return (prefixes.setdefault(v.bytes[:8], len(prefixes)), v.bytes[8:])
        return v

    rows = {}
    for name, tables in sorted(out.items()):
        rows[name] = [{k: plain(v) for k, v in sorted(r.items())} for t in tables for r in t.to_pylist()]
    return types, rows


def assert_same(records: list[Any], declared: Any = None, hints: Any = None) -> bool:
    """Arrow's reading of ``records`` as Singer lines normalizes like orjson's; whether Arrow read them."""
    lines = [message(r) for r in records]
    arrow = read_json_rows(lines, field="record", declared=declared, expect=EXPECT)
    if arrow is None:
        return False
    assert arrow.rows() == [orjson.loads(line)["record"] for line in lines]
    assert run([arrow], hints) == run([[orjson.loads(line)["record"] for line in lines]], hints)
    return True


# -- properties ----------------------------------------------------------------------------------
KEYS = st.sampled_from(["id", "name", "at", "n", "tags", "obj", "x y", "ünï", ""])
TEXTS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["2026-01-02", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05+02:00", "12:00:00", "NaN", "1e5"]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, -0.0, 2.0**53, 2.0**53 - 1, 1e300]),
    TEXTS,
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=12
)
WILD = st.lists(st.dictionaries(KEYS, VALUES, max_size=5), min_size=MIN_LINES, max_size=MIN_LINES + 20)

# one kind per key: the batches Arrow reads
KINDS: dict[str, st.SearchStrategy[Any]] = {
    "id": st.integers(-(2**53), 2**53),
    "name": st.text(max_size=6),
    "score": st.floats(-1e15, 1e15, allow_nan=False),
    "flag": st.booleans(),
    "at": st.sampled_from(["2026-01-02T03:04:05Z", "2026-03-04T05:06:07.123456Z"]),
    "tags": st.lists(st.text(max_size=3), max_size=3),
    "address": st.fixed_dictionaries({}, optional={"city": st.text(max_size=4), "zip": st.none()}),
    "items": st.lists(st.fixed_dictionaries({"sku": st.text(max_size=3)}, optional={"qty": st.integers(0, 9)})),
}
SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "score": {"type": "number"},
        "flag": {"type": "boolean"},
        "at": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}}},
        "items": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
    },
}
TYPED = st.lists(
    st.fixed_dictionaries({}, optional={k: st.one_of(st.none(), v) for k, v in KINDS.items()}),
    min_size=MIN_LINES,
    max_size=MIN_LINES + 30,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(WILD)
def test_any_records_read_by_arrow_normalize_as_dicts(records: list[dict[str, Any]]) -> None:
    event("read by Arrow" if assert_same(records) else "refused")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TYPED, st.booleans())
def test_typed_records_read_by_arrow_normalize_as_dicts(records: list[dict[str, Any]], declare: bool) -> None:
    declared = arrow_type(SCHEMA) if declare else None
    event("read by Arrow" if assert_same(records, declared) else "refused")


def test_typed_records_are_read_by_arrow() -> None:
    """The fast path is taken for records of one kind per key, declared or not (the properties above
    would pass vacuously otherwise)."""
    records = [
        {"id": i, "score": i / 3, "tags": ["a", None], "address": {"city": "x"}, "items": [{"sku": "s"}]}
        for i in range(MIN_LINES)
    ]
    records[3]["address"] = None
    for declared in (None, arrow_type(SCHEMA)):
        assert assert_same(records, declared)


def test_declared_types_keep_text_as_text() -> None:
    records = [{"at": "2026-01-02T03:04:05+02:00", "day": "2026-01-02"}] * MIN_LINES
    declared = arrow_type({"properties": {"at": {"type": "string"}, "day": {"type": "string", "format": "date"}}})
    got = read_json_rows([message(r) for r in records], field="record", declared=declared, expect=EXPECT)
    assert got is not None
    assert got.table.column("at")[0].as_py() == "2026-01-02T03:04:05+02:00"
    assert assert_same(records, declared)


def test_hints_that_cut_values_into_json_take_the_dict_path() -> None:
    """A nesting limit or a JSON column would store Arrow's structs (every field of every row) as JSON."""
    records = [{"a": {"b": {"c": i}} if i % 2 else {"b": {"d": "x"}}} for i in range(MIN_LINES)]
    for hints in (build_hints(resource="r", max_nesting=1), build_hints(resource="r", columns={"a": "json"})):
        assert assert_same(records, hints=hints)
        _, rows = run([read_json_rows([message(r) for r in records], field="record", expect=EXPECT)], hints)
        texts = [v for r in rows["t"] for k, v in r.items() if k.startswith("a") and v is not None]
        texts = [t.replace(" ", "") for t in texts]
        assert {'{"d":"x"}', '{"b":{"d":"x"}}'} & set(texts)
        assert not any("null" in t for t in texts)  # not {"c":null,"d":"x"}


# -- what Arrow would read differently is refused -------------------------------------------------
REFUSED = {
    "text that looks like a timestamp": [{"at": "2026-01-02T03:04:05+02:00"}],
    "a date": [{"day": "2026-01-02"}],
    "an integer beyond 64 bits": [{"n": 12345678901234567890}],
    "an integer among doubles": [{"n": 2**53 + 1}, {"n": 0.5}],
    "a double at 2**53": [{"n": 2.0**60}],
    "kinds that change": [{"n": 1}, {"n": "1"}],
    "a boolean among numbers": [{"n": 1.5}, {"n": True}],
    "a record that is not an object": [[1, 2]],
    "a null record": [None],
}


@pytest.mark.parametrize("records", REFUSED.values(), ids=REFUSED.keys())
def test_what_arrow_reads_differently_is_refused(records: list[Any]) -> None:
    lines = [message({"id": 1})] * MIN_LINES + [message(r) for r in records]
    assert read_json_rows(lines, field="record", expect=EXPECT) is None


RAW = {
    "NaN": b'{"type": "RECORD", "stream": "s", "record": {"n": NaN}}',
    "Infinity": b'{"type": "RECORD", "stream": "s", "record": {"n": -Infinity}}',
    "duplicate keys": b'{"type": "RECORD", "stream": "s", "record": {"n": 1, "n": 2}}',
    "another stream by a duplicate key": b'{"type": "RECORD", "stream": "s", "record": {"n": 1}, "stream": "t"}',
    "invalid UTF-8": b'{"type": "RECORD", "stream": "s", "record": {"n": "\xff"}}',
    "a lone surrogate": b'{"type": "RECORD", "stream": "s", "record": {"n": "\\ud800"}}',
    "not JSON": b'{"type": "RECORD", "stream": "s", "record": {"n": 1}',
    "deep nesting": b'{"type": "RECORD", "stream": "s", "record": {"n": ' + b"[" * 20_000 + b"]" * 20_000 + b"}}",
    "deep nesting, bytes short": b'{"type":"RECORD","stream":"s","record":{"n":' + b"[" * (ARROW_OPENS + 1) + b"}}",
    "no record": b'{"type": "RECORD", "stream": "s"}',
}


@pytest.mark.parametrize("line", RAW.values(), ids=RAW.keys())
def test_lines_arrow_would_misread_are_refused(line: bytes) -> None:
    lines = [message({"n": 1})] * MIN_LINES + [line]
    assert read_json_rows(lines, field="record", expect=EXPECT) is None


def test_few_lines_are_left_to_orjson() -> None:
    assert read_json_rows([message({"n": 1})] * (MIN_LINES - 1), field="record", expect=EXPECT) is None


# -- Singer: stretches of RECORD lines ------------------------------------------------------------
def test_split_keeps_order_and_stretches_of_one_stream() -> None:
    skipped: list[bytes] = []
    a = [b'{"type": "RECORD", "stream": "a", "record": {"i": %d}}' % i for i in range(MIN_LINES)]
    b = [b'{"type":"RECORD","stream":"b","record":{"i":%d}}' % i for i in range(3)]
    schema, state = b'{"type": "SCHEMA", "stream": "a", "schema": {}}', b'{"type": "STATE", "value": 1}'
    lines = [schema, *a, b"not json", *b, b"", state]
    out = split_messages(lines, skipped.append)
    assert [type(m).__name__ for m in out] == ["dict", "RecordLines", "dict", "dict", "dict", "dict"]
    assert out[1] == RecordLines("a", a, skipped.append)
    assert [m.get("record") for m in out[2:5]] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert skipped == [b"not json"]


@pytest.mark.parametrize("bad", list(RAW.values())[:7], ids=list(RAW)[:7])
def test_a_stretch_arrow_refuses_is_taken_message_by_message(bad: bytes) -> None:
    """The lines go the way they always went: orjson, message by message (a line that is not JSON is
    skipped and told; a duplicate key's last value wins, even a stream's)."""
    lines = [message({"n": i}) for i in range(MIN_LINES)] + [bad, message({"n": 99})]
    skipped: list[bytes] = []
    got = items(split_messages(lines, skipped.append))
    want_skipped: list[bytes] = []
    want = items([m for line in lines for m in _parsed(line, want_skipped)])
    assert got == want
    assert skipped == want_skipped


def test_stretches_read_by_arrow_become_one_item_per_stretch() -> None:
    lines = [message({"n": i}) for i in range(MIN_LINES * 2)]
    batch = split_messages(lines, lambda line: None)
    tables = StreamTables()
    found = list(Messages(tables, lambda s: None).items([batch]))
    assert len(found) == 1 and isinstance(found[0].data, JsonRows)
    assert found[0].data.rows() == [{"n": i} for i in range(MIN_LINES * 2)]


def items(batch: list[Any]) -> list[tuple[str, list[Any]]]:
    """The rows each table gets from one batch of messages, in order."""
    out = []
    for item in Messages(StreamTables(), lambda s: None).items([batch]):
        data = item.data
        out.append((item.table, data.rows() if isinstance(data, JsonRows) else list(data)))
    return out


def _parsed(line: bytes, skipped: list[bytes]) -> list[Any]:
    try:
        m = orjson.loads(line)
    except orjson.JSONDecodeError:
        skipped.append(line)
        return []
    return [m] if isinstance(m, dict) else []


def test_records_that_are_not_objects_are_counted_and_told(caplog: pytest.LogCaptureFixture) -> None:
    lines = [message({"n": 1}), message([1, 2]), message("text"), message({"n": 2})]
    messages = Messages(StreamTables(), lambda s: None)
    got = [item.data for item in messages.items([split_messages(lines, lambda line: None)])]
    assert got == [[{"n": 1}, {"n": 2}]]
    assert messages.not_objects == 2 and messages.records == 2
    assert "2 RECORD message(s) whose record is not a JSON object were skipped" in caplog.text
