"""Scenario files: the schema (pydantic), loading with positioned errors, and JSON Schema export.

A scenario scripts one run: the tools, the loop options, one entry per expected provider request
with its chunks and delays, an optional cancellation or consumer drop, and the expected outcome
(DESIGN §7). The schema is strict (unknown keys are errors) so that a typo cannot silently turn a
check off. `agentsim schema` prints `scenario_json_schema()` for editors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    ValidationError,
    model_validator,
)

from agentsim.core._chunks import (
    ErrorKind,
    FinishReason,
)
from agentsim.core._errors import InputError
from agentsim.core._events import CancelReason, FailureKind
from agentsim.scenario._fast_yaml import fast_load
from agentsim.scenario._text_items import prebuild_text_items
from agentsim.scenario._yaml_source import PositionedYAML, load_positioned_yaml

__all__ = [
    "Scenario",
    "load_scenario",
    "parse_scenario",
    "scenario_json_schema",
]

NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- chunks ---------------------------------------------------------------------------------------


class _Item(_Strict):
    delay: NonNegative = Field(0.0, description="Virtual seconds to wait before this item.")


class _Split(_Item):
    split: Annotated[int, Field(gt=0)] | None = Field(
        None, description="Deliver the text in deltas of this many characters (default: one)."
    )


class TextItem(_Split):
    text: str


class ReasoningItem(_Split):
    reasoning: str
    signature: str | None = None


class ToolCallSpec(_Strict):
    name: str
    id: str | None = Field(None, description="Call id; default call_<request>_<index>.")
    index: Annotated[int, Field(ge=0)] | None = Field(
        None, description="Parallel-call index; default: the next free one in this request."
    )
    arguments: str | dict[str, JsonValue] = Field(
        "{}", description="Argument text, or an object (sent as compact JSON)."
    )
    fragments: list[str] | None = Field(
        None, description="The argument text as explicit fragments (instead of `arguments`)."
    )
    split: Annotated[int, Field(gt=0)] | None = Field(
        None, description="Deliver `arguments` in fragments of this many characters."
    )
    end: bool = Field(True, description="Send an explicit tool-call end after the arguments.")

    @model_validator(mode="after")
    def _one_source(self) -> ToolCallSpec:
        if self.fragments is not None and self.arguments != "{}":
            raise ValueError("give either `arguments` or `fragments`, not both")
        return self


class ToolCallItem(_Item):
    tool_call: ToolCallSpec


class ToolCallStartSpec(_Strict):
    index: Annotated[int, Field(ge=0)]
    id: str
    name: str


class ToolCallStartItem(_Item):
    tool_call_start: ToolCallStartSpec


class ToolCallArgsSpec(_Strict):
    index: Annotated[int, Field(ge=0)]
    delta: str


class ToolCallArgsItem(_Item):
    tool_call_args: ToolCallArgsSpec


class IndexSpec(_Strict):
    index: Annotated[int, Field(ge=0)]


class ToolCallEndSpec(IndexSpec):
    rejected: str | None = Field(
        default=None,
        description=(
            "The provider's message when it reported the call and rejected it (Groq's "
            "tool_use_failed); the call is still the model's call."
        ),
    )


class ToolCallEndItem(_Item):
    tool_call_end: ToolCallEndSpec


class UsageSpec(_Strict):
    input_tokens: Annotated[int, Field(ge=0)] = 0
    output_tokens: Annotated[int, Field(ge=0)] = 0
    reasoning_tokens: Annotated[int, Field(ge=0)] = 0
    cached_tokens: Annotated[int, Field(ge=0)] = 0


class UsageItem(_Item):
    usage: UsageSpec


class FinishItem(_Item):
    finish: FinishReason


class ErrorSpec(_Strict):
    kind: ErrorKind
    message: str = ""
    retryable: bool = False
    status: Annotated[int, Field(ge=100, le=599)] | None = None
    retry_after: NonNegative | None = Field(
        None,
        description=(
            "With `status`, before any output: the answer's Retry-After header, in seconds "
            "(the SDKs wait that long, on the virtual clock, before their own retry)."
        ),
    )

    @model_validator(mode="after")
    def _retry_after_needs_status(self) -> ErrorSpec:
        if self.retry_after is not None and self.status is None:
            raise ValueError("`retry_after` is a header of an HTTP error answer: give `status`")
        return self


class ErrorItem(_Item):
    error: ErrorSpec


class StallItem(_Item):
    stall: Literal[True] = Field(description="The stream hangs here forever (until a timeout).")


class TruncateItem(_Item):
    truncate: Literal[True] = Field(description="The stream ends here, without a finish.")


class ResetItem(_Item):
    reset: Literal[True] = Field(
        description=(
            "The connection drops here, mid-body: an HTTP client's read raises (httpx: "
            "RemoteProtocolError); a protocol loop's provider stream raises a ProviderError."
        )
    )


class MalformedItem(_Item):
    malformed: str = Field(
        description=(
            "An event whose data is this text (not valid JSON, or not the API's schema), in the "
            "API's own framing; the stream ends after it. A protocol loop's provider raises."
        )
    )


_ITEM_KEYS = (
    "text",
    "reasoning",
    "tool_call",
    "tool_call_start",
    "tool_call_args",
    "tool_call_end",
    "usage",
    "finish",
    "error",
    "stall",
    "truncate",
    "reset",
    "malformed",
)


_ITEM_KEY_SET = frozenset(_ITEM_KEYS)


def _item_kind(value: Any) -> str | None:
    if value.__class__ is not dict:  # the common case first: called once per chunk item
        if value.__class__ is TextItem:  # built by `load_scenario` (`_text_items`)
            return "text"
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if not isinstance(value, dict):
            return None
    found = None
    for key in value:  # (a loop over a few keys costs less than a set intersection)
        if key in _ITEM_KEY_SET:
            if found is not None:
                return None
            found = key
    return found


ChunkItem = Annotated[
    Annotated[TextItem, Tag("text")]
    | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[ToolCallItem, Tag("tool_call")]
    | Annotated[ToolCallStartItem, Tag("tool_call_start")]
    | Annotated[ToolCallArgsItem, Tag("tool_call_args")]
    | Annotated[ToolCallEndItem, Tag("tool_call_end")]
    | Annotated[UsageItem, Tag("usage")]
    | Annotated[FinishItem, Tag("finish")]
    | Annotated[ErrorItem, Tag("error")]
    | Annotated[StallItem, Tag("stall")]
    | Annotated[TruncateItem, Tag("truncate")]
    | Annotated[ResetItem, Tag("reset")]
    | Annotated[MalformedItem, Tag("malformed")],
    Discriminator(
        _item_kind,
        custom_error_type="chunk_item",
        custom_error_message="expected a mapping with exactly one of: " + ", ".join(_ITEM_KEYS),
    ),
]


# -- requests -------------------------------------------------------------------------------------


class RequestCheck(_Strict):
    """Checks on the request the loop sends; a mismatch fails the scenario (the run goes on)."""

    messages: Annotated[int, Field(ge=0)] | None = Field(None, description="Number of messages.")
    last_role: Literal["system", "user", "assistant", "tool"] | None = None
    contains: str | None = Field(None, description="Text that some message must contain.")
    tools: list[str] | None = Field(None, description="Names of the tools offered, in order.")
    attempt: Annotated[int, Field(ge=1)] | None = None


_ENDINGS = (StallItem, TruncateItem, ResetItem, MalformedItem)  # (a tuple tests faster)


class RequestScript(_Strict):
    expect: RequestCheck | None = None
    chunks: list[ChunkItem]

    @model_validator(mode="after")
    def _endings_last(self) -> RequestScript:
        chunks = self.chunks
        for i in range(len(chunks) - 1):
            if isinstance(chunks[i], _ENDINGS):
                what = _item_kind(chunks[i])
                raise ValueError(f"chunks[{i}]: `{what}` ends the stream, so it must come last")
        return self


# -- tools, hooks, guardrails ---------------------------------------------------------------------


class ToolScript(_Strict):
    description: str = ""
    result: JsonValue = Field(None, description="What the tool returns (text or any JSON).")
    results: list[JsonValue] | None = Field(
        None,
        description="One result per call, in call order (a call beyond the list is an error).",
    )
    error: str | None = Field(None, description="Answer with this error result instead.")
    raises: str | None = Field(None, description="Raise an exception with this message instead.")
    delay: NonNegative = Field(0.0, description="Virtual seconds the tool takes.")

    @model_validator(mode="after")
    def _one_behaviour(self) -> ToolScript:
        given_count = (
            (self.error is not None)
            + (self.raises is not None)
            + (self.results is not None)
            + (self.result is not None)
        )
        if given_count <= 1:  # the common case, checked cheaply (once per tool of a scenario)
            return self
        given = [k for k in ("error", "raises", "results") if getattr(self, k) is not None]
        if self.result is not None:
            given.append("result")
        if len(given) > 1:
            raise ValueError(f"give one of result, results, error, raises; got {', '.join(given)}")
        return self


class HookRule(_Strict):
    """When the hook point matches (all given conditions), take `action`."""

    action: Literal["continue", "skip", "terminate"]
    reason: str = "scripted"
    tool: str | None = Field(None, description="on_tool_call / on_tool_result: the tool's name.")
    step: Annotated[int, Field(ge=1)] | None = Field(None, description="before/after_step: step.")
    contains: str | None = Field(None, description="on_text_delta: text in the delta.")


class _Lists(_Strict):
    """A model of lists of rules, hashable (by the rules) so that pydantic shares its empty
    default instead of deep-copying it into every scenario that leaves it out (it copies
    defaults that do not hash: most of a small scenario's validation time)."""

    def __hash__(self) -> int:
        return hash(tuple(tuple(rules) for rules in self.__dict__.values()))


class HookScripts(_Lists):
    before_step: list[HookRule] = []
    on_text_delta: list[HookRule] = []
    on_tool_call: list[HookRule] = []
    on_tool_result: list[HookRule] = []
    after_step: list[HookRule] = []


class GuardrailRule(_Strict):
    reason: str = "scripted refusal"
    step: Annotated[int, Field(ge=1)] | None = Field(None, description="request: refuse step N.")
    contains: str | None = Field(None, description="response: refuse text containing this.")


class GuardrailScripts(_Lists):
    request: list[GuardrailRule] = []
    response: list[GuardrailRule] = []


class OptionsScript(_Strict):
    max_steps: Annotated[int, Field(ge=0)] = 10
    deadline: NonNegative = 300.0
    idle_timeout: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    max_retries: Annotated[int, Field(ge=0)] = 2
    backoff_initial: NonNegative = 1.0
    backoff_factor: Annotated[float, Field(ge=1, allow_inf_nan=False)] = 2.0
    backoff_max: NonNegative = 30.0
    concurrent_tools: bool = False
    max_response_bytes: Annotated[int, Field(ge=0)] | None = None
    max_total_tokens: Annotated[int, Field(ge=0)] | None = None
    max_requests: Annotated[int, Field(ge=0)] | None = None
    max_tool_calls: Annotated[int, Field(ge=0)] | None = None
    context_budget: Annotated[int, Field(ge=1)] | None = None
    context_strategy: Literal["truncate", "summarize"] = "truncate"


# -- interruptions and expectations ---------------------------------------------------------------


class CancelAt(_Strict):
    """Cancel the run at a virtual time, or while the loop waits for chunk N of request R."""

    at_time: NonNegative | None = None
    request: Annotated[int, Field(ge=1)] | None = Field(None, description="1-based request.")
    before_chunk: Annotated[int, Field(ge=1)] | None = Field(
        None, description="1-based chunk of that request that is never delivered."
    )

    @model_validator(mode="after")
    def _one_point(self) -> CancelAt:
        by_time = self.at_time is not None
        by_chunk = self.request is not None or self.before_chunk is not None
        if by_time == by_chunk:
            raise ValueError("give either at_time, or request and before_chunk")
        if by_chunk and (self.request is None or self.before_chunk is None):
            raise ValueError("request and before_chunk go together")
        return self


class DropAt(_Strict):
    """The consumer goes away: after receiving event N, or at the first event at or after T."""

    after_event: Annotated[int, Field(ge=1)] | None = None
    at_time: NonNegative | None = None

    @model_validator(mode="after")
    def _one_point(self) -> DropAt:
        if (self.after_event is None) == (self.at_time is None):
            raise ValueError("give exactly one of after_event, at_time")
        return self


class Expectation(_Strict):
    outcome: Literal["completed", "failed", "cancelled"]
    kind: FailureKind | None = Field(None, description="For `failed`: the failure kind.")
    reason: CancelReason | None = Field(None, description="For `cancelled`: why.")
    output: str | None = Field(None, description="For `completed`: the final output text.")
    tools_run: list[str] | None = Field(
        None, description="Names of the tool calls answered (tool_executed), in order."
    )
    steps: Annotated[int, Field(ge=0)] | None = Field(None, description="Steps started.")
    t: NonNegative | None = Field(None, description="Virtual time of the terminal event.")

    @model_validator(mode="after")
    def _fits_outcome(self) -> Expectation:
        if self.kind is not None and self.outcome != "failed":
            raise ValueError("`kind` is only for outcome: failed")
        if self.reason is not None and self.outcome != "cancelled":
            raise ValueError("`reason` is only for outcome: cancelled")
        if self.output is not None and self.outcome != "completed":
            raise ValueError("`output` is only for outcome: completed")
        return self


class Scenario(_Strict):
    """One scripted run. See docs/scenarios.md for a guided tour."""

    description: str = ""
    seed: Annotated[int, Field(ge=0)] = 0
    system: str | None = None
    input: str = Field(description="The user's message that starts the run.")
    options: OptionsScript = OptionsScript()
    tools: dict[str, ToolScript] = {}
    undefined_tools: list[str] = Field(
        [], description="Tools the script calls on purpose without defining them."
    )
    hooks: HookScripts = HookScripts()
    guardrails: GuardrailScripts = GuardrailScripts()
    requests: list[RequestScript]
    cancel: CancelAt | None = None
    drop: DropAt | None = None
    expect: Expectation | None = None
    virtual_wall_clock: bool = Field(
        False,
        description=(
            "Make time.time(), datetime.now() and friends read the virtual clock during the run "
            "(from 2000-01-01T00:00:00Z, UTC); needs time-machine. See docs/virtual-time.md."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.cancel is not None and self.drop is not None:
            raise ValueError("give at most one of cancel, drop")
        for name in self.undefined_tools:
            if name in self.tools:
                raise ValueError(f"tool {name!r} is both defined and listed in undefined_tools")
        return self


_CALL_ITEMS = (ToolCallItem, ToolCallStartItem)


def _check_tool_names(scenario: Scenario, source: PositionedYAML | None, file: str) -> None:
    tools, undefined = scenario.tools, scenario.undefined_tools
    for r, request in enumerate(scenario.requests):
        for c, item in enumerate(request.chunks):
            if not isinstance(item, _CALL_ITEMS):  # most items: one test
                continue
            if isinstance(item, ToolCallItem):
                name, key = item.tool_call.name, "tool_call"
            else:
                name, key = item.tool_call_start.name, "tool_call_start"
            if name not in tools and name not in undefined:
                path = ("requests", r, "chunks", c, key, "name")
                message = (
                    f"tool {name!r} is not defined; expected one of the tools "
                    f"({', '.join(sorted(scenario.tools)) or 'none defined'}), "
                    "or list it under undefined_tools to script an unknown-tool call"
                )
                if source is not None:
                    raise source.error(path, message)
                raise InputError(message, file=file, path=".".join(map(str, path)))


def parse_scenario(
    data: Any, *, source: PositionedYAML | None = None, file: str = "<scenario>"
) -> Scenario:
    """Validate already-parsed data; errors are `InputError`s with positions when known."""
    if not isinstance(data, dict):
        raise InputError("expected a mapping at the top of the scenario", file=file, line=1)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _input_error(exc, source, file) from None
    _check_tool_names(scenario, source, file)
    return scenario


def _input_error(exc: ValidationError, source: PositionedYAML | None, file: str) -> InputError:
    errors = exc.errors(include_url=False)
    parts: list[str] = []
    first: InputError | None = None
    for error in errors:
        path = _file_path(error["loc"])
        message = _describe(error)
        item = (
            source.error(path, message)
            if source is not None
            else InputError(message, file=file, path=".".join(map(str, path)))
        )
        first = first or item
        parts.append(str(item))
    assert first is not None
    if len(parts) == 1:
        return first
    return InputError(
        f"{first.message}\n" + "\n".join(f"  also: {p}" for p in parts[1:]),
        file=first.file,
        line=first.line,
        column=first.column,
        path=first.path,
    )


def _file_path(loc: tuple[str | int, ...]) -> list[str | int]:
    """pydantic's error location without the union tag it puts after each chunk item's index."""
    path: list[str | int] = []
    for i, part in enumerate(loc):
        is_tag = i >= 2 and loc[i - 2] == "chunks" and isinstance(loc[i - 1], int)
        if not (is_tag and part in _ITEM_KEYS):
            path.append(part)
    return path


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (not part of the scenario schema)"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if "input" in error and kind not in ("chunk_item", "model_type", "value_error"):
        shown = json.dumps(error["input"], default=str)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        message += f" (got {shown})"
    return message


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; bad input raises `InputError` naming file and line."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", file=file) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=file) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=file) from None
    # Positions only on error: plain block YAML is read without them, and a document the fast
    # path declines, or one that fails validation, goes through the positional loader, whose
    # errors name the line and column.
    data = fast_load(text)
    if isinstance(data, dict):
        prebuild_text_items(data, TextItem)
        try:
            return parse_scenario(data, file=file)
        except InputError:
            pass
    source = load_positioned_yaml(text, file=file)
    return parse_scenario(source.data, source=source, file=file)


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files, for editors (`agentsim schema`)."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "agentsim scenario"
    return schema
