"""``openai_agents_loop(agent, ...)``: an openai-agents `Agent` as an agentsim loop.

Choices:

- **The client is found, not wired.** The SDK creates its default ``AsyncOpenAI`` lazily, from
  the environment (`agents/models/openai_provider.py`), and its HTTP client is ``httpx2``; the
  interception patches httpx and httpx2 transports, so requests to api.openai.com from any client
  are answered with nothing wired. The base URLs the SDK will talk to are added to the
  interception too: ``OPENAI_BASE_URL``, and the ``base_url`` of a client the agent's model (or
  the run config's) already holds, so a model pointed at a local server is covered as well.
- **No key needed, none written.** A user who has not set ``OPENAI_API_KEY`` (or
  ``set_default_openai_key`` / ``set_default_openai_client``) expects a simulated run to need
  none; the SDK would raise ``OpenAIError`` building the client. Then, and only then, the loop's
  copy of the run config gets ``MultiProvider(openai_api_key=<placeholder>)`` (never in the
  environment), whose requests never leave the process.
- **The API** is detected from the starting agent's model (``OpenAIResponsesModel`` or
  ``OpenAIChatCompletionsModel``, on the agent or the run config) or, for a model name, from the
  provider's default (``set_default_openai_api``). ``api=`` may say it instead: for a model name
  it chooses the model class (the provider's ``use_responses``); against a model object that
  speaks the other API it is an input error.
- **Tracing is off** (``RunConfig.tracing_disabled``) unless ``tracing=True``: no network, nothing
  written. The user's ``run_config`` is copied, never changed.
- **Agents as tools** (``Agent.as_tool``) are refused for now: the nested run's provider calls
  go through the same interception and would be judged as the parent's steps. Handoffs are
  supported (the new agent's turns are the run's own, shown as a ``handoff`` sub-run).
- **max_turns** is the run's ``max_steps`` (see `_semantics`); ``context`` and ``hooks`` are
  passed to ``Runner.run_streamed`` as given.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import Any

from agentsim.core._errors import InputError
from agentsim.core._runtime import Runtime
from agentsim.core._tools import Toolset, ToolSpec
from agentsim.frameworks.openai_agents._run import AgentsProducer, AgentsRun
from agentsim.frameworks.openai_agents._semantics import OPENAI_AGENTS_FEATURES
from agentsim.loop._features import Feature, parse_features
from agentsim.loop._protocol import AgentRun, Provider, RunRequest

__all__ = ["OpenAIAgentsLoop", "openai_agents_loop"]

_APIS = ("auto", "openai-responses", "openai-chat")
PLACEHOLDER_KEY = "sk-agentsim-placeholder"  # the interception answers; it never leaves


def _sdk() -> Any:
    try:
        import agents
    except ImportError as exc:  # pragma: no cover - the extra is installed in the test env
        raise ImportError(
            "openai_agents_loop needs openai-agents: pip install 'agentsim[openai-agents]'"
        ) from exc
    return agents


def _model_api(model: Any, sdk: Any) -> str | None:
    if isinstance(model, sdk.OpenAIChatCompletionsModel):
        return "openai-chat"
    if isinstance(model, sdk.OpenAIResponsesModel):
        return "openai-responses"
    return None


def _client_url(model: Any) -> str | None:
    client = getattr(model, "_client", None)
    url = getattr(client, "base_url", None)
    return None if url is None else str(url).rstrip("/")


class OpenAIAgentsLoop:
    """An openai-agents agent as a loop; see `openai_agents_loop`."""

    def __init__(
        self,
        agent: Any,
        *,
        run_config: Any,
        features: Iterable[str] | None,
        api: str,
        context: Any,
        hooks: Any,
        tracing: bool,
        base_urls: Iterable[str],
    ) -> None:
        sdk = _sdk()
        if not isinstance(agent, sdk.Agent):
            raise InputError(f"openai_agents_loop: expected an agents.Agent, got {type(agent)}")
        if run_config is None:
            run_config = sdk.RunConfig()
        if not isinstance(run_config, sdk.RunConfig):
            raise InputError(
                f"openai_agents_loop: run_config must be an agents.RunConfig, got {run_config!r}"
            )
        if api not in _APIS:
            raise InputError(f"openai_agents_loop: api must be one of {', '.join(_APIS)}: {api!r}")
        if not isinstance(tracing, bool):
            raise InputError(f"openai_agents_loop: tracing must be True or False, got {tracing!r}")
        nested = _agent_tools(agent)
        if nested:
            raise InputError(
                "openai_agents_loop: agents used as tools (Agent.as_tool) are not supported yet: "
                f"{', '.join(nested)}; their nested runs' provider calls would be judged as the "
                "parent's steps (use a handoff, or a function tool that calls Runner.run)"
            )
        self.agent, self.context, self.hooks, self._sdk = agent, context, hooks, sdk
        self.features: frozenset[Feature] | None = (
            OPENAI_AGENTS_FEATURES if features is None else parse_features(features)
        )
        model = run_config.model if run_config.model is not None else agent.model
        model_api = _model_api(model, sdk)
        if model_api is not None and api not in ("auto", model_api):
            raise InputError(
                f"openai_agents_loop: api={api!r}, but the agent's model "
                f"{type(model).__name__} speaks {model_api}"
            )
        urls = [u for u in (_client_url(model), os.environ.get("OPENAI_BASE_URL")) if u]
        self.base_urls = (*base_urls, *urls)
        self.api = model_api or (api if api != "auto" else self._default_api(run_config))
        changes: dict[str, Any] = {"tracing_disabled": not tracing or run_config.tracing_disabled}
        if model_api is None and not _given_provider(run_config, sdk):
            changes["model_provider"] = sdk.MultiProvider(
                openai_api_key=None if _has_key(sdk) else PLACEHOLDER_KEY,
                openai_use_responses=self.api == "openai-responses",
            )
        self.run_config = dataclasses.replace(run_config, **changes)
        self._offered: tuple[ToolSpec, ...] | None = None
        self.last_run: AgentsRun | None = None

    def _default_api(self, run_config: Any) -> str:
        from agents.models import _openai_shared

        provider = run_config.model_provider
        openai = getattr(provider, "openai_provider", provider)
        flag = getattr(openai, "_use_responses", None)
        if flag is None:
            flag = _openai_shared.get_use_responses_by_default()
        return "openai-responses" if flag else "openai-chat"

    def __repr__(self) -> str:
        return f"<agentsim openai-agents loop {self.agent.name!r} api={self.api}>"

    def run(
        self, request: RunRequest, *, provider: Provider, tools: Toolset, runtime: Runtime
    ) -> AgentRun:
        from agentsim.adapters._live import input_text

        text = input_text(request)
        max_turns = request.options.max_steps

        def start() -> Any:
            return self._sdk.Runner.run_streamed(
                self.agent,
                text,
                context=self.context,
                max_turns=max_turns,
                hooks=self.hooks,
                run_config=self.run_config,
            )

        run = AgentsRun(
            request,
            provider=provider,
            runtime=runtime,
            producer=AgentsProducer(start),
            dialect=None,
            features=self.features,
            base_urls=self.base_urls,
        )
        self.last_run = run
        return run

    def offered_tools(self) -> tuple[ToolSpec, ...]:
        """The tools the agent offers its provider (tools and handoffs), by a probe run."""
        if self._offered is None:
            from agentsim.adapters._loops import _probe

            self._offered = _probe(self)  # type: ignore[arg-type]
        return self._offered


def _agent_tools(agent: Any) -> list[str]:
    """The agent-as-tool tools reachable from `agent` (its tools, its handoffs' tools, ...)."""
    found: list[str] = []
    seen: set[int] = set()
    todo = [agent]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for tool in getattr(current, "tools", ()) or ():
            if getattr(tool, "_is_agent_tool", False):
                found.append(str(getattr(tool, "name", "?")))
        for handoff in getattr(current, "handoffs", ()) or ():
            target = getattr(handoff, "agent", handoff)  # an Agent, or a Handoff wrapping one
            if hasattr(target, "tools"):
                todo.append(target)
    return sorted(set(found))


def _given_provider(run_config: Any, sdk: Any) -> bool:
    provider = run_config.model_provider
    if not isinstance(provider, sdk.MultiProvider):
        return True
    openai = provider.openai_provider
    return any(
        getattr(openai, name, None) is not None
        for name in ("_stored_api_key", "_stored_base_url", "_client")
    )


def _has_key(sdk: Any) -> bool:
    from agents.models import _openai_shared

    return bool(
        _openai_shared.get_default_openai_key() or _openai_shared.get_default_openai_client()
    )


def openai_agents_loop(
    agent: Any,
    *,
    run_config: Any = None,
    features: Iterable[str] | None = None,
    api: str = "auto",
    context: Any = None,
    hooks: Any = None,
    tracing: bool = False,
    base_urls: Iterable[str] = (),
) -> OpenAIAgentsLoop:
    """An openai-agents `Agent` as a loop for `agentsim run / fuzz / shrink --loop`.

    Each run is ``Runner.run_streamed(agent, <input text>, max_turns=<max_steps>, ...)`` with the
    SDK's provider calls answered from the run's provider. `features` default to what the SDK
    implements (`OPENAI_AGENTS_FEATURES`); `api` (``auto``, ``openai-responses``,
    ``openai-chat``) is detected from the agent's model or chooses it for a model name.
    """
    return OpenAIAgentsLoop(
        agent,
        run_config=run_config,
        features=features,
        api=api,
        context=context,
        hooks=hooks,
        tracing=tracing,
        base_urls=base_urls,
    )
