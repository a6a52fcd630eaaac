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

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from agentsim.cassettes._files import Cassette, Interaction, dump_yaml
from agentsim.cassettes._provider import (
    CassetteProvider,
    Chunking,
    check_streams,
    decoded_chunks,
    stream_items,
)
from agentsim.cassettes._requests import _list, _messages, _result_text, _text
from agentsim.cassettes._runs import describe_run, select_runs
from agentsim.core._chunks import (
    ToolCallStartChunk,
)
from agentsim.harness._guard import Limits
from agentsim.harness._run import RunResult, expectation_of, guard_simulation, run_loop
from agentsim.loop._driver import ReferenceLoop
from agentsim.loop._protocol import AgentLoop, LoopOptions, RunRequest
from agentsim.scenario._schema import chunk_item, parse_scenario
from agentsim.scenario._script import (
    Delay,
    scenario_guardrails,
    scenario_hooks,
    scenario_messages,
    scenario_tools,
)

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


def _tools(cassette: Cassette) -> dict[str, dict[str, Any]]:
    """One scripted tool per name called: the first recorded result of its calls, if any."""
    plays = cassette.replayable
    results = [_tool_results(interaction) for _, interaction in plays]
    scripts: dict[str, dict[str, Any]] = {}
    settled: set[str] = set()
    for position, (index, interaction) in enumerate(plays):
        later = [r for rs in results[position + 1 :] for r in rs]
        for chunk in decoded_chunks(interaction, number=index):
            if not isinstance(chunk, ToolCallStartChunk) or chunk.name in settled:
                continue
            found = next((r for r in later if r.call_id == chunk.call_id), None) or next(
                (r for r in later if r.name is not None and r.name == chunk.name), None
            )
            if found is None:
                scripts.setdefault(chunk.name, {"result": NO_RESULT})
                continue
            value = _result_text(found.content)
            if found.is_error:
                text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
                scripts[chunk.name] = {"error": text}
            else:
                scripts[chunk.name] = {"result": value}
            settled.add(chunk.name)
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
) -> RunResult:
    """Replay the cassette run by run (`_runs`): `run` (1-based) replays that run alone.

    With several runs and no `run`, each is replayed (through a fresh reference loop, or
    `loop`) and the result is the first failing run's (else the last one's), its `problems`
    holding every run's, each prefixed with ``run N:``: it passes only when every run does.
    """
    runs = select_runs(cassette, run)
    if len(runs) == 1:
        return replay_run(runs[0], chunking=chunking, seed=seed, loop=loop)
    results = [replay_run(r, chunking=chunking, seed=seed, loop=loop) for r in runs]
    problems = tuple(
        f"{describe_run(r)}: {problem}"
        for r, result in zip(runs, results, strict=True)
        for problem in result.problems
    )
    chosen = next((result for result in results if not result.passed), results[-1])
    return replace(chosen, problems=problems)


def replay_run(
    cassette: Cassette,
    *,
    chunking: Chunking = "recorded",
    seed: int = 0,
    loop: AgentLoop | None = None,
) -> RunResult:
    """Run the reference loop (or `loop`) on one run of a recording, on virtual time, with every
    check.

    `problems` holds the provider's deviations: requests beyond the cassette, interactions never
    requested. A successful streaming answer that is not its API's stream (JSON, HTML, empty,
    a corrupt event) is bad input: `InputError` before anything runs (`check_streams`).
    """
    check_streams(cassette)
    scenario = parse_scenario({**cassette_setup(cassette), "requests": []}, file=str(cassette.path))
    provider = CassetteProvider(cassette, chunking=chunking, seed=seed)
    if loop is None:
        loop = ReferenceLoop(
            hooks=scenario_hooks(scenario), guardrails=scenario_guardrails(scenario)
        )

    async def main(loop: AgentLoop) -> RunResult:
        result = await run_loop(
            loop,
            request=RunRequest(
                messages=scenario_messages(scenario),
                options=LoopOptions(**scenario.options.model_dump()),
            ),
            provider=provider,
            tools=scenario_tools(scenario),
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
