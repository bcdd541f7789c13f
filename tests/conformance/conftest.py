"""The conformance suite (headwater.testing) on the five built-in destinations; PostgreSQL is the
session's throwaway server (tests/pgserver.py)."""

from __future__ import annotations

import pytest

from headwater.testing.plugin import *  # noqa: F403


@pytest.fixture(scope="session")
def headwater_postgres_server(pg_url: str) -> str:
    return pg_url
