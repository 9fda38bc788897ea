"""The docs page in headless Chromium: it loads offline, lists the routes and logs no error."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from service.migrate import apply_migrations
from service.settings import DatabaseConfig
from tests.browser import chromium, devtools_session, find_or_install_chromium
from tests.conftest import TEST_API_KEY
from tests.live import LiveServer, start_server

# Seconds the page gets to load and render every operation.
RENDER_TIMEOUT_SECONDS = 30
TRIED_OPERATION = "/api/v1/users/{userId}/tracks/recent"

# Authorize with the key, open one operation, and press "Try it out" and "Execute" as a user would.
# The path parameter keeps the example value that Swagger UI fills in.
TRY_OPERATION_SCRIPT = """
(async () => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const waitFor = async (find) => {
    for (let i = 0; i < 100; i++) {
      const found = find();
      if (found) return found;
      await sleep(100);
    }
    throw new Error("timed out waiting for the page");
  };
  window.ui.preauthorizeApiKey("ApiKey", KEY);
  const block = Array.from(document.querySelectorAll(".opblock")).find(
    (element) => element.querySelector(".opblock-summary-path").dataset.path === PATH);
  block.querySelector(".opblock-summary-control").click();
  (await waitFor(() => block.querySelector(".try-out__btn"))).click();
  (await waitFor(() => block.querySelector(".execute"))).click();
  const status = await waitFor(
    () => block.querySelector(".live-responses-table tbody .response-col_status"));
  return status.textContent.trim();
})()
"""


@pytest.fixture(scope="module")
def chromium_binary() -> str:
    return find_or_install_chromium()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("docs")
    config = DatabaseConfig(backend="sqlite", path=str(directory / "archive.sqlite3"))
    apply_migrations(config)
    server = start_server(config, directory)
    yield server
    server.stop()


async def load_docs(devtools_url: str, page_url: str, screenshot: Path) -> dict[str, Any]:
    """Open the page, wait until Swagger UI has rendered every operation, and report what it saw."""
    socket, session = await devtools_session(devtools_url)
    try:
        await session.open_page()
        await session.send("Page.navigate", url=page_url)
        await asyncio.wait_for(session.loaded.wait(), RENDER_TIMEOUT_SECONDS)

        operations: list[list[str]] = []
        for _ in range(RENDER_TIMEOUT_SECONDS * 10):
            operations = await session.evaluate(
                "Array.from(document.querySelectorAll('.opblock')).map(block => ["
                "block.querySelector('.opblock-summary-method').textContent,"
                "block.querySelector('.opblock-summary-path').dataset.path])"
            )
            if operations:
                break
            await asyncio.sleep(0.1)
        script = TRY_OPERATION_SCRIPT.replace("KEY", orjson.dumps(TEST_API_KEY).decode())
        script = script.replace("PATH", orjson.dumps(TRIED_OPERATION).decode())
        tried = await session.send(
            "Runtime.evaluate", expression=script, awaitPromise=True, returnByValue=True
        )
        # Settle: errors from rendering arrive as events just after the DOM changes.
        await asyncio.sleep(0.5)

        image = await session.send("Page.captureScreenshot", format="png")
        screenshot.write_bytes(base64.b64decode(image["data"]))
        return {
            "operations": operations,
            "title": await session.evaluate("document.title"),
            "text": await session.evaluate("document.body.innerText"),
            "tried_status": tried["result"].get("value", tried.get("exceptionDetails")),
            "errors": list(session.events.errors),
            "requested_urls": list(session.events.requested_urls),
        }
    finally:
        await session.close()
        await socket.close()


@pytest.fixture(scope="module")
def page(chromium_binary: str, server: LiveServer, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("chromium")
    with chromium(chromium_binary, directory / "profile") as devtools_url:
        return asyncio.run(
            asyncio.wait_for(
                load_docs(devtools_url, f"{server.url}/api/v1/docs", directory / "docs.png"),
                RENDER_TIMEOUT_SECONDS * 2,
            )
        )


def test_docs_page_lists_every_operation(page, server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    document = httpx.get(f"{server.url}/api/v1/openapi.json").json()
    expected = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }

    shown = {(method.upper(), path) for method, path in page["operations"]}

    assert shown == expected


def test_docs_page_logs_no_console_error(page) -> None:  # type: ignore[no-untyped-def]
    assert page["errors"] == []


def test_docs_page_renders_document(page) -> None:  # type: ignore[no-untyped-def]
    assert page["title"] == "mocbot-archive API"
    assert "mocbot-archive" in page["text"]
    assert "Unable to render this definition" not in page["text"]
    assert "Authorize" in page["text"]


def test_docs_page_requests_only_this_service(page, server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    foreign = [
        url
        for url in page["requested_urls"]
        if not url.startswith((f"{server.url}/", "data:", "about:", "blob:"))
    ]

    assert foreign == []
    assert f"{server.url}/api/v1/openapi.json" in page["requested_urls"]


def test_docs_page_html_has_no_external_reference(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/api/v1/docs")

    assert response.status_code == 200
    assert "http://" not in response.text
    assert "https://" not in response.text
    assert "//" not in response.text.replace("<!DOCTYPE html>", "")
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_docs_assets_served_without_key(server: LiveServer) -> None:
    for name, media_type in (
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("docs-init.js", "text/javascript"),
        ("favicon-32x32.png", "image/png"),
    ):
        response = httpx.get(f"{server.url}/api/v1/docs/assets/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(media_type), name


def test_docs_page_tries_operation_with_key(page) -> None:  # type: ignore[no-untyped-def]
    assert page["tried_status"] == "200"


def test_docs_unknown_asset_is_not_served(server: LiveServer) -> None:
    anonymous = httpx.get(f"{server.url}/api/v1/docs/assets/index.html")
    with_key = httpx.get(
        f"{server.url}/api/v1/docs/assets/index.html", headers={"X-API-Key": TEST_API_KEY}
    )

    assert anonymous.status_code == 401
    assert with_key.status_code == 404
    assert orjson.loads(with_key.content) == {"error": "no documentation asset named 'index.html'"}
