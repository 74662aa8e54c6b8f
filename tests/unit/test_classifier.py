"""The intent classifier's scoring, calibration, caching and evaluation, with a fake embedder."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from luma.classify import (
    EmbeddingCache,
    IntentClassifier,
    MultilingualClassifier,
    Prediction,
    build_multilingual_classifier,
    load_intents,
    pack_languages,
)
from luma.classify.classifier import ClassifierConfig, _choose, _Scores, _stratified_folds
from luma.classify.evaluate import EvalResult, evaluate
from luma.classify.linear import train_softmax
from luma.classify.pack import fast_path_intents, load_intent_specs, parse_intents, parse_multilingual
from luma.language import SUPPORTED

ROOT = Path(__file__).resolve().parents[2]
CLINIC_INTENTS = {
    "greeting",
    "list_appointments",
    "confirm_appointment",
    "cancel_appointment",
    "reschedule_appointment",
    "clinic_hours",
    "clinic_location",
    "escalate_to_human",
    "goodbye",
}


class FakeEmbedder:
    """Bag of words: every word has a fixed pseudo-random direction; texts are normalised sums."""

    dimension = 64
    fingerprint = "fake-bag-of-words-v1"

    def __init__(self) -> None:
        self.embedded = 0

    @staticmethod
    def _word(word: str) -> np.ndarray:
        seed = int(hashlib.sha256(word.encode()).hexdigest()[:8], 16)
        return np.random.default_rng(seed).standard_normal(FakeEmbedder.dimension)

    def embed_one(self, text: str) -> np.ndarray:
        self.embedded += 1
        words = re.findall(r"[a-z]+", text.lower()) or ["<empty>"]
        v = np.sum([self._word(w) for w in words], axis=0)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self.embed_one(t) for t in texts])


EXAMPLES = {
    "hours": [
        "what time do you open",
        "when do you open",
        "opening hours please",
        "what are your opening hours",
        "are you open today",
        "what time do you close",
        "closing time today",
        "are you open on saturday",
        "when do you close on sunday",
        "opening times",
        "hours today",
        "are you open now",
    ],
    "cancel": [
        "cancel my appointment",
        "please cancel my appointment",
        "i want to cancel",
        "cancel my booking",
        "cancel tomorrow appointment",
        "i need to cancel my visit",
        "cancel it please",
        "please cancel the booking",
        "cancel my visit on friday",
        "cancel appointment",
        "i must cancel",
        "cancel the visit",
    ],
    "location": [
        "where are you located",
        "what is your address",
        "address please",
        "where is the clinic",
        "directions to the clinic",
        "where are you",
        "clinic address",
        "where is your office located",
        "how do i find the clinic",
        "location of the clinic",
        "where exactly are you located",
        "send me the address",
    ],
}
OOS = [
    "tell me a joke",
    "tell me a funny joke",
    "what is the weather",
    "weather forecast tomorrow",
    "capital of france",
    "who won the football",
    "recommend a movie",
    "sing a song",
    "what is the meaning of life",
    "tell me a story",
]


@pytest.fixture(scope="module")
def fitted() -> IntentClassifier:
    return IntentClassifier(FakeEmbedder()).fit(EXAMPLES, oos_examples=OOS)


def test_clear_message_is_accepted_with_consistent_scores(fitted: IntentClassifier) -> None:
    p = fitted.predict("what time do you open on saturday")
    assert isinstance(p, Prediction)
    assert (p.intent, p.top_intent, p.accepted, p.reason) == ("hours", "hours", True, "accepted")
    assert 0.0 <= p.margin <= p.confidence <= 1.0
    assert p.confidence >= p.threshold == fitted.thresholds["hours"]
    assert p.similarity >= fitted.similarity_floor
    assert p.latency_ms > 0


def test_unrelated_message_is_not_accepted(fitted: IntentClassifier) -> None:
    p = fitted.predict("zebra quantum violin marmalade")
    assert not p.accepted
    assert p.intent is None
    assert p.top_intent in EXAMPLES
    assert p.reason in {"low_similarity", "out_of_scope"}


def test_message_like_the_oos_examples_goes_out_of_scope(fitted: IntentClassifier) -> None:
    p = fitted.predict("tell me another funny joke")
    assert not p.accepted and p.intent is None
    assert p.reason == "out_of_scope"


def test_margin_is_top_minus_runner_up() -> None:
    # Two intents and no oos class: the two probabilities sum to one, so margin = 2p - 1.
    two = {k: EXAMPLES[k] for k in ("hours", "cancel")}
    clf = IntentClassifier(FakeEmbedder()).fit(two)
    for text in ("cancel my appointment on monday", "when do you open", "where is the clinic"):
        p = clf.predict(text)
        assert p.margin == pytest.approx(2 * p.confidence - 1, abs=1e-6)


def test_explicit_threshold_overrides_only_its_intent() -> None:
    clf = IntentClassifier(FakeEmbedder()).fit(EXAMPLES, thresholds={"hours": 1.0}, oos_examples=OOS)
    assert clf.calibration is not None
    assert clf.thresholds == {"hours": 1.0, "cancel": clf.calibration.tau, "location": clf.calibration.tau}
    p = clf.predict("what time do you open on saturday")
    assert p.top_intent == "hours" and p.threshold == 1.0
    assert (p.accepted, p.intent, p.reason) == (False, None, "below_threshold")
    assert clf.predict("please cancel my appointment").accepted


def test_calibration_comes_from_cross_validation(fitted: IntentClassifier) -> None:
    cal = fitted.calibration
    assert cal is not None and cal.method == "cross-validation"
    assert cal.folds == 10  # small training set
    assert 0.5 <= cal.tau <= 0.99 and 0.3 <= cal.sigma <= 0.8
    assert cal.oof_precision >= 0.995
    assert cal.oof_oos_accept == 0.0  # 10 oos examples: 1% allows none


def _scores(rows: list[tuple[int, int, float, float]]) -> tuple[_Scores, np.ndarray]:
    truth, top, conf, sim = (np.array(col) for col in zip(*rows, strict=True))
    return _Scores(top=top, confidence=conf, margin=conf * 0, similarity=sim, oos_proba=conf * 0), truth


def test_choose_puts_tau_just_above_the_confident_errors() -> None:
    correct = [(0, 0, c, 0.9) for c in np.linspace(0.80, 0.99, 100)]
    wrong = [(1, 0, 0.85, 0.9)] * 5  # five confident mistakes at 0.85
    far_oos = [(-1, 0, 0.95, 0.4)] * 10  # confident but far from every exemplar
    scores, truth = _scores(correct + wrong + far_oos)
    tau, sigma, precision, coverage, oos_rate = _choose(scores, truth, ClassifierConfig())
    assert tau == pytest.approx(0.855)
    assert sigma == pytest.approx(0.8)  # the strictest guard that costs no coverage
    assert precision == 1.0 and oos_rate == 0.0
    # coverage counts the 105 in-scope rows (the five mistakes are in-scope messages too)
    assert coverage == pytest.approx((np.linspace(0.80, 0.99, 100) >= 0.855).sum() / 105)


def test_choose_raises_tau_above_close_oos_examples() -> None:
    correct = [(0, 0, c, 0.9) for c in np.linspace(0.80, 0.99, 100)]
    close_oos = [(-1, 0, 0.97, 0.9)] * 3
    scores, truth = _scores(correct + close_oos)
    tau, *_ = _choose(scores, truth, ClassifierConfig())
    assert tau == pytest.approx(0.975)
    # A lower precision target does not let them through either: no oos accept is allowed.
    tau_lax, *_ = _choose(scores, truth, ClassifierConfig(target_precision=0.9))
    assert tau_lax == pytest.approx(0.975)


def test_choose_reports_nothing_when_the_target_is_unreachable() -> None:
    scores, truth = _scores([(0, 1, 0.99, 0.9)] * 20)  # always wrong
    tau, sigma, *_ = _choose(scores, truth, ClassifierConfig())
    assert np.isnan(tau) and np.isnan(sigma)


def test_too_little_data_falls_back_to_fixed_thresholds() -> None:
    clf = IntentClassifier(FakeEmbedder()).fit({"a": ["hello there", "hi"], "b": ["bye now", "goodbye"]})
    assert clf.calibration is not None and clf.calibration.method == "fallback"
    assert clf.thresholds == {"a": 0.9, "b": 0.9} and clf.similarity_floor == 0.5


def test_invalid_fits_and_predict_before_fit() -> None:
    clf = IntentClassifier(FakeEmbedder())
    with pytest.raises(RuntimeError):
        clf.predict("hello")
    with pytest.raises(ValueError, match="unknown intents"):
        clf.fit(EXAMPLES, thresholds={"nope": 0.5})
    with pytest.raises(ValueError, match="in \\(0, 1\\]"):
        clf.fit(EXAMPLES, thresholds={"hours": 1.5})
    with pytest.raises(ValueError, match="without exemplars"):
        clf.fit({"hours": EXAMPLES["hours"], "empty": []})
    with pytest.raises(ValueError, match="at least one intent"):
        clf.fit({})


def test_empty_text_is_not_embedded(fitted: IntentClassifier) -> None:
    embedder = fitted.embedder
    assert isinstance(embedder, FakeEmbedder)
    before = embedder.embedded
    p = fitted.predict("   ")
    assert (p.accepted, p.intent, p.reason) == (False, None, "empty")
    assert embedder.embedded == before


def test_fitted_state_is_cached_and_invalidated_by_content(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, read_only=())
    first_embedder = FakeEmbedder()
    first = IntentClassifier(first_embedder, cache=cache).fit(EXAMPLES, oos_examples=OOS)
    assert not first.from_cache
    assert first_embedder.embedded == sum(map(len, EXAMPLES.values())) + len(OOS)

    again_embedder = FakeEmbedder()
    again = IntentClassifier(again_embedder, cache=cache).fit(EXAMPLES, oos_examples=OOS)
    assert again.from_cache and again_embedder.embedded == 0
    assert again.thresholds == first.thresholds and again.calibration == first.calibration
    a, b = first.predict("are you open on sunday"), again.predict("are you open on sunday")
    assert (a.intent, a.confidence, a.similarity) == (b.intent, pytest.approx(b.confidence), b.similarity)

    changed = {**EXAMPLES, "hours": [*EXAMPLES["hours"], "what are the hours on monday"]}
    third_embedder = FakeEmbedder()
    third = IntentClassifier(third_embedder, cache=cache).fit(changed, oos_examples=OOS)
    assert not third.from_cache
    assert third_embedder.embedded == 1  # only the new exemplar; the others come from the vector cache


def test_embedding_cache_keeps_order_and_embeds_only_misses(tmp_path: Path) -> None:
    cache, embedder = EmbeddingCache(tmp_path, read_only=()), FakeEmbedder()
    first = cache.embed(embedder, ["b text", "a text"])
    assert embedder.embedded == 2
    both = cache.embed(embedder, ["a text", "c text", "b text", "a text"])
    assert embedder.embedded == 3  # only "c text" was new
    np.testing.assert_allclose(both[0], first[1])
    np.testing.assert_allclose(both[2], first[0])
    np.testing.assert_allclose(both[3], both[0])


def test_unwritable_cache_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    clf = IntentClassifier(FakeEmbedder(), cache=EmbeddingCache(blocker, read_only=()))
    assert clf.fit(EXAMPLES, oos_examples=OOS).predict("cancel my appointment").accepted


def test_softmax_head_learns_separable_data_deterministically() -> None:
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((4, 32))
    y = np.repeat(np.arange(4), 25)
    x = centers[y] + 0.3 * rng.standard_normal((100, 32))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    head = train_softmax(x, y, 4)
    proba = head.proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert (proba.argmax(axis=1) == y).mean() == 1.0
    np.testing.assert_array_equal(train_softmax(x, y, 4).weights, head.weights)


def test_stratified_folds_spread_every_class() -> None:
    y = np.array([0] * 20 + [1] * 10 + [-1] * 5)
    folds = _stratified_folds(y, 5, seed=0)
    for label in (0, 1):
        assert np.bincount(folds[y == label], minlength=5).tolist() == [len(y[y == label]) // 5] * 5
    np.testing.assert_array_equal(folds, _stratified_folds(y, 5, seed=0))


# --- the clinic pack ----------------------------------------------------------------------------


def test_clinic_pack_has_the_intents_and_enough_examples() -> None:
    exemplars, thresholds, oos = load_intents("clinic")
    assert set(exemplars) == CLINIC_INTENTS
    assert all(len(texts) >= 25 for texts in exemplars.values())
    assert all(len(set(texts)) == len(texts) for texts in exemplars.values())
    assert len(oos) >= 60
    assert all(0 < v <= 1 for v in thresholds.values())
    assert fast_path_intents("clinic") == CLINIC_INTENTS - {"reschedule_appointment"}
    assert load_intent_specs("clinic")["reschedule_appointment"].fast_path is False


def test_clinic_test_file_is_held_out() -> None:
    rows = [json.loads(line) for line in (ROOT / "tests/data/clinic_intents_test.jsonl").read_text().splitlines()]
    exemplars, _, oos = load_intents("clinic")
    seen = {t.casefold() for texts in exemplars.values() for t in texts} | {t.casefold() for t in oos}
    assert not [r["text"] for r in rows if r["text"].casefold() in seen]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["intent"]] = counts.get(r["intent"], 0) + 1
    assert set(counts) == CLINIC_INTENTS | {"oos"}
    assert min(counts[i] for i in CLINIC_INTENTS) >= 10 and counts["oos"] >= 40


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"version": 2, "intents": {"a": {"exemplars": ["x"]}}}, "version"),
        ({"version": 1, "intents": {}}, "non-empty"),
        ({"version": 1, "intents": {"Bad-Name": {"exemplars": ["x"]}}}, "invalid intent name"),
        ({"version": 1, "intents": {"a": {"exemplars": ["same"]}, "b": {"exemplars": ["Same"]}}}, "both"),
        ({"version": 1, "intents": {"a": {"exemplars": ["x"], "threshold": 2}}}, "threshold"),
        ({"version": 1, "intents": {"a": {"exemplars": ["x"]}}, "oos": ["x"]}, "out-of-scope"),
    ],
)
def test_parse_intents_rejects_bad_packs(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_intents(doc)


def test_load_intents_rejects_path_tricks() -> None:
    with pytest.raises(ValueError, match="invalid assistant"):
        load_intents("../clinic")


# --- the clinic pack in other languages ------------------------------------------------------------


def test_clinic_pack_has_exemplars_in_every_language() -> None:
    assert set(pack_languages("clinic")) == set(SUPPORTED) and pack_languages("clinic")[0] == "en"
    english = load_intents("clinic")
    for lang in pack_languages("clinic")[1:]:
        exemplars, _, oos = load_intents("clinic", language=lang)
        assert set(exemplars) == CLINIC_INTENTS, lang
        assert all(len(set(texts)) == len(texts) >= 12 for texts in exemplars.values()), lang
        assert set(english.oos) <= set(oos) and len(oos) >= len(english.oos) + 12, lang  # own negatives too


def test_multilingual_test_file_is_held_out_and_covers_every_language() -> None:
    path = ROOT / "tests/data/clinic_intents_multilingual_test.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    seen = set()
    for lang in pack_languages("clinic"):
        exemplars, _, oos = load_intents("clinic", language=lang)
        seen |= {t.casefold() for texts in exemplars.values() for t in texts} | {t.casefold() for t in oos}
    assert not [r["text"] for r in rows if r["text"].casefold() in seen]
    for lang in SUPPORTED:
        counts: dict[str, int] = {}
        for r in rows:
            if r["lang"] == lang:
                counts[r["intent"]] = counts.get(r["intent"], 0) + 1
        assert set(counts) == CLINIC_INTENTS | {"oos"}, lang
        assert min(counts[i] for i in CLINIC_INTENTS) >= 8 and counts["oos"] >= 10, lang


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"version": 2, "languages": {}}, "version"),
        ({"version": 1, "languages": {"nl": {"intents": {"a": ["hoi"], "b": ["doei"]}}}}, "not one of"),
        ({"version": 1, "languages": {"en": {"intents": {"a": ["hi"], "b": ["bye"]}}}}, "not one of"),
        ({"version": 1, "languages": {"fr": {"intents": {"zzz": ["salut"], "a": ["x"]}}}}, "undeclared"),
        ({"version": 1, "languages": {"fr": {"intents": {"a": ["même"], "b": ["Même"]}}}}, "both"),
        ({"version": 1, "languages": {"fr": {"intents": {"a": ["x"], "b": ["y"]}, "oos": ["X"]}}}, "out-of-scope"),
        ({"version": 1, "languages": {"fr": {"intents": {"a": ["x"]}}}}, "two intents"),
    ],
)
def test_parse_multilingual_rejects_bad_files(doc: dict[str, object], message: str) -> None:
    intents, _ = parse_intents({"version": 1, "intents": {"a": {"exemplars": ["a"]}, "b": {"exemplars": ["b"]}}})
    with pytest.raises(ValueError, match=message):
        parse_multilingual(doc, intents)


def _fitted_on(examples: dict[str, list[str]], oos: list[str]) -> IntentClassifier:
    return IntentClassifier(FakeEmbedder()).fit(examples, oos_examples=oos)


def test_multilingual_classifier_routes_by_language() -> None:
    built: list[str] = []
    french = {
        "hours": ["quand ouvrez vous", "horaires d ouverture", "vous ouvrez a quelle heure", "heures d ouverture"] * 3,
        "cancel": ["annuler mon rendez vous", "je veux annuler", "annulez le rendez vous", "annulation svp"] * 3,
    }
    fits = {"en": _fitted_on(EXAMPLES, OOS), "fr": _fitted_on(french, OOS)}

    def build(language: str) -> IntentClassifier:
        built.append(language)
        return fits[language]

    model = MultilingualClassifier(build, ["fr"])
    assert model.languages == ("en", "fr") and built == []  # nothing is built before it is needed
    english = model.predict("what time do you open", language="en")
    assert english.language == "en" and english.top_intent == "hours"
    french_prediction = model.predict("je veux annuler", language="fr")
    assert french_prediction.language == "fr" and french_prediction.top_intent == "cancel"
    assert model.predict("wann öffnen Sie", language="de").language == "en"  # no German exemplars: English
    assert model.predict("bonjour, je voudrais annuler mon rendez-vous").language == "fr"  # detected
    assert built == ["en", "fr"] and model.warm() is model and built == ["en", "fr"]


def test_build_multilingual_classifier_fits_each_language(tmp_path: Path) -> None:
    model = build_multilingual_classifier(
        "clinic", embedder=FakeEmbedder(), cache=EmbeddingCache(tmp_path, read_only=())
    )
    english, polish = model.classifier("en"), model.classifier("pl")
    assert english is not polish and set(polish.intents) == CLINIC_INTENTS
    assert len(list(tmp_path.glob("fit-*.npz"))) == 2  # one fitted state per language, cached


# --- evaluation ---------------------------------------------------------------------------------


class ScriptedClassifier:
    def __init__(self, answers: dict[str, tuple[str, bool]]) -> None:
        self.answers = answers

    def predict(self, text: str) -> Prediction:
        top, accepted = self.answers[text]
        return Prediction(top if accepted else None, top, 0.9, 0.5, accepted, latency_ms=float(len(text)))


def test_evaluate_metrics() -> None:
    rows = [
        {"text": "a1", "intent": "a"},  # accepted, right
        {"text": "a22", "intent": "a"},  # accepted, wrong (b)
        {"text": "b333", "intent": "b"},  # not accepted, top-1 right
        {"text": "b4444", "intent": "b"},  # accepted, right
        {"text": "o55555", "intent": "oos"},  # accepted: a false accept
        {"text": "o666666", "intent": "oos"},  # rejected
    ]
    answers = {
        "a1": ("a", True),
        "a22": ("b", True),
        "b333": ("b", False),
        "b4444": ("b", True),
        "o55555": ("a", True),
        "o666666": ("b", False),
    }
    result = evaluate(ScriptedClassifier(answers), rows)  # type: ignore[arg-type]
    assert isinstance(result, EvalResult)
    assert result.precision == pytest.approx(2 / 4)
    assert result.coverage == pytest.approx(3 / 4)
    assert result.oos_false_accept == pytest.approx(1 / 2)
    assert result.accuracy == pytest.approx(3 / 4)
    assert result.p50_ms == pytest.approx(4.5)
    assert (result.per_intent["b"].predicted, result.per_intent["b"].correct) == (2, 1)
    assert result.per_intent["a"].coverage == 1.0 and result.per_intent["b"].coverage == 0.5
    assert result.summary_line() == (
        "classify precision=0.5000 coverage=0.7500 oos_false_accept=0.5000 accuracy=0.7500 p50_ms=4.50"
    )
    table = result.table().splitlines()
    assert table[0].split()[:2] == ["intent", "n"] and table[-1].split()[0] == "oos"
