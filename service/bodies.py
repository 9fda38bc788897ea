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

# Levels of arrays and objects a body may nest; the archive's own bodies use two.
MAX_JSON_DEPTH = 32
# Digits of the largest integer a body may hold: 2**64 - 1 has 20.
MAX_INTEGER_DIGITS = 20


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


def _parse_int(text: str) -> int:
    # int() raises ValueError over 4300 digits, and no field takes more than 64 bits anyway.
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise InvalidInput(
            f"request body contains an integer of {digits} digits, "
            f"more than the {MAX_INTEGER_DIGITS} of a 64-bit integer"
        )
    return int(text)


def _check_string(text: str, location: str) -> None:
    if "\x00" in text:
        raise InvalidInput(f"request body contains a NUL character in {location}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            "request body contains a lone surrogate (an unpaired \\uD800-\\uDFFF escape) "
            f"in {location}"
        ) from None


def _check_strings_and_depth(data: Any) -> None:
    """Reject NUL characters and lone surrogates in keys and strings, and nesting too deep."""
    pending: list[tuple[Any, str, int]] = [(data, "", 0)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            _check_string(value, f"the value of {show(path)}" if path else "the body")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise InvalidInput(f"request body is nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_string(key, f"the key {show(key)}")
                pending.append((item, f"{path}.{key}" if path else key, depth + 1))
        else:
            for index, item in enumerate(value):
                pending.append((item, f"{path}[{index}]", depth + 1))


def decode_json(body: bytes) -> Any:
    """Decode a UTF-8 JSON document, rejecting what the standard leaves open or Python lets through.

    Duplicate keys, NaN and Infinity, integers of over MAX_INTEGER_DIGITS digits, NUL characters,
    lone surrogates, a byte order mark and nesting over MAX_JSON_DEPTH levels raise InvalidInput.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"request body is not valid UTF-8: byte {body[exc.start]:#04x} at offset {exc.start}"
        ) from None
    if text.startswith("\ufeff"):
        raise InvalidInput("request body starts with a byte order mark: send UTF-8 without one")

    try:
        data = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as exc:
        # Some of Python's messages end in "at" already, as in "Invalid control character at".
        reason = exc.msg.removesuffix(" at")
        raise InvalidInput(
            f"request body is not valid JSON: {reason} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidInput(
            f"request body is nested more than {MAX_JSON_DEPTH} levels deep"
        ) from None

    _check_strings_and_depth(data)
    return data


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


def validation_error(exc: ValidationError, ignored_fields: list[str] | None = None) -> InvalidInput:
    """Turn pydantic's errors into one message plus per-field details, without echoing raw input.

    A missing field is often a misspelt one, so the message names the body's ignored fields too.
    """
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
    if ignored_fields and any(item["message"] == "is required" for item in details):
        names = ", ".join(show(name) for name in ignored_fields[:5])
        summary += f" (ignored unknown fields: {names}; field names are camelCase)"
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
        known = {field.alias or name for name, field in model.model_fields.items()}
        raise validation_error(exc, [key for key in data if key not in known]) from None
