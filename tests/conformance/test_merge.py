"""The conformance scenarios of headwater.testing.scenarios.test_merge, on the built-in destinations."""

from headwater.testing.scenarios.test_merge import *  # noqa: F403
