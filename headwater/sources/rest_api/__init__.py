"""The declarative REST API source: any paginated JSON API described as a dict or a TOML table.

``hw.sources.rest_api(config)`` returns a source with one stream per endpoint; see
:mod:`headwater.sources.rest_api.config` and docs/rest-api.md. Needs the ``rest`` extra
(``pip install 'headwater[rest]'``: httpx and jsonpath-ng).
"""

from __future__ import annotations

from headwater._callable_module import make_callable
from headwater.optional import require

require("httpx", "the rest_api source", extra="rest")  # a clear error with the install hint when httpx is missing

from headwater.sources.rest_api.auth import (  # noqa: E402
    APIKey,
    Auth,
    BearerToken,
    HttpBasic,
    OAuth2ClientCredentials,
)
from headwater.sources.rest_api.client import RESTClient  # noqa: E402
from headwater.sources.rest_api.config import RESTSource, rest_api, rest_api_source  # noqa: E402
from headwater.sources.rest_api.http import ResponseAction, RetryPolicy  # noqa: E402
from headwater.sources.rest_api.paginators import (  # noqa: E402
    Auto,
    Cursor,
    HeaderCursor,
    HeaderLink,
    JSONLink,
    OffsetLimit,
    PageNumber,
    PageRequest,
    PaginationLoop,
    Paginator,
    SinglePage,
)

__all__ = [
    "APIKey",
    "Auth",
    "Auto",
    "BearerToken",
    "Cursor",
    "HeaderCursor",
    "HeaderLink",
    "HttpBasic",
    "JSONLink",
    "OAuth2ClientCredentials",
    "OffsetLimit",
    "PageNumber",
    "PageRequest",
    "PaginationLoop",
    "Paginator",
    "RESTClient",
    "RESTSource",
    "ResponseAction",
    "RetryPolicy",
    "SinglePage",
    "rest_api",
    "rest_api_source",
]


make_callable(__name__, rest_api)  # hw.<package>(...) calls rest_api
