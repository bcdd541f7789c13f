from __future__ import annotations

import datetime as dt
import uuid

import pyarrow as pa

from headwater.normalize.ids import constant, row_ids
from headwater.normalize.temporal import infer_temporal, parse_timestamps


def test_row_ids_are_unique_version_8_uuids() -> None:
    a = row_ids(100_000).to_pylist()
    b = row_ids(100_000).to_pylist()
    assert len(set(a) | set(b)) == 200_000
    assert all(isinstance(x, uuid.UUID) and x.version == 8 and x.variant == uuid.RFC_4122 for x in a[:1000])
    assert a[1].int - a[0].int == 1  # the batch prefix, then the position
    assert a[0].bytes[:8] == a[-1].bytes[:8] != b[0].bytes[:8]
    assert row_ids(0).to_pylist() == []


def test_constant_column() -> None:
    c = constant("load-1", 3)
    assert c.cast(pa.string()).to_pylist() == ["load-1"] * 3


def test_infer_temporal() -> None:
    assert infer_temporal(pa.array(["2024-01-01", None, "2024-02-29"]))[0].name == "date"
    kind, arr = infer_temporal(pa.array(["2024-01-01T00:00:00+01:00"]))
    assert kind.name == "timestamp"
    assert arr.to_pylist() == [dt.datetime(2023, 12, 31, 23, tzinfo=dt.UTC)]
    assert infer_temporal(pa.array(["hello"])) is None
    assert infer_temporal(pa.array(["2024-01-01", "2024-01-01T00:00:00Z"])) is None
    assert infer_temporal(pa.array([None, None], type=pa.string())) is None
    # the first value decides quickly, with or without nulls before it
    assert infer_temporal(pa.array([None, "2024-01-01"]))[0].name == "date"
    assert infer_temporal(pa.array([], type=pa.string())) is None
    assert infer_temporal(pa.array(["hello", "2024-01-01"])) is None
    assert infer_temporal(pa.array(["2024-01-01", "hello"])) is None


def test_parse_timestamps_reports_what_failed() -> None:
    parsed, failed = parse_timestamps(pa.array(["2024-01-01T00:00:00Z", "garbage", None]))
    assert parsed.to_pylist() == [dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None, None]
    assert failed.to_pylist() == [False, True, False]
