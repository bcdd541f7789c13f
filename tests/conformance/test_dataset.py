"""The conformance scenarios of headwater.testing.scenarios.test_dataset, on the built-in destinations."""

from headwater.testing.scenarios.test_dataset import *  # noqa: F403
