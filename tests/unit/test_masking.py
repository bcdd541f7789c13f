"""Masks of personal data (column hint ``mask``): each kind on every item kind, nulls, unicode, short
values, keys, and the hints refused."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import headwater as hw
from headwater.errors import ConfigError
from headwater.normalize.masking import Masker
from headwater.normalize.normalizer import Normalizer
from headwater.schema.hints import build_hints
from headwater.schema.masks import Mask, mask_of, parse_mask, resolve_key
from headwater.schema.model import Schema
from headwater.schema.types import WIDENINGS
from tests.unit.normalize_helpers import column

KEY = b"test-key"
ROWS: list[dict[str, Any]] = [
    {"id": 1, "email": "alice@example.com", "customer": {"email": "bob@example.com"}},
    {"id": 2, "email": None, "customer": {"email": None}},
    {"id": 3, "email": "zoë@exämple.com", "customer": {"email": "ü"}},
]


def _hmac(value: str, key: bytes = KEY) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _as_kind(rows: list[dict[str, Any]], kind: str) -> Any:
    """The rows as dicts (one batch of nested documents), flat dicts (each key a column), an Arrow table
    (a struct column) or a pandas frame (a column of dicts)."""
    if kind == "nested":
        return rows
    if kind == "flat":  # flat rows convert column by column: the nested column arrives as a dict column
        return [{"id": r["id"], "email": r["email"], "customer": r["customer"]} for r in rows]
    if kind == "arrow":
        return pa.Table.from_pylist(rows)
    return pd.DataFrame(rows)


def _normalize(data: Any, columns: dict[str, Any], key: bytes | None = KEY, **hints: Any) -> dict[str, list[pa.Table]]:
    out: dict[str, list[pa.Table]] = {}
    n = Normalizer(
        Schema("s"), load_id="L1", sink=lambda t, a: out.setdefault(t, []).append(a), widening=WIDENINGS, mask_key=key
    )
    h = build_hints(resource="r", columns=columns, **hints)
    table = n.root_table("t", resource="r", hints=h)
    if isinstance(data, list):
        n.rows(table, data, h, "r")
    else:
        n.arrow(table, data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False), h, "r")
    return out


KINDS = ("nested", "flat", "arrow", "pandas")


@pytest.mark.parametrize("kind", KINDS)
def test_hash_is_keyed_hmac_of_the_text_and_nulls_stay_null(kind: str) -> None:
    out = _normalize(_as_kind(ROWS, kind), {"email": {"mask": "hash"}, "customer__email": {"mask": "hash"}})
    assert column(out["t"], "email") == [_hmac("alice@example.com"), None, _hmac("zoë@exämple.com")]
    assert column(out["t"], "customer__email") == [_hmac("bob@example.com"), None, _hmac("ü")]
    assert column(out["t"], "id") == [1, 2, 3]


@pytest.mark.parametrize("kind", KINDS)
def test_redact_and_partial(kind: str) -> None:
    out = _normalize(_as_kind(ROWS, kind), {"email": {"mask": {"partial": 4}}, "customer__email": {"mask": "redact"}})
    assert column(out["t"], "email") == ["*************.com", None, "***********.com"]
    assert column(out["t"], "customer__email") == ["***", None, "***"]


def test_partial_hides_values_no_longer_than_what_it_keeps() -> None:
    rows = [{"v": "abcd"}, {"v": "ab"}, {"v": ""}, {"v": "abcde"}, {"v": "日本語のテキスト"}]
    out = _normalize(rows, {"v": {"mask": {"partial": 4}}})
    assert column(out["t"], "v") == ["****", "**", "", "*bcde", "****テキスト"]
    assert column(_normalize(rows, {"v": {"mask": {"partial": 0}}})["t"], "v") == [
        "****",
        "**",
        "",
        "*****",
        "********",
    ]


def test_a_masked_number_becomes_text() -> None:
    out = _normalize([{"n": 42}, {"n": 2.5}, {"n": True}], {"n": {"mask": "hash"}})
    assert column(out["t"], "n") == [_hmac("42"), _hmac("2.5"), _hmac("true")]
    assert out["t"][0].schema.field("n").type == pa.string()


def test_same_key_same_hash_other_key_other_hash() -> None:
    a = column(_normalize([{"e": "x"}], {"e": {"mask": "hash"}})["t"], "e")
    b = column(_normalize([{"e": "x"}], {"e": {"mask": "hash"}})["t"], "e")
    c = column(_normalize([{"e": "x"}], {"e": {"mask": "hash"}}, key=b"other")["t"], "e")
    assert a == b != c


def test_child_tables_and_objects_under_a_masked_column() -> None:
    rows = [{"id": 1, "orders": [{"email": "a@x.io"}, {"email": "b@x.io"}], "tags": ["secret"], "who": {"a": "s"}}]
    out = _normalize(rows, {"orders__email": {"mask": "redact"}, "tags": {"mask": "redact"}, "who": {"mask": "hash"}})
    assert column(out["t__orders"], "email") == ["***", "***"]
    assert column(out["t__tags"], "value") == ["***"]
    assert column(out["t"], "who__a") == [_hmac("s")]


def test_quarantined_rows_are_masked() -> None:
    rows = [{"id": 1, "email": "alice@example.com"}, {"id": None, "email": "carol@example.com"}]
    out = _normalize(
        rows, {"email": {"mask": {"partial": 3}}}, primary_key="id", schema_contract={"columns": "quarantine"}
    )
    quarantined = column(out["_hw_quarantine"], "row")
    assert quarantined == ['{"id":null,"email":"**************com"}']


def test_scd2_row_hashes_use_masked_values() -> None:
    one = _normalize([{"id": 1, "e": "alice"}], {"e": {"mask": "redact"}}, primary_key="id", write_disposition="merge")
    assert "_hw_row_hash" not in one["t"][0].column_names
    a = _normalize(
        [{"id": 1, "e": "alice"}],
        {"e": {"mask": "redact"}},
        primary_key="id",
        merge_strategy="scd2",
        write_disposition="merge",
    )
    b = _normalize(
        [{"id": 1, "e": "bob"}],
        {"e": {"mask": "redact"}},
        primary_key="id",
        merge_strategy="scd2",
        write_disposition="merge",
    )
    assert column(a["t"], "_hw_row_hash") == column(b["t"], "_hw_row_hash")  # the same loaded row


def test_the_masker_on_python_rows_matches_arrow() -> None:
    masker = Masker({"email": Mask("hash"), "a__b": Mask("redact")}, KEY)
    row = {"email": "alice@example.com", "a": {"b": 1, "c": 2}, "other": "x"}
    assert masker.row(row) == {"email": _hmac("alice@example.com"), "a": {"b": "***", "c": 2}, "other": "x"}
    assert row["email"] == "alice@example.com"  # a copy


def test_hash_without_a_key_is_refused_naming_the_column() -> None:
    with pytest.raises(ConfigError, match="'email' is masked with hash"):
        _normalize([{"email": "a"}], {"email": {"mask": "hash"}}, key=None)
    _normalize([{"email": "a"}], {"email": {"mask": "redact"}}, key=None)  # no key needed


def test_pipeline_refuses_hash_without_a_key_before_extracting(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("HEADWATER_MASK_KEY", raising=False)
    pulled: list[int] = []

    def data() -> Any:
        pulled.append(1)
        yield {"email": "alice@example.com"}

    p = hw.pipeline("nokey", progress=False, pipelines_dir=tmp_path, destination=f"duckdb:///{tmp_path}/x.duckdb")
    with pytest.raises(ConfigError, match="'email' is masked with hash") as exc:
        p.run(data(), table_name="t", columns={"email": {"mask": "hash"}})
    assert "HEADWATER_MASK_KEY" in str(exc.value.hint)
    assert not pulled


@pytest.mark.parametrize("bad", [1, b"", "", ["k"]])
def test_a_key_of_the_wrong_type_is_refused(bad: Any, tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="mask_key must be"):
        hw.pipeline("badkey", progress=False, pipelines_dir=tmp_path, mask_key=bad)


def test_the_key_comes_from_the_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("HEADWATER_MASK_KEY", "from-env")
    assert resolve_key(None) == b"from-env"
    assert resolve_key("given") == b"given"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("scramble", "unknown mask"),
        ({"partial": -1}, "keeps a number"),
        ({"partial": "x"}, "keeps a number"),
        ({"partial": 2, "x": 1}, "unknown mask"),
        (3, "unknown mask"),
    ],
)
def test_bad_masks_are_refused(spec: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_hints(resource="r", columns={"email": {"mask": spec}})


def test_mask_forms() -> None:
    assert parse_mask("partial:4", column="c", resource="r") == Mask("partial", 4)
    assert parse_mask({"partial": "2"}, column="c", resource="r") == Mask("partial", 2)
    assert mask_of("customer__email", {"customer": Mask("hash")}) == Mask("hash")
    assert mask_of("customer_email", {"customer": Mask("hash")}) is None


def test_masks_that_cannot_be_right_are_refused() -> None:
    with pytest.raises(ConfigError, match="values are text"):
        build_hints(resource="r", columns={"n": {"mask": "hash", "data_type": "bigint"}})
    with pytest.raises(ConfigError, match="would make different keys equal"):
        build_hints(resource="r", primary_key="id", columns={"id": {"mask": "redact"}})
    with pytest.raises(ConfigError, match="incremental cursor"):
        build_hints(resource="r", columns={"updated_at": {"mask": "hash"}}, incremental=hw.incremental("updated_at"))
    hints = build_hints(resource="r", primary_key="email", columns={"email": {"mask": "hash"}})
    assert hints.masks() == {"email": Mask("hash")}  # a hashed key keeps its mask
    build_hints(resource="r", columns={"n": {"mask": "hash", "data_type": "text"}})


@pytest.mark.parametrize("key", [KEY, b"k" * 100])
def test_many_distinct_values_hash_as_python_hmac_does(key: bytes) -> None:
    values = [f"user{i}@example.com" for i in range(5000)] + [None, "zoë", "user1@example.com"]
    out = Masker({"e": Mask("hash")}, key).array(pa.array(values), Mask("hash")).to_pylist()
    assert out == [None if v is None else _hmac(v, key) for v in values]


@pytest.mark.parametrize("arrow_type", [pa.string(), pa.large_string(), pa.string_view()])
def test_every_arrow_text_type(arrow_type: pa.DataType) -> None:
    masker = Masker({}, KEY)
    values = pa.array(["abcdef", "ab", None, ""], arrow_type)
    assert masker.array(values, Mask("partial", 3)).to_pylist() == ["***def", "**", None, ""]
    assert masker.array(values, Mask("redact")).to_pylist() == ["***", "***", None, "***"]
    assert masker.array(values, Mask("hash")).to_pylist() == [_hmac("abcdef"), _hmac("ab"), None, _hmac("")]
    categories = values.cast(pa.string()).dictionary_encode()
    assert masker.array(categories, Mask("partial", 0)).to_pylist() == ["******", "**", None, ""]


def test_bytes_are_hashed_as_bytes_and_never_partly_kept() -> None:
    masker = Masker({}, KEY)
    values = pa.array([b"\xff\x00", None])
    assert masker.array(values, Mask("hash")).to_pylist() == [
        hmac.new(KEY, b"\xff\x00", hashlib.sha256).hexdigest(),
        None,
    ]
    assert masker.array(values, Mask("partial", 1)).to_pylist() == ["***", None]


@pytest.mark.parametrize("kind", KINDS)
def test_quarantined_rows_of_every_item_kind_are_masked(kind: str) -> None:
    rows = [dict(r, id=None if r["id"] == 3 else r["id"]) for r in ROWS]
    out = _normalize(
        _as_kind(rows, kind),
        {"email": {"mask": "redact"}, "customer": {"mask": {"partial": 0}}},
        primary_key="id",
        schema_contract={"columns": "quarantine"},
    )
    (row,) = column(out["_hw_quarantine"], "row")
    assert json.loads(row) == {"id": None, "email": "***", "customer": {"email": "*"}}


def test_flows_show_the_mask_key_masked() -> None:
    from headwater.flows.values import masked

    assert masked({"pipeline": {"mask_key": "abc", "batch_size": 3}}) == {
        "pipeline": {"mask_key": "***", "batch_size": 3}
    }
