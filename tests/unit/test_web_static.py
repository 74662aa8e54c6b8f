"""Static sanity checks of the web chat (web/): self-contained, safe DOM use, stable test hooks."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
SCRIPTS = ["app.js", "protocol.js"]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _html() -> list[tuple[str, dict[str, str | None]]]:
    parser = _Collector()
    parser.feed((WEB / "index.html").read_text(encoding="utf-8"))
    return parser.tags


def _read(name: str) -> str:
    return (WEB / name).read_text(encoding="utf-8")


def test_files_exist() -> None:
    for name in ["index.html", "style.css", *SCRIPTS]:
        assert (WEB / name).is_file(), name


def test_no_external_resources() -> None:
    for tag, attrs in _html():
        for attr in ("src", "href"):
            value = attrs.get(attr) or ""
            assert not re.match(r"^(https?:)?//", value), f"<{tag} {attr}={value!r}> loads from outside"
    css = _read("style.css")
    assert "@import" not in css and not re.search(r"url\(\s*['\"]?(https?:)?//", css)
    for name in SCRIPTS:
        imports = re.findall(r"""^\s*import\s.*?from\s+["']([^"']+)["']""", _read(name), flags=re.M)
        assert all(spec.startswith("./") for spec in imports), imports


def test_server_text_never_becomes_markup() -> None:
    for name in SCRIPTS:
        source = _read(name)
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{name} uses {sink}"


def test_accessible_skeleton() -> None:
    tags = _html()
    html = next(attrs for tag, attrs in tags if tag == "html")
    assert html.get("lang")
    assert any(tag == "meta" and attrs.get("name") == "viewport" for tag, attrs in tags)
    messages = next(attrs for _, attrs in tags if attrs.get("id") == "messages")
    assert messages.get("aria-live") == "polite"
    labels = {attrs.get("for") for tag, attrs in tags if tag == "label"}
    assert {"composer", "token-input"} <= labels
    ids = [attrs["id"] for _, attrs in tags if attrs.get("id")]
    assert len(ids) == len(set(ids)), "duplicate ids"


def test_test_ids_and_element_references() -> None:
    tags = _html()
    ids = {attrs["id"] for _, attrs in tags if attrs.get("id")}
    static_testids = {attrs["data-testid"] for _, attrs in tags if attrs.get("data-testid")}
    assert {
        "composer",
        "send",
        "conn-state",
        "messages",
        "debug-panel",
        "debug-toggle",
        "sign-out",
        "token-input",
        "char-counter",
    } <= static_testids
    app = _read("app.js")
    dynamic = set(re.findall(r'testid: "([a-z-]+)"', app))
    assert {"demo-user", "message-user", "message-assistant", "debug-row", "message-streaming"} <= dynamic
    referenced = set(re.findall(r'\$\("([A-Za-z0-9_-]+)"\)', app))
    assert referenced, "app.js looks elements up with $(id)"
    assert referenced <= ids, f"app.js references missing ids: {sorted(referenced - ids)}"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_parse(name: str) -> None:
    result = subprocess.run(
        ["node", "--check", str(WEB / name)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
