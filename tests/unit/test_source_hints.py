"""The typed hints and descriptions of the built-in sources stay in step with what the sources accept."""

from __future__ import annotations

from typing import get_args

from headwater.packages.writer import FILE_FORMATS, is_package_format
from headwater.schema.hints import HintArgs
from headwater.schema.vocabulary import PACKAGE_FORMATS
from headwater.sources.hints import ResourceHints, StreamHints


def test_the_typed_hints_name_every_hint_and_only_those() -> None:
    assert set(ResourceHints.__annotations__) == set(HintArgs.__annotations__)
    assert set(StreamHints.__annotations__) == set(HintArgs.__annotations__) - {"incremental"}


def test_the_rest_api_typed_description_has_the_keys_the_source_checks() -> None:
    from headwater.sources.rest_api import config, config_types, endpoint

    assert set(config_types.RESTAPIConfig.__annotations__) == set(config.TOP_KEYS)
    assert set(config_types.ClientConfig.__annotations__) == set(config.CLIENT_KEYS)
    assert set(config_types.ResourceConfig.__annotations__) == set(config.RESOURCE_KEYS)
    assert set(config_types.EndpointConfig.__annotations__) == set(endpoint.ENDPOINT_KEYS)
    assert set(config_types.IncrementalConfig.__annotations__) == set(endpoint.INCREMENTAL_KEYS)
    assert set(get_args(config_types.HTTPMethod)) == {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


def test_package_formats() -> None:
    assert FILE_FORMATS == PACKAGE_FORMATS == ("arrow", "parquet")
    assert is_package_format("parquet")
    assert not is_package_format("csv")
