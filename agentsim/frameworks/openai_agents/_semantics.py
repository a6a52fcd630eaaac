"""What openai-agents 0.24 implements, as agentsim features, and how its endings map to agentsim's.

Read from the SDK's docs (openai.github.io/openai-agents-python: running_agents.md, streaming.md,
handoffs.md, guardrails.md) and source (`agents/run.py`, `agents/result.py`,
`agents/run_internal/run_loop.py`, `turn_resolution.py`, `tool_execution.py`, `exceptions.py`;
the ``openai`` client's `_base_client.py` for retries). Declared (`OPENAI_AGENTS_FEATURES`):

- ``tools``: function tools run between model calls, one ``function_call_output`` per call; a tool
  that raises is answered by ``default_tool_error_function`` (tool.py) with an error text and the
  run goes on. An *unknown* tool name is not answered: ``ModelBehaviorError("Tool X not found in
  agent Y")`` (turn_resolution.py) ends the run; it is reported as ``run_failed`` kind
  ``provider`` (the model's response was unusable), a documented semantic that differs from
  agentsim's rule 3.
- ``parallel_tools``: several calls of one response run concurrently (``asyncio.create_task`` in
  tool_execution.py) and their outputs are emitted and sent back in call order.
- A ``content_filter`` finish without output becomes a refusal the SDK raises as
  ``ModelRefusalError`` (kind ``provider``); the refusal text the SDK makes up is not output
  text, so no ``text_delta`` carries it (`_mapping`).
- ``provider_errors``: an ``openai.APIError`` (status, connection, a stream that breaks) propagates
  out of ``stream_events()``; it ends the run (``provider``). So does an event whose data is not
  JSON: the ``openai`` client decodes each event with an unguarded ``json.loads``
  (``ServerSentEvent.json`` in `_streaming.py`), so the run ends with that client's
  ``json.JSONDecodeError``. It is the client's documented-by-source ending for a broken stream,
  not the framework crashing, so it is ``provider`` too, but only when it was raised there.
- ``max_steps``: ``max_turns`` (a turn is one model call, run.py's loop) is the run's
  ``max_steps``: the SDK raises ``MaxTurnsExceeded`` before the call that would exceed it, after the
  previous turn's tools ran, as agentsim's rule 4 says (``max_turns=0`` fails before any call).
- ``cancellation`` / ``consumer_drop``: ``RunResultStreaming.cancel()`` (mode ``immediate``,
  result.py) cancels the run task and its tool tasks and ends ``stream_events()``; the adapter
  calls it when the cancel token fires or the consumer stops reading.

Not declared:

- ``retries``: the SDK leaves retries to the ``openai`` client (``max_retries=2``: 408, 409, 429
  and 5xx, or as ``x-should-retry`` says, with its own jittered backoff, `_base_client.py`), and
  its runner-managed ``ModelRetrySettings`` are opt-in. The client's backoff is not agentsim's
  configured one, so the adapter shows each retry (``retry_scheduled``, so requests and events
  still line up) but does not claim the ``retries`` semantics.
- ``deadline`` / ``idle_timeout``: no run deadline; the client's 600 s timeout is per request.
- ``reasoning``: the Responses model streams reasoning summaries, but the Chat Completions model
  drops reasoning from the history it sends back, so it is not promised for both.
- ``hooks``, ``guardrails``, ``limits``: the SDK has its own (``RunHooks``, input / output
  guardrails, no token limits); agentsim's scenario hooks and guardrails cannot reach an agent,
  so they are not claimed. The SDK's guardrail tripwires still map to kind ``guardrail``.
- ``concurrent_tools``: tools always run concurrently; the scenario option cannot switch it.
"""

from __future__ import annotations

import json

from agentsim.core._events import FailureKind
from agentsim.loop._features import Feature

__all__ = ["OPENAI_AGENTS_FEATURES", "failure_kind"]

OPENAI_AGENTS_FEATURES: frozenset[Feature] = frozenset(
    {"tools", "parallel_tools", "provider_errors", "max_steps", "cancellation", "consumer_drop"}
)

# The SDK's exceptions by class name (the SDK is imported lazily, and names are what its
# docs list): the agentsim failure kind each ending is.
_KINDS: dict[str, FailureKind] = {
    "MaxTurnsExceeded": "max_steps",
    "InputGuardrailTripwireTriggered": "guardrail",
    "OutputGuardrailTripwireTriggered": "guardrail",
    "ToolInputGuardrailTripwireTriggered": "guardrail",
    "ToolOutputGuardrailTripwireTriggered": "guardrail",
    "ModelBehaviorError": "provider",
    # The provider's content filter withheld the response (chatcmpl_stream_handler.py makes a
    # refusal of a ``content_filter`` finish, run_internal raises it): the provider's doing.
    "ModelRefusalError": "provider",
    "ModelTimeoutError": "timeout",
}


def failure_kind(error: BaseException) -> FailureKind | None:
    """The kind of ``run_failed`` an exception out of the SDK's run is, or None when it is none
    of the endings the SDK documents (then the framework crashed)."""
    if isinstance(error, json.JSONDecodeError) and _raised_in(error, "openai._streaming"):
        return "provider"
    for cls in type(error).__mro__:
        kind = _KINDS.get(cls.__name__)
        if kind is not None:
            return kind
        if cls.__module__.startswith("openai") and cls.__name__ == "APIError":
            return "provider"
    return None


def _raised_in(error: BaseException, module: str) -> bool:
    """Whether a frame of `module` is on the traceback of `error` (where it was raised from)."""
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_globals.get("__name__") == module:
            return True
        frame = frame.tb_next
    return False
