"""The conformance scenarios of headwater.testing.scenarios.test_contracts, on the built-in destinations."""

from headwater.testing.scenarios.test_contracts import *  # noqa: F403
