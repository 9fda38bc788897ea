"""HTTP endpoints, one module per resource; each validates, calls the data layer and responds."""

from __future__ import annotations

from starlette.datastructures import QueryParams
from starlette.requests import Request

from service.parsing import parse_record_id, parse_snowflake, reject_repeated_keys


def query_params(request: Request) -> QueryParams:
    """Return the query parameters, after rejecting any key given more than once."""
    params = request.query_params
    reject_repeated_keys(params)
    return params


def path_record_id(request: Request, name: str) -> str:
    return parse_record_id(request.path_params[name], name)


def path_snowflake(request: Request, name: str) -> int:
    return parse_snowflake(request.path_params[name], name)
