"""Shared steps of the browser tests: sign in, send, wait, DOM order, CSP and event capture."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

REPLY_TIMEOUT_MS = 20_000  # the first classification may load the embedding model

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

# Installed before any page script: records every CSP violation the page reports.
CSP_RECORDER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def expect() -> Any:
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


def sign_in(page: Any, url: str, name: str = "Alice Martin", *, tap: bool = False) -> None:
    page.goto(f"{url}/")
    user = page.get_by_test_id("demo-user").filter(has_text=name)
    if tap:
        user.tap()
    else:
        user.click()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected", timeout=15_000)


def send(page: Any, text: str) -> None:
    composer = page.get_by_test_id("composer")
    composer.fill(text)
    composer.press("Enter")
    expect()(page.get_by_test_id("message-user").last).to_contain_text(text.splitlines()[0])


def send_by_tap(page: Any, text: str) -> None:
    """Type into the composer and tap Send, the way a phone user does."""
    page.get_by_test_id("composer").tap()
    page.get_by_test_id("composer").fill(text)
    page.get_by_test_id("send").tap()
    expect()(page.get_by_test_id("message-user").last).to_contain_text(text)


def order_of(page: Any, *locators: Any) -> list[int]:
    """Each element's position among the conversation's items (the children of #messages)."""
    handles = [loc.element_handle() for loc in locators]
    return [
        page.evaluate(
            "(el) => [...document.getElementById('messages').children].indexOf(el.closest('#messages > *'))", h
        )
        for h in handles
    ]


def check_24_hour_times(page: Any) -> None:
    """Every message time reads HH:MM in 24-hour form and matches its datetime in the page's time zone."""
    times = page.locator("#messages time")
    assert times.count() > 0
    for i in range(times.count()):
        item = times.nth(i)
        shown = item.inner_text()
        stamp = item.get_attribute("datetime")
        expected = page.evaluate(
            "(iso) => { const d = new Date(iso); return [d.getHours(), d.getMinutes()]"
            ".map((n) => String(n).padStart(2, '0')).join(':'); }",
            stamp,
        )
        assert shown == expected, (shown, stamp)


def record_csp(page: Any, policy: str = STRICT_CSP) -> list[str]:
    """Serve every document of the page with ``policy`` and collect console CSP complaints."""
    complaints: list[str] = []
    page.add_init_script(CSP_RECORDER)

    def with_csp(route: Any) -> None:
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": policy}
        route.fulfill(response=response, headers=headers)

    page.route(lambda url: url.split("?")[0].endswith("/"), with_csp)
    page.on(
        "console",
        lambda msg: complaints.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return complaints


def csp_violations(page: Any) -> list[str]:
    return list(page.evaluate("window.__csp || []"))


def capture_events(page: Any) -> list[tuple[int, list[dict[str, Any]], Any]]:
    """Every ``POST /api/events`` the page makes: (status, events sent, answer)."""
    seen: list[tuple[int, list[dict[str, Any]], Any]] = []

    def on_response(response: Any) -> None:
        request = response.request
        if request.method != "POST" or not request.url.split("?")[0].endswith("/api/events"):
            return
        sent = json.loads(request.post_data or "[]")
        try:
            answer = response.json()
        except Exception:  # a beacon's answer may be gone with the page
            answer = None
        seen.append((response.status, sent if isinstance(sent, list) else [sent], answer))

    page.on("response", on_response)
    return seen


def flush_events(page: Any) -> None:
    """Make the page send its queued events now (as it does when hidden)."""
    page.evaluate(
        "() => { Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});"
        " document.dispatchEvent(new Event('visibilitychange'));"
        " delete document.visibilityState; }"
    )


def ws_frames(page: Any, direction: str = "framereceived") -> list[dict[str, Any]]:
    """Frames the page receives (or sends: ``framesent``) on its WebSockets, parsed; attach before it connects."""
    frames: list[dict[str, Any]] = []

    def on_socket(ws: Any) -> None:
        def on_frame(payload: Any) -> None:
            with contextlib.suppress(TypeError, ValueError):
                frames.append(json.loads(payload))

        ws.on(direction, on_frame)

    page.on("websocket", on_socket)
    return frames
