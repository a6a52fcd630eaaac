"""Generation follows declared features (DESIGN §9, issue #16 part 3): a scenario generated for a
feature set never holds what the set leaves out, generated calls name the tools the loop offers,
and `fuzz` takes the features from the loop's declaration, `features=` or ``--features``."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from agentsim import FEATURE_NAMES, InputError, ReferenceLoop, ThinkingDelta
from agentsim.cli._fuzz import add_fuzz_commands
from agentsim.fuzz._campaign import fuzz
from agentsim.fuzz._search import loop_features, property_cases
from agentsim.fuzz._streams import READ_STALL
from agentsim.loop._features import ALL_FEATURES
from agentsim.strategies import cancellation_points, chunk_streams, faults, scenarios, timings
from agentsim.testing import fuzz_tests

ROOT = Path(__file__).resolve().parents[2]
Data = dict[str, Any]
_LIMITS = {"max_response_bytes", "max_total_tokens", "max_requests", "max_tool_calls"}


def excluded(
    data: Data, features: Iterable[str], tool_names: Iterable[str] | None = None
) -> list[str]:
    """What `data` holds that a loop with only `features` does not claim (empty: nothing)."""
    has = set(features)
    problems: list[str] = []
    options = data.get("options", {})

    def need(feature: str, what: str, present: bool) -> None:
        if present and feature not in has:
            problems.append(f"{what} without {feature}")

    items = [item for request in data["requests"] for item in request["chunks"]]
    need("reasoning", "reasoning", any("reasoning" in item for item in items))
    need("tools", "a tool call", any("tool_call_start" in item for item in items))
    need(
        "parallel_tools",
        "several calls in a response",
        any(sum("tool_call_start" in i for i in r["chunks"]) > 1 for r in data["requests"]),
    )
    need("concurrent_tools", "concurrent_tools", "concurrent_tools" in options)
    need("provider_errors", "an error", any("error" in item for item in items))
    need("provider_errors", "a truncation", any("truncate" in item for item in items))
    first = [r["chunks"][0] for r in data["requests"] if r["chunks"]]
    need(
        "retries",
        "a retryable error before output",
        any(item.get("error", {}).get("retryable") for item in first),
    )
    need("retries", "retry options", bool({"max_retries", "backoff_initial"} & set(options)))
    if any("stall" in item for item in items) and not {"deadline", "idle_timeout"} & has:
        problems.append("a stall without deadline or idle_timeout")
    idle = options.get("idle_timeout")
    need(
        "provider_errors",
        "a gap over the idle timeout",
        idle is not None and any(item.get("delay", 0.0) > idle for item in items),
    )
    need(
        "retries",
        "a gap over the idle timeout before output",
        idle is not None and any(item.get("delay", 0.0) > idle for item in first),
    )
    need("deadline", "a deadline", "deadline" in options)
    need("idle_timeout", "an idle timeout", "idle_timeout" in options)
    need("max_steps", "max_steps", "max_steps" in options)
    if len(data["requests"]) > 10:
        problems.append("more requests than the default max_steps")
    if "deadline" not in has:
        # A read stall (a gap past the SDKs' read timeouts, `provider_errors`) is the fault
        # itself: the client's timeout ends it, and a loop without one just waits and goes on.
        delays = sum(d for item in items if (d := item.get("delay", 0.0)) != READ_STALL)
        tools = sum(t.get("delay", 0.0) for t in data.get("tools", {}).values())
        if delays + 3 * len(data["requests"]) * tools > 250:
            problems.append("delays near the default deadline without deadline")
    need("cancellation", "a cancellation", "cancel" in data)
    need("consumer_drop", "a consumer drop", "drop" in data)
    need("hooks", "hooks", "hooks" in data)
    need("guardrails", "guardrails", "guardrails" in data)
    need("limits", "limits", bool(_LIMITS & set(options)))
    if tool_names is not None:
        allowed = set(tool_names) | set(data.get("undefined_tools", ()))
        names = {i["tool_call_start"]["name"] for i in items if "tool_call_start" in i}
        if names - allowed:
            problems.append(f"calls of {sorted(names - allowed)}")
        if len(data.get("undefined_tools", ())) > 1 or set(tool_names) & set(
            data.get("undefined_tools", ())
        ):
            problems.append("an offered tool listed as unknown")
    return problems


FEATURE_SETS = st.sets(st.sampled_from(FEATURE_NAMES))


@settings(max_examples=100, deadline=None)
@given(FEATURE_SETS, st.data())
def test_generated_scenarios_hold_only_declared_features(features: set[str], data: Any) -> None:
    for strategy in (
        scenarios(features=features),
        scenarios(features=features, metamorphic=True),
        scenarios(features=features, cancellation=False),
    ):
        case = data.draw(strategy)
        assert excluded(case, features) == [], case


@settings(max_examples=50, deadline=None)
@given(FEATURE_SETS, st.data())
def test_the_smaller_strategies_hold_only_declared_features(features: set[str], data: Any) -> None:
    stream = data.draw(chunk_streams(features=features | {"tools"}))
    assert excluded({"requests": [{"chunks": stream}]}, features | {"tools"}) == []
    fault = data.draw(faults(features=features))
    if "provider_errors" not in features:
        assert fault.kind not in ("error_before", "error_after", "truncate")
    if fault.kind == "stall":  # a stall, or a read stall (a gap the client's timeout ends)
        assert "deadline" in features or "provider_errors" in features
    assert (
        excluded({"requests": [], "options": data.draw(timings(features=features))}, features) == []
    )
    point = data.draw(
        cancellation_points({"requests": [{"chunks": [{"finish": "stop"}]}]}, features=features)
    )
    assert excluded({"requests": [], **point}, features) == []


def test_the_checker_sees_what_a_feature_set_excludes() -> None:
    """`excluded` is not vacuous: everything generated for all features breaks some smaller set."""
    config = settings(max_examples=3_000, database=None, phases=[Phase.generate])
    for feature in FEATURE_NAMES:
        rest: frozenset[str] = ALL_FEATURES - {feature}

        def breaks(d: Data, rest: frozenset[str] = rest) -> bool:
            return bool(excluded(d, rest))

        find(scenarios(), breaks, settings=config)


def test_a_loop_with_no_tools_gets_no_calls_and_tool_names_are_offered() -> None:
    config = settings(max_examples=2_000, database=None, phases=[Phase.generate])
    names = ["get_weather", "search_docs"]
    case = find(
        scenarios(features={"tools", "parallel_tools"}, tool_names=names),
        lambda d: any(
            i.get("tool_call_start", {}).get("name") == "search_docs"
            for r in d["requests"]
            for i in r["chunks"]
        ),
        settings=config,
    )
    assert excluded(case, {"tools", "parallel_tools"}, names) == []
    assert set(case["tools"]) == set(names)
    unknown = find(
        scenarios(features={"tools"}, tool_names=names),
        lambda d: any(
            i.get("tool_call_start", {}).get("name") in d.get("undefined_tools", ())
            for r in d["requests"]
            for i in r["chunks"]
        ),
        settings=config,
    )
    assert unknown["undefined_tools"] == ["ghost"]


@settings(max_examples=50, deadline=None)
@given(scenarios(features={"tools"}, tool_names=["ghost", "x"]))
def test_offered_tools_are_never_called_unknown(data: Data) -> None:
    assert excluded(data, {"tools"}, ["ghost", "x"]) == []
    assert data["undefined_tools"] == ["no_such_tool"]


@settings(max_examples=50, deadline=None)
@given(scenarios(features=set()))
def test_no_features_is_plain_text_answers(data: Data) -> None:
    keys = {k for r in data["requests"] for i in r["chunks"] for k in i if k != "delay"}
    assert keys <= {"text", "usage", "finish"}
    assert "undefined_tools" not in data


def test_features_are_validated_and_keyword_only() -> None:
    with pytest.raises(InputError, match="unknown feature 'telepathy'"):
        scenarios(features={"telepathy"})
    with pytest.raises(InputError, match="tool names"):
        scenarios(tool_names="lookup")
    with pytest.raises(InputError, match="max_requests"):
        scenarios(max_requests=0)
    with pytest.raises(TypeError):
        scenarios({"tools"})  # type: ignore[call-arg]
    with pytest.raises(InputError, match="no kind"):
        chunk_streams(features={"reasoning"}, kinds=[2])


# -- fuzz takes the features from the loop ---------------------------------------------------------


class PlainLoop:
    """The reference loop, claiming only tools: as a loop that declares them would."""

    features = frozenset({"tools"})

    def __init__(self, **kwargs: Any) -> None:
        self._inner = ReferenceLoop(**kwargs)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.run(*args, **kwargs)


class Undeclared(PlainLoop):
    features = None  # type: ignore[assignment]


def test_loop_features() -> None:
    assert loop_features(None) == (ALL_FEATURES, "declared")
    assert loop_features(PlainLoop) == (frozenset({"tools"}), "declared")
    assert loop_features(Undeclared) == (ALL_FEATURES, "undeclared")
    assert loop_features(PlainLoop, "reasoning, tools") == (
        frozenset({"reasoning", "tools"}),
        "given",
    )
    with pytest.raises(InputError, match="--features"):
        loop_features(PlainLoop, "tools,nope")
    assert property_cases("run") is property_cases("run", features=ALL_FEATURES)
    assert property_cases("run", features={"tools"}) is property_cases("run", features={"tools"})


def test_fuzz_generates_what_the_loop_declares_and_says_so(tmp_path: Path) -> None:
    report = fuzz(
        f"{__name__}:PlainLoop",
        examples=60,
        seed=3,
        out=tmp_path,
        properties=("run", "sweep"),
        progress=None,
        coverage=True,
    )
    assert report.passed
    assert report.skipped == {"sweep": frozenset({"cancellation"})}
    assert report.features_source == "declared"
    assert report.feature_line() == "features: tools, as the loop declares"
    assert report.coverage is not None
    assert report.coverage.cases == report.examples["run"]
    assert report.coverage.shapes["one tool call"] > 0
    assert report.coverage.shapes["only reasoning"] == 0
    undeclared = fuzz(
        f"{__name__}:Undeclared", examples=5, seed=3, out=tmp_path, properties=("run",)
    )
    assert "declares none" in undeclared.feature_line()


def _cli(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="agentsim")
    add_fuzz_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    return args.handler(args, stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_the_cli_takes_features_and_prints_coverage(tmp_path: Path) -> None:
    status, out, _ = _cli(
        [
            "fuzz",
            "--examples",
            "40",
            "--seed",
            "2",
            "--out",
            str(tmp_path),
            "--property",
            "run",
            "--property",
            "sweep",
            "--features",
            "tools,reasoning",
            "--coverage",
        ]
    )
    assert status == 0, out
    assert "features: reasoning, tools, as given" in out
    assert "sweep skipped: needs cancellation" in out
    assert "coverage of 40 generated cases" in out
    assert "DESIGN §3 rules:" in out
    with pytest.raises(SystemExit):
        _cli(["fuzz", "--features", "tools,nope"])


# -- the example support agent ------------------------------------------------------------------

AGENT = ROOT / "examples" / "agent"


def test_the_support_agent_declares_what_it_implements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(AGENT))
    report = fuzz(
        "support_agent:SupportAgentLoop",
        examples=150,
        seed=1,
        out=tmp_path,
        properties=("run", "M1", "M2", "sweep"),
    )
    assert report.feature_line() == (
        "features: reasoning, tools, parallel_tools, provider_errors, max_steps, "
        "as the loop declares"
    )
    assert report.skipped == {"sweep": frozenset({"cancellation"})}
    assert report.passed, [failure.lines() for failure, _ in report.failures]


@pytest.mark.slow
def test_default_fuzz_of_the_support_agent_passes_clean(tmp_path: Path) -> None:
    """Issue #16 part 3: the default command passes (M3 needs its float tolerance, #12 part 5)."""
    command = [sys.executable, "-m", "agentsim", "fuzz", "--loop", "support_agent:SupportAgentLoop"]
    done = subprocess.run(
        [*command, "--seed", "1", "--out", str(tmp_path)],
        cwd=AGENT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == []


class NoReasoningLoop(PlainLoop):
    """A loop for a model without reasoning, which says so: it fails on a thinking delta, which
    no stream generated for it holds."""

    features = frozenset({"tools", "provider_errors", "max_steps"})

    def run(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._inner.run(*args, **kwargs)

        class Run:
            history = property(lambda _: inner.history)

            async def aclose(self) -> None:
                await inner.aclose()

            async def __aiter__(self) -> Any:
                async for event in inner:
                    if isinstance(event, ThinkingDelta):
                        raise RuntimeError("this loop does not expect reasoning")
                    yield event

        return Run()


@pytest.mark.parametrize(
    "loop", [NoReasoningLoop, NoReasoningLoop(), f"{__name__}:NoReasoningLoop"]
)
def test_generated_hypothesis_tests_fuzz_only_what_the_loop_declares(
    loop: Any, tmp_path: Path
) -> None:
    """`fuzz_tests` draws what ``agentsim fuzz`` draws for the loop (a loop object, a factory or
    a spec), and skips, saying why, a property needing a feature the loop does not declare."""
    generated = fuzz_tests(loop, properties=["run", "sweep"], out=tmp_path)
    tests = generated()
    tests.test_run()  # no reasoning drawn, so no crash
    with pytest.raises(
        pytest.skip.Exception, match=r"sweep needs cancellation, which \S+ does not"
    ):
        tests.test_sweep()
