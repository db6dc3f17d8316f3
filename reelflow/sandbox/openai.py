"""Sandbox OpenAI-compatible chat completions (`/openai/v1/chat/completions`), for the
autopilot's optional LLM proposer.

Answers the chat-completions shape (`choices[0].message.content`, `usage`), checks the bearer
key (`sbx_llm_key`), `model` and `messages`. The content is a JSON object
``{"actions": [...]}`` proposing to pause every ad group the context scores `loser` (the
last user message is the context JSON the adapter sends). Test controls:
``POST /openai/_sandbox/mode {"mode": ...}`` — `normal`, `malformed` (not JSON), `prose`
(JSON wrapped in text), `wrong_schema` (an object without the action fields), `unsafe` (an
unknown action kind and an ad group of another account, plus a +500% budget); the generic
faults (`POST /sandbox/faults`: 500, timeout, latency) apply as for every platform.
``GET /openai/_sandbox/requests`` lists what was asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response, get, post

from reelflow.sandbox import core

PREFIX = "/openai"
API_KEY = "sbx_llm_key"
MODES = ("normal", "malformed", "prose", "wrong_schema", "unsafe")


@dataclass
class LlmState:
    mode: str = "normal"
    requests: list[dict[str, Any]] = field(default_factory=list)


def state() -> LlmState:
    return core.get_state().store("openai", LlmState)


def render_error(status: int, code: str | int | None, message: str) -> tuple[int, Any]:
    return status, {"error": {"message": message or "error", "type": "server_error", "code": code}}


core.register_platform(PREFIX, render_error)


def _error(status: int, message: str, kind: str = "invalid_request_error") -> Response[Any]:
    return Response({"error": {"message": message, "type": kind, "code": None}}, status_code=status)


def _proposals(context: dict[str, Any], mode: str) -> Any:
    losers = [g for g in context.get("adgroups", []) if (g.get("health") or {}).get("verdict") == "loser"]
    actions: list[dict[str, Any]] = [
        {
            "kind": "pause_adgroup",
            "target_id": g["adgroup_id"],
            "params": {},
            "reason": f"LLM: CPL {g['health'].get('cpl_ratio')}× the target with enough spend; pause it",
        }
        for g in losers
        if g.get("status") == "active"
    ]
    if mode == "unsafe":
        actions.append({"kind": "delete_campaign", "target_id": "1", "params": {}, "reason": "start over"})
        actions.append({"kind": "pause_adgroup", "target_id": "999999", "params": {}, "reason": "not yours"})
    if mode == "wrong_schema":
        return {"recommendation": "pause the losers", "confidence": 0.9}
    return {"actions": actions}


@post(f"{PREFIX}/v1/chat/completions", status_code=200)
async def chat_completions(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    if request.headers.get("authorization") != f"Bearer {API_KEY}":
        return _error(401, "Incorrect API key provided.", "invalid_api_key")
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _error(400, "We could not parse the JSON body of your request.")
    if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
        return _error(400, "model and messages are required.")
    st.requests.append({"model": body["model"], "messages": len(body["messages"])})
    context: dict[str, Any] = {}
    for message in reversed(body["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            try:
                context = json.loads(str(message.get("content") or "{}"))
            except ValueError:
                context = {}
            break
    if st.mode == "malformed":
        content = '{"actions": [{"kind": "pause_adgroup", "target_id": '
    elif st.mode == "prose":
        content = "Sure! Here is what I would do: " + json.dumps(_proposals(context, "normal"))
    else:
        content = json.dumps(_proposals(context if isinstance(context, dict) else {}, st.mode))
    return Response(
        {
            "id": f"chatcmpl-sbx{len(st.requests)}",
            "object": "chat.completion",
            "created": int(core.get_state().clock.now()),
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }
    )


@post(f"{PREFIX}/_sandbox/mode", status_code=200)
async def set_mode(data: dict[str, Any]) -> dict[str, Any]:
    mode = str(data.get("mode") or "normal")
    if mode not in MODES:
        return {"error": f"mode must be one of {', '.join(MODES)}"}
    state().mode = mode
    return {"mode": mode}


@get(f"{PREFIX}/_sandbox/requests")
async def requests() -> list[dict[str, Any]]:
    return state().requests


route_handlers = [chat_completions, set_mode, requests]
