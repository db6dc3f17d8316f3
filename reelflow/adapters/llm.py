"""An OpenAI-compatible chat-completions client that proposes autopilot actions.

`ChatCompletionsProposer.propose(context)` sends the account's scored state (JSON) with a
system prompt naming the action schema and the guard rails, asks for a JSON object
(`response_format: json_object`, temperature 0) and returns the decoded content. It does not
trust it: the caller validates it (`domain.autopilot.parse_proposals`) and puts it through
the guard rails, and any error here (HTTP error, timeout, content that is not JSON) falls
back to the deterministic policy. Settings: `REELFLOW_AUTOPILOT__LLM_BASE_URL` (unset: the
sandbox's `/openai/v1` outside production, OpenAI's in production), `..._LLM_API_KEY` (none:
the proposer is off), `..._LLM_MODEL`, `..._LLM_TIMEOUT_S`. The key is never logged.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from reelflow import errors
from reelflow.settings import Settings, get_settings

OPENAI_BASE_URL = "https://api.openai.com/v1"

SYSTEM_PROMPT = """You are the autopilot of a TikTok ad account. You get the account's ad groups
with their health (CPL vs the target CPL, pacing, CTR and 2-second view-rate trends, verdicts)
as JSON. Propose actions as a JSON object {"actions": [...]} where each action is
{"kind": one of action_kinds, "target_id": an ad group id, an ad id, or (create_adgroup) a
direction id from the input, "params": {...}, "reason": one sentence with the figures}.
Params: update_adgroup_budget {"daily_budget_minor": integer}; pause_ad {"adgroup_id": id};
create_adgroup {"daily_budget_minor": integer}. Respect the rules in the input: budget
changes within ±max_budget_change_pct of the current budget, at most max_actions_per_run
actions, never act without enough data. Answer with the JSON object only."""


class ChatCompletionsProposer:
    name = "llm"

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        settings = settings or get_settings()
        cfg = settings.autopilot
        if base_url is None:
            base_url = cfg.llm_base_url or (
                OPENAI_BASE_URL if settings.is_production else settings.sandbox_base_url() + "/openai/v1"
            )
        self._base = base_url.rstrip("/")
        self._key = api_key or cfg.llm_api_key or ""
        self.model = model or cfg.llm_model
        self._timeout = timeout_s or cfg.llm_timeout_s

    async def propose(self, context: dict[str, Any]) -> Any:
        """The model's answer, decoded from JSON (a dict or a list), unvalidated."""
        body = {
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": json.dumps(context, separators=(",", ":"))},
            ],
        }
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(
                    f"{self._base}/chat/completions", json=body, headers={"Authorization": f"Bearer {self._key}"}
                )
        except httpx.TimeoutException as exc:
            raise errors.Retryable(f"llm: no answer within {self._timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise errors.Retryable(f"llm: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise errors.Retryable(f"llm: HTTP {response.status_code}")
        if response.status_code != 200:
            raise errors.Permanent(f"llm refused the request: HTTP {response.status_code}")
        try:
            answer = response.json()
            content = answer["choices"][0]["message"]["content"]
            return json.loads(content)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise errors.Permanent(f"llm answer is not a JSON object: {type(exc).__name__}") from exc
