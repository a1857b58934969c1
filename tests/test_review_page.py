"""The moderator page at /review in a real headless Chromium (Debian's, driven by playwright):
log in with a review key, see a blurred greyscale image (computed style), reveal it, decide with
the keyboard, get the next item, see the decision in the audit log. The network is off for the
browser (only 127.0.0.1 answers). Screenshots are kept in `var/test-artifacts/`.

Plus the page's guard rails over plain HTTP: CSRF on the login form and every page call, the
key never in a URL, the session cookie HttpOnly and SameSite=Strict, a revoked key's session
ends."""
from __future__ import annotations

import os
import re
import time
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Route, sync_playwright

from mediagen import image
from mmservice.moderation.categories import CATEGORIES
from mmservice.testing.procs import make_key
from review_env import Tenant

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "var",
                         "test-artifacts")
ALL_REVIEW = {"thresholds": {c: {"review": 0.01, "block": 1.0} for c in CATEGORIES}}


@pytest.fixture(scope="module")
def rs(module_stack):
    return module_stack(name="review-page")


@pytest.fixture()
def browser_context(tmp_path):
    assert os.access(CHROMIUM, os.X_OK), \
        f"{CHROMIUM} is missing: `make test` (scripts/install.sh) installs Debian's chromium"
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=FLAGS, viewport={"width": 1280, "height": 1000})
        try:
            yield ctx
        finally:
            ctx.close()


def _image_job(t: Tenant, color) -> dict:
    r = t.admin.submit_file("x.png", image(color=color, size=(96, 64)), "image/png",
                            fields={"options": __import__("json").dumps(ALL_REVIEW)})
    assert r.status_code == 202, r.text
    job = t.admin.poll(r.json()["id"])
    assert job["results"]["moderation"]["verdict"] == "review", job
    return job


def _until(page, js: str, timeout: float = 10) -> None:
    """Poll `js` (an expression) from Python: the page's CSP forbids eval, which playwright's
    own wait_for_function needs."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if page.evaluate(f"() => Boolean({js})"):
            return
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s: {js}")


def _filter(page) -> str:
    return page.eval_on_selector("#media-img", "e => getComputedStyle(e).filter")


def test_a_reviewer_decides_with_the_keyboard_in_a_real_browser(rs, browser_context):
    t = Tenant(rs)
    first = _image_job(t, (200, 30, 30))
    second = _image_job(t, (30, 30, 200))
    key = make_key(rs.cfg["REDIS_URL"], tenant=t.name, scopes=("review",))
    os.makedirs(ARTIFACTS, exist_ok=True)

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
    page.on("response", lambda r: errors.append(f"{r.status} {r.url} {r.text()[:200]}")
            if r.status >= 400 else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(rs.api_url + "/review")
    page.fill("#key", key)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#queues")
    assert key not in page.url
    cookies = {c["name"]: c for c in browser_context.cookies()}
    assert cookies["mms_review"]["httpOnly"] and cookies["mms_review"]["sameSite"] == "Strict"
    assert key not in str(cookies)
    assert page.inner_text("#queues a[data-queue=default]") == "default"
    page.screenshot(path=os.path.join(ARTIFACTS, "review-1-queues.png"), full_page=True)

    page.click("#queues a[data-queue=default]")
    try:
        page.wait_for_selector("#item:not([hidden])", timeout=10_000)
    except Exception:
        page.screenshot(path=os.path.join(ARTIFACTS, "review-failed.png"), full_page=True)
        raise AssertionError(f"no item shown: errors {errors}, blocked {blocked}, "
                             f"status {page.inner_text('#status')!r}") from None
    _until(page, "document.getElementById('media-img').naturalWidth > 0")
    shown = page.inner_text("#item-id")
    assert shown in (first_item := t.ctx.r.hget(t.ctx.k("open"), first["input"]["sha256"])
                     .decode(), t.ctx.r.hget(t.ctx.k("open"), second["input"]["sha256"]).decode())
    blurred = _filter(page)
    assert "grayscale(1)" in blurred and "blur(24px)" in blurred, blurred
    _until(page, "document.getElementById('lease').textContent !== ''")
    assert re.fullmatch(r"lease \d+:\d\d", page.inner_text("#lease"))
    assert "r" in page.inner_text('button[data-action="reject"] kbd')
    assert page.is_visible('button[data-action="reject"]')
    assert not page.is_visible('button[data-action="overturn"]')  # a first review
    page.screenshot(path=os.path.join(ARTIFACTS, "review-2-blurred.png"), full_page=True)

    page.keyboard.press("v")
    _until(page, "getComputedStyle(document.getElementById('media-img')).filter === 'none'")
    page.screenshot(path=os.path.join(ARTIFACTS, "review-3-revealed.png"), full_page=True)

    # Keys are off while typing: "a" and "r" in the reason field decide nothing.
    page.click("#reason")
    page.keyboard.type("a clear insult r")
    page.keyboard.press("Escape")
    assert page.inner_text("#item-id") == shown
    page.keyboard.press("r")  # reject, and the next item comes
    _until(page, f"document.getElementById('item-id').textContent !== '{shown}'")
    _until(page, "document.getElementById('media-img').naturalWidth > 0")
    nxt = _filter(page)
    assert "grayscale(1)" in nxt and "blur(24px)" in nxt  # re-blurred for the next item
    page.wait_for_selector("#audit-log li")
    log = page.inner_text("#audit-log")
    assert "review.decision reject" in log and "review.reveal" in log
    page.screenshot(path=os.path.join(ARTIFACTS, "review-4-next-and-audit.png"),
                    full_page=True)

    item = t.admin.get(f"/v1/review/{shown}").json()
    assert item["final"]["verdict"] == "block" and item["decisions"][0]["reason"] == \
        "a clear insult r"
    job_id = item["jobs"][0]
    assert t.admin.get(f"/v1/jobs/{job_id}").json()["final_verdict"]["verdict"] == "block"
    assert blocked == [] and errors == []
    assert first_item


def test_the_page_guards_its_session(rs):
    t = Tenant(rs)
    base = rs.api_url
    key = make_key(rs.cfg["REDIS_URL"], tenant=t.name, scopes=("review",))
    submit_key = make_key(rs.cfg["REDIS_URL"], tenant=t.name, scopes=("submit",))
    s = requests.Session()
    login = s.get(base + "/review", timeout=10)
    assert login.status_code == 200 and "<form" in login.text
    assert "https://" not in login.text and "http://" not in login.text  # nothing from a CDN
    assert "Content-Security-Policy" in login.headers
    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
    # no CSRF token: refused
    assert requests.post(base + "/review/login", data={"key": key}, timeout=10).status_code \
        == 403
    bad = s.post(base + "/review/login", data={"key": submit_key, "csrf": csrf}, timeout=10,
                 allow_redirects=False)
    assert bad.status_code == 401 and "mms_review" not in bad.cookies
    csrf = re.search(r'name="csrf" value="([^"]+)"', bad.text).group(1)
    ok = s.post(base + "/review/login", data={"key": key, "csrf": csrf}, timeout=10,
                allow_redirects=False)
    assert ok.status_code == 303 and key not in ok.headers["Location"]
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and key not in cookie
    page = s.get(base + "/review/q/default", timeout=10)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    assert s.post(base + "/review/api/queues/default/next", json={}, timeout=10).status_code \
        == 403  # no CSRF header
    r = s.post(base + "/review/api/queues/default/next", json={}, timeout=10,
               headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["item"] is None
    assert requests.post(base + "/review/api/queues/default/next", json={}, timeout=10,
                         headers={"X-CSRF-Token": token}).status_code == 401  # no cookie
    # revoking the key ends its sessions at once
    key_id = key.split("_")[1]
    rs.services.auth.keys.revoke(key_id)
    time.sleep(0.05)
    assert s.post(base + "/review/api/queues/default/next", json={}, timeout=10,
                  headers={"X-CSRF-Token": token}).status_code == 401


def _login(page, base: str, key: str) -> None:
    page.goto(base + "/review")
    page.fill("#key", key)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#queues")


def test_highlighted_terms_break_notice_and_lease_expiry(rs, browser_context):
    t = Tenant(rs)
    rs.services.auth.settings.update(t.name, {"REVIEW_EXPOSURE_HIGH_PER_HOUR": 1,
                                              "REVIEW_LEASE_S": 5})
    text = "well you are a total idiot, ok"
    start = text.index("idiot")
    hit = {"list": "insults", "kind": "terms", "action": "review", "item_id": "itm_1",
           "input": "text", "matched": "idiot", "offsets": [start, start + 5]}
    high = t.item(text=text, scores={"harassment": 0.97}, lists=[hit])
    t.item(scores={"harassment": 0.96})  # a second high-severity item, over the cap
    mild = t.item(scores={"harassment": 0.2})
    key = make_key(rs.cfg["REDIS_URL"], tenant=t.name, scopes=("review",))
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, rs.api_url, key)
    page.goto(rs.api_url + "/review/q/default")
    page.wait_for_selector("#item:not([hidden])")
    assert page.inner_text("#item-id") == high["id"]
    assert page.inner_text("#text-box mark") == "idiot"
    assert "insults / itm_1" in page.inner_text("#lists")
    assert not page.is_visible("#image-box") and not page.is_visible("#break-notice")
    page.keyboard.press("a")
    _until(page, f"document.getElementById('item-id').textContent === '{mild['id']}'")
    assert page.is_visible("#break-notice")  # capped: the milder item, and a break suggested
    page.screenshot(path=os.path.join(ARTIFACTS, "review-5-break-notice.png"), full_page=True)
    _until(page, "!document.getElementById('lease-expired').hidden", timeout=15)
    assert page.is_disabled('button[data-action="reject"]')
    page.screenshot(path=os.path.join(ARTIFACTS, "review-6-lease-expired.png"),
                    full_page=True)
    assert t.admin.get(f"/v1/review/{high['id']}").json()["final"]["verdict"] == "allow"
    assert errors == []
