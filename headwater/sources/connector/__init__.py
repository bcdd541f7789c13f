"""What Singer taps and Airbyte connectors share: environments of their own, the process, JSON Schema.

- :mod:`.env`: a connector named by an executable on PATH, a path, or a pip requirement installed on
  first use into a virtual environment of its own under a cache folder (uv when available, else venv
  and pip), reused after.
- :mod:`.process`: the connector's process: stdout read in bulk and parsed as JSON lines in batches,
  stderr to Headwater's logging, a clear error with the exit code and the last lines of stderr.
- :mod:`.jsonschema`: JSON Schema (what both protocols describe streams with) to column hints.
"""
