"""A resource that is not selected never moves its cursor past rows it did not load: it does not run
at all, unless it feeds a selected transformer (then it runs for it, and its rows are not loaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import headwater as hw


def source(ran: list[str]) -> Any:
    @hw.source(name="shop")
    def shop() -> Any:
        @hw.resource(primary_key="id")
        def orders(cursor: Any = hw.incremental("id")) -> Any:
            ran.append("orders")
            yield [{"id": i} for i in range(5)]

        @hw.resource
        def stores() -> Any:
            ran.append("stores")
            yield [{"id": 1}]

        @hw.transformer(data_from=orders)
        def lines(page: Any) -> Any:
            yield [{"order_id": order["id"], "n": 1} for order in page]

        return orders, stores, lines

    return shop


@pytest.mark.parametrize("selected", [["stores"], ["stores", "lines"], ["lines"]])
def test_an_unselected_cursor_never_skips_rows_it_did_not_load(selected: list[str], tmp_path: Path) -> None:
    ran: list[str] = []
    shop = source(ran)
    p = hw.pipeline("selection", destination=f"duckdb:///{tmp_path}/s.duckdb", pipelines_dir=tmp_path, progress=False)
    first = p.run(shop().with_resources(*selected)).table_rows()
    assert "orders" not in first  # its rows were not loaded ...
    assert ("orders" in ran) == ("lines" in selected)  # ... and it ran only to feed lines
    ran.clear()
    second = p.run(shop()).table_rows()  # everything selected now
    if "lines" in selected:  # orders fed lines: its cursor moved with what it fed
        assert second.get("orders", 0) == 0
    else:  # orders never ran: all five rows load now, none skipped
        assert second["orders"] == 5
    stores = 2 if "stores" in selected else 1
    assert p.query("SELECT count(*) AS n FROM stores").to_pylist() == [{"n": stores}]
