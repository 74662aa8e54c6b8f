"""Static checks of the operator console (web/operator/): ready for the gateway's strict CSP, safe DOM use,
every text in the nine languages, no assistant's vocabulary, the elements the script looks up exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

CONSOLE = Path(__file__).resolve().parents[2] / "web" / "operator"
SCRIPTS = ["operator.js", "texts.js"]
LANGS = ["en", "fr", "es", "pt", "de", "it", "ro", "pl", "ar"]
ASSISTANT_WORDS = re.compile(r"clinic|appointment|patient|doctor|incident|sitework", re.IGNORECASE)
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: list[str] = []
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._script = False

    def handle_data(self, data: str) -> None:
        if self._script and data.strip():
            self.inline.append(data)


def _html() -> _Collector:
    parser = _Collector()
    parser.feed((CONSOLE / "index.html").read_text(encoding="utf-8"))
    return parser


def _read(name: str) -> str:
    return (CONSOLE / name).read_text(encoding="utf-8")


def test_the_console_ships_its_files() -> None:
    for name in ("index.html", "operator.js", "operator.css", "texts.js"):
        assert (CONSOLE / name).is_file(), name


def test_ready_for_a_strict_content_security_policy() -> None:
    parsed = _html()
    assert not parsed.inline, "inline <script>"
    for tag, attrs in parsed.tags:
        assert tag != "style" and "style" not in attrs, f"<{tag}> styles inline"
        assert not [a for a in attrs if a.startswith("on")], f"<{tag}> has an inline handler"
        for attr in ("src", "href"):
            value = (attrs.get(attr) or "").strip().lower()
            assert not value.startswith(("data:", "javascript:", "http:", "https:", "//")), f"<{tag} {attr}>"
        if tag == "script":
            assert attrs.get("src") and attrs.get("type") == "module"
    for name in SCRIPTS:
        source = _read(name)
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source, f"{name} uses {sink}"
        assert not re.search(r"setAttribute\(\s*[\"']style[\"']|\.cssText\s*=|\.on\w+\s*=", source), name
        imports = re.findall(r"""^\s*import\s.*?from\s+["']([^"']+)["']""", source, flags=re.M)
        assert all(spec in ("./texts.js", "../protocol.js") for spec in imports), imports
    assert "@import" not in _read("operator.css") and "url(" not in _read("operator.css")


def test_no_assistant_words() -> None:
    for path in sorted(CONSOLE.iterdir()):
        assert not ASSISTANT_WORDS.findall(path.read_text(encoding="utf-8")), path.name


def test_the_elements_the_script_uses_exist() -> None:
    tags = _html().tags
    ids = [attrs["id"] for _, attrs in tags if attrs.get("id")]
    assert len(ids) == len(set(ids)), "duplicate ids"
    used = set(re.findall(r'\$\("([A-Za-z0-9_-]+)"\)', _read("operator.js")))
    assert used and used <= set(ids), sorted(used - set(ids))
    labels = {attrs.get("for") for tag, attrs in tags if tag == "label"}
    assert {"signin-operator", "signin-tenant", "reply-input", "close-note", "token-input"} <= labels
    testids = {attrs.get("data-testid") for _, attrs in tags}
    assert {
        "queue",
        "transcript",
        "take-over",
        "hand-back",
        "reply-send",
        "close-escalation",
        "security-panel",
    } <= testids


@needs_node
def test_every_text_in_nine_languages() -> None:
    url = json.dumps((CONSOLE / "texts.js").as_uri())
    script = f"import({url}).then((m) => process.stdout.write(JSON.stringify(m.CATALOG)))"
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, check=True)
    catalog = json.loads(result.stdout)
    assert sorted(catalog) == sorted(LANGS)
    english = catalog["en"]
    for lang in LANGS:
        assert set(catalog[lang]) == set(english), (lang, sorted(set(english) ^ set(catalog[lang])))
        for key, text in catalog[lang].items():
            assert text.strip(), f"{lang}.{key}"
            assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", english[key])), f"{lang}.{key}"
        if lang != "en":
            assert catalog[lang]["canned.greet"] != english["canned.greet"], lang
    source = _read("operator.js")
    used = set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", source))
    used |= set(re.findall(r'"(canned\.\w+)"', source))
    used |= {attrs[a] for _, attrs in _html().tags for a in ("data-i18n", "data-i18n-aria-label") if attrs.get(a)}
    used |= {f"conn.{s}" for s in ("idle", "connecting", "connected", "reconnecting")}
    used |= {f"channel.{c}" for c in ("websocket", "whatsapp", "sms", "http")}
    used |= {f"status.{s}" for s in ("active", "closed", "locked")}
    assert used <= set(english), sorted(used - set(english))


@needs_node
@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_parse(name: str) -> None:
    result = subprocess.run(["node", "--check", str(CONSOLE / name)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
