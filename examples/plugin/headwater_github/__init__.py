"""The GitHub source: an example Headwater plugin (``pip install -e examples/plugin``).

Its ``pyproject.toml`` declares the entry point that makes ``github`` a source name::

    [project.entry-points."headwater.sources"]
    github = "headwater_github:github"
"""

from __future__ import annotations

from headwater_github.source import RESOURCES, github

__all__ = ["RESOURCES", "github"]
