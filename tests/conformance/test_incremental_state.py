"""The conformance scenarios of headwater.testing.scenarios.test_incremental_state, on the built-in destinations."""

from headwater.testing.scenarios.test_incremental_state import *  # noqa: F403
