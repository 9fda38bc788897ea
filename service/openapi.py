"""The OpenAPI 3.1 document, built once per app from the mounted routes and the pydantic models.

Every mounted route needs an entry in the table of `service.operations`, keyed by method and full
path template, and every entry needs a mounted route. `build_openapi` raises on either mismatch,
so the app cannot start with a route that the document does not describe.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired

import orjson
from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from typing_extensions import TypedDict

from service import __version__

API_KEY_HEADER = "X-API-Key"
SECURITY_SCHEME = "ApiKey"


class ErrorDetail(TypedDict):
    field: Annotated[str, Field(description="Dotted path of the field, as in listenerIds.0")]
    message: str


class Error(TypedDict):
    error: Annotated[str, Field(description="What is wrong, naming the value")]
    details: NotRequired[
        Annotated[list[ErrorDetail], Field(description="Per-field problems of a request body")]
    ]


@dataclass(frozen=True)
class Parameter:
    """A path, query or header parameter: its JSON schema and what it means."""

    name: str
    location: Literal["path", "query", "header"]
    schema: dict[str, Any]
    description: str
    required: bool = False
    example: Any = None

    def document(self) -> dict[str, Any]:
        parameter: dict[str, Any] = {
            "name": self.name,
            "in": self.location,
            "required": self.required or self.location == "path",
            "description": self.description,
            "schema": self.schema,
        }
        if self.example is not None:
            parameter["example"] = self.example
        return parameter


@dataclass(frozen=True)
class Reply:
    """One documented response: a model (or raw schema) per media type, or no body at all."""

    description: str
    model: Any = None
    example: Any = None
    media_type: str | tuple[str, ...] = "application/json"
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Operation:
    """The description of one method on one path."""

    summary: str
    tag: str
    responses: dict[int, Reply | str]
    description: str = ""
    parameters: Sequence[Parameter] = ()
    body: type[BaseModel] | None = None
    body_required: bool = True
    body_example: dict[str, Any] | None = None
    public: bool = False
    links: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)


# Error responses, by status code; each has the {"error": ..., "details"?: [...]} body.
ERROR_RESPONSES: dict[int, tuple[str, str, str]] = {
    400: (
        "BadRequest",
        "Invalid input; the message names the value",
        "limit must be a positive integer, got 'abc'",
    ),
    401: (
        "Unauthorized",
        "Missing or invalid API key",
        "missing API key: send it in the X-API-Key header",
    ),
    404: (
        "NotFound",
        "No such session, track play or documentation asset",
        "session 'hWfHbg5sVkVn4Z9sJZkD3q' not found",
    ),
    409: (
        "Conflict",
        "The session has ended, or an Idempotency-Key was reused with another body or is in use",
        "session 'hWfHbg5sVkVn4Z9sJZkD3q' has ended; start a new session to add tracks",
    ),
    413: ("PayloadTooLarge", "Request body over 64 KiB", "request body is larger than 64 KiB"),
    415: (
        "UnsupportedMediaType",
        "Request body is not JSON",
        "request body must be application/json, got Content-Type 'text/plain'",
    ),
    503: (
        "DatabaseUnavailable",
        "The database does not respond; retry later",
        "database unavailable",
    ),
}


def error_replies(*codes: int) -> dict[int, Reply | str]:
    """Return references to the shared error responses of these status codes."""
    return {code: ERROR_RESPONSES[code][0] for code in codes}


def mounted_routes(
    routes: Sequence[BaseRoute], prefix: str = ""
) -> Iterator[tuple[str, str, Route]]:
    """Yield (method, full path template, route) for every endpoint; HEAD goes with GET."""
    for route in routes:
        if isinstance(route, Mount):
            yield from mounted_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                yield method, prefix + route.path, route
        else:
            raise TypeError(f"the OpenAPI document cannot describe {route!r}")


class _SchemaGenerator(GenerateJsonSchema):
    """Pydantic's generator without a title per property, and closed response objects."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        return self._close(super().model_schema(schema))

    def typed_dict_schema(self, schema: core_schema.TypedDictSchema) -> JsonSchemaValue:
        return self._close(super().typed_dict_schema(schema))

    def _close(self, json_schema: JsonSchemaValue) -> JsonSchemaValue:
        # A response has exactly these keys, so a schema check also catches an unexpected one.
        if self.mode == "serialization" and json_schema.get("type") == "object":
            json_schema.setdefault("additionalProperties", False)
        return json_schema


class _Schemas:
    """Collects the types that operations name, for one components/schemas section."""

    def __init__(self) -> None:
        self._types: dict[tuple[Any, JsonSchemaMode], None] = {(Error, "serialization"): None}

    def reference(self, model: Any, mode: JsonSchemaMode) -> dict[str, str]:
        self._types[(model, mode)] = None
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def components(self) -> dict[str, Any]:
        inputs = [(model, mode, TypeAdapter(model)) for model, mode in self._types]
        _, top = TypeAdapter.json_schemas(
            inputs,
            ref_template="#/components/schemas/{model}",
            schema_generator=_SchemaGenerator,
        )
        return dict(sorted(top["$defs"].items()))


def _reply(reply: Reply | str, schemas: _Schemas) -> dict[str, Any]:
    headers = {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}}
    if isinstance(reply, str):
        if reply in _ERROR_NAMES:
            return {"$ref": f"#/components/responses/{reply}"}
        return {"description": reply, "headers": headers}

    document: dict[str, Any] = {"description": reply.description, "headers": headers}
    if reply.model is None and reply.schema is None:
        return document
    schema = (
        reply.schema if reply.model is None else schemas.reference(reply.model, "serialization")
    )
    media: dict[str, Any] = {"schema": schema}
    if reply.example is not None:
        media["example"] = reply.example
    media_types = (reply.media_type,) if isinstance(reply.media_type, str) else reply.media_type
    document["content"] = {media_type: media for media_type in media_types}
    return document


_ERROR_NAMES = frozenset(name for name, _, _ in ERROR_RESPONSES.values())


def _operation(
    method: str, path: str, route: Route, operation: Operation, schemas: _Schemas
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "operationId": getattr(route.endpoint, "__name__", f"{method.lower()}_{path}"),
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    if operation.description:
        document["description"] = operation.description
    if operation.parameters:
        document["parameters"] = [parameter.document() for parameter in operation.parameters]
    if operation.body is not None:
        media: dict[str, Any] = {"schema": schemas.reference(operation.body, "validation")}
        if operation.body_example is not None:
            media["example"] = operation.body_example
        document["requestBody"] = {
            "required": operation.body_required,
            "content": {"application/json": media},
        }
    document["responses"] = {
        str(code): _reply(reply, schemas) for code, reply in sorted(operation.responses.items())
    }
    for code, links in operation.links.items():
        document["responses"][str(code)]["links"] = links
    if operation.public:
        document["security"] = []
    return document


def build_openapi(
    routes: Sequence[BaseRoute],
    table: dict[tuple[str, str], Operation],
) -> dict[str, Any]:
    """Describe every mounted route; raise when a route has no entry or an entry has no route."""
    mounted = {(method, path): route for method, path, route in mounted_routes(routes)}
    undocumented = sorted(set(mounted) - set(table))
    unmounted = sorted(set(table) - set(mounted))
    if undocumented or unmounted:
        raise RuntimeError(
            "the OpenAPI table and the routes differ: "
            f"undocumented routes {undocumented}, entries without a route {unmounted}"
        )

    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), route in mounted.items():
        operation = _operation(method, path, route, table[(method, path)], schemas)
        paths.setdefault(path, {})[method.lower()] = operation

    error_reference = {"$ref": "#/components/schemas/Error"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mocbot-archive",
            "version": __version__,
            "summary": "Listening archive of the MOCBOT Discord music bot",
            "description": (
                "Sessions, track plays, recents and recommended artists. Every route but the "
                f"probes and the documentation needs the API key in the `{API_KEY_HEADER}` "
                'header. Errors have the body `{"error": "..."}`, with `details` per field '
                "for an invalid request body. Timestamps are RFC 3339 in UTC with milliseconds; "
                "snowflakes are accepted as JSON integers or strings of digits."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components(),
            "responses": {
                name: {
                    "description": description,
                    "headers": {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}},
                    "content": {
                        "application/json": {
                            "schema": error_reference,
                            "example": {"error": example},
                        }
                    },
                }
                for name, description, example in ERROR_RESPONSES.values()
            },
            "headers": {
                "RequestId": {
                    "description": (
                        "Id of the request on every log line it caused: the X-Request-ID the "
                        "client sent when valid, else a generated one"
                    ),
                    "schema": {"type": "string"},
                }
            },
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": API_KEY_HEADER,
                    "description": "One of the keys in API_KEY_FILE (or API_KEY)",
                }
            },
        },
        "security": [{SECURITY_SCHEME: []}],
    }


def encode(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


async def openapi_json(request: Request) -> Response:
    """Serve the document built when the app was created."""
    return Response(request.app.state.openapi_json, media_type="application/json")
