"""agentsim: deterministic replay and test harness for streaming, tool-calling LLM agent loops.

This module is the face a user needs on day one: running a scenario, the loop protocol, the
reference loop, the fake providers, the vocabulary (chunks, events, history), the checks, the
virtual event loop and the errors. The rest is public from its layer: `agentsim.wire` (provider
codecs), `agentsim.sse` (SSE framing and dialects), `agentsim.cassettes` (recordings),
`agentsim.serve` (fake provider endpoint, transport, recorder), `agentsim.invariants` (the checks
and the metamorphic relations), `agentsim.strategies` and `agentsim.fuzzing` (need hypothesis),
`agentsim.testing` (needs pytest). Implementation lives in private modules inside one package per
layer; docs/architecture.md draws them.

The names that moved to a layer are still importable from here (read lazily, so that importing
`agentsim` stays cheap): `from agentsim import ScenarioTransport` works as it always did.
"""

from __future__ import annotations

from typing import Any

from agentsim.check._invariants import INVARIANTS, Trace, Violation, assert_invariants, check_trace
from agentsim.core._chunks import (
    ERROR_KINDS,
    FINISH_REASONS,
    Chunk,
    ErrorChunk,
    ErrorKind,
    FinishChunk,
    FinishReason,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    UsageChunk,
    chunk_from_dict,
    chunk_to_dict,
)
from agentsim.core._errors import AgentsimError, HarnessError, InputError, NetworkBlockedError
from agentsim.core._events import (
    FAILURE_KINDS,
    PHASES,
    AgentEvent,
    CancelReason,
    ContextCompressed,
    ContextInfo,
    FailureKind,
    OutputReady,
    OutputRetry,
    Phase,
    PhaseChanged,
    RetryScheduled,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepFinished,
    StepStarted,
    SubRunFinished,
    SubRunStarted,
    TerminalEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
    ToolExecuted,
    event_from_dict,
    event_to_dict,
)
from agentsim.core._exports import check_exports
from agentsim.core._history import (
    AssistantMessage,
    Block,
    Message,
    ReasoningBlock,
    SystemMessage,
    TextBlock,
    ToolCallBlock,
    ToolResultMessage,
    UserMessage,
    message_from_dict,
    message_to_dict,
)
from agentsim.core._runtime import CancelToken, IdFactory, Runtime
from agentsim.core._tools import Tool, ToolError, Toolset, ToolSpec
from agentsim.core._usage import Usage
from agentsim.core._virtual_loop import DeadlockError, VirtualEventLoop, run_virtual
from agentsim.harness._result import RunResult
from agentsim.harness._run import run_loop, run_scenario, simulate
from agentsim.loop._driver import ReferenceLoop, ReferenceRun
from agentsim.loop._features import ALL_FEATURES, FEATURE_NAMES, Feature, parse_features
from agentsim.loop._hooks import Continue, Decision, Guardrails, Hooks, Skip, Terminate
from agentsim.loop._protocol import (
    AgentLoop,
    AgentRun,
    LoopOptions,
    Provider,
    ProviderError,
    ProviderRequest,
    RunRequest,
)
from agentsim.scenario._schema import Scenario, load_scenario, parse_scenario, scenario_json_schema
from agentsim.scenario._script import Delay, FunctionProvider, ScriptedProvider, Stall

__version__ = "0.1.0"

__all__ = [
    "ALL_FEATURES",
    "ERROR_KINDS",
    "FAILURE_KINDS",
    "FEATURE_NAMES",
    "FINISH_REASONS",
    "INVARIANTS",
    "PHASES",
    "AgentEvent",
    "AgentLoop",
    "AgentRun",
    "AgentsimError",
    "AssistantMessage",
    "Block",
    "CancelReason",
    "CancelToken",
    "Chunk",
    "ContextCompressed",
    "ContextInfo",
    "Continue",
    "DeadlockError",
    "Decision",
    "Delay",
    "ErrorChunk",
    "ErrorKind",
    "FailureKind",
    "Feature",
    "FinishChunk",
    "FinishReason",
    "FunctionProvider",
    "Guardrails",
    "HarnessError",
    "Hooks",
    "IdFactory",
    "InputError",
    "LoopOptions",
    "Message",
    "NetworkBlockedError",
    "OutputReady",
    "OutputRetry",
    "Phase",
    "PhaseChanged",
    "Provider",
    "ProviderError",
    "ProviderRequest",
    "ReasoningBlock",
    "ReasoningChunk",
    "ReferenceLoop",
    "ReferenceRun",
    "RetryScheduled",
    "RunCancelled",
    "RunCompleted",
    "RunFailed",
    "RunRequest",
    "RunResult",
    "RunStarted",
    "Runtime",
    "Scenario",
    "ScriptedProvider",
    "Skip",
    "Stall",
    "StepFinished",
    "StepStarted",
    "SubRunFinished",
    "SubRunStarted",
    "SystemMessage",
    "TerminalEvent",
    "Terminate",
    "TextBlock",
    "TextChunk",
    "TextDelta",
    "ThinkingDelta",
    "Tool",
    "ToolCallArgsChunk",
    "ToolCallBlock",
    "ToolCallCompleted",
    "ToolCallDelta",
    "ToolCallEndChunk",
    "ToolCallStartChunk",
    "ToolCallStarted",
    "ToolError",
    "ToolExecuted",
    "ToolResultMessage",
    "ToolSpec",
    "Toolset",
    "Trace",
    "Usage",
    "UsageChunk",
    "UserMessage",
    "Violation",
    "VirtualEventLoop",
    "assert_invariants",
    "check_trace",
    "chunk_from_dict",
    "chunk_to_dict",
    "event_from_dict",
    "event_to_dict",
    "load_scenario",
    "message_from_dict",
    "message_to_dict",
    "parse_features",
    "parse_scenario",
    "run_loop",
    "run_scenario",
    "run_virtual",
    "scenario_json_schema",
    "simulate",
]

# Names public from a layer, also readable here for code written against the flat API.
_FROM_LAYERS = {
    "API_NAMES": "agentsim.wire",
    "ApiName": "agentsim.wire",
    "asgi_loop": "agentsim.adapters",
    "intercept": "agentsim.serve",
    "sse_loop": "agentsim.adapters",
    "Cassette": "agentsim.cassettes",
    "CassetteProvider": "agentsim.cassettes",
    "DIALECT_NAMES": "agentsim.sse",
    "DialectName": "agentsim.sse",
    "Interaction": "agentsim.cassettes",
    "RecordingProxy": "agentsim.serve",
    "SSEDecoder": "agentsim.sse",
    "ScenarioPlayback": "agentsim.serve",
    "ScenarioServer": "agentsim.serve",
    "ScenarioTransport": "agentsim.serve",
    "ServerSentEvent": "agentsim.sse",
    "StreamDecoder": "agentsim.wire",
    "TranscriptError": "agentsim.sse",
    "TranscriptReport": "agentsim.sse",
    "WireFormatError": "agentsim.wire",
    "cassette_to_scenario": "agentsim.cassettes",
    "check_transcript": "agentsim.sse",
    "decode_dialect": "agentsim.sse",
    "decode_sse": "agentsim.sse",
    "decoder_for": "agentsim.wire",
    "detect_dialect": "agentsim.sse",
    "dialect_rules": "agentsim.sse",
    "encode_dialect": "agentsim.sse",
    "encode_native": "agentsim.sse",
    "encode_native_event": "agentsim.sse",
    "encode_sse": "agentsim.sse",
    "encode_stream": "agentsim.wire",
    "events_after": "agentsim.sse",
    "load_cassette": "agentsim.cassettes",
    "normalize_sse": "agentsim.sse",
    "project_dialect": "agentsim.sse",
    "replay_cassette": "agentsim.cassettes",
    "serve_scenario": "agentsim.serve",
    "write_cassette": "agentsim.cassettes",
}


def __getattr__(name: str) -> Any:
    module = _FROM_LAYERS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentsim' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_FROM_LAYERS])


check_exports(__name__, globals(), __all__)
