"""A scenario's tools, opening messages, hooks and guardrails, as the loop's own objects.

The script's other half: `_script` plays the provider's side of a scenario, this module builds
what the loop is handed besides a provider. Scripted tools count their calls (the n-th call gets
the n-th result), and hook and guardrail rules are matched in order, the first that applies
deciding; a scenario without any gets shared defaults, so a default run builds nothing here.
"""

from __future__ import annotations

from typing import Any

from agentsim.core._backends import sleep
from agentsim.core._history import AssistantMessage, Message, SystemMessage, UserMessage
from agentsim.core._tools import Tool, ToolError, Toolset
from agentsim.loop._hooks import Continue, Decision, Guardrails, Hooks, Skip, Terminate
from agentsim.scenario._schema import GuardrailRule, HookRule, Scenario, ToolScript

__all__ = [
    "ScriptedToolFailure",
    "scenario_guardrails",
    "scenario_hooks",
    "scenario_messages",
    "scenario_tools",
]


class ScriptedToolFailure(RuntimeError):
    """What a scripted tool with `raises:` raises."""


def _scripted_tool(name: str, script: ToolScript) -> Tool:
    calls = 0

    async def run(**arguments: Any) -> Any:
        nonlocal calls
        calls += 1
        if script.delay:
            await sleep(script.delay)
        if script.raises is not None:
            raise ScriptedToolFailure(script.raises)
        if script.error is not None:
            raise ToolError(script.error)
        if script.results is not None:
            if calls > len(script.results):
                raise ToolError(f"no scripted result for call {calls} of {name}")
            return script.results[calls - 1]
        return "ok" if script.result is None else script.result

    return Tool(name, run, script.description)


def scenario_tools(scenario: Scenario) -> Toolset:
    return Toolset(_scripted_tool(name, script) for name, script in scenario.tools.items())


def scenario_messages(scenario: Scenario) -> tuple[Message, ...]:
    head: tuple[Message, ...] = (SystemMessage(scenario.system),) if scenario.system else ()
    return (*head, UserMessage(scenario.input))


def _decide(rules: list[HookRule], **facts: Any) -> Decision | None:
    for rule in rules:
        if rule.tool is not None and rule.tool != facts.get("tool"):
            continue
        if rule.step is not None and rule.step != facts.get("step"):
            continue
        if rule.contains is not None and rule.contains not in facts.get("text", ""):
            continue
        if rule.action == "skip":
            return Skip(rule.reason)
        if rule.action == "terminate":
            return Terminate(rule.reason)
        return Continue()
    return None


# What a scenario without hooks or guardrails configures (most generated ones): built once.
_NO_HOOKS = Hooks()
_NO_GUARDRAILS = Guardrails()


def scenario_hooks(scenario: Scenario) -> Hooks:
    h = scenario.hooks
    if not (h.before_step or h.on_text_delta or h.on_tool_call or h.on_tool_result or h.after_step):
        return _NO_HOOKS
    return Hooks(
        before_step=(lambda step, _m: _decide(h.before_step, step=step)) if h.before_step else None,
        on_text_delta=(lambda text: _decide(h.on_text_delta, text=text))
        if h.on_text_delta
        else None,
        on_tool_call=(lambda call: _decide(h.on_tool_call, tool=call.name))
        if h.on_tool_call
        else None,
        on_tool_result=(lambda call, _r: _decide(h.on_tool_result, tool=call.name))
        if h.on_tool_result
        else None,
        after_step=(lambda step, _m: _decide(h.after_step, step=step)) if h.after_step else None,
    )


def _refuse(rules: list[GuardrailRule], *, step: int | None = None, text: str = "") -> str | None:
    for rule in rules:
        if rule.step is not None and rule.step != step:
            continue
        if rule.contains is not None and rule.contains not in text:
            continue
        return rule.reason
    return None


def scenario_guardrails(scenario: Scenario) -> Guardrails:
    g = scenario.guardrails
    if not (g.request or g.response):
        return _NO_GUARDRAILS

    def on_response(message: AssistantMessage) -> str | None:
        return _refuse(g.response, text=message.text)

    return Guardrails(
        request=(lambda request: _refuse(g.request, step=request.step)) if g.request else None,
        response=on_response if g.response else None,
    )
