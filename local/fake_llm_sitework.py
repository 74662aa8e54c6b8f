"""A scripted "model" that plays the field-work (sitework) agent with real tool calls, for ``--llm fake``.

It reads the request like :mod:`local.fake_llm_demo` does (the human's last message, the tool
results since) and recognises a sitework run by its tools. Scenarios:

- "bump / set <task> to 40%" → ``search`` → ``update_progress`` (the user approves) → the outcome;
- "any incidents …?" → ``list_projects`` → ``list_incidents`` (current project, else the first);
- anything else → ``search`` with the message → ``task_details`` of the best task → a sentence about
  its status, progress, due date and last update (dates in words: the output guardrail masks
  numeric dates).

Long-term memory as :mod:`local.fake_llm_demo` plays it: luma.memory's extraction and summary requests,
questions about earlier conversations answered from the request's memory block, and an acknowledgement
when the worker asks for something to be remembered.

:func:`start_sitework_llm` serves it alone; :func:`is_sitework` lets another brain hand over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from local.fake_llm import FakeLlmServer, Script, ScriptToolCall
from local.fake_llm_demo import (
    Conversation,
    acknowledgement,
    memory_answer,
    memory_notes,
    memory_task,
    read_conversation,
)

SITEWORK_TOOLS = frozenset({"search", "task_details", "update_progress", "list_incidents"})
_PERCENT = re.compile(r"(\d{1,3})\s*(?:%|percent)")
_INCIDENTS = re.compile(r"\bincidents?\b")


def is_sitework(conv: Conversation) -> bool:
    """True when the request offers the sitework tools."""
    return conv.tools >= SITEWORK_TOOLS


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


def _day(iso: str | None) -> str:
    """``2026-12-04`` as ``Friday 4 December`` (what the prompt asks the model to write)."""
    if not iso:
        return "no due date"
    day = date.fromisoformat(iso[:10])
    return f"{day.strftime('%A')} {day.day} {day.strftime('%B')}"


def _data(result: dict[str, Any] | None) -> dict[str, Any]:
    return (result or {}).get("data") or {}


@dataclass
class SiteworkBrain:
    """Turns a sitework request into a :class:`Script`."""

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
        if not conv.results:
            said = memory_answer(conv.human, memory_notes(body)) or acknowledgement(conv.human, asked_only=True)
            if said is not None:
                return self._say(said)
        human = conv.human.lower()
        failed = next((r for r in conv.results.values() if isinstance(r, dict) and r.get("ok") is False), None)
        if failed is not None:
            return self._error_answer(failed)
        percent = _PERCENT.search(human)
        if percent:
            return self._progress(conv, int(percent.group(1)))
        if _INCIDENTS.search(human):
            return self._incidents(conv)
        return self._task(conv)

    def _best_task(self, conv: Conversation) -> dict[str, Any] | None:
        results = _data(conv.results.get("search")).get("results") or []
        return next((r for r in results if r.get("kind") == "task"), None)

    def _search(self, conv: Conversation, lead: str) -> Script:
        query = re.sub(r"\s+", " ", conv.human).strip()[:120] or "task"
        return self._say(lead, ScriptToolCall("search", {"query": query if len(query) >= 2 else "task"}))

    def _task(self, conv: Conversation) -> Script:
        if "search" not in conv.results:
            return self._search(conv, "Let me look that up.")
        task = self._best_task(conv)
        if task is None:
            return self._say(
                "I'm the site assistant's demo model: I couldn't find a task matching that. "
                "Try asking about a task by name, for example the scaffolding or the waterproofing."
            )
        details = conv.results.get("task_details")
        if details is None:
            args = {"task_id": task["task_id"], "project_id": task["project_id"]}
            return self._say("", ScriptToolCall("task_details", args))
        d = _data(details)
        text = f"{d['title']} is {str(d['status']).replace('_', ' ')} at {d['progress']}%, due {_day(d.get('due'))}."
        history = d.get("history") or []
        if history:
            text += f" The last update set it to {history[0]['percent']}% (from {history[0]['previous']}%)."
        return self._say(text)

    def _progress(self, conv: Conversation, percent: int) -> Script:
        if "search" not in conv.results:
            return self._search(conv, "Let me find that task.")
        task = self._best_task(conv)
        if task is None:
            return self._say("I couldn't tell which task you mean. Which one should I update?")
        done = conv.results.get("update_progress")
        if done is None:
            args = {"task_id": task["task_id"], "project_id": task["project_id"], "percent": percent}
            return self._say(
                f"I'll set {task['title']} to {percent}%. Please approve the change.",
                ScriptToolCall("update_progress", args),
            )
        d = _data(done)
        return self._say(f"Done: {d['title']} is now at {d['progress']}% (it was {d['previous']}%).")

    def _incidents(self, conv: Conversation) -> Script:
        projects = conv.results.get("list_projects")
        if projects is None:
            return self._say("Let me check.", ScriptToolCall("list_projects", {}))
        listed = conv.results.get("list_incidents")
        if listed is None:
            data = _data(projects)
            first: dict[str, Any] = next(iter(data.get("projects") or []), {})
            project = data.get("current_project") or first.get("project_id")
            if not project:
                return self._say("You aren't on any project, so there are no incidents to show.")
            return self._say("", ScriptToolCall("list_incidents", {"project_id": project}))
        d = _data(listed)
        incidents = d.get("incidents") or []
        if not incidents:
            return self._say(f"No incidents have been reported on {d.get('project')}.")
        parts = [f"{i['number']} ({i['severity']}, {i['status']})" for i in incidents[:3]]
        return self._say(f"Latest incidents on {d.get('project')}: " + "; ".join(parts) + ".")

    def _error_answer(self, result: dict[str, Any]) -> Script:
        code = (result.get("error") or {}).get("code", "")
        if code == "APPROVAL_DECLINED":
            return self._say("No problem, I haven't changed anything.")
        if code == "NOT_A_WORKER":
            return self._say("This account isn't registered as a field worker, so I can't show site data.")
        if code == "NOT_ALLOWED":
            return self._say("That task is assigned to someone else, so I can't update it for you.")
        return self._say("Sorry, I couldn't do that just now. Would you like me to ask the site office to help?")


def start_sitework_llm(port: int = 0, *, first_token_delay_ms: int = 300) -> FakeLlmServer:
    """A started fake LLM server answering with :class:`SiteworkBrain` (``.url``, ``.api_key``)."""
    return FakeLlmServer(port=port, responder=SiteworkBrain(first_token_delay_ms=first_token_delay_ms)).start()
