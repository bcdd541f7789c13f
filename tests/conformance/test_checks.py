"""The conformance scenarios of headwater.testing.scenarios.test_checks, on the built-in destinations."""

from headwater.testing.scenarios.test_checks import *  # noqa: F403
