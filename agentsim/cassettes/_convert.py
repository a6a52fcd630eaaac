"""From a cassette to a run: replaying it through the reference loop, and converting it to an
editable scenario that replays the same chunks at the same virtual times.

Both start from the same setup, read from the recorded requests (`cassette_setup`):

- ``input``: the text of the last user message of the first streaming request; ``system``: its
  system prompt (OpenAI ``system``/``developer`` messages or ``instructions``, Anthropic
  ``system``, Gemini ``systemInstruction``), when it has one.
- ``tools``: one scripted tool per name the recording calls. A recording holds no tool code,
  only what the client sent back: when a later request carries the result of one of a tool's
  calls (matched by call id; for Gemini, whose calls have no ids, by name), every call of that
  tool answers with the first such result (as an error result when it was one), else with a
  neutral text saying no result was recorded. One fixed answer per tool is what a scenario can
  state, so replay and the converted scenario run the very same tools.
- ``options.max_steps``: the number of streaming interactions. The recording ends there: a last
  response that still asks for tools ends the run as ``failed (max_steps)`` after running them,
  instead of asking the cassette for a response it does not have. The deadline grows past the
  default when the recorded streams together take longer.

The scenario holds one ``requests`` entry per streaming interaction, with exactly the chunks and
delays `CassetteProvider` plays (`stream_items`, the same pure function), and an ``expect``
pinning what the reference loop did on the replay (outcome, kind or output, tools run, steps,
end time), so that `agentsim run` on it fails as soon as the loop behaves differently.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, replace
from typing import Any

from agentsim.cassettes._bodies import body_messages
from agentsim.cassettes._files import Cassette, Interaction, dump_yaml
from agentsim.cassettes._provider import (
    CassetteProvider,
    Chunking,
    check_streams,
    decoded_chunks,
    stream_items,
)
from agentsim.cassettes._request_diff import RequestCheck
from agentsim.cassettes._requests import _list, _messages, _result_text, _text
from agentsim.cassettes._runs import describe_run, select_runs
from agentsim.core._chunks import ToolCallStartChunk
from agentsim.core._history import Message, UserMessage
from agentsim.core._tools import Toolset, ToolSpec
from agentsim.harness._guard import Limits
from agentsim.harness._result import RunResult, expectation_of
from agentsim.harness._run import guard_simulation, run_loop
from agentsim.loop._driver import ReferenceLoop
from agentsim.loop._protocol import AgentLoop, LoopOptions, RunRequest
from agentsim.scenario._scenario_parts import (
    scenario_guardrails,
    scenario_hooks,
    scenario_messages,
    scenario_tools,
)
from agentsim.scenario._schema import parse_scenario
from agentsim.scenario._script import Delay, chunk_item

__all__ = [
    "NO_RESULT",
    "cassette_setup",
    "cassette_to_scenario",
    "replay_cassette",
    "replay_run",
    "scenario_yaml",
]

NO_RESULT = "no result was recorded for this call"
_DEFAULT_DEADLINE = 300.0


# -- reading the recorded requests ----------------------------------------------------------------


def _opening(interaction: Interaction) -> tuple[str | None, str]:
    """(system prompt, user input) of a request."""
    body = interaction.request_json()
    if not isinstance(body, dict) or interaction.api is None:
        return None, ""
    system: list[str] = []
    user = ""
    for role, content in _messages(interaction.api, body):
        text = _text(content)
        if role in ("system", "developer") and text:
            system.append(text)
        elif role == "user" and text:
            user = text
    return "\n\n".join(system) or None, user


@dataclass(frozen=True, slots=True)
class _Result:
    call_id: str | None
    name: str | None
    content: Any
    is_error: bool


def _tool_results(interaction: Interaction) -> list[_Result]:
    """The tool results a request sends back, in the API's layout."""
    body = interaction.request_json()
    if not isinstance(body, dict):
        return []
    out: list[_Result] = []
    if interaction.api == "openai-chat":
        for m in _list(body.get("messages")):
            if isinstance(m, dict) and m.get("role") == "tool":
                out.append(_Result(m.get("tool_call_id"), m.get("name"), m.get("content"), False))
    elif interaction.api == "openai-responses":
        for item in _list(body.get("input")):
            if isinstance(item, dict) and item.get("type") == "function_call_output":
                out.append(_Result(item.get("call_id"), None, item.get("output"), False))
    elif interaction.api == "anthropic":
        for m in _list(body.get("messages")):
            for block in _list(m.get("content")) if isinstance(m, dict) else []:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    error = block.get("is_error") is True
                    out.append(_Result(block.get("tool_use_id"), None, block.get("content"), error))
    elif interaction.api == "gemini":
        for content in _list(body.get("contents")):
            for part in _list(content.get("parts")) if isinstance(content, dict) else []:
                response = part.get("functionResponse") if isinstance(part, dict) else None
                if isinstance(response, dict):
                    out.append(
                        _Result(
                            response.get("id"),
                            response.get("name"),
                            response.get("response"),
                            False,
                        )
                    )
    return out


def _offered(cassette: Cassette) -> tuple[ToolSpec, ...]:
    """The tools the run's first streaming request offers, as recorded."""
    plays = cassette.replayable
    first = plays[0][1] if plays else None
    body = first.request_json() if first is not None else None
    if first is None or first.api is None or not isinstance(body, dict):
        return ()
    return body_messages(first.api, body)[1]


def _answers(cassette: Cassette) -> dict[str, list[_Result | None]]:
    """Per tool name, the recorded result of each of its calls in call order (None: none).

    A call's result is found by its call id in a later request, else (Gemini's calls have no
    ids; some clients echo another id) among the results the next request adds: by name, else
    by the call's position in its response."""
    plays = cassette.replayable
    results = [_tool_results(interaction) for _, interaction in plays]
    answers: dict[str, list[_Result | None]] = {}
    for position, (index, interaction) in enumerate(plays):
        later = [r for rs in results[position + 1 :] for r in rs]
        following = results[position + 1] if position + 1 < len(results) else []
        fresh = [r for r in following if r not in results[position]]
        calls = [c for c in decoded_chunks(interaction, number=index) if _is_start(c)]
        for number, call in enumerate(calls):
            assert isinstance(call, ToolCallStartChunk)
            found = (
                next((r for r in later if r.call_id == call.call_id), None)
                or next((r for r in fresh if r.name is not None and r.name == call.name), None)
                or (fresh[number] if number < len(fresh) and fresh[number].name is None else None)
            )
            answers.setdefault(call.name, []).append(found)
    return answers


def _is_start(chunk: object) -> bool:
    return isinstance(chunk, ToolCallStartChunk)


def _script(found: _Result | None) -> dict[str, Any]:
    if found is None:
        return {"result": NO_RESULT}
    value = _result_text(found.content)
    if found.is_error:
        return {"error": value if isinstance(value, str) else json.dumps(value, sort_keys=True)}
    return {"result": value}


def _tools(cassette: Cassette) -> dict[str, dict[str, Any]]:
    """One scripted tool per name offered or called, offered ones first in the recorded order.

    A tool answers every call with its recorded result (`_answers`): one ``result`` (or
    ``error``) when its calls all got the same, else ``results`` in call order; when its
    results differ and some are errors (which ``results`` cannot state), the first recorded
    one for every call. A call without a recorded result gets `NO_RESULT`."""
    scripts: dict[str, dict[str, Any]] = {}
    for spec in _offered(cassette):
        if spec.name not in scripts:
            scripts[spec.name] = {"result": NO_RESULT}
            if spec.description:
                scripts[spec.name]["description"] = spec.description
    for name, found in _answers(cassette).items():
        script = scripts.setdefault(name, {})
        script.pop("result", None)
        shapes = [_script(f) for f in found]
        if all(shape == shapes[0] for shape in shapes) or any(f and f.is_error for f in found):
            script.update(next((_script(f) for f in found if f is not None), shapes[0]))
        else:
            script["results"] = [shape["result"] for shape in shapes]
    return scripts


def cassette_setup(cassette: Cassette) -> dict[str, Any]:
    """What replay and convert both start from: system, input, options and tools."""
    plays = cassette.replayable
    system, user = _opening(plays[0][1]) if plays else (None, "")
    options: dict[str, Any] = {"max_steps": len(plays)}
    recorded = sum(x.timing[-1][0] for _, x in plays if x.timing)
    if recorded >= _DEFAULT_DEADLINE:
        options["deadline"] = float(math.ceil(recorded) + _DEFAULT_DEADLINE)
    setup: dict[str, Any] = {}
    if system is not None:
        setup["system"] = system
    setup["input"] = user
    setup["options"] = options
    setup["tools"] = _tools(cassette)
    return setup


# -- replay ---------------------------------------------------------------------------------------


def replay_cassette(
    cassette: Cassette,
    *,
    chunking: Chunking = "recorded",
    seed: int = 0,
    loop: AgentLoop | None = None,
    run: int | None = None,
    requests: RequestCheck = "loose",
) -> RunResult:
    """Replay the cassette run by run (`_runs`): `run` (1-based) replays that run alone.

    With several runs and no `run`, each is replayed (through a fresh reference loop, or
    `loop`) and the result is the first failing run's (else the last one's), its `problems`
    holding every run's, each prefixed with ``run N:``: it passes only when every run does.
    """
    runs = select_runs(cassette, run)
    if len(runs) == 1:
        return replay_run(runs[0], chunking=chunking, seed=seed, loop=loop, requests=requests)
    results = [
        replay_run(r, chunking=chunking, seed=seed, loop=loop, requests=requests) for r in runs
    ]
    problems = tuple(
        f"{describe_run(r)}: {problem}"
        for r, result in zip(runs, results, strict=True)
        for problem in result.problems
    )
    chosen = next((result for result in results if not result.passed), results[-1])
    return replace(chosen, problems=problems)


def _opening_messages(cassette: Cassette) -> tuple[Message, ...]:
    """The first streaming request's conversation, when it holds a user message (a run's
    first request may carry earlier turns, which the loop must send again)."""
    plays = cassette.replayable
    first = plays[0][1] if plays else None
    body = first.request_json() if first is not None else None
    if first is None or first.api is None or not isinstance(body, dict):
        return ()
    messages = body_messages(first.api, body)[0]
    return messages if any(isinstance(m, UserMessage) for m in messages) else ()


def _replay_tools(cassette: Cassette, scripted: Toolset) -> Toolset:
    """The scripted tools, told to the provider as the recording offered them."""
    specs = {spec.name: spec for spec in _offered(cassette)}
    tools = []
    for tool in scripted.values():
        spec = specs.get(tool.name)
        if spec is not None:
            tool = dataclasses.replace(
                tool, description=spec.description, parameters=spec.parameters
            )
        tools.append(tool)
    return Toolset(tools)


def replay_run(
    cassette: Cassette,
    *,
    chunking: Chunking = "recorded",
    seed: int = 0,
    loop: AgentLoop | None = None,
    requests: RequestCheck = "loose",
) -> RunResult:
    """Run the reference loop (or `loop`) on one run of a recording, on virtual time, with every
    check.

    The loop starts from the conversation of the run's first recorded request (else the
    scenario's system and input), with the tools it offered as recorded (description and
    parameters), so that its requests can be compared with the recorded ones (`requests`, see
    `_request_diff`). `problems` holds the provider's deviations: requests beyond the
    cassette, interactions never requested, the first request that differs from the recorded
    one. A successful streaming answer that is not its API's stream (JSON, HTML, empty,
    a corrupt event) is bad input: `InputError` before anything runs (`check_streams`).
    """
    check_streams(cassette)
    scenario = parse_scenario({**cassette_setup(cassette), "requests": []}, file=str(cassette.path))
    provider = CassetteProvider(cassette, chunking=chunking, seed=seed, requests=requests)
    if loop is None:
        loop = ReferenceLoop(
            hooks=scenario_hooks(scenario), guardrails=scenario_guardrails(scenario)
        )

    async def main(loop: AgentLoop) -> RunResult:
        result = await run_loop(
            loop,
            request=RunRequest(
                messages=_opening_messages(cassette) or scenario_messages(scenario),
                options=LoopOptions(**scenario.options.model_dump()),
            ),
            provider=provider,
            tools=_replay_tools(cassette, scenario_tools(scenario)),
            seed=scenario.seed,
        )
        if result.crash:  # the deviations after a crash are its consequences
            return result
        return replace(result, problems=tuple(provider.problems + provider.unused()))

    # Guarded like every simulated run (agentsim.harness._guard): never a hang or a traceback.
    return guard_simulation(main, scenario=scenario, loop=loop, seed=scenario.seed, limits=Limits())


# -- convert --------------------------------------------------------------------------------------


def _request(interaction: Interaction, chunking: Chunking, seed: int, number: int) -> list[Any]:
    items: list[dict[str, Any]] = []
    delay = 0.0
    for piece in stream_items(interaction, chunking=chunking, seed=seed, number=number):
        if isinstance(piece, Delay):
            delay = piece.seconds  # at most one delay before each chunk
            continue
        items.append({"delay": delay, **chunk_item(piece)} if delay else chunk_item(piece))
        delay = 0.0
    return items


def cassette_to_scenario(
    cassette: Cassette, *, chunking: Chunking = "recorded", seed: int = 0
) -> dict[str, Any]:
    """An editable scenario (YAML-ready data) that replays the cassette's chunks and timing.

    The cassette is converted as one run: pass a run of it (`split_runs`) for one scenario per
    run, as `agentsim convert` does."""
    how = f"chunking: {chunking}" + (f", seed {seed}" if chunking == "random" else "")
    data: dict[str, Any] = {
        "description": f"Converted from the cassette {cassette.path.name} ({how}).",
        **cassette_setup(cassette),
        "requests": [
            {"chunks": _request(interaction, chunking, seed, index)}
            for index, interaction in cassette.replayable
        ],
    }
    expect = expectation_of(replay_run(cassette, chunking=chunking, seed=seed))
    if expect is not None:
        data["expect"] = expect
    return data


def scenario_yaml(data: dict[str, Any]) -> str:
    """A converted scenario as readable YAML (keys in schema order, long text as blocks)."""
    head = (
        "# Written by `agentsim convert`: the recorded chunks and delays, as a scenario to edit.\n"
        "# `expect` pins what the reference loop did on the replay.\n"
    )
    return head + dump_yaml(data, sort_keys=False)
