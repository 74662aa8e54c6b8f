"""Text helpers of memory: sentences, content words, salience, token estimates, instruction echoes."""

from __future__ import annotations

import re

from luma.agent.context import estimate_tokens

__all__ = [
    "content_words",
    "estimate_tokens",
    "is_instruction_echo",
    "is_salient",
    "keyword_query",
    "sentences",
    "tail",
    "words",
]

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'“(\[]?[A-Z0-9À-ÖØ-Þ])|\n+")

# English function words: they carry no memory and, left in a keyword query, match everything.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing don't down during each few for from further had has have
    having he her here hers herself him himself his how i i'd i'll i'm i've if in into is it it's its itself
    just let's me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that that's the their theirs them themselves then there there's
    these they they're this those through to too under until up very was we we're were what what's when
    where which while who whom why will with would you you'd you'll you're you've your yours yourself
    yourselves""".split()  # noqa: SIM905
)
# Greetings, thanks and acknowledgements: a message made only of these has nothing to remember.
CHIT_CHAT = frozenset(
    """hi hey hello hiya yo bye goodbye cya thanks thank thx ty cheers ok okay k yes yeah yep yup no nope nah
    sure cool great awesome wow nice lol haha hahaha good glad welcome please sorry congrats congratulations
    amazing wonderful fantastic totally definitely absolutely really so much too oh ah hmm well right alright
    fine see talk soon later care take chat catching catch up again morning evening night""".split()  # noqa: SIM905
)

# The assistant describing itself, its rules or instructions (never worth remembering about a user),
# and text addressed to the model rather than about the user (instructions smuggled into memory).
_INSTRUCTION_ECHO = re.compile(
    r"\b(?:as an? (?:ai|language model|assistant|virtual assistant)"
    r"|i(?:'m| am) (?:an? )?(?:ai|virtual|digital)? ?assistant"
    r"|my (?:instructions|guidelines|system prompt|rules|programming)"
    r"|(?:system|developer) (?:prompt|message|instructions)"
    r"|ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier) (?:instructions|messages|rules)"
    r"|disregard (?:all |any )?(?:the )?(?:previous|prior|above) (?:instructions|rules)"
    r"|you are now (?:a|an|in)\b|from now on,? you (?:must|will|should|are)"
    r"|i (?:can(?:not|'t)|am not able to|am unable to) (?:provide|give|offer) (?:medical|legal|financial) advice"
    r"|i(?:'m| am) here to help you with)",
    re.IGNORECASE,
)


def words(text: str) -> list[str]:
    """Lower-cased words (letters and digits, inner apostrophes kept)."""
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


def content_words(text: str) -> list[str]:
    """Words that carry meaning: not function words, not chit-chat."""
    return [w for w in words(text) if w not in STOP_WORDS and w not in CHIT_CHAT and (len(w) > 2 or w.isdigit())]


def is_salient(text: str, *, min_content_words: int = 2) -> bool:
    """True when a message says something beyond greetings, thanks and acknowledgements."""
    return len(content_words(text)) >= min_content_words


# A question about what the assistant remembers ("do you remember…", "what did I tell you…", "last
# time"), in the nine languages: asking it tells nothing new about the user.
_RECALL_QUESTION = re.compile(
    r"\b(?:remember|recall|what did i (?:tell|say|mention)|last time|earlier today)\b"
    r"|\b(?:souviens|rappelles|rappelez|souvenez|dernière fois|qu'est-ce que je t'ai dit)"
    r"|\b(?:recuerdas|recuerda|acuerdas|acuerda|última vez|lembras|lembra|lembra-se)"
    r"|\b(?:erinnerst|erinnern sie|letztes mal|was habe ich (?:dir|ihnen) gesagt)"
    r"|\b(?:ricordi|ricorda|l'ultima volta|amintești|amintiți|ultima dată|ultima oară)"
    r"|\b(?:pamiętasz|pamięta pan|pamięta pani|ostatnim razem|ostatnio)"
    r"|(?:تتذكر|تذكر|آخر مرة)",
    re.IGNORECASE,
)


def is_recall_question(text: str) -> bool:
    """True for a message that only asks what the assistant remembers (every sentence a question)."""
    parts = sentences(text)
    return bool(parts) and all(p.rstrip().endswith(("?", "؟")) for p in parts) and bool(_RECALL_QUESTION.search(text))


def is_instruction_echo(text: str) -> bool:
    """True for text about the assistant's own instructions/role, or instructions aimed at the model."""
    return bool(_INSTRUCTION_ECHO.search(text))


def sentences(text: str) -> list[str]:
    """Sentences of a text (a light splitter: end punctuation followed by a capital, or a line break)."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def tail(text: str, max_chars: int) -> str:
    """The last whole sentences of ``text`` within ``max_chars`` (at least the last one, cut if needed)."""
    parts = sentences(text)
    picked: list[str] = []
    used = 0
    for sentence in reversed(parts):
        if picked and used + len(sentence) + 1 > max_chars:
            break
        picked.insert(0, sentence)
        used += len(sentence) + 1
    out = " ".join(picked)
    return out if len(out) <= max_chars else "…" + out[-max_chars:].lstrip()


def keyword_query(text: str) -> str:
    """The words of a query worth matching on: function words dropped, a possessive also as its noun.

    The index keeps "nate's" as one term (the standard analyzer does not strip possessives), while
    memory text names people as "Nate:" too, so "Nate's" is searched as both. The text itself is
    returned when nothing is left.
    """
    kept: list[str] = []
    for word in words(text):
        if word in STOP_WORDS:
            continue
        kept.append(word)
        if word.endswith("'s") and len(word) > 3:
            kept.append(word[:-2])
    return " ".join(kept) or text
