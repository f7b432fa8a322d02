"""/docs (Swagger UI 5) and /redoc (ReDoc) render the API in Chromium with the network cut:
every asset comes from numcheck itself."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers import Server, in_modes

CHROMIUM = "/usr/bin/chromium"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


@pytest.fixture
def offline_page():
    """A page whose every request to anywhere but 127.0.0.1 is aborted (and recorded)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        context = browser.new_context()
        cut: list[str] = []

        def only_this_machine(route, request) -> None:
            if urlsplit(request.url).hostname == "127.0.0.1":
                route.continue_()
            else:
                cut.append(request.url)
                route.abort()

        context.route("**/*", only_this_machine)
        page = context.new_page()
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        yield page, cut, failed
        context.close()
        browser.close()


@in_modes("sqlite")
def test_swagger_ui_renders_every_operation_offline(offline_page, server: Server) -> None:
    page, cut, failed = offline_page
    page.goto(server.url + "/docs")
    paths = page.locator(".opblock-summary-path")
    expect(paths.first).to_be_visible(timeout=30_000)
    shown = set(paths.all_inner_texts())
    assert {"/v1/tasks", "/v1/tasks/{task_id}", "/v1/account"} <= {
        p.replace("\u200b", "") for p in shown
    }
    assert cut == [] and failed == []


@in_modes("sqlite")
def test_redoc_renders_every_operation_offline(offline_page, server: Server) -> None:
    page, cut, failed = offline_page
    response = page.goto(server.url + "/redoc")
    assert "img-src 'self' data:" in response.headers["content-security-policy"]
    expect(page.locator("h2", has_text="Your credits and limits").first).to_be_attached(
        timeout=30_000
    )
    assert page.locator("h2").count() > 10
    assert cut == []  # nothing left the machine: the policy stops ReDoc's CDN logo in the page
    assert [url for url in failed if urlsplit(url).hostname == "127.0.0.1"] == []
