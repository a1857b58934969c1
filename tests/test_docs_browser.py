"""`/docs` works with the network off: a real browser renders every operation from local files.

Why a browser: the page was "fine" to an HTTP client (200, some HTML) and blank to a person
when its viewer came from a CDN. Only running the page's scripts shows whether it renders.
Debian's Chromium (installed by scripts/install.sh) is driven by playwright as a plain driver;
every request that is not to 127.0.0.1 is aborted in the browser and recorded, so the page must
render from this service alone, and must not even try to reach elsewhere.
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM = "/usr/bin/chromium"
# Quiet, offline-safe Chromium: no background downloads, updates, sync or QUIC probes.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _spec_operations(base: str) -> set[str]:
    doc = requests.get(base + "/openapi.json", timeout=10).json()
    return {f"{m.upper()} {path}" for path, item in doc["paths"].items()
            for m in item if m in METHODS}


@pytest.fixture()
def browser_context(tmp_path):
    assert os.access(CHROMIUM, os.X_OK), \
        f"{CHROMIUM} is missing: `make test` (scripts/install.sh) installs Debian's chromium"
    with sync_playwright() as p:
        # A fresh profile per test (playwright passes it as --user-data-dir).
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=FLAGS, viewport={"width": 1280, "height": 900})
        try:
            yield ctx
        finally:
            ctx.close()


def test_docs_render_every_operation_with_the_network_off(api, browser_context, tmp_path):
    blocked: list[str] = []

    def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    browser_context.route("**/*", loopback_only)
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    shot = tmp_path / "docs.png"
    page.goto(api.base + "/docs")
    # Swagger UI renders every operation once it has fetched and parsed /openapi.json.
    try:
        page.wait_for_selector('.opblock-summary-path[data-path="/v1/jobs/{job_id}"]',
                               timeout=10_000)
    except PlaywrightTimeout:
        page.screenshot(path=str(shot), full_page=True)
        pytest.fail(f"/docs listed no operations within 10 s with the network off (blocked: "
                    f"{blocked}, page errors: {errors}); screenshot: {shot}")
    shown = page.eval_on_selector_all(
        ".opblock-summary",
        "els => els.map(e => e.querySelector('.opblock-summary-method').textContent + ' '"
        " + e.querySelector('.opblock-summary-path').dataset.path)")
    title = page.inner_text(".info .title")
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot of /docs with the network off: {shot}")

    assert {"POST /v1/jobs", "GET /v1/jobs/{job_id}"} <= set(shown)
    assert set(shown) == _spec_operations(api.base)
    assert title.startswith("mmservice")
    assert blocked == [], f"the page tried to leave the machine: {blocked}"
    assert errors == []
    assert shot.stat().st_size > 10_000


def test_docs_assets_are_served_locally_and_only_the_viewers(api):
    page = requests.get(api.base + "/docs", timeout=10)
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "https://" not in page.text and "http://" not in page.text

    js = requests.get(api.base + "/docs/assets/swagger-ui-bundle.js", timeout=10)
    assert js.status_code == 200
    assert "javascript" in js.headers["Content-Type"]
    assert "SwaggerUIBundle" in js.text

    other = requests.get(api.base + "/docs/assets/swagger-ui-bundle.js.map", timeout=10)
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
