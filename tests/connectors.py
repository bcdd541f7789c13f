"""Real Singer taps and Airbyte connectors for the tests, installed once into the cache Headwater uses.

    python -m tests.connectors ensure   # install every connector below (in parallel), say how long each took

The test command (scripts/test) runs ``ensure`` before pytest, so the slow step shows and happens once per
machine: environments live in Headwater's connector cache (``$HEADWATER_CONNECTORS_DIR``, else
``~/.cache/headwater/connectors``: headwater.sources.connector.env) and are reused by every later run.
Tests name connectors by the requirements below (:func:`requirement`), exactly as a user would, so
they find the environments ``ensure`` built.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

#: short name -> (pip requirement, the command it installs)
CONNECTORS: dict[str, tuple[str, str]] = {
    "tap-jsonl": ("tap-jsonl==0.3.1", "tap-jsonl"),
    "tap-postgres": ("meltanolabs-tap-postgres==0.10.0", "tap-postgres"),
    "source-faker": ("airbyte-source-faker==7.2.1", "source-faker"),
    "source-declarative-manifest": ("airbyte-cdk==7.39.1", "source-declarative-manifest"),
}


def requirement(name: str) -> str:
    """The pip requirement of connector ``name`` (a key of :data:`CONNECTORS`)."""
    return CONNECTORS[name][0]


def command(name: str) -> str:
    """The command connector ``name`` installs."""
    return CONNECTORS[name][1]


def ensure() -> int:
    from headwater.sources.connector.env import ensure_env, env_folder

    def one(name: str) -> str:
        started = time.monotonic()
        ensure_env(requirement(name), what=name)
        return f"{name}: {env_folder(requirement(name))} ({time.monotonic() - started:.1f}s)"

    failed = 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(one, name) for name in CONNECTORS}
        for name, future in futures.items():
            try:
                print(future.result(), flush=True)
            except Exception as exc:
                failed += 1
                print(f"{name}: FAILED: {exc}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:] != ["ensure"]:
        sys.exit("usage: python -m tests.connectors ensure")
    sys.exit(ensure())
