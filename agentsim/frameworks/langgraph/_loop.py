"""`langgraph_loop`: a compiled LangGraph graph (or any LangChain runnable) as an agentsim loop.

Each run calls ``graph.astream_events(input, config, version="v2")`` inside the adapters' run
(`agentsim.adapters._live.AdapterRun`), so everything an adapter does holds here: the graph's
provider calls (ChatOpenAI's openai SDK, an httpx client) are answered by the run's provider
through `agentsim.serve`'s intercept, on the virtual loop; a cancel or a consumer drop stops the
graph; the history is what the graph sent the provider; the seed replays the SDK's retry jitter.
The stream events become agentsim events (`_events`), written to the run as agentsim's native
SSE dialect, so the run reads them with the one decoder every adapter uses.

Choices:

- **The input** is ``{"messages": [("user", text)]}``, the state a `MessagesState` graph and
  `create_react_agent` take (LangGraph docs, "Agents > Run an agent"); `input=` maps the text to
  another state.
- **max_steps is the recursion limit.** LangGraph counts supersteps, not model calls, and raises
  `GraphRecursionError` past ``config["recursion_limit"]`` (langgraph `pregel/main.py`, docs
  "Graph API > Recursion limit"). A ReAct graph spends two supersteps per model call (the model
  node, then the tool node), so a run allows ``supersteps_per_step * max_steps`` supersteps
  (``supersteps_per_step=2``); a graph of another shape says its own number. A `recursion_limit`
  the user put in `config` wins (then ``max_steps`` is not a declared feature unless they say so).
- **A disconnect cancels the graph at once**, as a web server cancels the task streaming a
  LangGraph run when its client leaves (the astream_events generator gets `CancelledError`).
- **Default features** (`DEFAULT_FEATURES`), from the framework's source:
  ``tools`` and ``parallel_tools`` (ToolNode runs every call of a message, concurrently, and
  returns the ToolMessages in call order: langgraph `prebuilt/tool_node.py` `_afunc`);
  ``provider_errors`` (an openai error that ChatOpenAI does not retry propagates out of the graph,
  which ends the run); ``max_steps`` (above); ``cancellation`` and ``consumer_drop`` (above).
  Not claimed: ``retries`` (ChatOpenAI's ``max_retries`` is the openai SDK's own retry, with its
  own backoff - 0.5 s doubling, jittered, `openai/_base_client.py` - not `LoopOptions`'s),
  ``deadline`` and ``idle_timeout`` (LangGraph has no run deadline; ChatOpenAI's ``timeout`` is
  per request), ``reasoning``, ``concurrent_tools`` (ToolNode is always concurrent), ``hooks``,
  ``guardrails``, ``limits``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agentsim.adapters._live import AdapterRun, Producer, input_text
from agentsim.adapters._loops import AdapterLoop
from agentsim.core._errors import InputError
from agentsim.core._events import AgentEvent, RunStarted
from agentsim.core._runtime import Runtime
from agentsim.core._tools import Toolset
from agentsim.frameworks.langgraph._events import EventMapper
from agentsim.loop._protocol import AgentRun, Provider, RunRequest
from agentsim.sse._encode_native import encode_native_event

__all__ = ["DEFAULT_FEATURES", "LangGraphLoop", "langgraph_loop"]

DEFAULT_FEATURES = (
    "tools",
    "parallel_tools",
    "provider_errors",
    "max_steps",
    "cancellation",
    "consumer_drop",
)


def _messages_input(text: str) -> dict[str, Any]:
    return {"messages": [("user", text)]}


class _GraphProducer(Producer):
    def __init__(self, graph: Any, inputs: Any, config: dict[str, Any]) -> None:
        super().__init__()
        self.graph, self.inputs, self.config = graph, inputs, config

    async def body(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        mapper = EventMapper()
        emitted: list[AgentEvent] = []

        def put(events: Iterable[AgentEvent]) -> None:
            for event in events:
                emitted.append(event)
                self.queue.put_nowait(encode_native_event(event))

        stream = self.graph.astream_events(self.inputs, config=self.config, version="v2")
        try:
            while True:
                try:
                    event = await stream.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:  # the graph raised: the run fails, as its caller sees
                    if not emitted:
                        put([RunStarted(mapper._n(), loop.time() - start, "")])
                    if not mapper.ended:
                        put([mapper.failed(exc, loop.time() - start, emitted)])
                    break
                put(mapper.map(event, loop.time() - start))  # a mapping error is agentsim's
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    def disconnect(self) -> None:
        super().disconnect()
        if self.task is not None and not self.task.done():
            self.task.cancel()


class LangGraphLoop(AdapterLoop):
    """A LangGraph graph as a loop; see `langgraph_loop`."""

    def __init__(
        self,
        graph: Any,
        *,
        features: Iterable[str] | None,
        config: Mapping[str, Any] | None,
        input: Callable[[str], Any],
        supersteps_per_step: int,
        base_urls: Iterable[str],
    ) -> None:
        super().__init__(
            lambda text: _GraphProducer(graph, input(text), dict(config or {})),
            api="openai-chat",
            dialect="native",
            features=features,
            base_urls=base_urls,
            what=f"langgraph {getattr(graph, 'name', None) or type(graph).__name__}",
        )
        self.graph = graph
        self.config = dict(config or {})
        self.input = input
        self.supersteps_per_step = supersteps_per_step

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> AgentRun:
        config = dict(self.config)
        # LangGraph refuses a limit below 1 ("recursion_limit must be at least 1"), so a zero-step
        # budget cannot be given: the graph always gets its first superstep (docs/frameworks.md).
        config.setdefault(
            "recursion_limit", max(1, self.supersteps_per_step * request.options.max_steps)
        )
        producer = _GraphProducer(self.graph, self.input(input_text(request)), config)
        run = AdapterRun(
            request,
            provider=provider,
            runtime=runtime,
            producer=producer,
            dialect="native",
            features=self.features,
            base_urls=self.base_urls,
        )
        self.last_run = run
        return run


def langgraph_loop(
    graph: Any,
    *,
    features: Iterable[str] | None = DEFAULT_FEATURES,
    config: Mapping[str, Any] | None = None,
    input: Callable[[str], Any] = _messages_input,
    supersteps_per_step: int = 2,
    base_urls: Iterable[str] = (),
) -> LangGraphLoop:
    """A compiled LangGraph graph / LangChain runnable as a loop, run by ``astream_events`` (v2).

    Its ChatOpenAI (openai SDK / httpx) provider calls are answered from the run's provider;
    `features` are what it is judged on (`DEFAULT_FEATURES`: what LangGraph's prebuilt ReAct
    agent implements); `config` is passed to every run (``recursion_limit`` defaults to
    ``supersteps_per_step * max_steps``); `input` maps the input text to the graph's input.
    """
    if not callable(getattr(graph, "astream_events", None)):
        raise InputError(
            "langgraph_loop: expected a compiled LangGraph graph or a LangChain runnable "
            f"(with astream_events), got {type(graph).__name__}"
        )
    if config is not None and not isinstance(config, Mapping):
        raise InputError(f"langgraph_loop: config must be a mapping, got {type(config).__name__}")
    if not callable(input):
        raise InputError("langgraph_loop: input must be a function of the input text")
    if (
        not isinstance(supersteps_per_step, int)
        or isinstance(supersteps_per_step, bool)
        or supersteps_per_step < 1
    ):
        raise InputError(
            f"langgraph_loop: supersteps_per_step must be a positive int, got "
            f"{supersteps_per_step!r}"
        )
    return LangGraphLoop(
        graph,
        features=features,
        config=config,
        input=input,
        supersteps_per_step=supersteps_per_step,
        base_urls=base_urls,
    )
