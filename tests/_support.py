"""Shared helpers for the tests: run the reference loop on a list of scripted responses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from agentsim import (
    CancelToken,
    FunctionProvider,
    Guardrails,
    Hooks,
    LoopOptions,
    ProviderRequest,
    ReferenceLoop,
    RunRequest,
    RunResult,
    Toolset,
    UserMessage,
    run_loop,
    run_virtual,
)
from agentsim.scenario._schema import DropAt
from agentsim.scenario._script import StreamItem


def run_script(
    responses: Sequence[Sequence[StreamItem]],
    *,
    tools: Sequence[Callable[..., Any]] = (),
    options: LoopOptions | None = None,
    hooks: Hooks | None = None,
    guardrails: Guardrails | None = None,
    cancel_at: float | None = None,
    drop: DropAt | None = None,
    seed: int = 0,
    requests: list[ProviderRequest] | None = None,
) -> RunResult:
    """Run the reference loop; request N gets `responses[N-1]` (more requests is a test error).

    Pass a list as `requests` to see the provider requests the loop made.
    """
    if requests is None:
        requests = []

    def respond(request: ProviderRequest) -> Sequence[StreamItem]:
        requests.append(request)
        assert len(requests) <= len(responses), f"unexpected request {len(requests)}"
        return responses[len(requests) - 1]

    async def main() -> RunResult:
        token = CancelToken()
        if cancel_at is not None:
            loop = asyncio.get_running_loop()
            loop.call_at(loop.time() + cancel_at, token.cancel)
        return await run_loop(
            ReferenceLoop(hooks=hooks, guardrails=guardrails),
            request=RunRequest(
                messages=(UserMessage("hi"),), options=options or LoopOptions(), cancel=token
            ),
            provider=FunctionProvider(respond),
            tools=Toolset(tools),
            seed=seed,
            drop=drop,
        )

    return run_virtual(main())


def types(result: RunResult) -> list[str]:
    return [event.type for event in result.events]
