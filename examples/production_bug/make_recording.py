"""Write the recording of incident 2291 (``recordings/incident-2291.yaml``).

In real life this file comes from production: ``agentsim record`` in front of the provider, or
the vcrpy / pytest-recording cassette of a failing integration test. Here agentsim's own wire
encoder writes it, so the example ships no captured traffic: three Anthropic Messages streams of
one support conversation, with the timing of each server-sent event, and the requests the agent
sent (the second and third carry the tool results, which `agentsim convert` reads back).

The conversation: the model checks the order, then, in its second response, says what it found
*before* thinking about the refund policy and calling the next tool - text, then reasoning, then
a tool call in one message. Release 1 of the agent stored that message with its blocks grouped
by kind (reasoning first), and the provider rejected the follow-up request.

Run ``python make_recording.py`` to rewrite the file; the output is deterministic, and the
example's tests check that the committed file is what this script writes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from agentsim import (
    Chunk,
    FinishChunk,
    ReasoningChunk,
    TextChunk,
    ToolCallArgsChunk,
    ToolCallEndChunk,
    ToolCallStartChunk,
    Usage,
    UsageChunk,
)
from agentsim.cassettes import Interaction, write_cassette
from agentsim.wire import encode_stream

HERE = Path(__file__).resolve().parent
RECORDING = HERE / "recordings" / "incident-2291.yaml"
URI = "https://api.anthropic.com/v1/messages"
SYSTEM = "You are the support assistant of Acme Shop. Be brief."
QUESTION = "I was charged twice for order A-1042. Can I get my money back?"
TOOLS = [
    {
        "name": "get_order",
        "description": "An order, by its id.",
        "input_schema": {"type": "object"},
    },
    {
        "name": "refund_policy",
        "description": "The refund rules.",
        "input_schema": {"type": "object"},
    },
]
ORDER = '{"order_id": "A-1042", "charges": 2, "amount": "49.90 EUR"}'
POLICY = "Duplicate charges are refunded in full within 5 working days."
ANSWER = "You will get the duplicate 49.90 EUR back within 5 working days."


def _call(index: int, call_id: str, name: str, arguments: str) -> list[Chunk]:
    middle = len(arguments) // 2
    return [
        ToolCallStartChunk(index, call_id, name),
        ToolCallArgsChunk(index, arguments[:middle]),
        ToolCallArgsChunk(index, arguments[middle:]),
        ToolCallEndChunk(index),
    ]


RESPONSES: list[list[Chunk]] = [
    [
        ReasoningChunk("A duplicate charge: look at the order first.", "sig-1"),
        *_call(1, "toolu_01Order", "get_order", '{"order_id": "A-1042"}'),
        UsageChunk(Usage(input_tokens=212, output_tokens=48)),
        FinishChunk("tool_calls"),
    ],
    [
        TextChunk("I can see order A-1042 was charged twice. "),
        ReasoningChunk("Refunds depend on the policy; check it.", "sig-2"),
        *_call(2, "toolu_02Policy", "refund_policy", '{"reason": "duplicate_charge"}'),
        UsageChunk(Usage(input_tokens=301, output_tokens=57)),
        FinishChunk("tool_calls"),
    ],
    [
        *(TextChunk(word) for word in re.findall(r"\S+\s*", ANSWER)),
        UsageChunk(Usage(input_tokens=377, output_tokens=21)),
        FinishChunk("stop"),
    ],
]


def _assistant(call_id: str, name: str, arguments: str, text: str = "") -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content.append(
        {"type": "tool_use", "id": call_id, "name": name, "input": json.loads(arguments)}
    )
    return {"role": "assistant", "content": content}


def _result(call_id: str, content: str) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": call_id, "content": content}],
    }


def requests() -> list[dict[str, Any]]:
    """The three request bodies the agent sent, each one turn longer than the one before."""
    turns = [
        [{"role": "user", "content": QUESTION}],
        [
            _assistant("toolu_01Order", "get_order", '{"order_id": "A-1042"}'),
            _result("toolu_01Order", ORDER),
        ],
        [
            _assistant(
                "toolu_02Policy",
                "refund_policy",
                '{"reason": "duplicate_charge"}',
                "I can see order A-1042 was charged twice. ",
            ),
            _result("toolu_02Policy", POLICY),
        ],
    ]
    bodies: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for turn in turns:
        messages = [*messages, *turn]
        bodies.append(
            {
                "model": "claude-sonnet-4-5",
                "max_tokens": 1024,
                "system": SYSTEM,
                "messages": messages,
                "tools": TOOLS,
                "stream": True,
            }
        )
    return bodies


def _timing(body: bytes, first_byte: float) -> tuple[tuple[float, int], ...]:
    """One read per server-sent event: the first after `first_byte` seconds, then every 30 ms."""
    sizes = [len(event) + 2 for event in body.split(b"\n\n")[:-1]]
    return tuple((round(first_byte + 0.03 * n, 3), size) for n, size in enumerate(sizes))


def interactions() -> list[Interaction]:
    out = []
    for number, (request, chunks) in enumerate(zip(requests(), RESPONSES, strict=True)):
        body = encode_stream("anthropic", chunks)
        out.append(
            Interaction(
                method="POST",
                uri=URI,
                request_headers={"content-type": ["application/json"]},
                request_body=json.dumps(request, indent=1).encode(),
                status=200,
                reason="OK",
                response_headers={"content-type": ["text/event-stream"]},
                response_body=body,
                timing=_timing(body, 0.8 + 0.1 * number),
            )
        )
    return out


def main(path: Path = RECORDING) -> int:
    write_cassette(path, interactions())
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
