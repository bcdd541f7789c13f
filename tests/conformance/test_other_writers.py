"""The conformance scenarios of headwater.testing.scenarios.test_other_writers, on the built-in destinations."""

from headwater.testing.scenarios.test_other_writers import *  # noqa: F403
