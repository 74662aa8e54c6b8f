"""A scripted "model" for ``luma dev --llm fake``: plays the clinic agent with real tool calls.

It reads the request the way a model would (the human's last message, the tool results since),
and answers in either wire format through :class:`local.fake_llm.FakeLlmServer`:

- "move / reschedule my <weekday> appointment to the afternoon" → ``list_appointments`` →
  ``find_available_slots`` → ``reschedule_appointment`` (which needs the user's approval) → a
  sentence about the outcome;
- a full name and a date of birth → ``verify_identity``;
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
        conv = read_conversation(body)
        from local.fake_llm_sitework import SiteworkBrain, is_sitework

        if is_sitework(conv):  # the site assistant's tools: its own scripted brain
            return SiteworkBrain(self.first_token_delay_ms, self.chunk_delay_ms)(body)
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
