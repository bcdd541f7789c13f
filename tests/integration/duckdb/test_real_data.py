"""Real payloads from ../shared/data through Headwater into DuckDB.

Every expected number is computed here, with plain Python over the loaded JSON, never taken from
Headwater: row counts of root and child tables are counted list elements, values are compared with
the source documents, and a round trip rebuilds every document from the tables (using the column and
table paths stored in the schema) and compares it with the original. Each test skips cleanly when
../shared/data is absent (a fresh clone).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from typing import Any

import duckdb
import pytest

import headwater as hw
from tests.conftest import rows, scalar, shared_data

ETHEREUM = "ethereum.blocks.9c1d9b504ea240a482b007788d5cd61c_2.json"
TSTZ = "TIMESTAMP WITH TIME ZONE"
_SNAKE_KEY = re.compile(r"^[a-z0-9_]+$")
_IDENTIFIER = re.compile(r"^[^\W\d]\w*$")
_ISO_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


# -- oracles: plain Python over the source JSON ---------------------------------------------------
def load_json(*parts: str) -> Any:
    return json.loads(shared_data(*parts).read_text(encoding="utf-8"))


def stripe_objects() -> list[dict[str, Any]]:
    return list(load_json("stripe", "fixtures3.json")["resources"].values())


def list_rows(docs: list[Any], root: str) -> dict[str, int]:
    """Expected rows per table: the root's documents, then one row per list element at each key path.

    Only for data whose keys on list paths are already snake_case, so that the table name is the
    keys joined with ``__`` (checked, so the oracle never guesses a name).
    """
    counts: Counter[str] = Counter({root: len(docs)})

    def walk(value: Any, keys: tuple[str, ...]) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(sub, (*keys, key))
        elif isinstance(value, list):
            assert all(_SNAKE_KEY.match(k) for k in keys), f"oracle needs snake_case keys: {keys}"
            if value:
                counts["__".join((root, *keys))] += len(value)
            for element in value:
                assert not isinstance(element, list), "lists of lists are not used by this oracle"
                walk(element, keys)

    for doc in docs:
        walk(doc, ())
    return dict(counts)


def leaf_values(value: Any) -> int:
    """Non-null scalars in a document: each must land in exactly one cell."""
    if isinstance(value, dict):
        return sum(leaf_values(v) for v in value.values())
    if isinstance(value, list):
        return sum(leaf_values(v) for v in value)
    return 0 if value is None else 1


def iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def canonical(value: Any) -> Any:
    """A comparable form, applied alike to source documents and to documents rebuilt from DuckDB.

    Nulls, empty objects and empty lists are dropped from objects (Headwater stores nothing for them),
    list elements are kept in order; ISO-8601 text and timestamps compare as UTC instants; decimals and
    doubles that hold an exact integer compare as that integer (doubles only below 2**53, so a big
    integer that went through a double does not compare equal).
    """
    if isinstance(value, dict):
        out = {}
        for key, sub in value.items():
            c = canonical(sub)
            if c is not None and c != {} and c != []:
                out[key] = c
        return out
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and _ISO_PREFIX.match(value):
        try:
            stamp = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC).isoformat()
    return value


# -- reading the destination ----------------------------------------------------------------------
def connect(tmp_path: Path, name: str) -> duckdb.DuckDBPyConnection:
    """The DuckDB file make_pipeline(name) writes, read-only (one connection for many tables)."""
    return duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True)


def column_types(p: Any, table: str) -> dict[str, str]:
    sql = (
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = '{p.dataset_name}' and table_name = '{table}'"
    )
    return dict(rows(p, sql))


def data_cells(con: duckdb.DuckDBPyConnection, schema: Any) -> int:
    """Non-null values in every data (non-system) column of every table of the schema."""
    total = 0
    for name, table in schema.tables.items():
        cols = [c.name for c in table.data_columns()]
        if cols:
            counts = " + ".join(f'count("{c}")' for c in cols)
            total += con.execute(f'select {counts} from raw."{name}"').fetchall()[0][0]
    return total


def _put(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj.setdefault(key, {})
        assert isinstance(obj, dict), f"path {path} crosses a value"
    assert path[-1] not in obj, f"two columns or tables claim the path {path}"
    obj[path[-1]] = value


def rebuild(con: duckdb.DuckDBPyConnection, schema: Any, roots: set[str]) -> list[dict[str, Any]]:
    """The documents of the root tables, rebuilt from every table with the schema's paths.

    A column's ``path`` (or, for a variant column, its main column's path) says where its value goes;
    a child table's ``path`` says where its rows go in the parent row, ordered by ``_hw_list_idx``.
    """
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    elements: dict[str, list[tuple[str, int, Any]]] = defaultdict(list)
    for name, table in schema.tables.items():
        paths = {
            c.name: c.path if c.path is not None else table.columns[c.variant_of].path for c in table.data_columns()
        }
        scalars = table.parent is not None and bool(paths) and set(paths.values()) == {("value",)}
        # Through Arrow: DuckDB's own fetchall() needs pytz for timestamptz, which is not a dependency.
        relation = con.sql(f'select * from raw."{name}"')
        arrow = relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()  # DuckDB 2 / 1
        for row in arrow.to_pylist():
            obj: dict[str, Any] = {}
            for col, path in paths.items():
                if row[col] is not None:
                    _put(obj, path, row[col])
            objects[(name, row["_hw_id"])] = obj
            if table.parent is not None:
                element = obj.get("value") if scalars else obj
                elements[name].append((row["_hw_parent_id"], row["_hw_list_idx"], element))
    for name, items in elements.items():
        table = schema.tables[name]
        by_parent: dict[str, list[tuple[int, Any]]] = defaultdict(list)
        for parent_id, idx, element in items:
            by_parent[parent_id].append((idx, element))
        for parent_id, group in by_parent.items():
            group.sort(key=itemgetter(0))
            assert [i for i, _ in group] == list(range(len(group))), f"{name}: list positions have gaps"
            assert (table.parent, parent_id) in objects, f"{name}: a row points at a missing parent"
            _put(objects[(table.parent, parent_id)], table.path, [e for _, e in group])
    return [obj for (name, _), obj in objects.items() if name in roots]


def assert_round_trip(con: duckdb.DuckDBPyConnection, schema: Any, roots: set[str], docs: list[Any]) -> None:
    def dumps(doc: Any) -> str:
        return json.dumps(canonical(doc), sort_keys=True, ensure_ascii=False)

    expected = sorted(dumps(d) for d in docs)
    got = sorted(dumps(d) for d in rebuild(con, schema, roots))
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    assert not missing and not extra, f"first missing: {missing[:1]}\nfirst unexpected: {extra[:1]}"
    assert got == expected


def assert_identifiers(schema: Any) -> None:
    """Every table and column name is a valid lower-case identifier; distinct paths, distinct columns."""
    for name, table in schema.tables.items():
        assert _IDENTIFIER.match(name) and name == name.lower(), name
        for col in table.columns.values():
            assert _IDENTIFIER.match(col.name) and col.name == col.name.lower(), (name, col.name)
        paths = [c.path for c in table.columns.values() if c.path is not None]
        assert len(paths) == len(set(paths)), name


# -- GitHub ---------------------------------------------------------------------------------------
def test_github_events_row_counts_match_the_lists_in_the_payloads(make_pipeline: Callable[..., Any]) -> None:
    events = load_json("dlt", "github.events.load_page_1_duck.json")
    expected = list_rows(events, "events")
    assert expected["events"] == 100
    commits = sum(len(e["payload"].get("commits", [])) for e in events)
    assert expected["events__payload__commits"] == commits == 77
    p = make_pipeline("gh_events")
    info = p.run(events, table_name="events")
    assert info.table_rows() == expected
    for table, n in expected.items():
        assert scalar(p, f"select count(*) from raw.{table}") == n
    schema = p.schema()
    for table in expected:
        parent = schema.tables[table].parent
        if parent is not None:  # every child row points at an existing parent row
            orphans = scalar(
                p,
                f"select count(*) from raw.{table} c anti join raw.{parent} p on c._hw_parent_id = p._hw_id",
            )
            assert orphans == 0, table


def test_github_events_values_land_in_flattened_columns_with_their_types(
    make_pipeline: Callable[..., Any],
) -> None:
    events = load_json("dlt", "github.events.load_page_1_duck.json")
    p = make_pipeline("gh_values")
    p.run(events, table_name="events")

    types = column_types(p, "events")
    assert types["id"] == "VARCHAR"  # digits in a JSON string stay text
    assert types["created_at"] == TSTZ
    assert types["payload__pull_request__merged_at"] == TSTZ
    assert types["payload__issue__created_at"] == TSTZ
    assert types["public"] == "BOOLEAN"
    assert types["actor__id"] == "BIGINT"
    assert types["payload__push_id"] == "BIGINT"
    assert not [c for c in types if "__v_" in c]  # no type conflicts in this page

    got = rows(p, "select id, type, actor__login, repo__name, org__login, public, created_at from raw.events")
    want = {
        e["id"]: (e["type"], e["actor"]["login"], e["repo"]["name"], (e.get("org") or {}).get("login"), e["public"])
        for e in events
    }
    assert {r[0]: r[1:6] for r in got} == want
    assert {r[0]: r[6] for r in got} == {e["id"]: iso(e["created_at"]) for e in events}
    assert len(got) == len(events)

    # a PushEvent: its 16 commits, in order, with their nested author
    push = next(e for e in events if e["id"] == "28278354809")
    commits = rows(
        p,
        "select c.sha, c.message, c.author__email, c.author__name, c.distinct from raw.events e "
        "join raw.events__payload__commits c on c._hw_parent_id = e._hw_id "
        "where e.id = '28278354809' order by c._hw_list_idx",
    )
    assert len(commits) == push["payload"]["size"] == 16
    assert commits == [
        (c["sha"], c["message"], c["author"]["email"], c["author"]["name"], c["distinct"])
        for c in push["payload"]["commits"]
    ]
    assert scalar(p, "select payload__push_id from raw.events where id = '28278354809'") == 13227402192

    # a PullRequestEvent, five levels down, and a list of scalars at the sixth
    pr = next(e for e in events if e["id"] == "28278354731")["payload"]["pull_request"]
    got_pr = rows(
        p,
        "select payload__number, payload__pull_request__base__repo__full_name, payload__pull_request__merged_at, "
        "payload__pull_request__user__login from raw.events where id = '28278354731'",
    )
    assert got_pr == [(6995, "duckdb/duckdb", dt.datetime(2023, 4, 7, 20, 51, 59, tzinfo=dt.UTC), pr["user"]["login"])]
    topics = rows(
        p,
        "select t.value from raw.events e join raw.events__payload__pull_request__base__repo__topics t "
        "on t._hw_parent_id = e._hw_id where e.id = '28278354731' order by t._hw_list_idx",
    )
    assert [t[0] for t in topics] == pr["base"]["repo"]["topics"]
    assert pr["base"]["repo"]["topics"] == ["analytics", "database", "embedded-database", "olap", "sql"]


def test_github_issues_plus_one_and_minus_one_reactions_get_distinct_columns(
    make_pipeline: Callable[..., Any],
) -> None:
    issues = load_json("dlt", "github.issues.load_page_5_duck.json")
    p = make_pipeline("gh_issues")
    info = p.run(issues, table_name="issues")
    assert info.table_rows() == list_rows(issues, "issues")

    table = p.schema().tables["issues"]
    plus = table.column_for_path(("reactions", "+1"))
    minus = table.column_for_path(("reactions", "-1"))
    assert plus is not None and minus is not None
    assert plus.name != minus.name  # "+1" and "-1" both snake_case to "_1": they must not share a column
    assert_identifiers(p.schema())
    got = rows(p, f'select id, "{plus.name}", "{minus.name}", created_at, closed_at from raw.issues')
    want = [
        (
            i["id"],
            i["reactions"]["+1"],
            i["reactions"]["-1"],
            iso(i["created_at"]),
            iso(i["closed_at"]) if i["closed_at"] else None,
        )
        for i in issues
    ]
    assert sorted(got) == sorted(want)
    assert scalar(p, f'select "{plus.name}" from raw.issues where number = 2922') == 15
    assert column_types(p, "issues")["closed_at"] == TSTZ


# -- odd keys and odd values ----------------------------------------------------------------------
def test_rasa_event_keys_with_spaces_become_distinct_columns_and_values_survive(
    make_pipeline: Callable[..., Any],
) -> None:
    event = load_json("dlt", "rasa_event_bot_metadata.json")
    meta = event["metadata"]
    p = make_pipeline("rasa")
    info = p.run([event], table_name="event")
    expected = list_rows([event], "event")
    assert expected["event__metadata__transaction_history__spend__target"] == 270
    assert info.table_rows() == expected

    balances = meta["credit_card_balance"]  # keys such as "iron bank" -> "minimum balance"
    assert len(balances) == 4
    columns = {
        f"metadata__credit_card_balance__{bank.replace(' ', '_')}__{field.replace(' ', '_')}": value
        for bank, fields in balances.items()
        for field, value in fields.items()
    }
    assert len(columns) == 8
    types = column_types(p, "event")
    assert set(columns) <= set(types)
    got = rows(p, "select " + ", ".join(f'"{c}"' for c in columns) + " from raw.event")
    assert got == [tuple(columns.values())]
    for name in columns:
        assert types[name] == ("BIGINT" if name.endswith("minimum_balance") else "DOUBLE")
    assert_identifiers(p.schema())

    assert rows(p, "select timestamp, metadata__account_balance, metadata__rasa_x_flagged, text from raw.event") == [
        (event["timestamp"], "19928.88", meta["rasa_x_flagged"], event["text"])
    ]
    assert types["timestamp"] == "DOUBLE"
    assert types["metadata__account_balance"] == "VARCHAR"  # a number in a string stays text

    for kind, merchants in meta["transaction_history"].items():
        for merchant, history in merchants.items():
            table = f"event__metadata__transaction_history__{kind}__{merchant}"
            assert column_types(p, table)["date"] == TSTZ
            got_history = rows(p, f"select amount, date from raw.{table} order by _hw_list_idx")
            assert got_history == [(h["amount"], iso(h["date"])) for h in history]
    recipients = rows(p, "select value from raw.event__metadata__known_recipients order by _hw_list_idx")
    assert [r[0] for r in recipients] == meta["known_recipients"]


def test_weird_rows_strings_survive_byte_for_byte(make_pipeline: Callable[..., Any]) -> None:
    weird = load_json("dlt", "weird_rows.json")
    assert any("\r\u0006" in r["str"] for r in weird)
    p = make_pipeline("weird")
    assert p.run(weird, table_name="weird").table_rows() == {"weird": len(weird)}
    assert rows(p, "select idx, str from raw.weird order by idx") == [(r["idx"], r["str"]) for r in weird]
    lengths = rows(p, "select idx, length(str) from raw.weird order by idx")
    assert lengths == [(r["idx"], len(r["str"])) for r in weird]


def test_pua_encoded_row_keys_and_private_use_characters(make_pipeline: Callable[..., Any]) -> None:
    [row] = load_json("dlt", "pua_encoded_row.json")
    assert row["wad"].startswith("\uf02c") and row["_tx_transactionHash"].startswith("\uf02a")
    p = make_pipeline("pua")
    assert p.run([row], table_name="pua").table_rows() == {"pua": 1}
    names = {  # the naming convention: camelCase split, leading underscore kept, nested path joined by __
        "guy": row["guy"],
        "wad": row["wad"],
        "_dlt_meta__table_name": row["_dlt_meta"]["table_name"],
        "_tx_block_number": row["_tx_blockNumber"],
        "_tx_block_timestamp": row["_tx_blockTimestamp"],
        "_tx_transaction_hash": row["_tx_transactionHash"],
        "_tx_transaction_index": row["_tx_transactionIndex"],
        "_tx_address": row["_tx_address"],
        "_tx_status": row["_tx_status"],
    }
    types = column_types(p, "pua")
    assert {c for c in types if not c.startswith("_hw_")} == set(names)
    got = rows(p, "select " + ", ".join(f'"{c}"' for c in names) + " from raw.pua")
    assert got == [tuple(names.values())]
    assert types["wad"] == "VARCHAR" and types["_tx_block_number"] == "BIGINT"
    assert scalar(p, "select length(wad) from raw.pua") == len(row["wad"]) == 79
    assert_identifiers(p.schema())


# -- deep documents -------------------------------------------------------------------------------
def test_cve_record_of_depth_11_loads_completely(make_pipeline: Callable[..., Any], tmp_path: Path) -> None:
    cve = load_json("dlt", "cve.json")
    p = make_pipeline("cve")
    info = p.run([cve], table_name="cve")
    expected = list_rows([cve], "cve")
    assert expected["cve__references__reference_data"] == 56
    assert expected["cve__affects__vendor__vendor_data__product__product_data__version__version_data"] == 6
    assert info.table_rows() == expected

    assert rows(p, "select cve_data_meta__id, cve_data_meta__assigner, generator__engine from raw.cve") == [
        ("CVE-2021-44228", cve["CVE_data_meta"]["ASSIGNER"], cve["generator"]["engine"])
    ]
    # the deepest values, joined back up through three levels of child tables, in list order
    deepest = rows(
        p,
        "select vd.vendor_name, pd.product_name, v.version_affected, v.version_name, v.version_value "
        "from raw.cve c "
        "join raw.cve__affects__vendor__vendor_data vd on vd._hw_parent_id = c._hw_id "
        "join raw.cve__affects__vendor__vendor_data__product__product_data pd on pd._hw_parent_id = vd._hw_id "
        "join raw.cve__affects__vendor__vendor_data__product__product_data__version__version_data v "
        "on v._hw_parent_id = pd._hw_id "
        "order by vd._hw_list_idx, pd._hw_list_idx, v._hw_list_idx",
    )
    assert deepest == [
        (vd["vendor_name"], pd["product_name"], v["version_affected"], v["version_name"], v.get("version_value"))
        for vd in cve["affects"]["vendor"]["vendor_data"]
        for pd in vd["product"]["product_data"]
        for v in pd["version"]["version_data"]
    ]
    urls = rows(p, "select url from raw.cve__references__reference_data order by _hw_list_idx")
    assert [u[0] for u in urls] == [r["url"] for r in cve["references"]["reference_data"]]
    with connect(tmp_path, "cve") as con:
        assert data_cells(con, p.schema()) == leaf_values(cve) == 207


# -- Ethereum -------------------------------------------------------------------------------------
def _ethereum_expected(blocks: list[dict[str, Any]]) -> dict[str, int]:
    txs = [t for b in blocks for t in b["transactions"]]
    logs = [log for t in txs for log in t["logs"]]
    access = [a for t in txs for a in t.get("accessList") or []]
    return {
        "blocks": len(blocks),
        "blocks__transactions": len(txs),
        "blocks__transactions__access_list": len(access),
        "blocks__transactions__access_list__storage_keys": sum(len(a["storageKeys"]) for a in access),
        "blocks__transactions__logs": len(logs),
        "blocks__transactions__logs__topics": sum(len(log["topics"]) for log in logs),
        "blocks__uncles": sum(len(b["uncles"]) for b in blocks),
    }


def test_ethereum_blocks_transactions_and_access_lists(make_pipeline: Callable[..., Any]) -> None:
    blocks = load_json("dlt", ETHEREUM)
    expected = _ethereum_expected(blocks)
    assert expected["blocks__transactions"] == 655
    p = make_pipeline("eth")
    info = p.run(blocks, table_name="blocks")
    assert info.table_rows() == expected

    # every transaction's access list, rebuilt from two levels of child tables, in order
    flat = rows(
        p,
        "select t.hash, a._hw_list_idx as a_idx, a.address, k._hw_list_idx as k_idx, k.value "
        "from raw.blocks__transactions t "
        "join raw.blocks__transactions__access_list a on a._hw_parent_id = t._hw_id "
        "left join raw.blocks__transactions__access_list__storage_keys k on k._hw_parent_id = a._hw_id "
        "order by t.hash, a._hw_list_idx, k._hw_list_idx",
    )
    got: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for tx_hash, a_idx, address, _k_idx, key in flat:
        entries = got[tx_hash]
        if len(entries) == a_idx:
            entries.append({"address": address, "storageKeys": []})
        if key is not None:
            entries[a_idx]["storageKeys"].append(key)
    want = {t["hash"]: t["accessList"] for b in blocks for t in b["transactions"] if t.get("accessList")}
    assert dict(got) == want
    assert len(want) == 3

    # log topics of every log, in order, attached to the right transaction
    topics = rows(
        p,
        "select t.hash, l.log_index, list(k.value order by k._hw_list_idx) from raw.blocks__transactions t "
        "join raw.blocks__transactions__logs l on l._hw_parent_id = t._hw_id "
        "join raw.blocks__transactions__logs__topics k on k._hw_parent_id = l._hw_id group by all",
    )
    assert sorted(topics) == sorted(
        (t["hash"], log["logIndex"], log["topics"])
        for b in blocks
        for t in b["transactions"]
        for log in t["logs"]
        if log["topics"]
    )
    uncles = rows(
        p, "select b.number, u.value from raw.blocks b join raw.blocks__uncles u on u._hw_parent_id = b._hw_id"
    )
    assert uncles == [(b["number"], u) for b in blocks for u in b["uncles"]]


def test_ethereum_big_integers_are_exact(make_pipeline: Callable[..., Any]) -> None:
    blocks = load_json("dlt", ETHEREUM)
    txs = [t for b in blocks for t in b["transactions"]]
    beyond_int64 = [t for t in txs if t["value"] >= 2**63]
    assert len(beyond_int64) == 16
    p = make_pipeline("eth_ints")
    p.run(blocks, table_name="blocks")

    block_types = column_types(p, "blocks")
    assert block_types["total_difficulty"].startswith("DECIMAL")  # 5.07e22 does not fit a bigint
    assert block_types["difficulty"] == "BIGINT"
    got_blocks = rows(p, "select number, total_difficulty::varchar, difficulty, base_fee_per_gas from raw.blocks")
    assert sorted(got_blocks) == sorted(
        (b["number"], str(b["totalDifficulty"]), b["difficulty"], b["baseFeePerGas"]) for b in blocks
    )
    assert scalar(p, "select total_difficulty::varchar from raw.blocks where number = 14896695") == (
        "50719297655545113494805"
    )

    tx_types = column_types(p, "blocks__transactions")
    assert tx_types["value"].startswith("DECIMAL") and tx_types["gas_price"] == "BIGINT"
    got_txs = rows(
        p,
        "select hash, value::varchar, gas_price, max_fee_per_gas, nonce, transaction_index "
        "from raw.blocks__transactions",
    )
    assert len({t["hash"] for t in txs}) == len(txs)
    assert sorted(got_txs) == sorted(
        (
            t["hash"],
            str(t["value"]),
            t["gasPrice"],
            t.get("maxFeePerGas"),
            t["nonce"],
            t["transactionIndex"],
        )
        for t in txs
    )
    biggest = max(beyond_int64, key=itemgetter("value"))
    assert biggest["value"] == 1871786301820000000000
    assert scalar(p, f"select value from raw.blocks__transactions where hash = '{biggest['hash']}'") == decimal.Decimal(
        biggest["value"]
    )
    assert scalar(p, "select count(*) from raw.blocks__transactions where value >= 9223372036854775808") == 16


# -- Stripe ---------------------------------------------------------------------------------------
def _stripe_expected(objects: list[dict[str, Any]]) -> Counter[str]:
    # object names are lower-case words joined by "_" and "." (checked): "." becomes "_"
    assert all(re.fullmatch(r"[a-z_.]+", o["object"]) for o in objects)
    return Counter(o.get("object", "unknown").replace(".", "_") for o in objects)


def test_stripe_fixtures_with_a_dynamic_table_name_on_plain_data(make_pipeline: Callable[..., Any]) -> None:
    objects = stripe_objects()
    expected = _stripe_expected(objects)
    p = make_pipeline("stripe_plain")
    info = p.run(objects, table_name=lambda o: o.get("object", "unknown"))
    roots = {t: n for t, n in info.table_rows().items() if p.schema().tables[t].parent is None}
    assert len(roots) == len(expected) == 148
    assert sum(roots.values()) == len(objects) == 176
    assert roots == dict(expected)


def test_stripe_fixtures_with_a_dynamic_table_name_load_completely(
    make_pipeline: Callable[..., Any], tmp_path: Path
) -> None:
    objects = stripe_objects()
    expected = _stripe_expected(objects)
    p = make_pipeline("stripe")
    resource = hw.resource(objects, name="stripe_fixtures", table_name=lambda o: o.get("object", "unknown"))
    info = p.run(resource)
    schema = p.schema()
    roots = {t: n for t, n in info.table_rows().items() if schema.tables[t].parent is None}
    assert len(roots) == len(expected) == 148
    assert sum(roots.values()) == len(objects) == 176
    assert roots == dict(expected)
    assert {t for t, table in schema.tables.items() if table.parent is None} == set(expected)

    # the deepest list (10 keys down from the invoice) and a few nested values
    invoice = next(o for o in objects if o["object"] == "invoice" and o.get("lines"))
    deep = "invoice__lines__data__parent__invoice_item_details__proration_details__credited_items__invoice_line_items"
    credited = invoice["lines"]["data"][0]["parent"]["invoice_item_details"]["proration_details"]["credited_items"]
    assert [r[0] for r in rows(p, f"select value from raw.{deep} order by _hw_list_idx")] == (
        credited["invoice_line_items"]
    )
    assert info.table_rows()[deep] == len(credited["invoice_line_items"])
    line = invoice["lines"]["data"][0]
    got_line = rows(
        p,
        "select l.id, l.amount, l.parent__invoice_item_details__proration_details__credited_items__invoice "
        "from raw.invoice i join raw.invoice__lines__data l on l._hw_parent_id = i._hw_id "
        f"where i.id = '{invoice['id']}'",
    )
    assert got_line == [(line["id"], line["amount"], credited["invoice"])]
    assert_identifiers(schema)

    with connect(tmp_path, "stripe") as con:
        for table, n in roots.items():  # what DuckDB holds, not only what the load reported
            assert con.execute(f"select count(*) from raw.{table}").fetchall()[0][0] == n, table
        assert data_cells(con, schema) == sum(leaf_values(o) for o in objects)
        assert_round_trip(con, schema, set(expected), objects)


# -- every document, rebuilt from the tables ------------------------------------------------------
def _dlt_docs(file: str) -> Callable[[], list[Any]]:
    def docs() -> list[Any]:
        data = load_json("dlt", file)
        return data if isinstance(data, list) else [data]

    return docs


ROUND_TRIPS = [
    pytest.param("events", _dlt_docs("github.events.load_page_1_duck.json"), None, id="github-events"),
    pytest.param("events", _dlt_docs("github.events.load_page_1_duck.json"), 1, id="github-events-batch-1"),
    pytest.param("issues", _dlt_docs("github.issues.load_page_5_duck.json"), None, id="github-issues"),
    pytest.param("issue_events", _dlt_docs("github_events.json"), 7, id="github-issue-events-batch-7"),
    pytest.param("blocks", _dlt_docs(ETHEREUM), None, id="ethereum"),
    pytest.param("blocks", _dlt_docs(ETHEREUM), 1, id="ethereum-batch-1"),
    pytest.param("cve", _dlt_docs("cve.json"), None, id="cve"),
    pytest.param("event", _dlt_docs("rasa_event_bot_metadata.json"), None, id="rasa"),
    pytest.param("weird", _dlt_docs("weird_rows.json"), None, id="weird-rows"),
    pytest.param("pua", _dlt_docs("pua_encoded_row.json"), None, id="pua-row"),
]


@pytest.mark.parametrize(("table", "docs", "batch_size"), ROUND_TRIPS)
def test_documents_rebuilt_from_the_tables_equal_the_originals(
    make_pipeline: Callable[..., Any],
    tmp_path: Path,
    table: str,
    docs: Callable[[], list[Any]],
    batch_size: int | None,
) -> None:
    """Nothing lost, nothing moved: each value is back at its path, each list element at its position.

    Small batches make the schema evolve from batch to batch: GitHub payload shapes differ by event
    type, and each Ethereum block's columns are typed on their own before they meet in one table.
    """
    source = docs()
    p = make_pipeline("trip", **({"batch_size": batch_size} if batch_size else {}))
    p.run(source, table_name=table)
    schema = p.schema()
    assert_identifiers(schema)
    with connect(tmp_path, "trip") as con:
        assert data_cells(con, schema) == sum(leaf_values(d) for d in source)
        assert_round_trip(con, schema, {table}, source)
