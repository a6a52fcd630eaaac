"""Release 1 of the support agent, rebuilt to prove the regression test catches its bug.

It stored each assistant message with its blocks grouped by kind - reasoning, then text, then
tool calls - instead of in stream order. Nothing looked wrong until a model answered with text
*before* its reasoning in one response (incident 2291): the history no longer matched what had
been streamed, and the provider rejected the next request, whose thinking block had moved.
"""

from __future__ import annotations

from collections.abc import Sequence

from support_agent import Part, SupportAgentLoop, SupportAgentRun

from agentsim import AssistantMessage


class SupportAgentRunV1(SupportAgentRun):
    def assistant_message(self, parts: Sequence[Part]) -> AssistantMessage | None:
        order = {"reasoning": 0, "text": 1, "call": 2}
        return super().assistant_message(sorted(parts, key=lambda part: order[part.kind]))


class SupportAgentLoopV1(SupportAgentLoop):
    run_class = SupportAgentRunV1
