"""Fixed cost: a one-row run and ``--help``, each a fresh process, Headwater and dlt in the same run.

    .venv/bin/python -m bench.small_runs                 # every case, 9 processes each
    .venv/bin/python -m bench.small_runs --repeat 15 --cases one_row,help
    .venv/bin/python -m bench.small_runs --before /tmp/old    # /tmp/old/headwater: another checkout, as "before"
    .venv/bin/python -m bench.small_runs --alone    # each tool also in a new venv of its own, as users install it

Cases, each timed as a whole process (interpreter start, imports, the work, exit) from the parent:

  one_row   a new pipeline loads ``[{"id": 1}]`` into a new DuckDB file (Headwater; dlt with its default
            loader file format, SQL ``INSERT``, and telemetry off)
  again     the same pipeline and DuckDB file, a second one-row run (the first one untimed): what an
            incremental pull every few minutes pays
  docs_50k  a new pipeline loads 50,000 GitHub-event-like documents (bench.data.event_doc, written once
            to a JSON file before any timing; each process reads it with orjson: 27 MB, about 0.15 s)
            into a new DuckDB file; commits and labels become child tables; dlt with
            ``loader_file_format="parquet"``, its fastest path to DuckDB (bench.run's nested case)
  help      ``headwater --help`` and ``dlt --help``
  floor     what no run of a tool built on them can go below: ``python -c pass``, ``import pyarrow,
            duckdb``, that import plus one row from a ``pa.Table`` into a new DuckDB file (pandas kept
            out), and the same with ``pyarrow.compute`` imported (9 MB), as pyarrow's own array methods
            (``cast``, ``is_null``, ``filter``) do on first use: a run that computes pays it, a run of a
            few flat rows need not (Headwater's does not); with docs_50k, the floor of that case too:
            the same file read with orjson, the documents converted by ``pyarrow.array`` (its type
            inference, pandas kept out) into one table of struct columns, nothing flattened, inserted
            into a new DuckDB file

The processes run in rounds, each round running every case of every tool once, so that a busy or
slow moment of this 2-core machine (its speed drifts by up to 2x over minutes) hurts no case or tool
more. Each process is reaped with ``os.wait4``, which gives its own resource usage: wall time
(measured by the parent around spawn and reap), CPU time (user + system, every thread's: more than
the wall time when pyarrow's and DuckDB's threads start) and peak resident memory (``ru_maxrss``: the
kernel's high-water mark of that process, never below this process's own size, about 15 MB: a child
shares its parent's memory until ``exec``). Every process runs in a fresh folder (``python -c``
imports from its working folder first). The table has the best and the median of each.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HEADWATER_ONE_ROW = """
import sys
import headwater as hw
work = sys.argv[1]
hw.pipeline("one", destination=hw.destinations.duckdb(work + "/one.duckdb"), dataset="d",
            pipelines_dir=work + "/pipelines", progress=False).run([{"id": 1}], table_name="t")
"""

DLT_ONE_ROW = """
import sys
import dlt
work = sys.argv[1]
dlt.pipeline("one", destination=dlt.destinations.duckdb(work + "/one.duckdb"), dataset_name="d",
             pipelines_dir=work + "/pipelines").run([{"id": 1}], table_name="t")
"""

HEADWATER_DOCS = """
import sys
import orjson
import headwater as hw
work = sys.argv[1]
with open(sys.argv[2], "rb") as f:
    docs = orjson.loads(f.read())
hw.pipeline("docs", destination=hw.destinations.duckdb(work + "/one.duckdb"), dataset="d",
            pipelines_dir=work + "/pipelines", progress=False).run(docs, table_name="t")
"""

DLT_DOCS = """
import sys
import orjson
import dlt
work = sys.argv[1]
with open(sys.argv[2], "rb") as f:
    docs = orjson.loads(f.read())
dlt.pipeline("docs", destination=dlt.destinations.duckdb(work + "/one.duckdb"), dataset_name="d",
             pipelines_dir=work + "/pipelines").run(docs, table_name="t", loader_file_format="parquet")
"""

NO_PANDAS = """
import sys
class NoPandas:  # pyarrow would import pandas to infer the type of [1] (it looks for pandas' types)
    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            raise ModuleNotFoundError(name=name)
sys.meta_path.insert(0, NoPandas())
"""

FLOOR_LOAD = (
    NO_PANDAS
    + """
import duckdb, pyarrow as pa
if sys.argv[2:]:
    import pyarrow.compute  # what pyarrow's own array methods (cast, is_null, filter...) import
con = duckdb.connect(sys.argv[1] + "/one.duckdb")
t = pa.table({"id": [1]})
con.execute("create table t as select * from t")
con.close()
"""
)

FLOOR_DOCS = (
    NO_PANDAS
    + """
import duckdb, orjson, pyarrow as pa
with open(sys.argv[2], "rb") as f:
    docs = orjson.loads(f.read())
t = pa.Table.from_struct_array(pa.array(docs))  # Arrow's own conversion: type inference, no flattening
con = duckdb.connect(sys.argv[1] + "/one.duckdb")
con.execute("create table t as select * from t")
con.close()
del docs, t  # freed here: left to the interpreter's exit, the same frees took 0.9 s instead of 0.07 s
"""
)

# the table each one-row case's file must hold after the run (checked, untimed)
TABLES = {"headwater": "d.t", "before": "d.t", "dlt": "d.t", "headwater-alone": "d.t", "dlt-alone": "d.t", "floor": "t"}

#: one process: its command line (a ``{work}`` argument is a fresh folder) and the folder on PYTHONPATH
Command = tuple[list[str], Path]


@dataclass
class Sample:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)


def spawn(argv: list[str], root: Path, cwd: Path) -> tuple[float, float, float]:
    """Run ``argv`` to its end in ``cwd`` (not a checkout: ``python -c`` imports from its working
    folder first), ``root`` on PYTHONPATH; (wall seconds, CPU seconds, peak resident MB) of that
    process alone."""
    # root first (its headwater); this checkout after it for bench.data, which an older checkout may lack
    env = os.environ | {"RUNTIME__DLTHUB_TELEMETRY": "false", "PYTHONPATH": os.pathsep.join([str(root), str(ROOT)])}
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    assert proc.stderr is not None
    err = proc.stderr.read()  # a failing run's traceback; empty otherwise
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited with {proc.returncode}:\n{err.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def console_script(name: str, module: str, python: str = sys.executable) -> list[str]:
    """The installed ``name`` command beside ``python``, or ``python -m module``."""
    script = Path(python).parent / name
    return [str(script)] if script.exists() else [python, "-m", module]


def count_rows(path: Path, table: str) -> int:
    """The rows of ``table`` in the DuckDB file, read by a child process: DuckDB imported here would
    make every later child's ``ru_maxrss`` at least this process's size (the kernel counts the memory a
    child shares with its parent until ``exec``)."""
    code = "import duckdb, sys; print(duckdb.connect(sys.argv[1], read_only=True).sql(sys.argv[2]).fetchall()[0][0])"
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), f"select count(*) from {table}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


def has_dlt() -> bool:
    return subprocess.run([sys.executable, "-c", "import dlt"], capture_output=True).returncode == 0


def commands(
    cases: list[str], tools: list[str], before: Path | None, alone: dict[str, str] | None = None
) -> dict[str, dict[str, Command]]:
    """case -> tool -> one process (``before``: the checkout measured as the tool ``before``; ``alone``:
    the interpreters of the tools ``headwater-alone`` and ``dlt-alone``, see :func:`alone_venvs`)."""
    py = sys.executable
    pys = {t: (alone or {}).get(t, py) for t in tools}
    scripts = {"headwater": HEADWATER_ONE_ROW, "before": HEADWATER_ONE_ROW, "dlt": DLT_ONE_ROW}
    scripts |= {"headwater-alone": HEADWATER_ONE_ROW, "dlt-alone": DLT_ONE_ROW}
    roots = {"headwater": ROOT, "before": before or ROOT, "dlt": ROOT, "headwater-alone": ROOT, "dlt-alone": ROOT}
    clis = {
        "headwater": console_script("headwater", "headwater"),
        "before": console_script("headwater", "headwater"),
        "dlt": console_script("dlt", "dlt"),
        "headwater-alone": console_script("headwater", "headwater", pys["headwater-alone"]) if alone else [],
        "dlt-alone": console_script("dlt", "dlt", pys["dlt-alone"]) if alone else [],
    }
    out: dict[str, dict[str, Command]] = {}
    if "one_row" in cases:
        out["one_row"] = {t: ([pys[t], "-c", scripts[t], "{work}"], roots[t]) for t in tools}
    if "again" in cases:
        out["again"] = {t: ([pys[t], "-c", scripts[t], "{work}"], roots[t]) for t in tools}
    if "docs_50k" in cases:
        docs = {"headwater": HEADWATER_DOCS, "before": HEADWATER_DOCS, "dlt": DLT_DOCS}
        docs |= {"headwater-alone": HEADWATER_DOCS, "dlt-alone": DLT_DOCS}
        out["docs_50k"] = {t: ([pys[t], "-c", docs[t], "{work}", "{docs}"], roots[t]) for t in tools}
        if "floor" in cases:
            out["docs_50k"]["floor"] = ([py, "-c", FLOOR_DOCS, "{work}", "{docs}"], ROOT)
    if "help" in cases:
        out["help"] = {t: ([*clis[t], "--help"], roots[t]) for t in tools}
    if "floor" in cases:
        out["floor"] = {
            "python -c pass": ([py, "-c", "pass"], ROOT),
            "import pyarrow, duckdb": ([py, "-c", "import pyarrow, duckdb"], ROOT),
            "+ one row into a new file": ([py, "-c", FLOOR_LOAD, "{work}"], ROOT),
            "+ pyarrow.compute": ([py, "-c", FLOOR_LOAD, "{work}", "compute"], ROOT),
        }
        if alone:  # the same floor in Headwater's own venv: pyarrow without numpy
            core = alone["headwater-alone"]
            out["floor"]["import pyarrow, duckdb (alone)"] = ([core, "-c", "import pyarrow, duckdb"], ROOT)
            out["floor"]["+ one row into a new file (alone)"] = ([core, "-c", FLOOR_LOAD, "{work}"], ROOT)
            out["floor"]["+ one row, pyarrow.compute (alone)"] = ([core, "-c", FLOOR_LOAD, "{work}", "compute"], ROOT)
    return out


def alone_venvs(folder: Path) -> dict[str, str]:
    """Two new venvs under ``folder``, each with one tool and what it needs, as a user installs it:
    Headwater's core (this checkout, no extra: no numpy, no pandas) and dlt with its ``duckdb`` extra at
    the version installed here. Returns their interpreters, as the tools ``headwater-alone`` and
    ``dlt-alone``. In this venv both tools share what the other pulls in (numpy with pyarrow: about 10 MB
    of every Headwater process; pandas; dlt's own dependencies)."""
    from importlib.metadata import version

    pythons = {}
    for tool, spec in (("headwater-alone", str(ROOT)), ("dlt-alone", f"dlt[duckdb]=={version('dlt')}")):
        venv = folder / tool
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        subprocess.run(
            [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--compile-bytecode", "--python", python, spec],
            check=True,
        )
        pythons[tool] = python
    return pythons


def measure(cases: dict[str, dict[str, Command]], repeat: int, workdir: Path) -> dict[str, dict[str, Sample]]:
    """``repeat`` rounds, each running every case's processes once: this machine's speed drifts by up
    to 2x over minutes, so every case and tool gets its share of fast and slow moments."""
    samples = {case: {tool: Sample() for tool in runs} for case, runs in cases.items()}
    docs = workdir / "docs.json"
    if "docs_50k" in cases:  # made by a child: documents made here would count in every child's peak
        make = (
            "import random, sys, orjson\nfrom bench.data import event_doc\nrnd = random.Random(1)\n"
            "open(sys.argv[1], 'wb').write(orjson.dumps([event_doc(i, rnd) for i in range(50_000)]))"
        )
        subprocess.run([sys.executable, "-c", make, str(docs)], check=True, env=os.environ | {"PYTHONPATH": str(ROOT)})
    for i in range(repeat):
        for case, runs in cases.items():
            for tool, (argv, root) in runs.items():
                work = workdir / f"{case}-{tool.split()[0]}-{i}"
                work.mkdir()
                line = [a.replace("{work}", str(work)).replace("{docs}", str(docs)) for a in argv]
                if case == "again":  # the first run makes the pipeline and the file; the second is timed
                    spawn(line, root, work)
                wall, cpu, rss = spawn(line, root, work)
                if "{work}" in argv:
                    key = tool if tool in TABLES else "floor"
                    rows = count_rows(work / "one.duckdb", TABLES[key])
                    expected = {"again": 2, "docs_50k": 50_000}.get(case, 1)
                    assert rows == expected, f"{case} {tool}: {rows} rows"
                shutil.rmtree(work)
                s = samples[case][tool]
                s.wall.append(wall)
                s.cpu.append(cpu)
                s.rss_mb.append(rss)
        print(f"  round {i + 1}/{repeat}", file=sys.stderr, flush=True)
    return samples


LABELS = {
    "one_row": "one-row run, new pipeline",
    "again": "one-row run, existing pipeline",
    "docs_50k": "50,000 nested documents, new pipeline",
    "help": "`--help`",
}


def report(results: dict[str, dict[str, Sample]], repeat: int) -> str:
    lines = [
        f"best / median of {repeat} fresh processes; wall s, CPU s (user + system), peak RSS MB",
        "",
        "| case | tool | wall best | wall median | CPU best | CPU median | peak MB | dlt / Headwater (median wall) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case, samples in results.items():
        for tool, s in samples.items():
            ratio = "-"
            ref = samples.get("dlt-alone" if tool == "headwater-alone" else "dlt")
            if tool in ("headwater", "before", "headwater-alone") and ref:
                ratio = f"{statistics.median(ref.wall) / statistics.median(s.wall):.1f}x"
            lines.append(
                f"| {LABELS.get(case, case)} | {tool} | {min(s.wall):.3f} | {statistics.median(s.wall):.3f}"
                f" | {min(s.cpu):.3f} | {statistics.median(s.cpu):.3f} | {statistics.median(s.rss_mb):.0f} | {ratio} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="one_row,again,docs_50k,help,floor")
    parser.add_argument("--tools", default="headwater,dlt")
    parser.add_argument("--repeat", type=int, default=9, help="fresh processes per tool and case")
    parser.add_argument(
        "--before", type=Path, help="a folder holding another checkout's headwater/, measured as the tool 'before'"
    )
    parser.add_argument(
        "--alone",
        action="store_true",
        help="also measure each tool in a new venv of its own (headwater-alone, dlt-alone: see alone_venvs)",
    )
    args = parser.parse_args(argv)
    tools = args.tools.split(",")
    if args.before is not None:
        tools.insert(tools.index("headwater") + 1 if "headwater" in tools else 0, "before")
    if "dlt" in tools and not has_dlt():
        print("dlt is not installed (the bench extra): Headwater alone", file=sys.stderr)
        tools.remove("dlt")
    # as installed (pip compiles a package's modules): without this, with PYTHONDONTWRITEBYTECODE set,
    # every process would compile Headwater's modules from source (about 0.3 s)
    for root in {ROOT, args.before or ROOT}:
        compileall.compile_dir(root / "headwater", quiet=1)
    with tempfile.TemporaryDirectory(prefix="hw-small-runs-") as tmp:
        alone = None
        if args.alone:
            alone = alone_venvs(Path(tmp) / "venvs")
            tools += [t for t in ("headwater-alone", "dlt-alone") if t.split("-")[0] in tools]
        results = measure(commands(args.cases.split(","), tools, args.before, alone), args.repeat, Path(tmp))
    print(report(results, args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
