"""Language detection for inbound messages (the nine languages Luma answers in).

Contract used by the pipeline: ``detect_language(text, previous=...)`` returns one of
:data:`SUPPORTED`; a text too short or too ambiguous to tell keeps ``previous`` (or ``"en"``).

How it decides, cheapest evidence first:

1. **Script.** Arabic letters outnumbering Latin ones → ``"ar"``; no Latin letters at all (digits,
   emoji, another script) → ``previous``.
2. **Short texts** (fewer than three words once capitalised names, numbers and dates are set
   aside — "ok", "hola", "merci", "Alice Martin, 14/03/1987") are decided by a small lexicon of
   greetings, thanks, yes/no and function words: a text switches language only when its known words
   point to exactly one language (or include ``previous``); otherwise ``previous`` is kept.
3. **Longer texts**: a naive-Bayes model over byte n-grams (langid.py's, through ``py3langid``,
   restricted to the eight Latin-script languages and stored in ``language.npz`` beside this file:
   2.9 MB, loaded with numpy on first use), each lexicon word multiplying its languages' odds by
   :data:`LEXICON_BOOST`. ``previous`` is kept while its share stays at least :data:`STICKY`, so a
   foreign name or word does not flip the session; otherwise the best language wins with a share
   of at least :data:`MIN_CONFIDENCE`, else ``previous`` stays.

Assistants add their own domain words (:func:`with_domain_words`), which weigh like the core's.

``python -m luma.language build`` regenerates ``language.npz`` from the installed ``py3langid``
(a development dependency; the runtime needs only numpy; the data derives from langid.py/py3langid,
BSD-3-Clause, Marco Lui and Adrien Barbaresi). The model's feature extraction is
reproduced exactly: the state of langid.py's Aho-Corasick automaton after reading a prefix is the
longest suffix of that prefix which is a node of its trie, so each node is stored as a packed
byte key and the walk becomes a few vectorised ``searchsorted`` calls.
"""

from __future__ import annotations

import re
import sys
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUPPORTED: tuple[str, ...] = ("fr", "en", "es", "pt", "de", "it", "ro", "pl", "ar")
DEFAULT = "en"
LATIN: tuple[str, ...] = tuple(lang for lang in SUPPORTED if lang != "ar")
MODEL_PATH = Path(__file__).with_name("language.npz")
MIN_CONFIDENCE = 0.60  # another language needs at least this share of the (lexicon-weighted) probability
STICKY = 0.10  # ``previous`` is kept while its share is at least this
LEXICON_BOOST = 4.0  # each lexicon word multiplies its languages' probabilities by this
MIN_WORDS = 3  # fewer words (names, numbers set aside) is a short text: lexicon only
_MAX_DEPTH = 7  # byte keys pack up to 7 bytes below the length byte

_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_LATIN_LETTER = re.compile(r"[a-zA-Z\u00c0-\u024f]")

# Marker words of short messages -> the languages they belong to. One language: unambiguous.
_LEXICON_SOURCE: dict[str, str] = {
    "en": (
        "hi hello hey thanks thank you yes yeah yep nope please bye goodbye good morning evening "
        "the is are what when where how my i'm i am can could would with and okay sure cheers "
        "hours open opening cancel confirm address human staff"
    ),
    "fr": (
        "bonjour bonsoir salut merci oui ouais non d'accord au revoir je suis mon ma mes "
        "est c'est quand où comment pourquoi avec s'il vous plaît plait annuler confirmer horaires "
        "adresse bonne journée soirée très bien"
    ),
    "es": (
        "hola gracias sí vale adiós buenos buenas días tardes noches por favor quiero mi mis es está "
        "cuándo dónde cómo con cancelar confirmar horario dirección muchas claro también"
    ),
    "pt": (
        "olá oi obrigado obrigada sim não tchau adeus bom boa dia tarde noite por favor quero minha "
        "meu é está quando onde como com cancelar confirmar horário endereço "
        "muito também até logo"
    ),
    "de": (
        "hallo moin danke ja nein tschüss tschüs auf wiedersehen guten tag morgen abend bitte ich bin "
        "mein meine ist wann wo wie mit absagen bestätigen öffnungszeiten adresse "
        "vielen dank genau gerne"
    ),
    "it": (
        "ciao buongiorno buonasera grazie sì arrivederci per favore voglio mio mia è quando dove "
        "come con annullare disdire confermare orari indirizzo certo va "
        "bene anche prego"
    ),
    "ro": (
        "bună buna salut mulțumesc multumesc mersi da nu la revedere ziua seara vă rog va rog vreau "
        "meu mea este când unde cum cu anula confirma program "
        "adresa foarte bine"
    ),
    "pl": (
        "cześć czesc dzień dobry dziękuję dziekuje dzięki tak nie do widzenia proszę prosze chcę chce "
        "mój moja jest kiedy gdzie jak odwołać potwierdzić godziny adres "
        "dobrze bardzo"
    ),
}


def _build_lexicon(source: dict[str, str]) -> dict[str, frozenset[str]]:
    langs: dict[str, set[str]] = {}
    for lang, words in source.items():
        for word in words.split():
            langs.setdefault(word, set()).add(lang)
    return {word: frozenset(v) for word, v in langs.items()}


LEXICON: dict[str, frozenset[str]] = _build_lexicon(_LEXICON_SOURCE)


@dataclass(frozen=True)
class NgramModel:
    """langid.py's naive Bayes restricted to some languages, with its automaton as sorted byte keys."""

    langs: tuple[str, ...]
    keys: np.ndarray  # (nodes,) uint64, sorted: bytes of each trie node, first byte lowest, length in the top byte
    feature: np.ndarray  # (nodes,) int32: feature counted when the walk ends on that node, -1 for none
    ptc: np.ndarray  # (features, langs) float16: log P(feature | lang)
    pc: np.ndarray  # (langs,) float32: log P(lang)

    def probabilities(self, text: str) -> dict[str, float]:
        """P(lang | text) for each of :attr:`langs` (langid.py's ``norm_probs`` scores)."""
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf-8", errors="surrogatepass")
        scores = self._raw(data)
        scores *= 1.0 / np.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        return dict(zip(self.langs, scores.tolist(), strict=True))

    def _raw(self, data: bytes) -> np.ndarray:
        b = np.frombuffer(data, dtype=np.uint8).astype(np.uint64)
        n = len(b)
        found = np.full(n, -1, dtype=np.int64)  # node index of the walk after each byte
        suffix = np.zeros(n, dtype=np.uint64)  # bytes of the suffix of length L ending at each position
        for length in range(1, min(_MAX_DEPTH, n) + 1):
            # suffix(L)[i] = text[i-L+1 .. i]: first byte lowest, so prepend the byte at i-L+1
            suffix[length - 1 :] = b[: n - length + 1] | (suffix[length - 1 :] << np.uint64(8))
            suffix[: length - 1] = 0
            key = suffix[length - 1 :] | np.uint64(length << 56)
            at = np.searchsorted(self.keys, key)
            at[at == len(self.keys)] = 0
            hit = self.keys[at] == key
            rows = np.flatnonzero(hit) + length - 1
            found[rows] = at[hit]  # longer suffixes overwrite shorter ones
        nodes = found[found >= 0]
        feats = self.feature[nodes]
        feats = feats[feats >= 0]
        if len(feats) == 0:
            return np.zeros(len(self.langs), dtype=np.float32)  # uniform: no evidence
        idx, counts = np.unique(feats, return_counts=True)
        scores: np.ndarray = np.log1p(counts.astype(np.float32)) @ self.ptc[idx].astype(np.float32) + self.pc
        return scores.astype(np.float32)


_model: NgramModel | None = None
_lock = threading.Lock()


def load_model(path: Path = MODEL_PATH) -> NgramModel:
    """The n-gram model (loaded once per process, on first use)."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                with np.load(path, allow_pickle=False) as data:
                    _model = NgramModel(
                        langs=tuple(str(x) for x in data["langs"]),
                        keys=data["keys"],
                        feature=data["feature"],
                        ptc=data["ptc"],
                        pc=data["pc"].astype(np.float32),
                    )
    return _model


Lexicon = dict[str, frozenset[str]]


def with_domain_words(extra: dict[str, str] | None) -> Lexicon:
    """The core lexicon plus an assistant's domain words (``{lang: "word word"}``), merged."""
    if not extra:
        return LEXICON
    merged = {word: set(langs) for word, langs in LEXICON.items()}
    for lang, words in extra.items():
        for word in words.split():
            merged.setdefault(word.casefold(), set()).add(lang)
    return {word: frozenset(v) for word, v in merged.items()}


def _words(text: str, lexicon: Lexicon) -> tuple[list[str], list[str]]:
    """(all word tokens lower-cased, the tokens that are not capitalised names inside the text)."""
    tokens = _TOKEN.findall(text)
    words = [t.casefold() for t in tokens]
    content = [
        t.casefold()
        for i, t in enumerate(tokens)
        if not (i > 0 and t[0].isupper() and (len(t) == 1 or t[1:].islower()) and t.casefold() not in lexicon)
    ]
    return words, content


def _lexicon_choice(words: Iterable[str], fallback: str, lexicon: Lexicon) -> str | None:
    """The one language the known words agree on (``fallback`` if it is among them), else None."""
    candidates: frozenset[str] | None = None
    for word in words:
        langs = lexicon.get(word.replace("’", "'"))
        if langs is None:
            continue
        candidates = langs if candidates is None else candidates & langs
        if not candidates:
            return None
    if not candidates:
        return None
    if fallback in candidates:
        return fallback
    return next(iter(candidates)) if len(candidates) == 1 else None


def detect_language(text: str, *, previous: str | None = None, lexicon: Lexicon | None = None) -> str:
    """The language of ``text`` among :data:`SUPPORTED`, or ``previous``/``"en"`` when unsure.

    ``lexicon``: the core's marker words plus an assistant's domain words (:func:`with_domain_words`).
    """
    lexicon = lexicon or LEXICON
    fallback = previous if previous in SUPPORTED else DEFAULT
    arabic = len(_ARABIC.findall(text))
    latin = len(_LATIN_LETTER.findall(text))
    if arabic and arabic >= latin:
        return "ar"
    if latin == 0:
        return fallback
    words, content = _words(text, lexicon)
    if len(content) < MIN_WORDS:
        # Two-word phrases ("guten Tag", "bom dia") are decided by their words together.
        return _lexicon_choice(words, fallback, lexicon) or fallback
    probs = load_model().probabilities(" ".join(content))
    for word in words:  # the lexicon's words are strong evidence in short messages
        for lang in lexicon.get(word.replace("’", "'"), ()):
            probs[lang] *= LEXICON_BOOST
    total = sum(probs.values())
    if previous in probs and probs[previous] >= STICKY * total:
        return previous
    best = max(probs, key=probs.__getitem__)
    if probs[best] >= MIN_CONFIDENCE * total:
        return best
    return _lexicon_choice(words, fallback, lexicon) or fallback


# -- building language.npz from py3langid (development only) ----------------------------------------


def build_model(langs: Sequence[str] = LATIN) -> NgramModel:
    """Restrict py3langid's model to ``langs`` and turn its automaton into sorted byte keys."""
    import io
    import lzma

    from py3langid.langid import MODEL_DIR, MODEL_FILE

    with np.load(io.BytesIO(lzma.decompress((MODEL_DIR / MODEL_FILE).read_bytes())), allow_pickle=False) as data:
        rows = data["nextmove"].reshape(-1, 256)
        row_of = data["nextmove_row"].astype(np.int64)
        out = data["out_feat"].astype(np.int32)
        classes = [str(c) for c in data["classes"]]
        ptc, pc = data["ptc"], data["pc"]
    columns = [classes.index(lang) for lang in langs]
    # Breadth-first from the root: the first path reaching a trie node spells that node's bytes.
    depth = np.full(len(row_of), -1, dtype=np.int64)
    depth[0] = 0
    key = np.zeros(len(row_of), dtype=np.uint64)
    frontier, level = np.array([0]), 0
    while len(frontier):
        level += 1
        if level > _MAX_DEPTH:
            raise ValueError(f"py3langid's automaton is deeper than {_MAX_DEPTH} bytes")
        dst = rows[row_of[frontier]].ravel().astype(np.int64)
        src = np.repeat(frontier, 256)
        byte = np.tile(np.arange(256, dtype=np.uint64), len(frontier))
        new = depth[dst] < 0
        dst, first = np.unique(dst[new], return_index=True)
        depth[dst] = level
        key[dst] = key[src[new][first]] | (byte[new][first] << np.uint64(8 * (level - 1)))
        frontier = dst
    nodes = np.flatnonzero(depth > 0)
    packed = key[nodes] | (depth[nodes].astype(np.uint64) << np.uint64(56))
    order = np.argsort(packed)
    return NgramModel(
        langs=tuple(langs),
        keys=packed[order],
        feature=out[nodes][order],
        ptc=np.ascontiguousarray(ptc[:, columns]).astype(np.float16),
        pc=pc[columns].astype(np.float32),
    )


def save_model(model: NgramModel, path: Path = MODEL_PATH) -> None:
    """Write ``model`` as an uncompressed npz (loads in a few ms)."""
    np.savez(
        path,
        langs=np.array(model.langs),
        keys=model.keys,
        feature=model.feature,
        ptc=model.ptc,
        pc=model.pc,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m luma.language build [PATH]`` or ``python -m luma.language detect TEXT...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["build"]:
        path = Path(args[1]) if len(args) > 1 else MODEL_PATH
        save_model(build_model(), path)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
        return 0
    if args[:1] == ["detect"] and len(args) > 1:
        for text in args[1:]:
            print(f"{detect_language(text)}\t{text}")
        return 0
    print("usage: python -m luma.language build [PATH] | detect TEXT...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
