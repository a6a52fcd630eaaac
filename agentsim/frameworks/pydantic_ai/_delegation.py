"""pydantic-ai agent delegation as ``call`` sub-runs (issue #17 part 2).

pydantic-ai's multi-agent pattern (docs, "Multi-agent applications > Agent delegation") is a tool
whose function runs another agent, ``await other.run(..., usage=ctx.usage)``. That nested run's
model requests go through the run's interception like the parent's, so they must be told apart,
or the parent's steps and history would be built from the nested agent's requests.

Choices:

- **Where the boundary is: the tool call.** `Delegation` is a capability added to the parent's
  run (``Agent.iter(capabilities=...)``); its ``wrap_tool_execute`` hook
  (``capabilities/abstract.py``) runs each tool function inside a `NestedScope` of its own (a
  context variable: the tool's code, and every task it starts, sees it; parallel calls each have
  theirs). A request made in a scope is the nested agent's, recorded there, answered from the same
  scripted provider in order. pydantic-ai's own ``get_current_run_context`` is not it: it is not
  set while a tool function runs (only around model requests), so it cannot name the parent call.
- **When it is a sub-run.** A tool that makes no provider request is a plain tool. One that does
  is a sub-run of that call: ``sub_run_started`` when its first request is made (the agent named
  by the nested run's context, which pydantic-ai sets around that request), ``sub_run_finished``
  when the tool function returns (``completed``, its return value as output) or raises
  (``failed`` / ``cancelled``), so before the call's ``tool_executed`` (SR1). All nested requests
  of one call are one sub-run (two agents called in turn, or one delegating further, are not
  told apart: the parent's trace only sees the call's span).
- A sync tool function runs in a worker thread, which does not inherit context variables:
  delegation from one (``run_sync``) is not seen, and would be judged as the parent's requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from agentsim.core._events import AgentEvent, SubRunFinished, SubRunOutcome, SubRunStarted
from agentsim.serve._intercept import NestedScope, nested_scope

__all__ = ["delegation"]


def _agent_name() -> str:
    try:  # not a public name of pydantic-ai (``_run_context.py``): a name is only a label
        from pydantic_ai._run_context import get_current_run_context
    except ImportError:  # pragma: no cover - present in the pydantic-ai versions supported
        return "agent"
    context = get_current_run_context()  # the nested run's, set around its model request
    agent = getattr(context, "agent", None)
    return str(getattr(agent, "name", None) or "agent")


def _text(value: Any) -> str:
    import pydantic_core

    return value if isinstance(value, str) else pydantic_core.to_json(value).decode()


def delegation(push: Callable[[list[AgentEvent]], None]) -> Any:
    """A pydantic-ai capability that shows the parent's delegating tool calls as sub-runs,
    their events given to `push` (placeholder ids: ``sub<n>``, made unique by the run)."""
    from pydantic_ai.capabilities import AbstractCapability

    class Delegation(AbstractCapability[Any]):
        def __init__(self) -> None:
            self.count = 0

        async def wrap_tool_execute(
            self, ctx: Any, *, call: Any, tool_def: Any, args: Any, handler: Any
        ) -> Any:
            sub: list[str] = []

            def started() -> None:
                self.count += 1
                sub.append(f"sub{self.count}")
                push([SubRunStarted(0, 0.0, "", sub[0], call.tool_call_id, _agent_name(), "call")])

            with nested_scope(NestedScope(on_first=started)):
                try:
                    result = await handler(args)
                except BaseException as exc:
                    if sub:
                        cancelled = isinstance(exc, asyncio.CancelledError)
                        outcome: SubRunOutcome = "cancelled" if cancelled else "failed"
                        text = "cancelled" if cancelled else f"{type(exc).__name__}: {exc}"
                        push([SubRunFinished(0, 0.0, "", sub[0], outcome, text)])
                    raise
            if sub:
                push([SubRunFinished(0, 0.0, "", sub[0], "completed", _text(result))])
            return result

    return Delegation()
