"""The dashboard in a real browser: Debian's chromium, headless, loads the page ``headwater dashboard``
serves for a pipeline run twice (the second run adds a column) and the DOM its scripts built is checked.

Needs chromium: the test command installs it (as root) and sets HEADWATER_REQUIRE_CHROMIUM=1, so a missing
browser fails there; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests import chromium
from tests.integration.dashboard.conftest import Served, Shop


class Elements(HTMLParser):
    """Every element of a document with its attributes and its text (the text of its descendants too)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str], list[str]]] = []
        self.open: list[tuple[str, dict[str, str], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = (tag, {k: v or "" for k, v in attrs}, [])
        self.found.append(element)
        if tag not in ("br", "img", "input", "link", "meta", "hr", "col", "path", "rect"):
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index][0] == tag:
                del self.open[index:]
                break

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element[2].append(data)

    def select(self, tag: str, **attrs: str) -> list[tuple[dict[str, str], str]]:
        """The elements ``tag`` whose attributes include ``attrs`` (``data_x`` for ``data-x``), with their text."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [
            (a, "".join(text).strip())
            for t, a, text in self.found
            if t == tag and all(a.get(k) == v for k, v in wanted.items())
        ]


@pytest.fixture(scope="module")
def browser() -> str:
    try:
        return chromium.ensure(install=False)  # the test command installs it (python -m tests.chromium ensure)
    except chromium.ChromiumUnavailable as exc:
        chromium.unavailable(str(exc))


@pytest.mark.slow
def test_the_page_shows_both_runs_the_tables_and_the_schema_change(
    browser: str, dashboard: Served, shop: Shop, tmp_path: Path
) -> None:
    page = chromium.load(browser, dashboard.url)
    dom = Elements()
    dom.feed(page.dom)

    # the page's own error handler found nothing, and the browser logged no console line
    (errors,) = dom.select("ul", id="js-errors")
    assert errors[1] == "" and "hidden" in errors[0], f"script errors on the page: {errors[1]}"
    assert page.console == [], "the page logged to the console:\n" + "\n".join(page.console)
    (main,) = dom.select("main")
    assert main[0]["data-state"] == "ready"

    first, second = shop.records
    runs = {a["data-run-id"]: a for a, _ in dom.select("tr", **{"class": "run"})}
    assert set(runs) == {first["run_id"], second["run_id"]}
    assert [runs[r["run_id"]]["data-rows"] for r in (first, second)] == [str(first["rows"]), str(second["rows"])]
    assert {a["data-status"] for a in runs.values()} == {"completed"}

    tables = {a["data-table"]: (a["data-rows"], text) for a, text in dom.select("tr", **{"class": "table-row"})}
    assert set(tables) == {"orders", "orders__items"}
    assert tables["orders"][0] == "4" and tables["orders__items"][0] == "4"
    assert "+2" in tables["orders"][1] and "+3" in tables["orders__items"][1]

    (change,) = dom.select("li", data_kind="add")
    assert (change[0]["data-table"], change[0]["data-column"]) == ("orders", "coupon")
    assert change[1] == "column added: orders.coupon (text)"
    assert [a["data-version"] for a, _ in dom.select("div", **{"class": "schema-version"})] == ["2", "1"]

    (cursor,) = dom.select("tr", **{"class": "cursor"})
    assert "2026-11-05T00:00:00Z" in cursor[1]
    checks = {(a["data-check"], a["data-passed"]) for a, _ in dom.select("tr", **{"class": "check"})}
    assert ("between(amount)", "false") in checks and ("between(amount)", "true") in checks
    (quarantined,) = dom.select("tr", **{"class": "quarantine-count"})
    assert quarantined[0]["data-table"] == "orders" and quarantined[0]["data-rows"] == "1"

    charts = [a for a, _ in dom.select("div") if "js-plotly-plot" in a.get("class", "")]
    assert {a["id"] for a in charts} == {"chart-runs", "chart-growth"}  # Plotly drew both charts

    shot = chromium.screenshot(browser, dashboard.url, tmp_path / "dashboard.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000, "the screenshot is too small to show the page"
    print(f"dashboard screenshot: {shot}")


def test_missing_chromium_fails_under_the_test_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no chromium to find, and ensure(install=False) installs none
    with pytest.raises(chromium.ChromiumUnavailable, match="no chromium on PATH") as info:
        chromium.ensure(install=False)
    reason = str(info.value)
    monkeypatch.setenv("HEADWATER_REQUIRE_CHROMIUM", "1")
    with pytest.raises(pytest.fail.Exception, match=r"chromium is required .* unavailable: no chromium on PATH"):
        chromium.unavailable(reason)
    monkeypatch.delenv("HEADWATER_REQUIRE_CHROMIUM")
    with pytest.raises(pytest.skip.Exception, match=r"chromium unavailable: no chromium on PATH"):
        chromium.unavailable(reason)
