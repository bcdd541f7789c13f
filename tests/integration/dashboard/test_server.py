"""``headwater dashboard`` as a user starts it: a real process serving on 127.0.0.1, read over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import env_with_path
from tests.integration.dashboard.conftest import Served, Shop


def test_the_api_serves_the_pipelines_and_the_page_its_assets(dashboard: Served, shop: Shop) -> None:
    assert dashboard.url.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=dashboard.url, timeout=60) as client:
        listing = client.get("/api/pipelines").json()
        assert [(p["id"], p["runs"], p["last_run"]["run_id"]) for p in listing["pipelines"]] == [
            ("shop", 2, shop.records[1]["run_id"])
        ]
        detail = client.get("/api/pipelines/shop").json()
        assert [t["name"] for t in detail["tables"]] == ["orders", "orders__items"]

        missing = client.get("/api/pipelines/shpo")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no pipeline 'shpo' shown here", "hint": "did you mean 'shop'? known: shop"}

        page = client.get("/")
        assert page.headers["content-type"].startswith("text/html")
        assert '<script src="/static/dashboard.js"' in page.text and '<script src="/static/plotly.min.js"' in page.text
        assert "renderPipeline" in client.get("/static/dashboard.js").text
        plotly = client.get("/static/plotly.min.js")  # from the installed plotly package, not the network
        assert plotly.status_code == 200 and len(plotly.content) > 1_000_000 and b"plotly" in plotly.content[:2000]

        # a request addressed to another name (a rebound DNS name pointing at 127.0.0.1) is refused
        rebound = client.get("/api/pipelines/shop", headers={"Host": "attacker.example"})
        assert rebound.status_code == 400 and "shop" not in rebound.text
        assert client.get("/api/pipelines", headers={"Host": "localhost"}).status_code == 200


def _run_cli(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"import sys\n{prelude}\nfrom headwater.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "dashboard", *args],
        capture_output=True,
        text=True,
        env=env_with_path(),
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_a_port_in_use_is_refused_with_what_to_do(shop: Shop) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = _run_cli("--pipelines-dir", str(shop.pipelines_dir), "--port", str(port), "--no-browser")
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "pass --port with another port, or 0 for a free one" in done.stderr


def test_a_misspelled_pipeline_is_refused_before_serving(shop: Shop) -> None:
    done = _run_cli("shpo", "--pipelines-dir", str(shop.pipelines_dir), "--port", "0", "--no-browser")
    assert done.returncode == 1
    assert "no pipeline 'shpo'" in done.stderr and "did you mean 'shop'?" in done.stderr
    assert "http://" not in done.stdout


def test_without_the_extra_the_command_says_what_to_install(tmp_path: Path) -> None:
    # starlette made unimportable in that process, as if the extra were not installed
    done = _run_cli("--pipelines-dir", str(tmp_path), "--no-browser", prelude="sys.modules['starlette'] = None")
    assert done.returncode == 1
    assert "headwater dashboard needs the starlette package, which is not installed" in done.stderr
    assert "pip install 'headwater[dashboard]'" in done.stderr
