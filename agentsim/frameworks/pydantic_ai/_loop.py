"""`pydantic_ai_loop`: a pydantic-ai `Agent` as an agentsim loop.

Two ways in, one run machinery (`agentsim.adapters._live.AdapterRun`: interception of the
agent's provider calls from the run's provider, cancellation and consumer drop as a disconnect,
the history from the requests the agent made, seeded SDK jitter):

- ``ui=None`` (the default): the agent's own event stream. ``Agent.iter`` is walked node by node
  (`_mapping`), every event pushed to the run as it happens. A cancel or a drop cancels the
  agent's task, as a web server cancels a handler whose client left; pydantic-ai lets the
  ``CancelledError`` through (``_agent_graph.py``), so the run ends ``run_cancelled``.
- ``ui="agui"`` / ``ui="vercel"``: what a pydantic-ai app sends its browser. The agent is served
  by ``AGUIAdapter.dispatch_request`` / ``VercelAIAdapter.dispatch_request`` (pydantic-ai docs,
  "UI event streams") in a one-route Starlette app run by `asgi_loop`, so the SSE is decoded
  live in that dialect and its rules (S2) are checked.

Failures: pydantic-ai reports a failed run by raising (``exceptions.py``); ``UsageLimitExceeded``
is a ``usage_limit`` failure, and a model API error (after the SDK's own HTTP retries) or an
``UnexpectedModelBehavior`` (retries exhausted, an unusable response) a ``provider`` one. Anything
else the agent raises is the run's ``S2.stream`` violation: the code did not end normally.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Literal

from agentsim.adapters._live import AdapterRun, Producer, input_text
from agentsim.adapters._loops import AdapterLoop, asgi_loop
from agentsim.core._errors import InputError
from agentsim.core._events import (
    AgentEvent,
    RunCompleted,
    SubRunFinished,
    SubRunStarted,
    ToolExecuted,
)
from agentsim.core._history import AssistantMessage, Message, ToolResultMessage
from agentsim.core._runtime import Runtime
from agentsim.core._tools import Toolset
from agentsim.frameworks.pydantic_ai._delegation import delegation
from agentsim.frameworks.pydantic_ai._mapping import Mapper
from agentsim.loop._protocol import AgentRun, Provider, RunRequest

__all__ = ["DEFAULT_FEATURES", "PydanticAiLoop", "pydantic_ai_loop"]

# What pydantic-ai implements, in agentsim's vocabulary (agentsim.loop._features), from its source:
# - tools, parallel_tools: a response's calls all run (``_agent_graph.process_tool_calls``), each
#   answered in the next request; a tool's ModelRetry / bad arguments answer the call as an error
#   (``outcome='retried'``) and the run goes on, up to the tool's retry budget.
# - reasoning (Anthropic models only): ``ThinkingPart``s are streamed, and sent back (with their
#   signatures) only where the API has a place for them: ``models/anthropic`` does; on Chat
#   Completions a thinking-only response is not sent back at all (found by fuzzing, see
#   docs/frameworks.md), so for the OpenAI models ``reasoning`` is not claimed.
# - provider_errors: a model API error ends the run with an exception (``ModelAPIError``).
# - cancellation, consumer_drop: cancelling the run's task stops it at once.
# Not claimed: ``retries`` (HTTP retries are the SDK's own, with its own backoff, not agentsim's
# ``LoopOptions`` backoff), ``deadline`` / ``idle_timeout`` (no run deadline unless the caller
# passes one), ``max_steps`` (pydantic-ai's bound is ``UsageLimits.request_limit``), hooks,
# guardrails, limits (agentsim's scenario limits are not pydantic-ai's ``UsageLimits``) and
# ``concurrent_tools`` (pydantic-ai's own parallel mode, not ``LoopOptions.concurrent_tools``).
DEFAULT_FEATURES = ("tools", "parallel_tools", "provider_errors", "cancellation", "consumer_drop")
_UIS = ("agui", "vercel")
_APIS = {
    "OpenAIChatModel": "openai-chat",
    "OpenAIModel": "openai-chat",
    "OpenAIResponsesModel": "openai-responses",
    "AnthropicModel": "anthropic",
    "GoogleModel": "gemini",
}
_PREFIXES = {"openai": "openai-chat", "openai-responses": "openai-responses"}
_PREFIXES |= {"anthropic": "anthropic", "google-gla": "gemini"}
_ANSWERED = "(answered by pydantic-ai in its own history: the run's final result)"


class _AgentProducer(Producer):
    """One ``Agent.iter`` run, its mapped events pushed to `pending` (and the queue woken)."""

    def __init__(self, agent: Any, text: str, options: Mapping[str, Any]) -> None:
        super().__init__()
        self.agent, self.text, self.options = agent, text, options
        self.pending: list[AgentEvent] = []

    def _push(self, events: list[AgentEvent]) -> None:
        if events:
            self.pending.extend(events)
            self.queue.put_nowait(b"")

    async def body(self) -> None:
        from pydantic_ai import Agent
        from pydantic_ai.exceptions import (
            ModelAPIError,
            UnexpectedModelBehavior,
            UsageLimitExceeded,
        )

        clock = asyncio.get_running_loop()
        start = clock.time()
        mapper = Mapper(output_limit=0, now=lambda: clock.time() - start)
        self._push(mapper.start())
        options = dict(self.options)
        sub_runs = delegation(lambda events: self._push(mapper.sub_run(events)))
        options["capabilities"] = [*(options.get("capabilities") or ()), sub_runs]
        try:
            async with self.agent.iter(self.text, **options) as run:
                mapper.output_limit = int(getattr(run.ctx.deps, "max_output_retries", 0))
                async for node in run:
                    if Agent.is_model_request_node(node):
                        self._push(mapper.request(node.request))
                        stream: Any
                        async with node.stream(run.ctx) as stream:
                            async for event in stream:
                                self._push(mapper.response_event(event))
                        mapper.response(stream.response)
                    elif Agent.is_call_tools_node(node):
                        async with node.stream(run.ctx) as tools:
                            async for event in tools:
                                self._push(mapper.tool_event(event))
                    elif Agent.is_end_node(node):
                        self._push(mapper.completed(node.data.output))
        except UsageLimitExceeded as exc:
            self._push(mapper.failed("usage_limit", str(exc)))
        except ModelAPIError as exc:
            self._push(mapper.failed("provider", f"{type(exc).__name__}: {exc}"))
        except UnexpectedModelBehavior as exc:
            # Its message without its body: the body is pydantic-ai's dump of the messages, with
            # wall-clock timestamps and fresh run ids, so the same run would fail differently.
            self._push(mapper.failed("provider", f"{type(exc).__name__}: {exc.message}"))

    def disconnect(self) -> None:
        super().disconnect()
        if self.task is not None and not self.task.done():
            self.task.cancel()  # as a web server cancels a handler whose client left


class _FrameworkRun(AdapterRun):
    """An `AdapterRun` whose history is pydantic-ai's: see `history`."""

    api = "openai-chat"

    @property
    def history(self) -> tuple[Message, ...]:
        """The requests' history (`AdapterRun.history`), corrected where the wire cannot say
        what pydantic-ai's own message history says:

        - a completed run's last response has its calls answered: pydantic-ai answers an output
          tool call (and the calls it skips after a final result) in its history
          (``ToolReturnPart`` "Final result processed.") without another request;
        - a tool result's error flag is the call's own where the API has none (only Anthropic's
          ``tool_result`` carries ``is_error``; a Chat Completions ``tool`` message cannot).
        """
        messages = list(AdapterRun.history.fget(self))  # type: ignore[attr-defined]
        results = {e.call_id: e for e in self.events if isinstance(e, ToolExecuted)}
        if self.api != "anthropic":
            messages = [
                replace(m, is_error=not results[m.call_id].ok)
                if isinstance(m, ToolResultMessage) and m.call_id in results
                else m
                for m in messages
            ]
        if not isinstance(self.outcome, RunCompleted):
            return tuple(messages)
        last = max(
            (i for i, m in enumerate(messages) if isinstance(m, AssistantMessage)), default=-1
        )
        if last < 0:
            return tuple(messages)
        message = messages[last]
        assert isinstance(message, AssistantMessage)
        answered = {m.call_id for m in messages[last + 1 :] if isinstance(m, ToolResultMessage)}
        for call in message.tool_calls:
            if call.call_id in answered:
                continue
            event = results.get(call.call_id)
            if event is None:
                messages.append(ToolResultMessage(call.call_id, _ANSWERED, False))
            else:
                text = event.output if event.ok else event.error
                messages.append(ToolResultMessage(call.call_id, text or "", not event.ok))
        return tuple(messages)


class _AgentRun(_FrameworkRun):
    """A run fed events, not SSE: the producer's `pending`, stamped as they arrive."""

    producer: _AgentProducer

    def _decode(self, now: float, *, final: bool) -> list[AgentEvent]:
        fresh, self.producer.pending = self.producer.pending, []
        return self._deliver((_tree_unique(e, self.run_id) for e in fresh), now)

    def _closing(self, now: float) -> list[AgentEvent]:
        """A cancelled agent's delegating calls end their sub-runs as it stops: delivered before
        the ``run_cancelled`` (SR1: a cancelled parent ends its sub-runs first)."""
        self.producer.pending = [e for e in self.producer.pending if isinstance(e, SubRunFinished)]
        return self._decode(now, final=True)


class PydanticAiLoop(AdapterLoop):
    """A pydantic-ai agent as a loop (see `pydantic_ai_loop`)."""

    run_class: type[_FrameworkRun] = _AgentRun

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> AgentRun:
        run = self.run_class(
            request,
            provider=provider,
            runtime=runtime,
            producer=self._make(input_text(request)),
            dialect=self.dialect,
            features=self.features,
            base_urls=self.base_urls,
        )
        run.api = self.api
        self.last_run = run
        return run


def _api_of(agent: Any) -> str:
    model = getattr(agent, "model", None)
    if isinstance(model, str):
        api = _PREFIXES.get(model.partition(":")[0])
    else:
        api = next((_APIS[c.__name__] for c in type(model).__mro__ if c.__name__ in _APIS), None)
    if api is None:
        raise InputError(
            f"pydantic_ai_loop: cannot tell which provider API the agent's model {model!r} "
            "speaks; pass api= (openai-chat, openai-responses, anthropic or gemini)"
        )
    return api


def pydantic_ai_loop(
    agent: Any,
    *,
    deps: Any = None,
    ui: str | None = None,
    api: str | None = None,
    features: Iterable[str] | Literal["default"] | None = "default",
    base_urls: Iterable[str] = (),
    run_options: Mapping[str, Any] | None = None,
) -> AdapterLoop:
    """A pydantic-ai ``Agent`` as a loop: each run starts the agent on the input text.

    `deps` are the agent's dependencies for every run; `run_options` more keyword arguments for
    ``Agent.iter`` (``usage_limits``, ``model_settings``...). `ui` serves the agent through
    pydantic-ai's AG-UI (``"agui"``) or Vercel AI (``"vercel"``) adapter and checks the SSE it
    sends. The agent's provider calls (to the official API hosts and `base_urls`) are answered
    from the run's provider; `api` is the API its model speaks (default: from the model).
    `features` are pydantic-ai's semantics (`DEFAULT_FEATURES`, plus ``reasoning`` for an
    Anthropic model); None judges it on everything.
    """
    try:
        from pydantic_ai import Agent
    except ImportError as exc:  # pragma: no cover - the extra is installed in the test env
        raise ImportError(
            "pydantic_ai_loop needs pydantic-ai: pip install 'agentsim[pydantic-ai]'"
        ) from exc
    if not isinstance(agent, Agent):
        raise InputError(
            f"pydantic_ai_loop: expected a pydantic_ai.Agent, got {type(agent).__name__}"
        )
    if ui is not None and ui not in _UIS:
        raise InputError(f"pydantic_ai_loop: unknown ui {ui!r}; expected None, agui or vercel")
    options = dict(run_options or {})
    bad = {"deps", "user_prompt"} & set(options)
    if bad:
        raise InputError(f"pydantic_ai_loop: run_options may not set {', '.join(sorted(bad))}")
    options["deps"] = deps
    chosen = api if api is not None else _api_of(agent)
    if features == "default":
        features = (*DEFAULT_FEATURES, "reasoning") if chosen == "anthropic" else DEFAULT_FEATURES
    what = f"pydantic-ai {getattr(agent, 'name', None) or 'agent'}"
    if ui is not None:
        from agentsim.frameworks.pydantic_ai._ui import ui_app, ui_body

        served = asgi_loop(ui_app(agent, ui, options), path="/", body=ui_body(ui), api=chosen)
        loop = PydanticAiLoop(
            served._make,
            api=chosen,
            dialect=ui,
            features=features,
            base_urls=base_urls,
            what=f"{what} via {ui}",
        )
        loop.run_class = _FrameworkRun
        return loop
    make: Callable[[str], Producer] = lambda text: _AgentProducer(agent, text, options)  # noqa: E731
    return PydanticAiLoop(
        make, api=chosen, dialect="auto", features=features, base_urls=base_urls, what=what
    )


def _tree_unique(event: AgentEvent, run_id: str) -> AgentEvent:
    """A sub-run's id made unique across the tree of runs (nested agents number their own)."""
    if isinstance(event, SubRunStarted | SubRunFinished):
        return replace(event, sub_run_id=f"{run_id}-{event.sub_run_id}")
    return event
