"""The dialects' own ordering rules (S2, DESIGN §6), checked on a transcript's frames.

Each check reads `Frame`s (already shape-checked by the dialect's reader, so required fields are
there and typed) and returns `Violation`s named ``S2.<dialect>.<rule>``, located at the 0-based
SSE event where the rule broke, with what was expected and what was seen. Checks go on after a
violation where that stays meaningful, and stop at the first event after a terminal one (whatever
follows a terminal is one problem, not many).

- native: ``ids`` (SSE ids run 1..n), ``event-type`` (the SSE event names the data's type).
- agui: ``first-event`` (RUN_STARTED or RUN_ERROR first), ``after-terminal``, ``already-open`` (a
  START for an id that is open), ``not-open`` (CONTENT / ARGS / END for an id that is not),
  ``unclosed`` (RUN_FINISHED with messages, reasoning, tool calls or steps open), ``reused-id``
  (message, reasoning and tool-call ids are never started twice), ``empty-delta``,
  ``args-not-json`` (a call's arguments at TOOL_CALL_END; no arguments at all counts as ``{}``),
  ``result-unknown-call`` (TOOL_CALL_RESULT only after the TOOL_CALL_END of its call);
  sub-runs: ``subagent-parent`` (a SUBAGENT_STARTED's ``parentToolCallId`` is a call already
  started), SUBAGENT_STARTED / FINISHED / ERROR keep ``already-open``, ``reused-id``,
  ``not-open`` and ``unclosed`` (a subagent still open at RUN_FINISHED) like the other spans.
- vercel: ``not-open`` (``*-delta`` / ``*-end`` need their ``*-start`` id), ``already-open``,
  ``tool-input-unknown`` (``tool-input-delta`` needs ``tool-input-start``),
  ``tool-output-unknown`` (output for a tool call never announced), ``unclosed`` (text or
  reasoning open at ``finish-step`` / ``finish``), ``abort-and-finish`` (cancellation is ``abort``
  without ``finish``), ``after-terminal``, ``after-done``, ``done`` (the stream ends with
  ``[DONE]``).
- phase, chat: ``after-terminal`` (nothing after ``done`` / ``error``); phase's sub-runs:
  ``subagent-unknown``, ``reused-id``, ``unclosed`` (`_subagent_rules`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agentsim.check._invariants import Violation
from agentsim.sse._common import Frame, args_are_json

__all__ = ["agui_rules", "native_rules", "terminal_rules", "vercel_rules"]

DONE = "[DONE]"


def native_rules(frames: Sequence[Frame]) -> list[Violation]:
    """S2 for native: SSE ids run 1..n, and each SSE event type names its event."""
    out: list[Violation] = []
    for k, frame in enumerate(frames):
        assert frame.sse is not None
        if frame.sse.id != str(k + 1):
            out.append(
                Violation("S2.native.ids", frame.index, f"id {k + 1}", f"id {frame.sse.id!r}")
            )
        if frame.sse.event != frame.kind:
            out.append(
                Violation(
                    "S2.native.event-type",
                    frame.index,
                    f"SSE event {frame.kind!r} (the data's type)",
                    f"{frame.sse.event!r}",
                )
            )
    return out


def agui_rules(frames: Sequence[Frame]) -> list[Violation]:
    """S2 for AG-UI (DESIGN §6); each violation names the SSE event index."""
    return _AGUIRules().run(frames)


class _AGUIRules:
    def __init__(self) -> None:
        self.out: list[Violation] = []
        self.open: dict[str, dict[str, int]] = {
            "message": {},
            "reasoning": {},
            "tool call": {},
            "step": {},
            "subagent": {},
        }
        self.seen: dict[str, set[str]] = {
            "message": set(),
            "reasoning": set(),
            "tool call": set(),
            "subagent": set(),
        }
        self.args: dict[str, list[str]] = {}
        self.ended: set[str] = set()
        self.started = False

    def flag(self, rule: str, index: int, expected: str, seen: str) -> None:
        self.out.append(Violation(f"S2.agui.{rule}", index, expected, seen))

    def start(self, space: str, key: str, index: int, kind: str) -> None:
        if key in self.open[space]:
            at = self.open[space][key]
            self.flag(
                "already-open",
                index,
                f"{kind} of a {space} not open",
                f"{key!r} open since event {at}",
            )
        elif key in self.seen.get(space, ()):
            self.flag("reused-id", index, f"a new {space} id in {kind}", f"{key!r} used before")
        self.open[space][key] = index
        if space in self.seen:
            self.seen[space].add(key)

    def require_open(self, space: str, key: str, index: int, kind: str, close: bool) -> bool:
        if key not in self.open[space]:
            self.flag("not-open", index, f"{kind} of an open {space}", f"{key!r} is not open")
            return False
        if close:
            del self.open[space][key]
        return True

    def run(self, frames: Sequence[Frame]) -> list[Violation]:
        for position, frame in enumerate(frames):
            kind, body, i = frame.kind, frame.body, frame.index
            if position == 0 and kind not in ("RUN_STARTED", "RUN_ERROR"):
                self.flag("first-event", i, "RUN_STARTED (or RUN_ERROR) first", kind)
            if kind in ("RUN_FINISHED", "RUN_ERROR"):
                if kind == "RUN_FINISHED":
                    self.check_all_closed(i)
                if position + 1 < len(frames):
                    nxt = frames[position + 1]
                    self.flag(
                        "after-terminal", nxt.index, f"nothing after {kind} (event {i})", nxt.kind
                    )
                break
            self.event(kind, body, i)
        return self.out

    def check_all_closed(self, i: int) -> None:
        still = [f"{space} {key!r}" for space, keys in self.open.items() for key in keys]
        if still:
            self.flag(
                "unclosed",
                i,
                "every message, reasoning span, tool call, step and subagent closed before "
                "RUN_FINISHED",
                "open: " + ", ".join(still),
            )

    def event(self, kind: str, body: Any, i: int) -> None:
        if kind == "RUN_STARTED":
            if self.started:
                self.flag("already-open", i, "one RUN_STARTED", "a second RUN_STARTED")
            self.started = True
        elif kind == "STEP_STARTED":
            self.start("step", body["stepName"], i, kind)
        elif kind == "STEP_FINISHED":
            self.require_open("step", body["stepName"], i, kind, close=True)
        elif kind in ("TEXT_MESSAGE_START", "REASONING_MESSAGE_START"):
            self.start("message", body["messageId"], i, kind)
        elif kind in ("TEXT_MESSAGE_CONTENT", "REASONING_MESSAGE_CONTENT"):
            self.require_open("message", body["messageId"], i, kind, close=False)
            if not body["delta"]:
                self.flag("empty-delta", i, f"a non-empty delta in {kind}", '""')
        elif kind in ("TEXT_MESSAGE_END", "REASONING_MESSAGE_END"):
            self.require_open("message", body["messageId"], i, kind, close=True)
        elif kind == "REASONING_START":
            self.start("reasoning", body["messageId"], i, kind)
        elif kind == "REASONING_END":
            self.require_open("reasoning", body["messageId"], i, kind, close=True)
        elif kind == "TOOL_CALL_START":
            self.start("tool call", body["toolCallId"], i, kind)
            self.args[body["toolCallId"]] = []
        elif kind == "TOOL_CALL_ARGS":
            call = body["toolCallId"]
            if self.require_open("tool call", call, i, kind, close=False):
                self.args[call].append(body["delta"])
            if not body["delta"]:
                self.flag("empty-delta", i, f"a non-empty delta in {kind}", '""')
        elif kind == "TOOL_CALL_END":
            call = body["toolCallId"]
            if self.require_open("tool call", call, i, kind, close=True):
                self.ended.add(call)
                text = "".join(self.args[call])
                if not args_are_json(text):
                    self.flag("args-not-json", i, f"valid JSON arguments for {call!r}", repr(text))
        elif kind == "SUBAGENT_STARTED":
            parent = body.get("parentToolCallId")
            if isinstance(parent, str) and parent not in self.seen["tool call"]:
                self.flag("subagent-parent", i, "a parentToolCallId already started", repr(parent))
            self.start("subagent", body["subagentRunId"], i, kind)
        elif kind in ("SUBAGENT_FINISHED", "SUBAGENT_ERROR"):
            self.require_open("subagent", body["subagentRunId"], i, kind, close=True)
        elif kind == "TOOL_CALL_RESULT":
            call = body["toolCallId"]
            if call not in self.ended:
                state = "still streaming" if call in self.open["tool call"] else "never started"
                self.flag(
                    "result-unknown-call",
                    i,
                    f"TOOL_CALL_RESULT after TOOL_CALL_END of {call!r}",
                    state,
                )
            if body["messageId"] in self.seen["message"]:
                self.flag(
                    "reused-id", i, "a new message id in TOOL_CALL_RESULT", repr(body["messageId"])
                )
            self.seen["message"].add(body["messageId"])


def vercel_rules(frames: Sequence[Frame]) -> list[Violation]:
    """S2 for the UI message stream (DESIGN §6); each violation names the SSE event index."""
    out: list[Violation] = []
    open_parts: dict[str, int] = {}
    tools: dict[str, str] = {}  # toolCallId -> "streaming" | "input"
    terminal: tuple[str, int] | None = None
    done_at: int | None = None
    late = False

    def flag(rule: str, index: int, expected: str, seen: str) -> None:
        out.append(Violation(f"S2.vercel.{rule}", index, expected, seen))

    for frame in frames:
        kind, body, i = frame.kind, frame.body, frame.index
        if done_at is not None:
            flag("after-done", i, f"nothing after [DONE] (event {done_at})", kind)
            break
        if kind == DONE:
            done_at = i
            continue
        if terminal is not None and kind not in ("finish", "abort") and not late:
            flag(
                "after-terminal", i, f"only [DONE] after {terminal[0]} (event {terminal[1]})", kind
            )
            late = True
        part = kind.rsplit("-", 1)
        if part[0] in ("text", "reasoning") and len(part) == 2:
            key = f"{part[0]} {body['id']!r}"
            if part[1] == "start":
                if key in open_parts:
                    flag(
                        "already-open",
                        i,
                        f"{kind} of a part not open",
                        f"{key} open since event {open_parts[key]}",
                    )
                open_parts[key] = i
            elif key not in open_parts:
                flag("not-open", i, f"{kind} after {part[0]}-start of its id", f"{key} is not open")
            elif part[1] == "end":
                del open_parts[key]
        elif kind == "tool-input-start":
            tools[body["toolCallId"]] = "streaming"
        elif kind == "tool-input-delta":
            if tools.get(body["toolCallId"]) != "streaming":
                flag(
                    "tool-input-unknown",
                    i,
                    f"tool-input-delta after tool-input-start of {body['toolCallId']!r}",
                    "no input streaming for that id",
                )
        elif kind in ("tool-input-available", "tool-input-error"):
            tools[body["toolCallId"]] = "input"
        elif kind.startswith("tool-output-") and body["toolCallId"] not in tools:
            flag(
                "tool-output-unknown",
                i,
                f"{kind} of a known tool call",
                f"{body['toolCallId']!r} unknown",
            )
        elif kind in ("finish-step", "finish") and open_parts:
            flag(
                "unclosed",
                i,
                f"text and reasoning parts closed before {kind}",
                "open: " + ", ".join(open_parts),
            )
        if kind in ("finish", "abort"):
            if terminal is not None and terminal[0] != kind:
                flag(
                    "abort-and-finish",
                    i,
                    f"either abort or finish, not both ({terminal[0]} at event {terminal[1]})",
                    kind,
                )
            terminal = (kind, i)
    if done_at is None:
        last = frames[-1].index if frames else 0
        flag("done", last, "the stream to end with data: [DONE]", "no [DONE]")
    return out


def terminal_rules(
    dialect: str, terminals: frozenset[str]
) -> Callable[[Sequence[Frame]], list[Violation]]:
    """S2 for the seed dialects: nothing after the frame that ends the run; for phase, the
    ``subagent_*`` frames pair up."""

    def rules(frames: Sequence[Frame]) -> list[Violation]:
        out = _subagent_rules(dialect, frames) if dialect == "phase" else []
        return out + _after_terminal(frames)

    def _after_terminal(frames: Sequence[Frame]) -> list[Violation]:
        for position, frame in enumerate(frames[:-1]):
            if frame.kind in terminals:
                nxt = frames[position + 1]
                return [
                    Violation(
                        f"S2.{dialect}.after-terminal",
                        nxt.index,
                        f"nothing after {frame.kind} (event {frame.index})",
                        nxt.kind,
                    )
                ]
        return []

    return rules


def _subagent_rules(dialect: str, frames: Sequence[Frame]) -> list[Violation]:
    """``subagent-unknown`` (a ``subagent_completed`` / ``subagent_failed`` for a subagent not
    running), ``reused-id`` (a subagent id started twice), ``unclosed`` (one still running at
    ``done``)."""
    out: list[Violation] = []
    running: list[str] = []
    seen: set[str] = set()
    for frame in frames:
        kind, body, i = frame.kind, frame.body, frame.index
        if kind == "subagent_started":
            sub = body["subagent_id"]
            if sub in seen:
                out.append(Violation(f"S2.{dialect}.reused-id", i, "a new subagent_id", repr(sub)))
            seen.add(sub)
            running.append(sub)
        elif kind in ("subagent_completed", "subagent_failed"):
            sub = body.get("subagent_id") or (running[-1] if running else None)
            if sub not in running:
                out.append(
                    Violation(
                        f"S2.{dialect}.subagent-unknown",
                        i,
                        f"{kind} of a running subagent",
                        f"{sub!r} is not running",
                    )
                )
            else:
                running.remove(sub)
        elif kind == "done" and running:
            out.append(
                Violation(
                    f"S2.{dialect}.unclosed",
                    i,
                    "every subagent finished before done",
                    "running: " + ", ".join(repr(s) for s in running),
                )
            )
    return out
