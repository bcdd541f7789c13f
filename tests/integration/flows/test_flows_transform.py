"""transform on a flow from a declared source: applied to the source's resources, checked before any run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

import headwater as hw
from headwater.flows import FlowsError


@hw.resource(name="people")
def people() -> Any:
    yield [
        {"id": 1, "Name": "ada", "Pets": [{"kind": "cat"}, {"kind": "dog"}]},
        {"id": 2, "Name": "bob", "Pets": []},
        {"id": 3, "Name": "cy", "Pets": [{"kind": "cat"}]},
    ]


def shout(records: Any, *, suffix: str) -> Any:
    return records.select(f"id, upper(name) || '{suffix}' as name")


def _flows(tmp_path: Path, transform: Any) -> Any:
    return hw.flows.load(
        {
            "sources": {"app": {"type": people}},
            "destinations": {"local": {"type": "duckdb", "config": {"path": str(tmp_path / "out.duckdb")}}},
            "flows": [{"name": "people", "from": "app", "to": "local", "dataset": "d", "transform": transform}],
        }
    )


def _rows(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(tmp_path / "out.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_query_with_params_over_records_and_a_child_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PET_KIND", "cat")
    query = """
        select r.id, r.name, count(p.kind) as pets
        from records r left join records__pets p on p._hw_parent_id = r._hw_id and p.kind = $kind
        group by all
    """
    infos = _flows(tmp_path, {"query": query, "params": {"kind": "${env:PET_KIND}"}}).run(pipelines_dir=tmp_path / "p")
    assert [i.rows for i in infos] == [3]
    got = _rows(tmp_path, "select id, name, pets from d.people order by id")
    assert got == [(1, "ada", 1), (2, "bob", 0), (3, "cy", 1)]
    assert people.transform is None  # the object given in the dict is not changed


def test_a_function_by_reference(tmp_path: Path) -> None:
    flows = _flows(tmp_path, {"function": f"{__name__}:shout", "kwargs": {"suffix": "!"}})
    flows.run(pipelines_dir=tmp_path / "p")
    assert _rows(tmp_path, "select id, name from d.people order by id") == [(1, "ADA!"), (2, "BOB!"), (3, "CY!")]


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        ({"query": "select * from records where a > $x"}, "but no value is given for it"),
        ({"query": "selec 1"}, "not a query DuckDB can parse"),
        ({"function": f"{__name__}:shoutt"}, "did you mean 'shout'"),
    ],
)
def test_mistakes_are_reported_before_anything_runs(tmp_path: Path, transform: Any, message: str) -> None:
    with pytest.raises(FlowsError) as info:
        _flows(tmp_path, transform).run(pipelines_dir=tmp_path / "p")
    assert "flows[0].transform" in str(info.value)
    assert message in str(info.value)
    assert not (tmp_path / "out.duckdb").exists()


def test_validate_checks_the_query_and_its_params(tmp_path: Path) -> None:
    _flows(tmp_path, {"query": "select * from records where a > $x", "params": {"x": 1}}).check()
    with pytest.raises(FlowsError, match=r"flows\[0\]\.transform: the query uses the parameter \$y"):
        _flows(tmp_path, {"query": "select * from records where a > $y", "params": {"x": 1}}).check()
