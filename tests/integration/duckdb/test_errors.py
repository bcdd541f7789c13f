"""Bad input gets a clear error naming what, where and what to do."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError, DataError, HeadwaterError, StateError
from tests.conftest import env_with_path, scalar


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque>"


def test_malformed_item_names_the_resource(make_pipeline: Any) -> None:
    @hw.resource
    def weird():
        yield {"ok": 1}
        yield Opaque()

    with pytest.raises(DataError) as err:
        make_pipeline().run(weird())
    assert "resource 'weird' yielded an item of type Opaque" in str(err.value)
    assert "hint:" in str(err.value)


def test_unsupported_value_names_resource_table_and_column(make_pipeline: Any) -> None:
    with pytest.raises(DataError) as err:
        make_pipeline().run([{"id": 1, "payload": {"inner": Opaque()}}], table_name="things")
    text = str(err.value)
    assert "resource='things'" in text and "table='things'" in text and "column='payload__inner'" in text


def test_non_dict_rows_in_a_page_are_reported_with_their_position(make_pipeline: Any) -> None:
    with pytest.raises(DataError) as err:
        make_pipeline().run([[{"a": 1}, {"a": 2}, Opaque()]], table_name="t")
    assert "row 2 of a batch is a Opaque" in str(err.value) or "Opaque" in str(err.value)


def test_bad_hint_is_reported_when_declared() -> None:
    with pytest.raises(ConfigError) as err:

        @hw.resource(columns={"price": "money"})
        def sales():
            yield {}

    text = str(err.value)
    assert "unknown data type 'money'" in text and "resource='sales'" in text and "column='price'" in text


def test_plain_data_without_a_table_name(make_pipeline: Any) -> None:
    with pytest.raises(ConfigError, match="pass table_name="):
        make_pipeline().run([{"a": 1}])


def test_invalid_pipeline_name_and_batch_size() -> None:
    with pytest.raises(ConfigError, match="invalid pipeline name"):
        hw.pipeline("bad/name")
    with pytest.raises(ConfigError, match="batch_size"):
        hw.pipeline("ok", batch_size=0)


def test_errors_are_one_family_and_picklable() -> None:
    import pickle

    err = DataError("boom", hint="fix it", table="t", column="c")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, HeadwaterError) and back.table == "t" and str(back) == str(err)


def test_second_process_on_the_same_pipeline_gets_a_clear_error(tmp_path: Path, make_pipeline: Any) -> None:
    p = make_pipeline("busy")
    p.run([{"a": 1}], table_name="t")
    script = tmp_path / "other.py"
    script.write_text(
        textwrap.dedent(f"""
        import headwater as hw
        p = hw.pipeline("busy", destination=hw.destinations.duckdb({str(tmp_path / "busy.duckdb")!r}),
                        dataset="raw", pipelines_dir={str(tmp_path / "pipelines")!r}, progress=False)
        try:
            p.run([{{"a": 2}}], table_name="t")
        except hw.errors.StateError as exc:
            print("STATE", exc)
    """)
    )
    with p.workdir.lock("busy"):
        out = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env_with_path(), timeout=120
        )
    assert "STATE pipeline 'busy' is already running" in out.stdout, out.stderr
    assert scalar(p, "select count(*) from raw.t") == 1


def test_corrupt_schema_file_is_a_state_error(make_pipeline: Any) -> None:
    p = make_pipeline("corrupt")
    p.run([{"a": 1}], table_name="t")
    (p.workdir.schemas / "corrupt.json").write_text("{oops")
    with pytest.raises(StateError, match="corrupt"):
        p.run([{"a": 2}], table_name="t")
