"""Strict JSON request bodies: decode, reject what JSON parsers usually accept, then validate."""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from service.errors import InvalidInput, UnsupportedMediaType
from service.parsing import show

ModelT = TypeVar("ModelT", bound=BaseModel)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidInput(f"request body has the key {show(key)} more than once")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise InvalidInput(f"request body contains {name}, which is not a JSON number")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInput(f"request body contains the number {show(text)}, which is out of range")
    return value


def decode_json(body: bytes) -> Any:
    """Decode a JSON document, rejecting duplicate keys, NaN and Infinity, and deep nesting."""
    try:
        return json.loads(
            body,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
        )
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput("request body is not valid UTF-8") from None
    except RecursionError:
        raise InvalidInput("request body is nested too deeply") from None


def _check_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"request body must be application/json, got Content-Type {show(content_type)}"
        )


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def validation_error(exc: ValidationError) -> InvalidInput:
    """Turn pydantic's errors into one message plus per-field details, without echoing raw input."""
    details = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(str(part) for part in error["loc"]) or "body"
        message = error["msg"]
        if error["type"] == "missing":
            message = "is required"
        elif error["type"] == "model_type":
            message = "must be a JSON object"
        details.append({"field": field, "message": message})
    summary = "; ".join(f"{item['field']} {item['message']}" for item in details)
    return InvalidInput(f"invalid request body: {summary}", details=details)


async def read_body(request: Request, model: type[ModelT], allow_empty: bool = False) -> ModelT:
    """Validate the request's JSON body as `model`; an empty body is `{}` when `allow_empty`."""
    body = await request.body()
    if not body.strip():
        if not allow_empty:
            raise InvalidInput("request body is required: send a JSON object")
        data: Any = {}
    else:
        _check_content_type(request)
        data = decode_json(body)

    if not isinstance(data, dict):
        raise InvalidInput(f"request body must be a JSON object, got {_json_type(data)}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None
