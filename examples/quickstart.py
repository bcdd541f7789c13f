"""Quick start: load the bundled sample of GitHub-like events into DuckDB and show what landed.

    ./scripts/demo                     # sets up .venv, then runs this file
    .venv/bin/python examples/quickstart.py

The events are nested (actor, repo, payload) and hold lists (commits, labels): Headwater flattens the
objects into columns and turns the lists into child tables linked to their parent rows. The result
is ./quickstart.duckdb, dataset (schema) ``github``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

import headwater as hw

SAMPLE = Path(__file__).resolve().parent / "data" / "github_events.jsonl"


@hw.resource(table_name="events", write_disposition="replace", primary_key="id")
def events(path: Path = SAMPLE, page_size: int = 100) -> Iterator[list[dict[str, Any]]]:
    """The sample file, in pages of rows (as an API would return them)."""
    page: list[dict[str, Any]] = []
    with open(path, "rb") as fh:
        for line in fh:
            page.append(orjson.loads(line))
            if len(page) == page_size:
                yield page
                page = []
    if page:
        yield page


@hw.source
def github_sample() -> list[hw.Resource]:
    return [events]


def show(title: str, table: Any) -> None:
    """Print an Arrow table as text (rich is installed with Headwater)."""
    from rich.console import Console
    from rich.table import Table

    out = Table(title=title, title_justify="left")
    for name in table.column_names:
        out.add_column(name)
    for row in table.to_pylist():
        out.add_row(*("" if v is None else str(v) for v in row.values()))
    Console().print(out)


def main() -> None:
    pipeline = hw.pipeline("quickstart", destination="duckdb", dataset="github")
    info = pipeline.run(github_sample())
    print(info)
    print()
    show(
        "What landed (tables in quickstart.duckdb, schema 'github')",
        pipeline.query(
            "select table_name, estimated_size as rows, column_count as columns from duckdb_tables() "
            "where schema_name = 'github' and not starts_with(table_name, '_hw_') order by table_name"
        ),
    )
    show(
        "Commits per author (a child table joined back to its events)",
        pipeline.query(
            "select c.author__name as author, count(*) as commits, count(distinct e.id) as pushes "
            "from events e join events__payload__commits c on c._hw_parent_id = e._hw_id "
            "group by 1 order by 2 desc, 1 limit 5"
        ),
    )
    show(
        "Column types inferred from JSON (a few of them)",
        pipeline.query(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'github' and table_name = 'events' and column_name in "
            "('id', 'created_at', 'payload__push_id', 'org_name', 'score', 'score__v_text', 'public') "
            "order by column_name"
        ),
    )


if __name__ == "__main__":
    main()
