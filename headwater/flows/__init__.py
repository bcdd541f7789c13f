"""Flows: pipelines as configuration (Python dicts, TOML or YAML files); see docs/flows.md."""
