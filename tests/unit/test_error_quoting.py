"""An error quoted inside another error's message or a log line keeps what and where, not its hint.

The quoting error or line says what to do; a hint quoted inside a message read as a second hint, and
often about the wrong step (a partition's worker error said "the rows extracted before the failure are
kept" inside the error that said nothing was loaded).
"""

from __future__ import annotations

import pickle

import pytest

import headwater.errors as errors
from headwater.errors import HeadwaterError, described

KINDS = sorted(
    (c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, HeadwaterError)),
    key=lambda c: c.__name__,
)


@pytest.mark.parametrize("kind", KINDS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("hint", [None, "do this"])
def test_a_headwater_error_is_quoted_with_its_place_and_without_its_hint(kind: type, hint: str | None) -> None:
    error = kind("the API said 500", hint=hint, resource="orders", partition="b")
    assert described(error) == f"{kind.__name__}: the API said 500 [resource='orders', partition='b']"
    assert error.headline in str(error) and ("hint: do this" in str(error)) == bool(hint)
    assert described(pickle.loads(pickle.dumps(error))) == described(error)  # as it crosses processes


def test_a_headwater_error_without_a_place_is_its_message() -> None:
    assert described(errors.StateError("locked", hint="wait")) == "StateError: locked"


@pytest.mark.parametrize("error", [ConnectionError("reset"), ValueError("bad\nvalue"), KeyError("k")])
def test_any_other_error_is_quoted_as_python_shows_it(error: BaseException) -> None:
    assert described(error) == f"{type(error).__name__}: {error}"
