"""A tiny assistant pack that lives outside Luma: it greets, tells the time of a city, and echoes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from luma.assistants.contract import AssistantPack, Choice, FastPathHandler, FastPathResult, FlowDecision
from luma.domain.models import Message, Session, Turn
from luma.texts import text


class EchoPack(AssistantPack):
    """Greets with a menu, answers "what time is it" without an LLM, and repeats what it is asked to."""

    name = "echo"
    display_name = "Echo"

    def fast_path(self, intent: str) -> FastPathHandler | None:
        return {"hello": self._hello, "time_now": self._time, "echo_back": self._echo}.get(intent)

    def pre_route(self, session: Session, message: Message) -> FlowDecision | None:
        if message.meta.get("choice") == "menu:time":
            return FlowDecision(intent="time_now", reason="menu_choice")
        return None

    def _hello(self, turn: Turn) -> FastPathResult:
        lang = turn.session.language
        return FastPathResult(
            text("echo.hello", lang, assistant=self.name),
            choices=[Choice("menu:time", text("echo.menu_time", lang, assistant=self.name))],
        )

    def _time(self, turn: Turn) -> FastPathResult:
        now = datetime.now(UTC).strftime("%H:%M")
        return FastPathResult(text("echo.time", turn.session.language, assistant=self.name, time=now))

    def _echo(self, turn: Turn) -> FastPathResult:
        said = turn.message.text.split(":", 1)[-1].strip()
        return FastPathResult(text("echo.echo", turn.session.language, assistant=self.name, text=said))

    def demo_users(self) -> list[dict[str, Any]]:
        return [{"userId": "u-echo", "tenantId": "demo", "name": "Echo tester", "identityHint": ""}]
