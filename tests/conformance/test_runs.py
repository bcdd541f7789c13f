"""The conformance scenarios of headwater.testing.scenarios.test_runs, on the built-in destinations."""

from headwater.testing.scenarios.test_runs import *  # noqa: F403
