"""The core never names an assistant, its data or its words: only the packs do."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "layers" / "core" / "python" / "luma"
PACKS = CORE / "assistants"
WORDS = re.compile(r"clinic|appointment|patient|doctor|incident|sitework", re.IGNORECASE)
SKIP_DIRS = {"__pycache__", "prebuilt"}


def _files() -> list[Path]:
    found: list[Path] = []
    for base in (CORE, ROOT / "functions", ROOT / "web"):
        for path in base.rglob("*"):
            if not path.is_file() or SKIP_DIRS & set(path.parts) or path.suffix in (".pyc", ".npz"):
                continue
            if path.is_relative_to(PACKS) and path.relative_to(PACKS).parts[0] not in (
                "__init__.py",
                "contract.py",
                "registry.py",
            ):
                continue  # a pack's own folder: assistants/<pack>/
            found.append(path)
    return found


def test_the_scan_covers_the_core_functions_and_the_web_client() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _files()}
    assert "layers/core/python/luma/pipeline/classify.py" in names
    assert "layers/core/python/luma/assistants/contract.py" in names
    assert "functions/classify/handler.py" in names and "web/app.js" in names
    assert not any("/assistants/clinic/" in n for n in names)


def test_no_assistant_words_outside_the_packs() -> None:
    offenders = []
    for path in _files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if WORDS.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not offenders, "assistant words in the core:\n" + "\n".join(offenders)
