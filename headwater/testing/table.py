"""The scenario x destination table of a conformance run, from pytest's JUnit XML.

``pytest --junitxml=run.xml ...`` then ``python -m headwater.testing.table run.xml [more.xml ...]`` prints a Markdown
table: one row per scenario (a test function, its own parameters folded together), one column per
destination: ``pass``, ``xfail: <reason>`` (a declared expected failure), or ``FAIL``/``skip``.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def outcomes(*paths: str) -> dict[str, dict[str, set[str]]]:
    """``{scenario: {destination: {outcome, ...}}}`` from JUnit XML files (a later file's result of a
    test replaces an earlier one's)."""
    latest: dict[str, ET.Element] = {}
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            latest[case.get("classname", "") + "::" + case.get("name", "")] = case
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for case in latest.values():
        match = re.fullmatch(r"(\w+)\[([^\]]*)\]", case.get("name", ""))
        if not match:
            continue
        name, params = match.groups()
        destination = params.split("-", 1)[0]
        module = case.get("classname", "").rsplit(".", 1)[-1].removeprefix("test_")
        skipped = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "FAIL"
        elif skipped is not None and skipped.get("type") == "pytest.xfail":
            reason = skipped.get("message", "").removeprefix("xfail").strip(" :")
            outcome = f"xfail: {reason}"
        elif skipped is not None:
            outcome = "skip"
        else:
            outcome = "pass"
        out[f"{module}: {name.removeprefix('test_').replace('_', ' ')}"][destination].add(outcome)
    return out


def table(*paths: str) -> str:
    results = outcomes(*paths)
    destinations: list[str] = []
    for by_destination in results.values():
        destinations.extend(d for d in by_destination if d not in destinations)
    lines = [
        "| scenario | " + " | ".join(destinations) + " |",
        "|---|" + "---|" * len(destinations),
    ]
    for scenario, by_destination in results.items():
        cells = []
        for d in destinations:
            got = by_destination.get(d, set())
            failed = sorted(o for o in got if not o.startswith(("pass", "xfail")))
            cells.append(", ".join(failed) or ("; ".join(sorted(got - {"pass"})) or "pass" if got else "-"))
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(*sys.argv[1:]))
