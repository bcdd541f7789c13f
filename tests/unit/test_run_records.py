"""Reading run records (the CLI and the dashboard): newest first, tolerant of missing keys and damaged files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from headwater.observe.history import list_runs
from headwater.pipelines.workdir import WorkDir


def _write(root: Path, name: str, content: str) -> None:
    (root / "runs").mkdir(parents=True, exist_ok=True)
    (root / "runs" / name).write_text(content, encoding="utf-8")


def test_records_are_read_newest_first_with_every_key(tmp_path: Path) -> None:
    full = {
        "run_id": "20261203T092700.123456Z",
        "pipeline": "github",
        "kind": "load",
        "status": "failed",
        "rows": 3,
        "tables": {"issues": {"rows": 3}},
        "error": {"type": "LoadError", "message": "boom", "hint": None},
        "metrics": {"stages": {"load": {"seconds": 0.5}}},
    }
    _write(tmp_path, "20261203T092700.123456Z.json", json.dumps(full))
    _write(tmp_path, "20261204T080000.000000Z.json", json.dumps({"status": "completed", "load_ids": None}))
    _write(tmp_path, ".20261205T000000.000000Z.json.tmp", "{")  # a record being written: not read

    newest, older = list_runs(WorkDir(tmp_path))

    assert newest["run_id"] == "20261204T080000.000000Z"  # from the file name when the record lacks it
    assert (newest["kind"], newest["load_ids"], newest["tables"], newest["error"], newest["metrics"]) == (
        "run",
        [],
        {},
        None,
        {},
    )
    assert {k: older[k] for k in full} == full
    assert [r["run_id"] for r in list_runs(WorkDir(tmp_path), limit=1)] == ["20261204T080000.000000Z"]


def test_a_damaged_record_is_skipped_with_a_warning_naming_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write(tmp_path, "20261203T092700.123456Z.json", '{"status": "comp')
    _write(tmp_path, "20261203T092800.123456Z.json", "[1, 2]")
    _write(tmp_path, "20261203T092900.123456Z.json", '{"status": "completed"}')
    with caplog.at_level(logging.WARNING, logger="headwater"):
        runs = list_runs(WorkDir(tmp_path))
    assert [r["run_id"] for r in runs] == ["20261203T092900.123456Z"]
    assert "20261203T092700.123456Z.json cannot be read" in caplog.text
    assert "20261203T092800.123456Z.json is not a JSON object" in caplog.text
    assert list_runs(WorkDir(tmp_path / "missing")) == []
