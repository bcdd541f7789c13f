"""The conformance scenarios of headwater.testing.scenarios.test_exactly_once, on the built-in destinations."""

from headwater.testing.scenarios.test_exactly_once import *  # noqa: F403
