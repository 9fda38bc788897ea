"""The OpenAPI document: valid 3.1, complete for the mounted routes, and true to the wire format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from openapi_spec_validator import validate
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from service.app import create_app
from service.openapi import build_openapi
from service.operations import operations
from service.settings import DatabaseConfig
from tests.conftest import make_settings

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PUBLIC_OPERATIONS = {
    ("get", "/api/v1/health"),
    ("get", "/api/v1/ready"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/docs"),
    ("get", "/api/v1/docs/assets/{name}"),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An app that is built but never started: the document needs no database."""
    path = tmp_path_factory.mktemp("openapi") / "archive.sqlite3"
    return create_app(make_settings(DatabaseConfig(backend="sqlite", path=str(path))))


@pytest.fixture(scope="module")
def document(app) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return orjson.loads(app.state.openapi_json)


def walk_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from walk_routes(route.routes, prefix + route.path)
        else:
            assert isinstance(route, Route), f"unexpected route type {route!r}"
            for method in route.methods or ():
                if method != "HEAD":
                    yield method.lower(), prefix + route.path


def documented_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield method, path, item[method]


def schema_validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    """Validate against a schema of the document, resolving its #/components references."""
    rooted = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(
        rooted, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_openapi_document_is_valid(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_openapi_describes_exactly_mounted_routes(app, document: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    mounted = set(walk_routes(app.routes))
    documented = {(method, path) for method, path, _ in documented_operations(document)}

    assert mounted - documented == set()
    assert documented - mounted == set()


def test_openapi_builder_rejects_undocumented_route(app) -> None:  # type: ignore[no-untyped-def]
    async def extra(request):  # type: ignore[no-untyped-def]
        raise AssertionError("never called")

    routes = [*app.routes, Route("/extra", extra, methods=["GET"])]

    with pytest.raises(RuntimeError, match="/extra"):
        build_openapi(routes, operations(100))


def test_openapi_builder_rejects_entry_without_route(app) -> None:  # type: ignore[no-untyped-def]
    table = operations(100)
    routes = [route for route in app.routes if getattr(route, "path", "") != "/metrics"]

    with pytest.raises(RuntimeError, match="/metrics"):
        build_openapi(routes, table)


def test_openapi_public_operations_need_no_key(document: dict[str, Any]) -> None:
    public = {
        (method, path)
        for method, path, operation in documented_operations(document)
        if operation.get("security") == []
    }

    assert public == PUBLIC_OPERATIONS
    assert document["security"] == [{"ApiKey": []}]
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-API-Key"}


def test_openapi_protected_operations_document_401(document: dict[str, Any]) -> None:
    for method, path, operation in documented_operations(document):
        if (method, path) not in PUBLIC_OPERATIONS:
            assert "401" in operation["responses"], f"{method} {path}"


def test_openapi_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in documented_operations(document)]

    assert len(ids) == len(set(ids))


def test_openapi_session_has_pascal_case_keys(document: dict[str, Any]) -> None:
    session = document["components"]["schemas"]["Session"]

    assert set(session["properties"]) == {"ID", "GuildID", "StartedAt", "EndedAt"}
    assert session["properties"]["StartedAt"] == {"type": "string", "format": "date-time"}
    assert {"type": "null"} in session["properties"]["EndedAt"]["anyOf"]
    assert session["additionalProperties"] is False


def test_openapi_track_play_has_go_field_types(document: dict[str, Any]) -> None:
    properties = document["components"]["schemas"]["TrackPlay"]["properties"]

    assert properties["IsValid"] == {"type": "boolean"}
    assert properties["DurationMs"] == {"type": "integer"}
    assert properties["QueuedByUser"] == {"type": "integer"}
    assert properties["URL"] == {"type": "string"}


def test_openapi_no_body_responses_have_no_content(document: dict[str, Any]) -> None:
    for path in ("/api/v1/sessions/{sessionId}", "/api/v1/tracks/{trackPlayId}"):
        response = document["paths"][path]["patch"]["responses"]["204"]
        assert "content" not in response, path


def test_openapi_errors_share_one_shape(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]

    assert error["required"] == ["error"]
    assert set(error["properties"]) == {"error", "details"}
    for name, response in document["components"]["responses"].items():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, name


def test_openapi_query_parameters_have_bounds(document: dict[str, Any]) -> None:
    def parameter(path: str, name: str) -> dict[str, Any]:
        found = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
        assert len(found) == 1, f"{path} {name}"
        return found[0]

    limit = parameter("/api/v1/sessions", "limit")["schema"]
    seed_count = parameter("/api/v1/guilds/{guildId}/artists/recommended", "seedCount")["schema"]
    guild_ids = parameter("/api/v1/sessions", "guildIds")

    assert (limit["minimum"], limit["maximum"]) == (1, 500)
    assert (seed_count["minimum"], seed_count["maximum"]) == (1, 5000)
    assert seed_count["default"] == 1000
    assert guild_ids["required"] is True


def test_openapi_every_body_has_valid_example(document: dict[str, Any]) -> None:
    bodies = []
    for method, path, operation in documented_operations(document):
        responses = list(operation["responses"].items())
        request = operation.get("requestBody", {}).get("content", {})
        bodies += [(f"{method} {path} request", media) for media in request.values()]
        for status, response in responses:
            for media_type, media in response.get("content", {}).items():
                if media_type == "application/json":
                    bodies.append((f"{method} {path} {status}", media))
    for name, response in document["components"]["responses"].items():
        bodies.append((name, response["content"]["application/json"]))

    assert len(bodies) > 20
    for where, media in bodies:
        assert "example" in media, where
        errors = list(schema_validator(document, media["schema"]).iter_errors(media["example"]))
        assert errors == [], where


def test_openapi_parameter_examples_match_schemas(document: dict[str, Any]) -> None:
    for method, path, operation in documented_operations(document):
        for parameter in operation.get("parameters", []):
            if "example" in parameter:
                validator = schema_validator(document, parameter["schema"])
                assert validator.is_valid(parameter["example"]), f"{method} {path} {parameter}"


def test_openapi_served_without_key(anonymous: TestClient) -> None:
    response = anonymous.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["info"]["title"] == "mocbot-archive"


def test_openapi_served_document_is_built_once(client: TestClient) -> None:
    first = client.get("/api/v1/openapi.json")
    second = client.get("/api/v1/openapi.json")

    assert first.content == second.content
    assert client.app.state.openapi_json == first.content  # type: ignore[attr-defined]


def test_openapi_metrics_public_follows_settings(tmp_path: Path) -> None:
    config = DatabaseConfig(backend="sqlite", path=str(tmp_path / "archive.sqlite3"))
    app = create_app(make_settings(config, metrics_public=True))
    operation = orjson.loads(app.state.openapi_json)["paths"]["/metrics"]["get"]

    assert operation["security"] == []
    assert "401" not in operation["responses"]


def test_openapi_seed_count_default_follows_settings(tmp_path: Path) -> None:
    config = DatabaseConfig(backend="sqlite", path=str(tmp_path / "archive.sqlite3"))
    app = create_app(make_settings(config, recommend_seed_count=250))
    document = orjson.loads(app.state.openapi_json)
    path = document["paths"]["/api/v1/users/{userId}/artists/recommended"]

    (seed_count,) = [p for p in path["get"]["parameters"] if p["name"] == "seedCount"]
    assert seed_count["schema"]["default"] == 250
