"""The conformance scenarios of headwater.testing.scenarios.test_pipeline, on the built-in destinations."""

from headwater.testing.scenarios.test_pipeline import *  # noqa: F403
