"""A scripted "model" for ``luma dev --llm fake``: plays the clinic agent with real tool calls.

It reads the request the way a model would (the human's last message, the tool results since),
and answers in either wire format through :class:`local.fake_llm.FakeLlmServer`:

- "move / reschedule my <weekday> appointment to the afternoon" → ``list_appointments`` →
  ``find_available_slots`` → ``reschedule_appointment`` (which needs the user's approval) → a
  sentence about the outcome;
- a full name and a date of birth → ``verify_identity``;
- long-term memory (:mod:`luma.memory`): its extraction requests get facts made from the transcript they
  carry (JSON, cited by message number), its update requests ADD / UPDATE / DELETE / NOOP decisions by
  word overlap, its session-summary requests a summary of what the user shared and asked; a question
  about earlier conversations ("do you remember what I told you about …?", "what did we talk about last
  time?") is answered from the memory block of the request's system blocks, said back to the user
  ("you told me you're allergic to …"), or with "I don't have anything …" when the block is missing;
- the user telling something about themselves → an acknowledgement of what will be kept;
- anything else → a short streamed answer that says it is the fake model.

The texts are streamed word by word with a small delay so the browser shows streaming; the
first-token delay is configurable (the agent benchmark uses 300 ms).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from local.fake_llm import FakeLlmServer, Script, ScriptToolCall

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MOVE = re.compile(r"\b(move|reschedul\w*|change|shift|postpone|bring forward|another time)\b", re.I)
_DOB = re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{4}\b|\b\d{4}-\d{2}-\d{2}\b")


@dataclass
class Conversation:
    """What the fake model sees: the human's last text and the tool results that followed it."""

    human: str = ""
    results: dict[str, Any] = field(default_factory=dict)  # tool name -> parsed result (latest)
    tools: set[str] = field(default_factory=set)


def _parse_result(content: Any) -> Any:
    if isinstance(content, list):
        content = "".join(b.get("text", "") for b in content if isinstance(b, dict))
    try:
        return json.loads(content)
    except (TypeError, ValueError):
        return {"ok": False, "raw": content}


def read_conversation(body: dict[str, Any]) -> Conversation:
    """Normalise an Anthropic or OpenAI request body."""
    conv = Conversation()
    for tool in body.get("tools") or []:
        conv.tools.add(tool.get("name") or (tool.get("function") or {}).get("name", ""))
    names: dict[str, str] = {}
    for msg in body.get("messages", []):
        role, content = msg.get("role"), msg.get("content")
        if role == "assistant":
            for call in msg.get("tool_calls") or []:  # OpenAI
                names[call["id"]] = call["function"]["name"]
            if isinstance(content, list):
                for block in content:
                    if block.get("type") == "tool_use":
                        names[block["id"]] = block["name"]
        elif role == "tool":  # OpenAI tool result
            conv.results[names.get(msg.get("tool_call_id", ""), "?")] = _parse_result(content)
        elif role == "user":
            if isinstance(content, str):
                conv.human, conv.results = content, {}
                continue
            texts = [b.get("text", "") for b in content or [] if b.get("type") == "text"]
            for block in content or []:
                if block.get("type") == "tool_result":
                    conv.results[names.get(block.get("tool_use_id", ""), "?")] = _parse_result(block.get("content"))
            if texts and not any(b.get("type") == "tool_result" for b in content or []):
                conv.human, conv.results = "".join(texts), {}
    return conv


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


# -- long-term memory ------------------------------------------------------------------------------
# What luma.memory asks a model (fact extraction, ADD/UPDATE/DELETE/NOOP decisions, session summaries) is
# recognised by the answer shape its prompt asks for and by how its one user message starts; the facts
# are made from the transcript it is given. Questions about earlier conversations are answered from the
# memory block luma.memory.retrieval puts among the request's system blocks.

MEMORY_HEADER = "Long-term memory of this user"
_TRANSCRIPT_LINE = re.compile(r"^\[(\d+)\] \(([^)]*)\) (.+?) \((user|assistant)\): ?(.*)$")
_DAY = re.compile(r"^\[(\d{1,2} [A-Z][a-z]+ \d{4})\]\s*")
_LAST_TIME = re.compile(r"^Last time(?: \(([^)]*)\))?: ?(.*)$")
_SUMMARY_LABEL = re.compile(r"^Conversation summary\s*[—-]\s*")
_SPEAKER = re.compile(r"(?:^|(?<=\s))([A-Z][\w'-]*(?: [A-Z][\w'-]*)?): ")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_TOKEN = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?|[^A-Za-z]+")

ASK_LAST_TIME = re.compile(
    r"\b(last time|previous (?:conversation|session|chat|visit)|our last (?:conversation|chat|talk)"
    r"|what did we (?:talk|speak|chat) about|what (?:did|have) we (?:discuss|discussed))",
    re.I,
)
ASK_REMEMBER = re.compile(
    r"\b(do you (?:still )?remember|you remember|can you remember|what did i (?:tell|say to|mention to) you"
    r"|did i (?:tell|mention)|what do you (?:know|remember) about me|remind me what i|do you recall)\b",
    re.I,
)
_REQUEST_LEAD = re.compile(
    r"^(?:(?:please|pls|also|and|oh|by the way|btw|fyi|just so you know|for the record)[,:]?\s+)*"
    r"(?:(?:can|could|would) you\s+)?(?:please\s+)?(?:remember|note(?: down)?|keep in mind|bear in mind|make a note)"
    r"(?:\s+(?:that|this))?[,:]?\s+",
    re.I,
)
_LEAD_IN = re.compile(r"^(?:by the way|btw|fyi|just so you know|for the record|also|oh|well)[,:]?\s+", re.I)
_REQUEST_TAIL = re.compile(
    r"(?:\s*[,;:.!-]\s*(?:so\s+)?(?:please\s+)?|\s+(?:so\s+)?please\s+)"
    r"(?:remember|note|keep in mind|bear in mind)\s+(?:that|this|it)\b[^.?!]*[.!]?$",
    re.I,
)
_FIRST_PERSON = re.compile(r"\b(i|i'm|i’m|i've|i’ve|i'd|i’d|i'll|i’ll|my|me|mine|myself|we|our|us)\b", re.I)
_GREETING = re.compile(r"^(?:hi|hello|hey|thanks|thank you|good (?:morning|afternoon|evening)|bye)\b", re.I)
_TO_ASSISTANT = re.compile(r"\b(?:ignore|disregard|you are now|from now on,? you|system prompt)\b", re.I)

_STOP = frozenset(
    """a an the and or but if so to of in on at by for with from as is are was were be been am do does did have
    has had i i'm me my mine we our us you your yours it its this that these those what which who when where
    how why can could would should will shall may might must not no yes please just about again also there
    their they them he she his her him""".split()  # noqa: SIM905
)
_ASKING_WORDS = frozenset(
    """remember recall told tell telling said say mentioned mention know knew earlier before last time
    previous conversation conversations talk talked talking chat discussed discuss remind anything something
    still thing things""".split()  # noqa: SIM905
)
_ADVERBS = frozenset("also always usually often sometimes never just really still only now actually".split())  # noqa: SIM905
_MODALS = frozenset(
    """can could will would should must might may can't cannot won't wouldn't couldn't shouldn't didn't did had
    used""".split()  # noqa: SIM905
)
_IRREGULAR_PAST = frozenset(
    """went got had took made said told saw came gave found left felt knew thought bought broke fell ran began
    became wrote met lost spent sent built kept paid heard sold brought drove ate slept won grew moved""".split()  # noqa: SIM905
)
_THIRD = {
    "am": "is",
    "'m": "is",
    "’m": "is",
    "have": "has",
    "'ve": "has",
    "’ve": "has",
    "do": "does",
    "don't": "doesn't",
}
_PLURAL = {"am": "are", "'m": "'re", "’m": "'re", "was": "were"}


@dataclass
class Said:
    """One line of a transcript luma.memory shows the model: ``[n] (day) who (role): text``."""

    number: int
    day: str
    who: str
    role: str
    text: str


@dataclass
class MemoryNotes:
    """The memory block of a request: the "last time" summary (day, text) and the remembered items."""

    last_day: str = ""
    last_text: str = ""
    items: list[str] = field(default_factory=list)


def system_text(body: dict[str, Any]) -> str:
    """Every system block of an Anthropic or OpenAI request body, joined."""
    parts: list[str] = []
    system = body.get("system")
    if isinstance(system, str):
        parts.append(system)
    elif isinstance(system, list):
        parts += [str(b.get("text", "")) for b in system if isinstance(b, dict)]
    for msg in body.get("messages", []):
        if msg.get("role") in ("system", "developer"):
            content = msg.get("content")
            if isinstance(content, list):
                content = "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
            parts.append(str(content or ""))
    return "\n\n".join(p for p in parts if p)


def parse_transcript(prompt: str) -> list[Said]:
    """The numbered messages of an extraction or summary prompt (a message's further lines are kept)."""
    out: list[Said] = []
    for line in prompt.splitlines()[1:]:
        found = _TRANSCRIPT_LINE.match(line)
        if found:
            out.append(Said(int(found[1]), found[2], found[3], found[4], found[5]))
        elif out and line.strip():
            out[-1].text += "\n" + line
    return out


def memory_notes(body: dict[str, Any]) -> MemoryNotes | None:
    """The memory block among the request's system blocks, or None when it has none."""
    text = system_text(body)
    start = text.find(MEMORY_HEADER)
    if start < 0:
        return None
    notes = MemoryNotes()
    for line in text[start:].splitlines()[1:]:
        if not line.strip():
            break
        last = _LAST_TIME.match(line)
        if last:
            notes.last_day, notes.last_text = last[1] or "", last[2]
        elif line.startswith("- "):
            notes.items.append(line[2:])
    return notes


# -- sentences, persons and verbs ------------------------------------------------------------------
def _sentences(text: str) -> list[str]:
    return [s.strip() for part in text.splitlines() for s in _SENTENCE.split(part) if s.strip()]


def _words_of(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD_RE.findall(text)]


def _topic(text: str) -> set[str]:
    """Content words of a text, cut to four letters (so "allergy" meets "allergic", "live" meets "lives")."""
    return {w[:4] for w in _words_of(text) if w not in _STOP and w not in _ASKING_WORDS and len(w) > 2}


def _strip_request(sentence: str) -> str:
    """The statement without its request: "Please remember that I'm allergic to X" → "I'm allergic to X"."""
    text = _REQUEST_LEAD.sub("", sentence.strip())
    text = _LEAD_IN.sub("", text)
    text = _REQUEST_TAIL.sub("", text).strip(" ,;:-")
    return text.rstrip(".!") if text else ""


def is_memorable(sentence: str) -> bool:
    """A statement about the speaker's own life worth remembering (not a question, greeting or instruction)."""
    text = sentence.strip()
    if not text or text.endswith("?") or _TO_ASSISTANT.search(text):
        return False
    if _GREETING.match(text) and len(_words_of(text)) < 5:
        return False
    core = _strip_request(text)
    content = [w for w in _words_of(core) if w not in _STOP]
    return bool(_FIRST_PERSON.search(core)) and len(content) >= 2


def _s_form(verb: str) -> str:
    """The third person singular of a verb in its base form (a past tense stays)."""
    low = verb.lower()
    if low in _IRREGULAR_PAST or low.endswith("ed") or low in _MODALS:
        return verb
    if low in ("be",):
        return "is"
    if low == "have":
        return "has"
    if low.endswith("y") and len(low) > 2 and low[-2] not in "aeiou":
        return verb[:-1] + "ies"
    if low.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    return verb + "s"


def _base_form(verb: str) -> str:
    """The form "you" takes: "lives" → "live", "studies" → "study", "goes" → "go"."""
    low = verb.lower()
    if low in ("is", "'s"):
        return "are"
    if low == "has":
        return "have"
    if low == "was":
        return "were"
    if low == "does":
        return "do"
    if low == "doesn't":
        return "don't"
    if low.endswith("ies") and len(low) > 4:
        return verb[:-3] + "y"
    if low.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        return verb[:-2]
    if low.endswith("s") and not low.endswith("ss") and len(low) > 3:
        return verb[:-1]
    return verb


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def third_person(sentence: str, who: str) -> str:
    """A first-person sentence about ``who``: "I live in Oslo with my wife" → "User lives in Oslo with their wife"."""
    tokens = _TOKEN.findall(sentence)
    out: list[str] = []
    named = False
    pending_verb: str | None = None  # "singular" / "plural": the next verb agrees with the subject just written

    def subject() -> str:
        nonlocal named, pending_verb
        pending_verb = "plural" if named else "singular"
        text = "they" if named else who
        named = True
        return text

    for token in tokens:
        if not token[0].isalpha():
            out.append(token)
            continue
        low = token.lower().replace("’", "'")
        if low in ("i", "i'm", "i've", "i'll", "i'd"):
            out.append(subject())
            contraction = low[1:]
            if contraction == "'m":
                out[-1] += "'re" if pending_verb == "plural" else " is"
            elif contraction == "'ve":
                out[-1] += "'ve" if pending_verb == "plural" else " has"
            elif contraction in ("'ll", "'d"):
                out[-1] += contraction
            if contraction:
                pending_verb = None
            continue
        if low in ("we", "we're", "we've"):
            out.append("they" + low[2:])
            named, pending_verb = True, None
            continue
        if low in ("my", "our"):
            out.append("their" if named else f"{who}'s")
            named = True
            continue
        if low in ("me", "us"):
            out.append("them")
            continue
        if low in ("mine", "ours"):
            out.append("theirs")
            continue
        if low in ("myself", "ourselves"):
            out.append("themselves")
            continue
        if pending_verb is not None:
            if low in _ADVERBS:
                out.append(token)
                continue
            if pending_verb == "plural":
                out.append(_PLURAL.get(low, token))
            else:
                out.append(_THIRD.get(low) or _s_form(token))
            pending_verb = None
            continue
        out.append(token)
    return _capital("".join(out).strip())


def second_person(sentence: str) -> str:
    """The user's words said back to them: "I'm allergic to X, my son too" → "you're allergic to X, your son too"."""
    swaps = {
        "i": "you",
        "i'm": "you're",
        "i've": "you've",
        "i'll": "you'll",
        "i'd": "you'd",
        "am": "are",
        "my": "your",
        "me": "you",
        "mine": "yours",
        "myself": "yourself",
        "we": "you",
        "we're": "you're",
        "we've": "you've",
        "our": "your",
        "ours": "yours",
        "us": "you",
        "ourselves": "yourselves",
    }
    tokens = _TOKEN.findall(sentence)
    out: list[str] = []
    after_subject = False
    for token in tokens:
        low = token.lower().replace("’", "'")
        if not token[0].isalpha():
            out.append(token)
            continue
        if low == "am" and not after_subject:
            out.append(token)
        elif low == "was" and after_subject:
            out.append("were")
        elif low in swaps:
            out.append(swaps[low])
        else:
            out.append(token)
        after_subject = low in ("i", "we")
    return "".join(out).strip()


def fact_to_you(fact: str) -> str:
    """A fact about the user in the third person, said to them: "User lives in Oslo" → "you live in Oslo"."""
    tokens = _TOKEN.findall(fact.strip().rstrip("."))
    words = [t for t in tokens if t[0].isalpha()]
    first = re.sub(r"['’]s$", "", words[0]) if words else ""
    name = first if first[:1].isupper() and first.lower() not in _STOP else None
    out: list[str] = []
    verb_next = False
    for i, token in enumerate(tokens):
        if not token[0].isalpha():
            out.append(token)
            continue
        low = token.lower().replace("’", "'")
        if name and token in (name, f"{name}'s", f"{name}’s"):
            out.append("your" if token != name else "you")
            verb_next = token == name
            continue
        if low in ("they", "she", "he"):
            out.append("you")
            verb_next = True
            continue
        if low in ("they're", "she's", "he's"):
            out.append("you're")
            continue
        if low == "her":  # "her daughter" → "your daughter"; "drives her" → "drives you"
            following = next((t for t in tokens[i + 1 :] if t[0].isalpha()), "")
            out.append("your" if following and following.lower() not in _STOP else "you")
            continue
        if low in ("their", "his"):
            out.append("your")
            continue
        if low in ("them", "him"):
            out.append("you")
            continue
        if low in ("themselves", "herself", "himself"):
            out.append("yourself")
            continue
        if verb_next:
            verb_next = low in _ADVERBS
            out.append(token if low in _ADVERBS else _base_form(token))
            continue
        out.append(token)
    return "".join(out).strip()


# -- the memory requests -------------------------------------------------------------------------
def extract_facts(transcript: list[Said]) -> list[dict[str, Any]]:
    """Facts about the user from their messages, each citing its message number (mem0's first step)."""
    facts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for said in transcript:
        if said.role != "user":
            continue
        for sentence in _sentences(said.text):
            if not is_memorable(sentence):
                continue
            fact = third_person(_strip_request(sentence), said.who) + "."
            if fact.lower() not in seen:
                seen.add(fact.lower())
                facts.append({"text": fact, "sources": [said.number]})
    return facts


def _content(text: str) -> set[str]:
    return {w for w in _words_of(text) if w not in _STOP}


_NEGATION = re.compile(r"\b(no longer|not any ?more|anymore|stopped|isn't|aren't|doesn't|don't)\b", re.I)


# Facts that can hold side by side ("is allergic to X", "likes Y"): a new one is added, never an update.
_ADDITIVE = frozenset("is has was had likes loves enjoys knows speaks plays".split())  # noqa: SIM905


def _same_claim(new: str, old: str) -> bool:
    """ "User lives in Bergen" and "User lives in Oslo": the same subject, verb and preposition."""
    a, b = new.split(), old.split()
    return len(a) > 2 and a[:3] == b[:3] and a[1].lower() not in _ADDITIVE


def decide_actions(prompt: str) -> list[dict[str, Any]]:
    """ADD / UPDATE / DELETE / NOOP per new fact against the existing memories shown (mem0's second step)."""
    head, _, tail = prompt.partition("New facts:")
    try:
        existing = json.loads(head.partition("Existing memories:")[2].strip() or "[]")
        new = json.loads(tail.strip() or "[]")
    except ValueError:
        return []
    actions: list[dict[str, Any]] = []
    for fact in new:
        text = str(fact.get("text", ""))
        words = _content(_NEGATION.sub(" ", text))
        best, score = None, 0.0
        for memory in existing:
            other = _content(str(memory.get("text", "")))
            overlap = len(words & other) / max(1, len(words | other))
            if overlap > score:
                best, score = memory, overlap
        event, target = "ADD", None
        if best is not None and score >= 0.85 and not _NEGATION.search(text):
            event, target = "NOOP", best["id"]
        elif best is not None and score >= 0.5 and _NEGATION.search(text):
            event, target = "DELETE", best["id"]
        elif best is not None and score >= 0.3 and _same_claim(text, str(best.get("text", ""))):
            event, target = "UPDATE", best["id"]
        actions.append({"fact": fact.get("id"), "event": event, "id": target, "text": text})
    return actions


def summarize(transcript: list[Said]) -> str:
    """At most five sentences: what the user shared (a changed fact as it ended up), then what they asked about."""
    facts: list[str] = []
    for fact in (f["text"] for f in extract_facts(transcript)):
        facts = [f for f in facts if not _same_claim(fact, f)] + [fact]
    facts = facts[:3]
    asked: list[str] = []
    for said in transcript:
        if said.role != "user":
            continue
        for sentence in _sentences(said.text):
            if sentence.endswith("?"):
                topic = [w for w in _words_of(sentence) if w not in _STOP and w not in _ASKING_WORDS]
                topic = [w for w in topic if w not in ("tell", "show", "give", "help", "want", "like", "need", "get")]
                if topic:
                    asked.append(f"{said.who} asked about {' '.join(topic[:6])}.")
    lines = facts + asked[: 5 - len(facts)]
    if not lines:
        who = next((s.who for s in transcript if s.role == "user"), "The user")
        return f"{who} only exchanged greetings; nothing to remember."
    return " ".join(lines)


def memory_task(body: dict[str, Any]) -> str | None:
    """The answer to a request of luma.memory (facts JSON, actions JSON or a summary), or None for any other."""
    if body.get("tools"):
        return None
    system = system_text(body)
    prompt = read_conversation(body).human
    if '"facts"' in system and prompt.startswith("New messages:"):
        return json.dumps({"facts": extract_facts(parse_transcript(prompt))})
    if '"actions"' in system and prompt.startswith("Existing memories:"):
        return json.dumps({"actions": decide_actions(prompt)})
    if "summar" in system.lower() and prompt.startswith("Conversation:"):
        return summarize(parse_transcript(prompt))
    return None


# -- answering from the memory block ---------------------------------------------------------------
def _said_by_user(body: str) -> list[str] | None:
    """The user's parts of "Speaker: text / Speaker: text" (None when the text names no speaker)."""
    parts = _SPEAKER.split(body)
    if len(parts) < 3:
        return None
    said = [parts[i + 1].strip(" /") for i in range(1, len(parts) - 1, 2) if parts[i] != "Assistant"]
    return [s for s in said if s]


def _clauses(body: str) -> list[str]:
    """What a memory says, as clauses addressed to the user ("you're allergic to penicillin")."""
    body = _SUMMARY_LABEL.sub("", body.strip())
    user_parts = _said_by_user(body)
    out: list[str] = []
    if user_parts is not None:  # the user's own words
        for part in user_parts:
            for sentence in _sentences(part):
                if is_memorable(sentence):
                    out.append(second_person(_strip_request(sentence)))
                elif sentence.endswith("?"):
                    topic = [w for w in _words_of(sentence) if w not in _STOP and w not in _ASKING_WORDS]
                    if topic:
                        out.append("you asked about " + " ".join(topic[:6]))
        return out
    for sentence in _sentences(body):  # facts about the user, in the third person
        if "only exchanged greetings" in sentence:
            continue
        clause = fact_to_you(sentence)
        out.append(clause[:1].lower() + clause[1:] if clause.lower().startswith("you") else clause)
    return out


def _told(clauses: list[str]) -> str:
    """The clauses joined: "you told me you're allergic to X, and you asked about Y"."""
    parts = [c if re.match(r"you (?:asked|wanted|said|told|mentioned)\b", c) else f"you told me {c}" for c in clauses]
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + ", and " + parts[-1]
    return parts[0] if parts else ""


def _item(line: str) -> tuple[str, list[str]]:
    """(day, clauses) of one memory line."""
    day = _DAY.match(line)
    body = line[day.end() :] if day else line
    return (day[1] if day else ""), _clauses(body)


def memory_answer(human: str, notes: MemoryNotes | None) -> str | None:
    """An answer to a question about earlier conversations, from the memory block (None: not such a question)."""
    about_last_time = bool(ASK_LAST_TIME.search(human))
    if not about_last_time and not ASK_REMEMBER.search(human):
        return None
    if notes is None or (not notes.items and not notes.last_text):
        return (
            "I don't have anything from earlier conversations with you yet, so I can't recall that. "
            "Tell me again and I'll keep it in mind."
        )
    if about_last_time and notes.last_text:
        clauses = _clauses(notes.last_text)
        when = f" on {notes.last_day}" if notes.last_day else ""
        if clauses:
            return f"When we last talked{when}, {_told(clauses[:3])}."
    topic = _topic(human)
    picked: list[tuple[str, list[str]]] = []
    for line in notes.items:
        day, clauses = _item(line)
        if clauses and (not topic or topic & _topic(line)):
            picked.append((day, clauses))
        if len(picked) == 2:
            break
    if not picked and notes.last_text and (not topic or topic & _topic(notes.last_text)):
        picked.append((notes.last_day, _clauses(notes.last_text)))
    if not picked:
        return "I don't have anything about that from our earlier conversations. Could you tell me again?"
    sentences = [(f"On {day}, " if day else "") + _told(clauses[:2]) for day, clauses in picked]
    return "Yes, I remember. " + " ".join(_capital(s) + "." for s in sentences)


_ASKS_TO_REMEMBER = re.compile(r"\b(?:remember|keep in mind|bear in mind|make a note|note (?:that|this|it))\b", re.I)


def acknowledgement(human: str, *, asked_only: bool = False) -> str | None:
    """A reply to the user telling something about themselves (what the memory will keep), or None.

    ``asked_only``: only when they asked for it to be remembered (an assistant whose users mostly report
    their own work answers other statements with its tools).
    """
    if asked_only and not _ASKS_TO_REMEMBER.search(human):
        return None
    kept = [second_person(_strip_request(s)) for s in _sentences(human) if is_memorable(s)]
    if not kept or human.strip().endswith("?"):
        return None
    return f"Thank you for telling me. I'll keep in mind that {' and that '.join(kept[:2])}."


@dataclass
class DemoBrain:
    """Turns a request into a :class:`Script`; ``first_token_delay_ms`` applies to every answer."""

    first_token_delay_ms: int = 0
    chunk_delay_ms: int = 12

    def _say(self, text: str, *calls: ScriptToolCall) -> Script:
        return Script(
            text=_words(text),
            tool_calls=list(calls),
            first_token_delay_ms=self.first_token_delay_ms,
            chunk_delay_ms=self.chunk_delay_ms,
            input_tokens=40 * (1 + len(calls)) + 300,
            output_tokens=max(1, len(text) // 4) + 20 * len(calls),
        )

    def __call__(self, body: dict[str, Any]) -> Script:
        task = memory_task(body)
        if task is not None:  # luma.memory extracting facts or summarizing a session
            return self._say(task)
        conv = read_conversation(body)
        from local.fake_llm_sitework import SiteworkBrain, is_sitework

        if is_sitework(conv):  # the site assistant's tools: its own scripted brain
            return SiteworkBrain(self.first_token_delay_ms, self.chunk_delay_ms)(body)
        if not conv.results:
            remembered = memory_answer(conv.human, memory_notes(body))
            if remembered is not None:
                return self._say(remembered)
        human = conv.human.lower()
        if _MOVE.search(human) and {"list_appointments", "reschedule_appointment"} <= conv.tools:
            return self._reschedule(conv, human)
        if _DOB.search(conv.human) and "verify_identity" in conv.tools and "verify_identity" not in conv.results:
            name = _DOB.sub("", conv.human).strip(" ,.;:")
            name = re.sub(r"^(i am|i'm|my name is|this is)\s+", "", name, flags=re.I).strip(" ,")
            dob = _DOB.search(conv.human).group(0)  # type: ignore[union-attr]
            call = ScriptToolCall("verify_identity", {"full_name": name, "date_of_birth": dob})
            return self._say("Let me check your details.", call)
        if "verify_identity" in conv.results:
            ok = conv.results["verify_identity"].get("ok")
            return self._say(
                "Thank you, you're verified. What would you like to do with your appointments?"
                if ok
                else "I couldn't match those details. Please check your full name and date of birth."
            )
        noted = acknowledgement(conv.human) if not conv.results else None
        if noted is not None:
            return self._say(noted)
        return self._say(
            "I'm the demo model of the local stack, so my answers are scripted. "
            "Try asking me to move one of your appointments to the afternoon, and I'll use my tools."
        )

    def _reschedule(self, conv: Conversation, human: str) -> Script:
        listed = conv.results.get("list_appointments")
        if listed is None:
            return self._say("Let me look up your appointments.", ScriptToolCall("list_appointments", {}))
        if not listed.get("ok"):
            return self._error_answer(listed)
        appts = (listed.get("data") or {}).get("appointments") or []
        if not appts:
            return self._say("You have no upcoming appointments to move.")
        wanted = next((d for d in WEEKDAYS if d in human), None)
        chosen = next((a for a in appts if wanted and str(a.get("weekday", "")).lower() == wanted), appts[0])
        part = next((p for p in ("morning", "afternoon", "evening") if p in human), "any")
        slots_result = conv.results.get("find_available_slots")
        if slots_result is None:
            args = {"appointment_id": chosen["id"], "date": str(chosen.get("start", ""))[:10], "part_of_day": part}
            return self._say(
                f"I found your appointment on {chosen.get('when', chosen.get('start'))}. Let me check the free slots.",
                ScriptToolCall("find_available_slots", args),
            )
        if not slots_result.get("ok"):
            return self._error_answer(slots_result)
        slots = (slots_result.get("data") or {}).get("slots") or []
        if not slots:
            return self._say("I'm sorry, there are no free slots that day. Would another day suit you?")
        done = conv.results.get("reschedule_appointment")
        if done is None:
            slot = slots[0]
            return self._say(
                f"There is a free slot at {slot.get('when', slot.get('start'))}. I'll ask you to approve the change.",
                ScriptToolCall("reschedule_appointment", {"appointment_id": chosen["id"], "new_start": slot["start"]}),
            )
        if done.get("ok"):
            appt = (done.get("data") or {}).get("appointment") or {}
            return self._say(
                f"Done! Your appointment is now on {appt.get('when', appt.get('start', 'the new time'))}. "
                "You'll find it in your list of appointments."
            )
        return self._error_answer(done)

    def _error_answer(self, result: dict[str, Any]) -> Script:
        code = (result.get("error") or {}).get("code", "")
        if code == "IDENTITY_NOT_VERIFIED":
            return self._say(
                "Before I can look at your appointments I need to check who you are. "
                "Please send your full name and date of birth, for example: Jane Doe, 14/03/1985."
            )
        if code == "APPROVAL_DECLINED":
            return self._say("No problem, I've left your appointment as it was.")
        return self._say("Sorry, I couldn't do that just now. Would you like me to ask a member of staff to help?")


def start_demo_llm(port: int = 0, *, first_token_delay_ms: int = 300) -> FakeLlmServer:
    """A started fake LLM server answering with :class:`DemoBrain` (``.url``, ``.api_key``).

    The first token comes after ``first_token_delay_ms`` (300 ms, about a real model's; the agent
    benchmark measures what Luma adds on top of it).
    """
    return FakeLlmServer(port=port, responder=DemoBrain(first_token_delay_ms=first_token_delay_ms)).start()
