"""A declarative (low-code) Airbyte connector: a manifest YAML run by the CDK's
``source-declarative-manifest`` against a real HTTP server on 127.0.0.1, with pagination and an
incremental cursor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import headwater as hw
from headwater.errors import ConfigError, SourceError
from tests import connectors
from tests.apiserver import APIServer, Reply, Request
from tests.integration.airbyte.conftest import query

CDK = connectors.requirement("source-declarative-manifest")
KEY = "s3cr3t-k3y"

MANIFEST = """
version: 6.0.0
type: DeclarativeSource
check:
  type: CheckStream
  stream_names: ["items"]
streams:
  - type: DeclarativeStream
    name: items
    primary_key: ["id"]
    schema_loader:
      type: InlineSchemaLoader
      schema:
        $schema: http://json-schema.org/draft-07/schema#
        type: object
        properties:
          id: {type: integer}
          name: {type: string}
          price: {type: number}
          updated_at: {type: string, format: date-time}
    retriever:
      type: SimpleRetriever
      requester:
        type: HttpRequester
        url_base: "{{ config['base_url'] }}"
        path: /items
        http_method: GET
        authenticator:
          type: ApiKeyAuthenticator
          api_token: "{{ config['api_key'] }}"
          inject_into: {type: RequestOption, inject_into: header, field_name: X-Api-Key}
      record_selector:
        type: RecordSelector
        extractor: {type: DpathExtractor, field_path: ["data"]}
      paginator:
        type: DefaultPaginator
        page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
        page_size_option: {type: RequestOption, inject_into: request_parameter, field_name: per_page}
        pagination_strategy: {type: PageIncrement, page_size: 2, start_from_page: 1}
    incremental_sync:
      type: DatetimeBasedCursor
      cursor_field: updated_at
      datetime_format: "%Y-%m-%dT%H:%M:%SZ"
      start_datetime:
        type: MinMaxDatetime
        datetime: "{{ config['start_date'] }}"
        datetime_format: "%Y-%m-%dT%H:%M:%SZ"
      start_time_option: {type: RequestOption, inject_into: request_parameter, field_name: since}
spec:
  type: Spec
  connection_specification:
    type: object
    required: [base_url, api_key, start_date]
    properties:
      base_url: {type: string}
      api_key: {type: string, airbyte_secret: true}
      start_date: {type: string}
"""


class Items:
    """The API: items updated after ``since``, ``per_page`` a page; a page can be made to fail."""

    def __init__(self, api: APIServer) -> None:
        self.rows = [self.row(i) for i in range(1, 6)]
        self.fail_page: int | None = None
        api.route("/items")(self.serve)

    @staticmethod
    def row(i: int) -> dict[str, Any]:
        return {"id": i, "name": f"item {i}", "price": i * 1.5, "updated_at": f"2024-01-{i:02d}T00:00:00Z"}

    def serve(self, req: Request) -> Reply:
        if req.headers.get("x-api-key") != KEY:
            return Reply(401, {"message": "Bad credentials: the API key is not valid"})
        page, per_page = int(req.query.get("page", 1)), int(req.query.get("per_page", 2))
        if page == self.fail_page:
            return Reply(400, {"message": "page out of range"})
        since = req.query.get("since", "")
        rows = [r for r in self.rows if r["updated_at"] > since]
        return Reply(200, {"data": rows[(page - 1) * per_page : page * per_page]})


@pytest.fixture
def api() -> Iterator[APIServer]:
    with APIServer() as server:
        yield server


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.yaml"
    path.write_text(MANIFEST)
    return path


def config(api: APIServer, **over: Any) -> dict[str, Any]:
    return {"base_url": api.url, "api_key": KEY, "start_date": "2023-01-01T00:00:00Z", **over}


def test_pages_land_and_the_second_run_reads_only_new_rows(
    api: APIServer, manifest: Path, make_pipeline: Callable[[str], Any]
) -> None:
    items = Items(api)
    source = hw.sources.airbyte("shop", manifest=manifest, cdk=CDK, config=config(api))
    p = make_pipeline("shop")
    info = p.run(source)
    assert info.table_rows() == {"items": 5}
    assert query(p, "select id from raw.items order by id") == [{"id": i} for i in range(1, 6)]
    pages = [c.query.get("page") for c in api.calls("/items") if c.query.get("since", "").startswith("2023")]
    assert {"2", "3"} <= set(pages)  # three pages of two (the first one without a page parameter)
    saved = p.state.resource_state("shop", "shop")["airbyte"]["streams"]["items"]
    assert saved["stream"]["stream_state"]["updated_at"].startswith("2024-01-05")

    items.rows[1] = {**items.row(2), "name": "changed", "updated_at": "2024-02-01T00:00:00Z"}
    items.rows.append(items.row(6) | {"updated_at": "2024-02-02T00:00:00Z"})
    api.requests.clear()
    info = p.run(source)
    assert info.table_rows() == {"items": 2}  # only what changed since the saved cursor
    assert all(c.query["since"].startswith("2024-01-05") for c in api.calls("/items"))
    rows = query(p, "select id, name from raw.items order by id")
    assert len(rows) == 6 and rows[1] == {"id": 2, "name": "changed"}  # merged on the primary key
    types = dict(
        (r["column_name"], r["data_type"])
        for r in query(p, "select column_name, data_type from information_schema.columns where table_name = 'items'")
    )
    assert types["updated_at"].startswith("TIMESTAMP") and types["id"] == "BIGINT"


def test_a_failing_check_says_why_before_any_read(
    api: APIServer, manifest: Path, make_pipeline: Callable[[str], Any]
) -> None:
    Items(api)
    with pytest.raises(SourceError, match="check failed") as info:
        hw.sources.airbyte("shop", manifest=manifest, cdk=CDK, config=config(api, api_key="wr0ng-k3y-4711"))
    assert "401" in str(info.value) or "Bad credentials" in str(info.value)
    assert "wr0ng-k3y-4711" not in str(info.value)  # the key is a secret
    assert all("since" not in c.query or c.query.get("page") in (None, "1") for c in api.calls("/items"))


def test_an_error_mid_read_keeps_the_rows_before_it_and_names_the_stream(
    api: APIServer, manifest: Path, make_pipeline: Callable[[str], Any]
) -> None:
    items = Items(api)
    source = hw.sources.airbyte("shop", manifest=manifest, cdk=CDK, config=config(api), check=False)
    items.fail_page = 3
    p = make_pipeline("shop")
    with pytest.raises(SourceError) as info:
        p.run(source)
    text = str(info.value)
    assert "items" in text and ("page out of range" in text or "400" in text)
    assert "items" not in p.dataset().tables()  # nothing loaded by default
    p.load(include_partial=True)
    assert query(p, "select id from raw.items order by id") == [{"id": i} for i in range(1, 5)]  # pages 1 and 2
    # the state did not get ahead of the rows that landed: the next run reads item 5 again
    items.fail_page = None
    api.requests.clear()
    p.run(source)
    assert all(c.query["since"] < "2024-01-05" for c in api.calls("/items"))
    assert query(p, "select id from raw.items order by id") == [{"id": i} for i in range(1, 6)]


def test_config_and_stream_mistakes_are_named_with_the_closest_name(api: APIServer, manifest: Path) -> None:
    with pytest.raises(ConfigError, match="unknown config key 'bse_url'") as info:
        hw.sources.airbyte("shop", manifest=manifest, cdk=CDK, config={"bse_url": api.url, "api_key": KEY})
    assert "base_url" in str(info.value)
    with pytest.raises(ConfigError, match="lacks the required key"):
        hw.sources.airbyte("shop", manifest=manifest, cdk=CDK, config={"base_url": api.url, "api_key": KEY})
    Items(api)
    with pytest.raises(ConfigError, match="no stream 'itmes'") as info:
        hw.sources.airbyte("shop", manifest=manifest, cdk=CDK, config=config(api), streams=["itmes"], check=False)
    assert "items" in (info.value.hint or "")
