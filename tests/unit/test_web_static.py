"""Static checks of the web chat (web/): self-contained, safe DOM use, ready for a strict CSP,
translated in the nine languages, no assistant's vocabulary, stable test hooks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
SCRIPTS = sorted(p.name for p in WEB.glob("*.js"))
LANGS = ["en", "fr", "es", "pt", "de", "it", "ro", "pl", "ar"]
# The client is the same for every assistant: none of their words belong in it.
ASSISTANT_WORDS = re.compile(r"clinic|appointment|patient|doctor|incident|sitework", re.IGNORECASE)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def _parsed() -> _Collector:
    parser = _Collector()
    parser.feed((WEB / "index.html").read_text(encoding="utf-8"))
    return parser


def _html() -> list[tuple[str, dict[str, str | None]]]:
    return _parsed().tags


def _read(name: str) -> str:
    return (WEB / name).read_text(encoding="utf-8")


def _catalog() -> dict[str, dict[str, str]]:
    """The TEXTS object of i18n.js, read with node."""
    script = (
        f"import({json.dumps((WEB / 'i18n.js').as_uri())}).then((m) => process.stdout.write(JSON.stringify(m.CATALOG)))"
    )
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(result.stdout)


needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def test_files_exist() -> None:
    for name in ["index.html", "style.css", "favicon.svg", "app.js", "protocol.js", "i18n.js", "events.js"]:
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


def test_no_assistant_words_in_the_client() -> None:
    for path in sorted(WEB.rglob("*")):
        if path.is_file():
            found = ASSISTANT_WORDS.findall(path.read_text(encoding="utf-8"))
            assert not found, f"{path.name} says {sorted(set(found))}"


def test_ready_for_a_strict_content_security_policy() -> None:
    """No inline script, handler, style or data: URL, so `script-src 'self'; style-src 'self'` holds."""
    parsed = _parsed()
    assert not parsed.inline_scripts, "inline <script>"
    for tag, attrs in parsed.tags:
        assert tag != "style", "<style> element"
        assert "style" not in attrs, f"<{tag} style=...>"
        handlers = [a for a in attrs if a.startswith("on")]
        assert not handlers, f"<{tag}> has inline handlers {handlers}"
        for attr in ("src", "href"):
            value = (attrs.get(attr) or "").strip().lower()
            assert not value.startswith(("data:", "javascript:")), f"<{tag} {attr}={value[:30]!r}>"
        if tag == "script":
            assert attrs.get("src"), "every script is a file"
        if tag == "meta":
            assert (attrs.get("http-equiv") or "").lower() != "content-security-policy", "the CSP is a header"
    for name in SCRIPTS:
        source = _read(name)
        assert not re.search(r"setAttribute\(\s*[\"']style[\"']", source), f"{name} sets a style attribute"
        assert not re.search(r"\.(cssText|onclick|onload)\s*=", source), name
        assert not re.search(r"new Function|setTimeout\(\s*[\"'`]", source), f"{name} evaluates strings"


def test_server_text_never_becomes_markup() -> None:
    for name in SCRIPTS:
        source = _read(name)
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{name} uses {sink}"


def test_accessible_skeleton() -> None:
    tags = _html()
    html = next(attrs for tag, attrs in tags if tag == "html")
    assert html.get("lang") and html.get("dir")
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
        "debug-assistant",
        "brand-sub",
        "sign-out",
        "token-input",
        "char-counter",
    } <= static_testids
    app = _read("app.js")
    dynamic = set(re.findall(r'testid(?::|\s*=)\s*"([a-z-]+)"', app))
    assert {
        "demo-user",
        "demo-user-hint",
        "message-user",
        "message-assistant",
        "message-streaming",
        "debug-row",
        "approval-request",
        "approval-title",
        "approve",
        "decline",
        "choice",
    } <= dynamic
    referenced = set(re.findall(r'\$\("([A-Za-z0-9_-]+)"\)', app))
    assert referenced, "app.js looks elements up with $(id)"
    assert referenced <= ids, f"app.js references missing ids: {sorted(referenced - ids)}"


@needs_node
def test_every_text_in_nine_languages() -> None:
    catalog = _catalog()
    assert sorted(catalog) == sorted(LANGS)
    english = catalog["en"]
    for lang in LANGS:
        assert set(catalog[lang]) == set(english), f"{lang}: {sorted(set(english) ^ set(catalog[lang]))}"
        for key, text in catalog[lang].items():
            assert text.strip(), f"{lang}.{key} is empty"
            assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", english[key])), f"{lang}.{key}"
    assert catalog["ar"]["session.new"] != english["session.new"]
    # Every key the page uses exists.
    app = _read("app.js")
    used = set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", app))
    used |= {m for m in re.findall(r'"((?:approval|hint|tick|status)\.[\w]+)"', app)}
    used |= {f"conn.{s}" for s in ("idle", "connecting", "connected", "reconnecting", "offline")}
    used |= {attrs[a] for _, attrs in _html() for a in ("data-i18n", "data-i18n-aria-label") if attrs.get(a)}
    assert used <= set(english), sorted(used - set(english))


@needs_node
@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_parse(name: str) -> None:
    result = subprocess.run(
        ["node", "--check", str(WEB / name)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
