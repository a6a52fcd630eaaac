"""Adapters: held-out-style apps (a FastAPI chat endpoint on the openai SDK streaming Vercel SSE,
a Starlette endpoint on the anthropic SDK streaming AG-UI), unmodified, run and fuzzed as loops:
the correct apps pass, each planted bug fails with a reproducer that `--loop spec:loop` replays."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsim import (
    AssistantMessage,
    RunCancelled,
    RunCompleted,
    TextBlock,
    TextDelta,
    ToolExecuted,
)
from agentsim.adapters import AdapterLoop, asgi_loop, offered_tool_names, sse_loop
from agentsim.core._errors import InputError
from agentsim.fuzz._properties import load_loop, run_with_loop, write_reproducer
from agentsim.fuzz._search import search

from ._fuzzing import claimed

pytest.importorskip("fastapi")
pytest.importorskip("ag_ui")
os.environ.setdefault("OPENAI_API_KEY", "sk-agentsim-test")
os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-agentsim-test")

from .apps import agui_anthropic, agui_spec, chat_spec, chat_vercel

ROOT = Path(__file__).resolve().parents[2]
APPS = {"chat": (chat_vercel, chat_spec), "agui": (agui_anthropic, agui_spec)}
SPECS = {"chat": "tests.adapters.apps.chat_spec:loop", "agui": "tests.adapters.apps.agui_spec:loop"}
ENV = {"chat": "CHAT_APP_BUGS", "agui": "AGUI_APP_BUGS"}
TOOL_TURN = {
    "input": "Weather in Paris?",
    "tools": {"get_weather": {"result": "the app runs its own tools"}},
    "requests": [
        {
            "chunks": [
                {"text": "Let me look."},
                {"tool_call_start": {"index": 0, "id": "call_1", "name": "get_weather"}},
                {"tool_call_args": {"index": 0, "delta": '{"city": '}},
                {"tool_call_args": {"index": 0, "delta": '"Paris"}'}},
                {"tool_call_end": {"index": 0}},
                {"finish": "tool_calls"},
            ]
        },
        {"chunks": [{"text": "Sunny, ", "delay": 1.5}, {"text": "21 °C."}, {"finish": "stop"}]},
    ],
}


@pytest.fixture
def bug(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    app, name = request.param
    module = APPS[app][0]
    module.BUGS.add(name)
    try:
        yield app, name
    finally:
        module.BUGS.discard(name)


@pytest.mark.parametrize("app", list(APPS))
def test_a_tool_turn_runs_through_the_real_sdk_and_the_real_framework(app: str) -> None:
    loop = APPS[app][1].loop
    result = _run(TOOL_TURN, loop)
    assert result.violations == (), result.report()
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.output == "Sunny, 21 °C."
    assert result.outcome.t == pytest.approx(1.5)  # the scripted delay, on the loop's clock
    assert [e.name for e in result.events if isinstance(e, ToolExecuted)] == ["get_weather"]
    # the history is what the app sent the provider, then the final answer
    assert [m.role for m in result.history] == ["user", "assistant", "tool", "assistant"]
    assert [t.name for t in loop.offered_tools()] in (
        ["get_weather", "lookup"],
        ["lookup", "get_weather"],
    )


PAUSED = {
    "input": "Search the web.",
    "requests": [
        {"chunks": [{"text": "Searching."}, {"finish": "pause"}]},
        {"chunks": [{"text": " Found it."}, {"finish": "stop"}]},
    ],
}


def test_an_app_that_completes_at_a_paused_turn_fails_on_the_request_it_never_made() -> None:
    # The AG-UI app stops when a response asks for no tools, pause_turn included: a real bug of
    # such code (the model's turn is cut off), shown as the continuation never requested.
    result = _run(PAUSED, APPS["agui"][1].loop)
    assert not result.passed
    assert result.problems == ("requests[1] (request 2) was never made",)
    assert isinstance(result.outcome, RunCompleted)
    assert result.outcome.output == "Searching."


def test_wire_messages_are_joined_only_for_a_paused_turn_the_events_show_as_one() -> None:
    from agentsim.adapters._live import _continued
    from agentsim.core._history import AssistantMessage, TextBlock

    first, second = AssistantMessage((TextBlock("A"),)), AssistantMessage((TextBlock(" B"),))
    shown = AssistantMessage((TextBlock("A B"),))
    later = [first, second]
    joined, end = _continued(first, later, 1, shown, pauses=1)
    assert (joined.blocks, end) == ((TextBlock("A"), TextBlock(" B")), 2)
    # no response paused: a loop that asked again after a finished answer is checked as before
    assert _continued(first, later, 1, shown, pauses=0) == (first, 1)
    # the events show something else: nothing joined, H3 compares as before
    other = AssistantMessage((TextBlock("A C"),))
    assert _continued(first, later, 1, other, pauses=1) == (first, 1)


def _run(data: dict[str, Any], loop: AdapterLoop) -> Any:
    from agentsim.fuzz._properties import run_guarded

    return run_guarded(data, loop=lambda: loop)


PROPS = ["run", "M2", *(pytest.param(p, marks=pytest.mark.slow) for p in ("sweep", "M1", "M3"))]


@pytest.mark.parametrize("prop", PROPS)
@pytest.mark.parametrize("app", list(APPS))
def test_the_correct_apps_pass_fuzzing_on_what_they_claim(app: str, prop: str) -> None:
    loop = APPS[app][1].loop
    examples = {"run": 25, "M2": 10, "sweep": 15}.get(prop, 40)
    found = search(prop, lambda: loop, examples=examples, seed=7, strategy=claimed())
    assert found.failure is None, found.failure and found.failure.lines()


BUGS = [
    ("chat", "drop_first_fragment", "H3"),
    ("chat", "forget_tool_result", "H1"),
    ("chat", "unclosed_text", "S2.vercel.unclosed"),
    ("chat", "double_answer", "EV5"),
    ("agui", "forget_tool_result", "H1"),
    ("agui", "unclosed_text", "S2.agui.unclosed"),
]


@pytest.mark.parametrize(
    ("bug", "expected"),
    [((app, name), expected) for app, name, expected in BUGS],
    indirect=["bug"],
    ids=[f"{app}-{name}" for app, name, _ in BUGS],
)
def test_each_planted_bug_fails_with_a_reproducer_that_replays(
    bug: tuple[str, str], expected: str, tmp_path: Path
) -> None:
    app, _ = bug
    loop = APPS[app][1].loop
    found = search("run", lambda: loop, examples=60, seed=7, strategy=claimed())
    assert found.failure is not None
    assert expected in found.failure.ids, found.failure.lines()
    path = write_reproducer(found.failure, tmp_path, loop=SPECS[app])
    replayed = run_with_loop(path, loop=SPECS[app])  # what `agentsim run --loop` runs
    assert expected in {v.invariant for v in replayed.violations}, replayed.report()


@pytest.mark.slow  # a subprocess importing the SDK and FastAPI: ~10 s
def test_the_cli_replays_a_reproducer_with_the_spec(tmp_path: Path) -> None:
    chat_vercel.BUGS.add("forget_tool_result")
    try:
        found = search("run", lambda: chat_spec.loop, examples=30, seed=7, strategy=claimed())
    finally:
        chat_vercel.BUGS.discard("forget_tool_result")
    assert found.failure is not None
    path = write_reproducer(found.failure, tmp_path, loop=SPECS["chat"])
    command = [sys.executable, "-m", "agentsim", "run", str(path), "--loop", SPECS["chat"]]
    env = {**os.environ, ENV["chat"]: "forget_tool_result", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "H1: expected message 2: the result of 'call_1_0'" in done.stderr
    fixed = run_with_loop(path, loop=SPECS["chat"])  # the bug fixed: the same file passes
    assert fixed.violations == (), fixed.report()


def test_load_loop_takes_an_adapter_object() -> None:
    factory = load_loop(SPECS["chat"])
    assert factory() is chat_spec.loop
    assert offered_tool_names(factory()) == ("get_weather", "lookup")
    assert offered_tool_names(object()) is None
    assert chat_spec.loop.features == frozenset({"tools", "parallel_tools"})


# -- disconnects ----------------------------------------------------------------------------------


class _Recorder:
    """A raw ASGI app streaming native-dialect-free Vercel parts slowly, recording what it hears."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await receive()
        self.heard.append(json.loads(body["body"])["q"])
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def parts() -> None:
            await send(_part({"type": "start", "messageId": "m"}))
            await send(_part({"type": "text-start", "id": "t"}))
            for word in ["one ", "two ", "three"]:
                await send(_part({"type": "text-delta", "id": "t", "delta": word}))
                await asyncio.sleep(1.0)
            await send(_part({"type": "text-end", "id": "t"}))
            await send(_part({"type": "finish"}))
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

        streaming = asyncio.ensure_future(parts())
        message = await receive()
        self.heard.append(message["type"])
        streaming.cancel()


def _part(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "http.response.body",
        "body": f"data: {json.dumps(data)}\n\n".encode(),
        "more_body": True,
    }


def test_a_cancel_is_a_client_disconnect() -> None:
    app = _Recorder()
    loop = asgi_loop(app, path="/x", body=lambda text: {"q": text}, api="openai-chat")
    data = {"input": "count", "requests": [], "cancel": {"at_time": 1.5}}
    result = _run(data, loop)
    assert app.heard == ["count", "http.disconnect"]
    assert isinstance(result.outcome, RunCancelled)
    assert result.outcome.t == 1.5
    assert result.outcome.partial_text == "one two "
    assert result.violations == (), result.report()


def test_a_consumer_drop_is_a_client_disconnect() -> None:
    app = _Recorder()
    loop = asgi_loop(app, path="/x", body=lambda text: {"q": text}, api="openai-chat")
    result = _run({"input": "count", "requests": [], "drop": {"after_event": 3}}, loop)
    assert app.heard == ["count", "http.disconnect"]
    assert result.dropped
    assert result.violations == (), result.report()


# -- sse_loop -------------------------------------------------------------------------------------


async def weather_agent(text: str) -> AsyncIterator[str]:
    import openai

    client = openai.AsyncOpenAI()
    yield f"data: {json.dumps({'type': 'start', 'messageId': 'm1'})}\n\n"
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], stream=True
    )
    yield f"data: {json.dumps({'type': 'text-start', 'id': 't'})}\n\n"
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            delta = chunk.choices[0].delta.content
            yield f"data: {json.dumps({'type': 'text-delta', 'id': 't', 'delta': delta})}\n\n"
    yield f"data: {json.dumps({'type': 'text-end', 'id': 't'})}\n\n"
    yield f"data: {json.dumps({'type': 'finish'})}\n\ndata: [DONE]\n\n"


def test_sse_loop_runs_an_sse_generator_function() -> None:
    loop = sse_loop(weather_agent, api="openai-chat", features=["tools"])
    data = {
        "input": "hi",
        "requests": [{"chunks": [{"text": "Hel"}, {"text": "lo"}, {"finish": "stop"}]}],
    }
    result = _run(data, loop)
    assert result.violations == (), result.report()
    assert [e.text for e in result.events if isinstance(e, TextDelta)] == ["Hel", "lo"]
    assert result.history[-1] == AssistantMessage((TextBlock("Hello"),))


def test_a_response_that_is_not_sse_is_reported() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"Not Found"})

    loop = asgi_loop(app, path="/nope", body=lambda text: {}, api="anthropic")
    result = _run({"input": "x", "requests": []}, loop)
    ids = {v.invariant for v in result.violations}
    assert {"S2.stream", "EV1"} <= ids, result.report()
    assert "404" in result.report()


def test_bad_adapter_options_are_input_errors() -> None:
    with pytest.raises(InputError, match="provider API"):
        asgi_loop(chat_vercel.app, path="/api/chat", body=lambda text: {}, api="openai")
    with pytest.raises(InputError, match="dialect"):
        sse_loop(weather_agent, api="openai-chat", dialect="sse")
    with pytest.raises(InputError, match="path"):
        asgi_loop(chat_vercel.app, path="api/chat", body=lambda text: {}, api="openai-chat")
    with pytest.raises(InputError, match="feature"):
        sse_loop(weather_agent, api="openai-chat", features=["teleport"])


# -- default fuzz, end to end: the correct apps pass on what they declare --------------------------


@pytest.mark.slow
@pytest.mark.parametrize("app", list(APPS))
def test_default_agentsim_fuzz_passes_the_correct_apps(app: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "agentsim", "fuzz", "--loop", SPECS[app], "--seed", "1"]
    command += ["--out", str(tmp_path)]
    # The apps build their SDK clients at import, from the environment, as deployed apps do.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": "sk-test"}
    env["ANTHROPIC_API_KEY"] = "sk-ant-test"
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_a_cancel_point_in_the_script_reaches_the_app_as_a_disconnect() -> None:
    """The harness's cancel point "before chunk 3 of request 1" fires when the SDK waits for that
    chunk, as it does for any loop; the app has streamed the first two and hears no more."""
    data = {
        "input": "Hi",
        "requests": [
            {
                "chunks": [
                    {"text": "One, "},
                    {"text": "two, ", "delay": 0.5},
                    {"text": "three.", "delay": 0.5},
                    {"finish": "stop"},
                ]
            }
        ],
        "cancel": {"request": 1, "before_chunk": 3},
    }
    result = _run(data, chat_spec.loop)
    assert isinstance(result.outcome, RunCancelled), result.report()
    assert result.outcome.partial_text == "One, two, "
    assert result.outcome.t == 1.0
    assert result.violations == (), result.report()
    assert result.problems == ()  # the cancel point was reached
