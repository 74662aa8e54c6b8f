"""An assistant's tools over MCP, through the official SDK's client, on the real local stack."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest
from luma.auth import issue_dev_token
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def _with_session(url: str, token: str | None, work: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        return await work(session)


def _run(url: str, token: str | None, work: Any) -> Any:
    return anyio.run(_with_session, url, token, work)


def _data(result: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(result.content[0].text)
    return body


def test_the_clinic_tools_keep_their_names_and_schemas(local_stack: Any) -> None:
    async def work(session: ClientSession) -> Any:
        return await session.list_tools()

    listed = _run(f"{local_stack.url}/api/mcp/clinic", issue_dev_token("u-alice", "demo"), work)
    names = [t.name for t in listed.tools]
    assert names[:2] == ["verify_identity", "list_appointments"] and "reschedule_appointment" in names
    reschedule = next(t for t in listed.tools if t.name == "reschedule_appointment")
    assert reschedule.input_schema["required"] == ["appointment_id", "new_start"]
    assert reschedule.annotations is not None and reschedule.annotations.destructive_hint is True


def test_tools_run_as_the_caller_with_the_identity_rule(local_stack: Any) -> None:
    async def work(session: ClientSession) -> Any:
        before = await session.call_tool("list_appointments", {})
        verified = await session.call_tool(
            "verify_identity", {"full_name": "Chloé Dubois", "date_of_birth": "28/07/1995"}
        )
        after = await session.call_tool("list_appointments", {})
        return before, verified, after

    before, verified, after = _run(f"{local_stack.url}/api/mcp/clinic", issue_dev_token("u-chloe", "demo"), work)
    assert before.is_error and _data(before)["error"]["code"] == "IDENTITY_NOT_VERIFIED"
    assert not verified.is_error and _data(verified)["data"]["verified"] is True
    appointments = _data(after)["data"]["appointments"]
    assert appointments and all(a["id"] for a in appointments)  # the session remembers the verification


def test_another_users_identity_is_refused(local_stack: Any) -> None:
    async def work(session: ClientSession) -> Any:
        return await session.call_tool("verify_identity", {"full_name": "Bruno Silva", "date_of_birth": "02/11/1972"})

    refused = _run(f"{local_stack.url}/api/mcp/clinic", issue_dev_token("u-mallory", "demo"), work)
    assert refused.is_error and _data(refused)["error"]["code"] == "IDENTITY_MISMATCH"


def test_without_a_token_the_answer_is_401(local_stack: Any) -> None:
    response = httpx2.post(
        f"{local_stack.url}/api/mcp/clinic",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "AUTH_REQUIRED"


@pytest.mark.parametrize("assistant", ["nonexistent"])
def test_an_unknown_assistant_is_refused(local_stack: Any, assistant: str) -> None:
    response = httpx2.post(
        f"{local_stack.url}/api/mcp/{assistant}",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {issue_dev_token('u-alice', 'demo')}"},
    )
    assert response.status_code == 403 and response.json()["code"] == "ASSISTANT_NOT_AVAILABLE"


def test_luma_mcp_serves_the_same_tools_over_stdio(local_stack: Any) -> None:
    import os
    import sys
    from pathlib import Path

    from mcp.client.stdio import StdioServerParameters, stdio_client

    luma = str(Path(sys.executable).with_name("luma"))
    params = StdioServerParameters(
        command=luma,
        args=[
            "mcp",
            "--assistant",
            "clinic",
            "--user",
            "u-dariusz",
            "--tenant",
            "demo",
            "--port",
            str(local_stack.port),
        ],
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},
    )

    async def work() -> Any:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.list_tools()
            verified = await session.call_tool(
                "verify_identity", {"full_name": "Dariusz Nowak", "date_of_birth": "09.01.1960"}
            )
            return listed, verified

    listed, verified = anyio.run(work)
    assert "find_available_slots" in [t.name for t in listed.tools]
    assert not verified.is_error and _data(verified)["data"]["first_name"] == "Dariusz"
