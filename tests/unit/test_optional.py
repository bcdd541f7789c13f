"""headwater.optional: a missing optional dependency is a ConfigError naming the extra to install."""

from __future__ import annotations

import pytest

from headwater.errors import ConfigError
from headwater.optional import require


def test_an_installed_module_is_returned() -> None:
    assert require("json", "the test").dumps([1]) == "[1]"


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"extra": "rest"}, "pip install 'headwater[rest]'"),
        ({"package": "not-a-real-package"}, "pip install 'not-a-real-package'"),
        ({"extra": "filesystem", "also": "and s3fs"}, "pip install 'headwater[filesystem]' (and s3fs)"),
    ],
)
def test_a_missing_module_names_what_needs_it_and_how_to_install_it(kwargs: dict[str, str], hint: str) -> None:
    with pytest.raises(ConfigError, match="the rest_api source needs") as err:
        require("headwater_no_such_module.sub", "the rest_api source", **kwargs)
    assert hint in (err.value.hint or "")
