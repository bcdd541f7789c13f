"""Run Hippo-style pipelines from config.py with Headwater, as Hippo's README runs them."""

from __future__ import annotations

import config
import duckdb

import headwater as hw

for name in config.PIPELINES:
    info = hw.flow(config.PIPELINES[name], name=name).run()
    print(info)

print("big orders:", duckdb.sql("select order_id, total from 'big_orders.parquet' order by order_id").fetchall())
with duckdb.connect("hippo.duckdb", read_only=True) as con:
    print(
        "by country:",
        con.sql("select country, orders, revenue from shop.orders_by_country order by country").fetchall(),
    )
